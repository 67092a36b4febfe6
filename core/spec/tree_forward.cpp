// SPDX-License-Identifier: Apache-2.0
#include "core/spec/tree_forward.h"

#include <algorithm>
#include <cstring>

#include "core/io/error.h"
#include "core/kernels/math_kernels.h"
#include "core/kernels/packed_matrix.h"
#include "core/kernels/ssm_kernels.h"
#include "core/kernels/vector_ops.h"
#include "core/model/layer_ops.h"

namespace sm {

namespace {
constexpr int kMaxConv = 32;

}  // namespace

TreeForward::TreeForward(MambaModel& m) : m_(m), cfg_(m.config()), w_(m.weights()) {
  const ModelConfig& c = cfg_;
  if (c.d_conv < 1 || c.d_conv > kMaxConv)
    fail(m.where(), "conv kernel " + std::to_string(c.d_conv) + " is not supported by tree decoding");
  P_ = c.in_proj_dim();
  C_ = c.conv_dim();
  if (c.arch == Arch::Mamba1) {
    units_ = c.d_inner;
    unit_floats_ = c.d_state;
    XD_ = c.dt_rank + 2 * c.d_state;
    DTW_ = c.d_inner;
    off_conv_ = 0;
  } else {
    units_ = c.n_heads;
    unit_floats_ = int64_t{c.head_dim} * c.d_state;
    XD_ = 0;
    DTW_ = c.n_heads;
    off_conv_ = 2 * int64_t{c.d_mlp} + c.d_inner;
  }
  proj_.resize(c.n_layer);
  xc_.resize(c.n_layer);
  xdbl_.resize(c.n_layer);
  dt_.resize(c.n_layer);
  yscratch_.assign(c.d_inner, 0.0f);
}

int64_t TreeForward::replay_input_bytes() const {
  const ModelConfig& c = cfg_;
  if (c.arch == Arch::Mamba1) return (2 * int64_t{c.d_inner} + c.d_state) * 4;  // x, dt, B
  return (int64_t{c.d_inner} + int64_t{c.n_groups} * c.d_state + c.n_heads) * 4;  // x, B, dt
}

float* TreeForward::grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

void TreeForward::begin(std::span<const int32_t> parent, std::span<const int32_t> tokens,
                        const ModelState& committed) {
  const int32_t n = static_cast<int32_t>(parent.size());
  parent_.assign(parent.begin(), parent.end());
  token_.assign(tokens.begin(), tokens.end());
  row_.assign(n, -1);
  rows_used_ = 0;
  committed_ = &committed;
  const int W = cfg_.d_conv - 1;
  win_src_.resize(static_cast<size_t>(n) * std::max(W, 1));
  for (int32_t v = 0; v < n; ++v) {
    int32_t a = parent_[v], found = 0;
    for (int j = 0; j < W; ++j) {
      if (a >= 0) {
        win_src_[v * W + j] = a;
        a = parent_[a];
        ++found;
      } else {
        win_src_[v * W + j] = -((W - 1 - (j - found)) + 1);
      }
    }
  }
  for (int l = 0; l < cfg_.n_layer; ++l) {
    grow(proj_[l], size_t(n) * P_);
    grow(xc_[l], size_t(n) * C_);
    if (XD_) grow(xdbl_[l], size_t(n) * XD_);
    grow(dt_[l], size_t(n) * DTW_);
  }
}

const float* TreeForward::conv_src(int l, int32_t src) const {
  if (src >= 0) return proj_[l].data() + int64_t{row_[src]} * P_ + off_conv_;
  return committed_->layers[l].conv.data() + int64_t{-src - 1} * C_;
}

void TreeForward::conv_node(int l, int32_t node) {
  const int K = cfg_.d_conv, W = K - 1;
  const int64_t r = row_[node], C = C_;
  const float* ext[kMaxConv];
  for (int k = 0; k < W; ++k) ext[k] = conv_src(l, win_src_[node * W + (W - 1 - k)]);
  ext[W] = proj_[l].data() + r * P_ + off_conv_;
  // The kernel causal_conv_silu uses, so results are bit-identical.
  layer_conv_row(w_, l, ext, K, C, xc_[l].data() + r * C, 0, C);
}

void TreeForward::conv_window_after(int l, int32_t node, float* out) const {
  const int W = cfg_.d_conv - 1;
  if (W <= 0) return;
  // Newest row (W-1) is the node's own input, then its ancestors' / committed rows.
  std::memcpy(out + int64_t{W - 1} * C_, conv_src(l, node), C_ * sizeof(float));
  for (int j = 0; j + 1 < W; ++j)
    std::memcpy(out + int64_t{W - 2 - j} * C_, conv_src(l, win_src_[node * W + j]),
                C_ * sizeof(float));
}

void TreeForward::scan_node(int l, int32_t node, float* S, int64_t u0, int64_t u1) {
  const ModelConfig& c = cfg_;
  const LayerWeights& lw = w_.layers[l];
  const int64_t r = row_[node], E = c.d_inner, N = c.d_state;
  float* y = (r >= batch_r0_ && r < batch_r0_ + batch_m_) ? y_.data() + (r - batch_r0_) * E
                                                          : yscratch_.data();
  if (c.arch == Arch::Mamba1) {
    const int64_t R = c.dt_rank;
    scan_mamba1(1, E, N, xc_[l].data() + r * E + u0, dt_[l].data() + r * E + u0,
                xdbl_[l].data() + r * XD_, XD_, R, R + N, lw.A + u0 * N, lw.D + u0, S, y + u0, 0,
                u1 - u0);
  } else {
    // The kernel indexes the state by absolute head; S holds heads [u0, u1).
    if (!w_.pot_ssm.empty())
      layer_pot_scan(w_, l, 1, c.n_heads, c.head_dim, N, xc_[l].data() + r * C_, C_, dt_[l].data() + r * DTW_,
                     DTW_, S - u0 * unit_floats_, y, u0, u1);
    else
      scan_mamba2(1, c.n_heads, c.head_dim, N, c.n_groups, xc_[l].data() + r * C_, C_,
                  dt_[l].data() + r * DTW_, lw.A, lw.D, S - u0 * unit_floats_, y, u0, u1);
  }
}

bool TreeForward::device_scans_tree(int l) const {
  return w_.device && size_t(l) < w_.ssm_dev.size() && w_.ssm_dev[size_t(l)] >= 0;
}

void TreeForward::scan_tree_on_device(int l, const float* S_root, float* S_nodes, int64_t tile_units,
                                      int32_t fifo_depth) {
  const int32_t n = n_nodes();
  if (!device_scans_tree(l) || batch_r0_ != 0 || batch_m_ != n)
    fail("", "the device scans a tree only in one pass over all its nodes");
  for (int32_t v = 0; v < n; ++v)
    if (row_[v] != v) fail("", "the device scans a tree only with nodes run in id order");
  w_.device->ssm_tree(w_.ssm_dev[size_t(l)], n, parent_.data(), xc_[l].data(), C_, dt_[l].data(), DTW_, S_root,
                      S_nodes, y_.data(), tile_units, fifo_depth);
}

void TreeForward::run(std::span<const int32_t> nodes, const ScanFn& scan, float* logits,
                      int32_t logits_from) {
  const ModelConfig& c = cfg_;
  const int32_t m = static_cast<int32_t>(nodes.size());
  if (m == 0) return;
  const int64_t D = c.d_model, V = c.vocab_size;
  const int32_t r0 = rows_used_;
  for (int32_t i = 0; i < m; ++i) {
    if (row_[nodes[i]] >= 0) fail("", "tree node run twice in one step");
    row_[nodes[i]] = r0 + i;
  }
  rows_used_ += m;
  flush_subnormals_on_this_thread();  // as MambaModel::forward does
  batch_r0_ = r0;
  batch_m_ = m;
  ThreadPool* pool = &m_.pool();

  float* h = grow(h_, size_t(m) * D);
  for (int32_t i = 0; i < m; ++i)
    std::memcpy(h + i * D, w_.embedding + int64_t{token_[nodes[i]]} * D, D * sizeof(float));
  float* u = grow(u_, size_t(m) * D);
  grow(out_, size_t(m) * D);
  grow(y_, size_t(m) * c.d_inner);
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& lw = w_.layers[l];
    for (int32_t i = 0; i < m; ++i) rms_norm(h + i * D, lw.norm, u + i * D, int(D), c.norm_eps);
    w_.packed[l].in_proj.run(u, m, lw.in_proj_b, proj_[l].data() + int64_t{r0} * P_, P_, pool);
    mixer(l, r0, m, nodes, scan);
    const float* out = out_.data();
    for (int64_t i = 0; i < int64_t{m} * D; ++i) h[i] += out[i];
  }
  batch_m_ = 0;
  last_r0_ = r0;
  last_m_ = m;
  if (!logits || logits_from >= m) return;
  const int32_t rows = m - logits_from;
  for (int32_t i = 0; i < rows; ++i)
    rms_norm(h + (logits_from + i) * D, w_.norm_f, u + i * D, int(D), c.norm_eps);
  w_.lm_head_op.run(u, rows, nullptr, logits, V, pool);
}

void TreeForward::logits_for(std::span<const int32_t> nodes, float* out) {
  const ModelConfig& c = cfg_;
  const int64_t D = c.d_model, V = c.vocab_size, k = int64_t(nodes.size());
  if (k == 0) return;
  float* u = grow(u_, size_t(k) * D);
  for (int64_t i = 0; i < k; ++i) {
    const int32_t r = row_[nodes[i]] - last_r0_;
    if (row_[nodes[i]] < 0 || r >= last_m_) fail("", "logits asked for a node outside the last batch");
    rms_norm(h_.data() + int64_t{r} * D, w_.norm_f, u + i * D, int(D), c.norm_eps);
  }
  float* rows = grow(lrows_, size_t(k) * V);
  w_.lm_head_op.run(u, k, nullptr, rows, V, &m_.pool());
  for (int64_t i = 0; i < k; ++i)
    std::memcpy(out + int64_t{nodes[i]} * V, rows + i * V, V * sizeof(float));
}

void TreeForward::mixer(int l, int32_t r0, int32_t m, std::span<const int32_t> nodes,
                        const ScanFn& scan) {
  const ModelConfig& c = cfg_;
  const LayerWeights& lw = w_.layers[l];
  const int64_t E = c.d_inner, D = c.d_model;
  ThreadPool* pool = &m_.pool();
  const float* proj = proj_[l].data() + int64_t{r0} * P_;
  // conv1d for every node (windows come from ancestors' inputs, no state).
  if (pool->size() > 1 && int64_t{m} * C_ * c.d_conv >= (1 << 17)) {
    pool->parallel_for(m, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) conv_node(l, nodes[i]);
    });
  } else {
    for (int32_t i = 0; i < m; ++i) conv_node(l, nodes[i]);
  }
  float* y = y_.data();
  float* out = out_.data();
  if (c.arch == Arch::Mamba1) {
    const int64_t R = c.dt_rank, N = c.d_state;
    float* xdbl = xdbl_[l].data() + int64_t{r0} * XD_;
    w_.packed[l].x_proj.run(xc_[l].data() + int64_t{r0} * E, m, nullptr, xdbl, XD_, pool);
    float* dtin = grow(dtin_, size_t(m) * R);
    for (int32_t i = 0; i < m; ++i) std::memcpy(dtin + i * R, xdbl + i * XD_, R * sizeof(float));
    float* dt = dt_[l].data() + int64_t{r0} * E;
    w_.packed[l].dt_proj.run(dtin, m, lw.dt_proj_b, dt, E, pool);
    softplus_clamp(dt, nullptr, dt, int64_t{m} * E, c.dt_min, c.dt_max);
    (void)N;
    scan(l, nodes);
    for (int32_t i = 0; i < m; ++i) mul_silu(y + i * E, proj + i * P_ + E, E);
    w_.packed[l].out_proj.run(y, m, lw.out_proj_b, out, D, pool);
  } else {
    const int64_t H = c.n_heads, G = c.n_groups, M = c.d_mlp;
    const int64_t off_z = 2 * M, off_dt = off_conv_ + C_;
    float* dt = dt_[l].data() + int64_t{r0} * H;
    for (int32_t i = 0; i < m; ++i) {
      if (!w_.pot_ssm.empty())  // the PoT SSM takes dt before softplus (as MambaModel)
        std::memcpy(dt + i * H, proj + i * P_ + off_dt, H * sizeof(float));
      else
        softplus_clamp(proj + i * P_ + off_dt, lw.dt_bias, dt + i * H, H, c.dt_min, c.dt_max);
    }
    scan(l, nodes);
    const int64_t YW = M + E;
    float* ycat = y;
    if (M) {
      ycat = grow(ycat_, size_t(m) * YW);
      for (int32_t i = 0; i < m; ++i) {
        std::memcpy(ycat + i * YW + M, y + i * E, E * sizeof(float));
        const float* z0 = proj + i * P_;
        const float* x0 = proj + i * P_ + M;
        float* o = ycat + i * YW;
        silu_times(z0, x0, o, M);
      }
    }
    gated_rms_norm(ycat + M, YW, proj + off_z, P_, m, E, G, lw.gnorm, c.norm_eps);
    w_.packed[l].out_proj.run(ycat, m, lw.out_proj_b, out, D, pool);
  }
}

}  // namespace sm
