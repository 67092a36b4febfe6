// SPDX-License-Identifier: Apache-2.0
#pragma once
// Runs saved as and opened from the engine's trace files: Chrome trace JSON
// (.json, Perfetto opens it too) or HDF5 (.h5 / .hdf5) — the same files
// `specmamba generate --trace` writes, so CLI runs can be browsed in the GUI.
#include <QString>

#include "ui/models/run_record.h"

namespace sm::ui {

// Reads a trace and builds its record. The tokenizer comes from the trace's
// "target" model directory when it still exists (else token ids are shown).
// Throws sm::Error naming the file and the problem.
RunRecord open_trace(const QString& path);

// Writes the record's events and metadata (settings, figures) as a trace;
// the format follows the suffix. Atomic: a failed write leaves no file and
// never touches an existing one. Throws sm::Error.
void save_trace(const RunRecord& run, const QString& path);

// "Chrome trace (*.json);;HDF5 trace (*.h5 *.hdf5)"
QString trace_file_filter();

}  // namespace sm::ui
