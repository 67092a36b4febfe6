// SPDX-License-Identifier: Apache-2.0
#include "ui/models/model_dirs.h"

#include <QDir>
#include <QFileInfo>

namespace sm::ui {

ModelDirScan scan_model_dir(const QString& dir) {
  ModelDirScan scan;
  const QDir d(dir);
  scan.is_model = QFileInfo(d.filePath(QStringLiteral("config.json"))).isFile();
  if (scan.is_model || !d.exists()) return scan;
  for (const QFileInfo& sub : d.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
    if (QFileInfo(QDir(sub.absoluteFilePath()).filePath(QStringLiteral("config.json"))).isFile())
      scan.models << sub.absoluteFilePath();
  return scan;
}

}  // namespace sm::ui
