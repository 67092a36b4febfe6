// SPDX-License-Identifier: Apache-2.0
#pragma once
// What a chosen directory is: a model (config.json inside) or a folder of
// models such as data/models, whose models the GUI offers instead of failing
// with "config.json: cannot read".
#include <QString>
#include <QStringList>

namespace sm::ui {

struct ModelDirScan {
  bool is_model = false;  // DIR/config.json exists
  QStringList models;     // absolute paths of DIR's subdirectories that hold a config.json, sorted
};

ModelDirScan scan_model_dir(const QString& dir);

}  // namespace sm::ui
