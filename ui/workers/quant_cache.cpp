// SPDX-License-Identifier: Apache-2.0
#include "core/io/error.h"
#include "core/quant/quant_config.h"
#include "core/quant/quantize_model.h"

#include "ui/workers/quant_cache.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>

namespace sm::ui {

std::string config_for_model(const std::string& config_json, bool auto_group, const std::string& src_dir) {
  quant::QuantConfig c = quant::QuantConfig::from_json_string(config_json, "quantization");
  if (auto_group && c.linear_weights.quantized()) {
    const int g = static_cast<int>(quant::default_weight_group(src_dir));
    c.linear_weights.group = g;
    if (c.lm_head_weights.quantized()) c.lm_head_weights.group = g;
  }
  c.validate("quantization");
  return c.to_json_string();
}

QString quantized_cache_dir(const QString& src_dir, const std::string& config_json) {
  const QFileInfo src(src_dir);
  QCryptographicHash h(QCryptographicHash::Sha256);
  h.addData(src.canonicalFilePath().toUtf8());
  // The weights' identity: a retrained model in the same directory is quantized again.
  for (const QFileInfo& f : QDir(src.canonicalFilePath()).entryInfoList({QStringLiteral("*.safetensors"), QStringLiteral("config.json")}, QDir::Files, QDir::Name)) {
    h.addData(f.fileName().toUtf8());
    h.addData(QByteArray::number(f.size()));
    h.addData(QByteArray::number(f.lastModified().toMSecsSinceEpoch()));
  }
  h.addData(QByteArray::fromStdString(config_json));
  const QString base = QStandardPaths::writableLocation(QStandardPaths::CacheLocation);
  return base + QStringLiteral("/quantized/") + src.fileName() + QLatin1Char('-') +
         QString::fromLatin1(h.result().toHex().left(16));
}

QuantizedModel ensure_quantized(const QString& src_dir, const std::string& config_json) {
  QuantizedModel m;
  m.dir = quantized_cache_dir(src_dir, config_json);
  const quant::QuantConfig c = quant::QuantConfig::from_json_string(config_json, "quantization");
  if (QFileInfo::exists(m.dir + QStringLiteral("/config.json"))) {
    m.reused = true;
    m.summary = c.summary();
    return m;
  }
  if (!QDir().mkpath(QFileInfo(m.dir).absolutePath()))
    fail(QFile::encodeName(m.dir).toStdString(), "cannot create the quantized-model cache directory");
  // quantize_model writes beside the final name and renames when complete, so
  // an interrupted run leaves no half-written model behind.
  const quant::QuantizeReport rep =
      quant::quantize_model(QFile::encodeName(src_dir).toStdString(), QFile::encodeName(m.dir).toStdString(), c);
  m.summary = rep.config.summary();
  return m;
}

}  // namespace sm::ui
