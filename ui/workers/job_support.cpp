// SPDX-License-Identifier: Apache-2.0
#include "ui/workers/job_support.h"

#include <new>
#include <string>

#include "core/io/error.h"

namespace sm::ui {

SpecConfig spec_config(const SpecRequest& r) {
  SpecConfig cfg;
  try {
    cfg.tree = TreeShape::parse(r.tree.trimmed().toStdString());
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind("--tree", 0) == 0) throw;
    fail("--tree", what);
  }
  cfg.verify = parse_verify_order(r.verify.toStdString());
  cfg.backtrack = parse_backtrack_policy(r.backtrack.toStdString());
  cfg.budget = r.budget;
  cfg.tile = r.tile;
  cfg.verbose_events = r.fifo_events;
  cfg.validate();
  return cfg;
}

QString what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::bad_alloc&) {
    return QStringLiteral("out of memory");
  } catch (const std::exception& err) {
    return QString::fromUtf8(err.what());
  } catch (...) {
    return QStringLiteral("unknown error");
  }
}

}  // namespace sm::ui
