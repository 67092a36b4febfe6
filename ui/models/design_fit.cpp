// SPDX-License-Identifier: Apache-2.0
#include "ui/models/design_fit.h"

#include <cstring>

#include <exception>

#include "accel/dataflow/pipeline_trace.h"

namespace sm::ui {

QString designMessage(const QString& core_message) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"design: tile: ", "Linear tile: "},       {"design: ssm_par: ", "SSM parallelism: "},
      {"design: clock: ", "Clock: "},            {"design: weight_bits: ", "Weight bits: "},
      {"design: act_bits: ", "Activation bits: "}, {"design: head_bits: ", "Head bits: "},
      {"design: ssm_bits: ", "SSM bits: "},      {"design: head_groups: ", "Head groups: "},
      {"design: ssm_state_unroll: ", "SSM state unroll: "}, {"design: ", "Design: "}};
  QString m = core_message;
  for (const auto& [core, gui] : kFields)
    if (m.startsWith(QLatin1String(core))) return QString::fromLatin1(gui) + m.mid(int(strlen(core)));
  return m;
}

accel::Design design_for(const AccelRequest& r, const accel::Platform& p, const quant::QuantConfig* q) {
  accel::Design d = accel::default_design(p);
  if (q) d.apply_quant(*q);
  if (r.tile_rows > 0) d.tile_rows = r.tile_rows;
  if (r.tile_cols > 0) d.tile_cols = r.tile_cols;
  if (r.ssm_par > 0) d.ssm_par = r.ssm_par;
  if (r.clock_mhz > 0) d.clock_mhz = r.clock_mhz;
  return d;
}

DesignFit evaluate_design(const ModelConfig& m, const AccelRequest& r, const quant::QuantConfig* q) {
  DesignFit f;
  try {
    f.platform = accel::Platform::load(r.platform.isEmpty() ? std::string(accel::kDefaultSimPlatform)
                                                            : r.platform.toStdString());
  } catch (const std::exception& e) {
    f.problem = QStringLiteral("Platform: ") + QString::fromUtf8(e.what());
    return f;
  }
  f.design = design_for(r, *f.platform, q);
  try {
    // validate_for clamps nothing: the reordering granularity is checked
    // against the heads as the pipeline sink does.
    accel::Design checked = f.design;
    if (m.arch == Arch::Mamba2 && m.n_heads > 0) checked.head_groups = std::min(checked.head_groups, m.n_heads);
    checked.validate_for(m, *f.platform);
  } catch (const std::exception& e) {
    f.problem = designMessage(QString::fromUtf8(e.what()));
    return f;
  }
  f.resources = accel::estimate_resources(m, f.design);
  const accel::PlatformResources& have = f.platform->resources;
  f.bars = {{QStringLiteral("DSP"), f.resources.dsp, have.dsp},
            {QStringLiteral("LUT"), f.resources.lut, have.lut},
            {QStringLiteral("BRAM"), f.resources.bram, have.bram36},
            {QStringLiteral("URAM"), f.resources.uram, have.uram}};
  try {
    accel::check_fit(f.resources, *f.platform);
  } catch (const std::exception& e) {
    f.fit_problem = QString::fromUtf8(e.what());
  }
  return f;
}

QString design_text(const accel::Design& d) {
  return QStringLiteral("tile %1x%2 · SSM %3 · %4 MHz")
      .arg(d.tile_rows)
      .arg(d.tile_cols)
      .arg(d.ssm_par)
      .arg(d.clock_mhz, 0, 'g', 4);
}

}  // namespace sm::ui
