// SPDX-License-Identifier: Apache-2.0
#include "core/device/bind.h"

#include "core/io/error.h"

namespace sm::device {

std::string BindReport::summary() const {
  return std::to_string(linear) + " linear, " + std::to_string(conv) + " conv, " + std::to_string(ssm) +
         " ssm; " + std::to_string(host_linear) + " fp32 linear on the CPU";
}

namespace {

void unbind_all(ModelWeights& w) {
  for (auto& p : w.packed)
    for (LinearOp* op : {&p.in_proj, &p.out_proj, &p.x_proj, &p.dt_proj}) op->unbind();
  w.lm_head_op.unbind();
  w.conv_dev.clear();
  w.ssm_dev.clear();
  w.device.reset();
}

}  // namespace

BindReport bind_device(ModelWeights& w, const ModelConfig& cfg, std::shared_ptr<Device> dev) {
  if (!dev) fail("device", "no device given");
  if (w.device) fail(dev->name(), "the model is already bound to a device (" + w.device->name() + ")");
  if (w.packed.empty() || !w.packed[0].in_proj.is_quantized())
    fail(dev->name(),
         "the model is fp32: the accelerator runs quantized models (make one with `specmamba quantize MODEL "
         "--preset w4a4 --out DIR`)");
  BindReport rep;
  try {
    auto put = [&](LinearOp& op, const std::string& name) {
      if (op.empty()) return;
      if (!op.is_quantized()) {
        ++rep.host_linear;
        return;
      }
      op.bind(*dev, name);
      ++rep.linear;
    };
    for (int l = 0; l < cfg.n_layer; ++l) {
      const std::string p = "layers." + std::to_string(l) + ".";
      PackedLayerWeights& pl = w.packed[l];
      put(pl.in_proj, p + "in_proj");
      put(pl.x_proj, p + "x_proj");
      put(pl.dt_proj, p + "dt_proj");
      put(pl.out_proj, p + "out_proj");
      const LayerWeights& lw = w.layers[l];
      w.conv_dev.push_back(dev->add_conv({p + "conv1d", cfg.conv_dim(), cfg.d_conv, lw.conv_wT, lw.conv_b}));
      ++rep.conv;
      if (!w.pot_ssm.empty()) {
        w.ssm_dev.push_back(dev->add_ssm({p + "ssm", cfg.n_heads, cfg.head_dim, cfg.d_state, w.quant.ssm.group,
                                          &w.pot_ssm[l], w.ssm_tables.get()}));
        ++rep.ssm;
      } else {
        w.ssm_dev.push_back(-1);
      }
    }
    put(w.lm_head_op, "lm_head");
  } catch (...) {
    unbind_all(w);
    throw;
  }
  w.device = std::move(dev);
  return rep;
}

}  // namespace sm::device
