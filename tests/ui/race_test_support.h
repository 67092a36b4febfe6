// SPDX-License-Identifier: Apache-2.0
#pragma once
// A race on the shipped pair, for the race worker and race view tests.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <QString>

#include "ui/workers/race_worker.h"

namespace race_test {

inline sm::ui::RaceRequest shipped_request(int tokens, const QString& tree = QStringLiteral("2,2,1")) {
  const QString root = QStringLiteral(SPECMAMBA_TEST_DATA "/../..");
  sm::ui::RaceRequest r;
  r.target_dir = root + QStringLiteral("/data/models/mamba2-target");
  r.draft_dir = root + QStringLiteral("/data/models/mamba2-draft");
  r.prompt = QStringLiteral("And God said");
  r.max_tokens = tokens;
  r.spec.tree = tree;
  return r;
}

}  // namespace race_test
