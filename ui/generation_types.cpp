// SPDX-License-Identifier: Apache-2.0
#include "ui/generation_types.h"

namespace sm::ui {

QString format_count(int64_t n) {
  const double v = static_cast<double>(n);
  if (n >= 1000000000) return QString::number(v / 1e9, 'g', 3) + QStringLiteral(" G");
  if (n >= 1000000) return QString::number(v / 1e6, 'g', 3) + QStringLiteral(" M");
  if (n >= 1000) return QString::number(v / 1e3, 'g', 3) + QStringLiteral(" k");
  return QString::number(n);
}

QString format_bytes(uint64_t bytes) {
  const double v = static_cast<double>(bytes);
  if (bytes >= 1000000000ull) return QString::number(v / 1e9, 'f', 2) + QStringLiteral(" GB");
  if (bytes >= 1000000ull) return QString::number(v / 1e6, 'f', 2) + QStringLiteral(" MB");
  if (bytes >= 1000ull) return QString::number(v / 1e3, 'f', 1) + QStringLiteral(" kB");
  return QString::number(bytes) + QStringLiteral(" B");
}

QString ModelInfo::summary() const {
  return QStringLiteral("%1 · %2 layers · d_model %3 · d_state %4 · %5 params · vocab %6 (%7) · "
                        "%8 weights · %9 state · %10")
      .arg(arch)
      .arg(n_layer)
      .arg(d_model)
      .arg(d_state)
      .arg(format_count(parameters))
      .arg(vocab_size)
      .arg(tokenizer)
      .arg(format_bytes(weight_bytes))
      .arg(format_bytes(state_bytes))
      .arg(quantization.isEmpty() ? QStringLiteral("fp32") : quantization);
}

}  // namespace sm::ui
