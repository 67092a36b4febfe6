// SPDX-License-Identifier: Apache-2.0
#include "ui/models/trace_io.h"

#include <QFileInfo>

#include <filesystem>

#include "core/io/error.h"
#include "core/tokenizer/tokenizer.h"
#include "core/trace/trace_chrome_reader.h"
#include "core/trace/trace_hdf5_reader.h"

namespace sm::ui {
namespace {

enum class Format { Chrome, Hdf5 };

Format format_of(const QString& path) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (suffix == QLatin1String("json")) return Format::Chrome;
  if (suffix == QLatin1String("h5") || suffix == QLatin1String("hdf5")) return Format::Hdf5;
  fail(path.toStdString(), "a trace file must end in .json (Chrome trace) or .h5 / .hdf5 (HDF5)");
}

std::shared_ptr<const Tokenizer> tokenizer_for(const TraceMetadata& meta) {
  const QString dir = metadata_value(meta, "target");
  if (dir.isEmpty() || !std::filesystem::is_directory(dir.toStdString())) return nullptr;
  try {
    return load_tokenizer_for_model(dir.toStdString());
  } catch (const std::exception&) {
    return nullptr;  // the trace stays readable without token text
  }
}

}  // namespace

QString trace_file_filter() {
  return QStringLiteral("Chrome trace (*.json);;HDF5 trace (*.h5 *.hdf5)");
}

RunRecord open_trace(const QString& path) {
  const std::string p = path.toStdString();
  std::vector<Event> events;
  TraceMetadata meta;
  if (format_of(path) == Format::Chrome) {
    ChromeTrace t = read_chrome_trace(p);
    events = std::move(t.events);
    meta = std::move(t.metadata);
  } else {
    events = read_hdf5_trace(p);
    meta = read_hdf5_trace_metadata(p);
  }
  if (metadata_value(meta, "tree").isEmpty() && events.empty())
    fail(p, "holds no speculative-decoding events (is it a SpecMamba trace?)");
  auto tok = tokenizer_for(meta);
  try {
    RunRecord run = build_run_record(std::move(events), std::move(meta), std::move(tok));
    run.name = QFileInfo(path).fileName();
    run.source_path = path;
    return run;
  } catch (const Error& e) {
    fail(p, e.what());
  }
}

void save_trace(const RunRecord& run, const QString& path) {
  const std::string p = path.toStdString();
  TraceMetadata meta;
  // The Chrome writer adds its own header keys; a reopened trace carries them.
  for (const auto& [k, v] : run.metadata)
    if (k != "format" && k != "version" && k != "producer" && k != "time_unit" && k != "events")
      meta.emplace_back(k, v);
  // Figures measured in the Studio that the engine did not write.
  if (run.figures.baseline_tokens_per_second > 0)
    set_metadata(meta, "baseline_tokens_per_second", std::to_string(run.figures.baseline_tokens_per_second));
  set_metadata(meta, "run_name", run.name.toStdString());
  std::unique_ptr<EventSink> sink = format_of(path) == Format::Chrome ? make_chrome_trace_sink(p, meta)
                                                                      : make_hdf5_sink(p, meta);
  for (const Event& e : run.events) sink->on_event(e);
  sink->flush();  // throws on failure; the destructor then has nothing left to write
}

}  // namespace sm::ui
