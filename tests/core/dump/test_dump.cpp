// SPDX-License-Identifier: Apache-2.0
// HDF5 activation dumps: the tap never changes the numerics, every tensor
// means what docs/dump-format.md says (recomputed here in double from the
// dumped inputs and the weights), filters are honoured, the reader rejects
// foreign and damaged files by name, and no temporary file is ever left.
#include "specmamba_paths.h"  // SPECMAMBA_SOURCE_DIR, SPECMAMBA_TEST_DATA
#include <gtest/gtest.h>

#include "tests/core/error_of.h"
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/core/temp_dir.h"
#include "core/dump/activation_tap.h"
#include "core/dump/dump_reader.h"
#include "core/dump/dump_replay.h"
#include "core/dump/dump_writer.h"
#include "core/io/error.h"
#include "core/model/generator.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/quant/hadamard.h"
#include "core/quant/quantize_model.h"
#include "core/quant/quantizers.h"
#include "core/quant/ssm_quant.h"
#include "core/spec/spec_decoder.h"
#include "core/tokenizer/tokenizer.h"
#include "core/trace/spec_events.h"

// The HDF5 C API writes the foreign and wrong-version files (Debian's header
// lives under hdf5/serial; the library is linked through specmamba_core).
#if __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#else
#include <hdf5.h>
#endif

namespace fs = std::filesystem;

namespace {

using sm_test::TempDir;

std::string target_dir() { return std::string(SPECMAMBA_TEST_DATA) + "/../../data/models/mamba2-target"; }
std::string draft_dir() { return std::string(SPECMAMBA_TEST_DATA) + "/../../data/models/mamba2-draft"; }

using sm_test::error_of;

std::vector<int32_t> bytes_of(const std::string& s) {
  std::vector<int32_t> ids;
  for (unsigned char c : s) ids.push_back(c);
  return ids;
}

bool bit_equal(const std::vector<float>& a, const float* b, size_t n) {
  return a.size() == n && std::memcmp(a.data(), b, n * sizeof(float)) == 0;
}

// A dumped tensor with its shape, read whole.
struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<float> v;
  float at(int64_t r, int64_t c) const { return v[r * cols + c]; }
};
Mat get(const sm::DumpReader& r, const std::string& name) {
  const auto info = r.info(name);
  return {info.rows(), info.cols(), r.read(name, 0, info.rows())};
}

// max |got - want| / max(1, max |want|)
double rel_err(const Mat& got, const std::vector<double>& want) {
  double e = 0, s = 1;
  for (size_t i = 0; i < want.size(); ++i) {
    e = std::max(e, std::abs(double(got.v[i]) - want[i]));
    s = std::max(s, std::abs(want[i]));
  }
  return got.v.size() == want.size() ? e / s : 1e30;
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }
double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

// y[t][o] = sum_i W[o][i] x[t][col0 + i] (+ b[o]); W row-major [out][in].
std::vector<double> linear(const Mat& x, int64_t col0, int64_t in, const float* W, const float* b, int64_t out) {
  std::vector<double> y(x.rows * out);
  for (int64_t t = 0; t < x.rows; ++t)
    for (int64_t o = 0; o < out; ++o) {
      double s = b ? b[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += double(W[o * in + i]) * x.at(t, col0 + i);
      y[t * out + o] = s;
    }
  return y;
}

// silu(causal depthwise conv over columns [col0, col0 + C) of x, from a zero window).
std::vector<double> conv_silu(const Mat& x, int64_t col0, int64_t C, int K, const float* wT, const float* b) {
  std::vector<double> y(x.rows * C);
  for (int64_t t = 0; t < x.rows; ++t)
    for (int64_t c = 0; c < C; ++c) {
      double s = b ? b[c] : 0.0;
      for (int k = 0; k < K; ++k) {
        const int64_t src = t - (K - 1) + k;
        if (src >= 0) s += double(wT[k * C + c]) * x.at(src, col0 + c);
      }
      y[t * C + c] = silu(s);
    }
  return y;
}

std::vector<double> columns(const Mat& x, int64_t col0, int64_t n) {
  std::vector<double> y(x.rows * n);
  for (int64_t t = 0; t < x.rows; ++t)
    for (int64_t c = 0; c < n; ++c) y[t * n + c] = x.at(t, col0 + c);
  return y;
}

constexpr double kTol = 1e-5;  // float kernels (fast exp) against double from the same inputs

// Every tensor of every layer of a full dump (tokens 0.. from an empty state)
// recomputed from the dumped inputs of its op: the definitions of docs/dump-format.md.
void check_definitions(const sm::DumpReader& r, const sm::MambaModel& m) {
  const sm::ModelConfig& c = m.config();
  const auto& w = m.weights();
  const int64_t D = c.d_model, E = c.d_inner, N = c.d_state, P = c.in_proj_dim();
  const int K = c.d_conv;
  for (int l = 0; l < c.n_layer; ++l) {
    SCOPED_TRACE("layer " + std::to_string(l));
    const auto& lw = w.layers[l];
    const std::string g = "/layers/" + std::to_string(l) + "/";
    // A rotated model: out_proj_in is the rotated row out_proj consumes, and
    // out_proj_in_unrotated the row the definition below gives.
    const bool rotated = r.has(g + "out_proj_in_unrotated");
    EXPECT_EQ(rotated, w.packed[l].out_proj.rotate_input());
    const Mat h = get(r, g + "hidden_in"), proj = get(r, g + "in_proj_out"), conv = get(r, g + "conv_out"),
              dt = get(r, g + "dt"), B = get(r, g + "B"), C = get(r, g + "C"), y = get(r, g + "ssm_out"),
              yin = get(r, g + (rotated ? "out_proj_in_unrotated" : "out_proj_in")),
              prod_in = get(r, g + "out_proj_in"), out = get(r, g + "mixer_out"), uin = get(r, g + "in_proj_in");
    const int64_t T = h.rows;
    // in_proj_out = in_proj(RMSNorm(hidden_in) * norm.weight)
    Mat u{T, D, std::vector<float>(T * D)};
    for (int64_t t = 0; t < T; ++t) {
      double ss = 0;
      for (int64_t i = 0; i < D; ++i) ss += double(h.at(t, i)) * h.at(t, i);
      const double inv = 1.0 / std::sqrt(ss / D + c.norm_eps);
      for (int64_t i = 0; i < D; ++i) u.v[t * D + i] = float(h.at(t, i) * inv * lw.norm[i]);
    }
    // in_proj_in = RMSNorm(hidden_in) * norm.weight
    EXPECT_LT(rel_err(uin, std::vector<double>(u.v.begin(), u.v.end())), kTol) << "in_proj_in";
    EXPECT_LT(rel_err(proj, linear(uin, 0, D, lw.in_proj, lw.in_proj_b, P)), kTol) << "in_proj_out";
    EXPECT_LT(rel_err(out, linear(prod_in, 0, prod_in.cols, lw.out_proj, lw.out_proj_b, D)), kTol) << "mixer_out";
    if (rotated) {  // out_proj_in = H out_proj_in_unrotated, exactly as the layer computes it
      std::vector<float> rot(yin.v.size());
      sm::quant::transform_rows(yin.v.data(), rot.data(), yin.rows, yin.cols);
      EXPECT_TRUE(bit_equal(rot, prod_in.v.data(), prod_in.v.size())) << "out_proj_in = transform_rows(unrotated)";
    }
    std::vector<double> ys(T * E), yo;
    if (c.arch == sm::Arch::Mamba1) {
      const int64_t R = c.dt_rank;
      ASSERT_EQ(conv.cols, E);
      EXPECT_LT(rel_err(conv, conv_silu(proj, 0, E, K, lw.conv_wT, lw.conv_b)), kTol) << "conv_out";
      const auto xdbl = linear(conv, 0, E, lw.x_proj, nullptr, R + 2 * N);
      std::vector<double> wb(T * N), wc(T * N);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t n = 0; n < N; ++n) {
          wb[t * N + n] = xdbl[t * (R + 2 * N) + R + n];
          wc[t * N + n] = xdbl[t * (R + 2 * N) + R + N + n];
        }
      EXPECT_LT(rel_err(B, wb), kTol) << "B";
      EXPECT_LT(rel_err(C, wc), kTol) << "C";
      const Mat dtin = get(r, g + "dt_proj_in");  // x_proj(conv_out)[0 : R]
      ASSERT_EQ(dtin.cols, R);
      std::vector<double> wdtin(T * R);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < R; ++i) wdtin[t * R + i] = xdbl[t * (R + 2 * N) + i];
      EXPECT_LT(rel_err(dtin, wdtin), kTol) << "dt_proj_in";
      auto wdt = linear(dtin, 0, R, lw.dt_proj, lw.dt_proj_b, E);
      for (double& v : wdt) v = softplus(v);
      EXPECT_LT(rel_err(dt, wdt), kTol) << "dt";
      // S = exp(dt A) S + dt x B; y = S C + D x, per channel from S = 0.
      for (int64_t e = 0; e < E; ++e) {
        std::vector<double> S(N, 0.0);
        for (int64_t t = 0; t < T; ++t) {
          double acc = 0;
          for (int64_t n = 0; n < N; ++n) {
            S[n] = std::exp(dt.at(t, e) * lw.A[e * N + n]) * S[n] + dt.at(t, e) * conv.at(t, e) * B.at(t, n);
            acc += S[n] * C.at(t, n);
          }
          ys[t * E + e] = acc + lw.D[e] * conv.at(t, e);
        }
      }
      EXPECT_LT(rel_err(y, ys), kTol) << "ssm_out";
      yo.resize(T * E);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t e = 0; e < E; ++e) yo[t * E + e] = y.at(t, e) * silu(proj.at(t, E + e));
    } else {
      const int64_t H = c.n_heads, Pd = c.head_dim, G = c.n_groups, M = c.d_mlp, CD = c.conv_dim();
      const int64_t off_z = 2 * M, off_xbc = off_z + E, off_dt = off_xbc + CD;
      ASSERT_EQ(conv.cols, CD);
      EXPECT_LT(rel_err(conv, conv_silu(proj, off_xbc, CD, K, lw.conv_wT, lw.conv_b)), kTol) << "conv_out";
      EXPECT_LT(rel_err(B, columns(conv, E, G * N)), 1e-30) << "B is a slice of conv_out";
      EXPECT_LT(rel_err(C, columns(conv, E + G * N, G * N)), 1e-30) << "C is a slice of conv_out";
      std::vector<double> wdt(T * H);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t hh = 0; hh < H; ++hh) wdt[t * H + hh] = softplus(proj.at(t, off_dt + hh) + lw.dt_bias[hh]);
      EXPECT_LT(rel_err(dt, wdt), kTol) << "dt";
      // Per head: S = exp(dt A) S + dt outer(x, B); y = S C + D x.
      for (int64_t hh = 0; hh < H; ++hh) {
        const int64_t grp = hh / (H / G);
        for (int64_t p = 0; p < Pd; ++p) {
          std::vector<double> S(N, 0.0);
          const int64_t ch = hh * Pd + p;
          for (int64_t t = 0; t < T; ++t) {
            double acc = 0;
            for (int64_t n = 0; n < N; ++n) {
              S[n] = std::exp(dt.at(t, hh) * lw.A[hh]) * S[n] + dt.at(t, hh) * conv.at(t, ch) * B.at(t, grp * N + n);
              acc += S[n] * C.at(t, grp * N + n);
            }
            ys[t * E + ch] = acc + lw.D[hh] * conv.at(t, ch);
          }
        }
      }
      EXPECT_LT(rel_err(y, ys), kTol) << "ssm_out";
      // out_proj_in = [silu(z0) * x0 | RMSNorm_grouped(ssm_out * silu(z)) * norm.weight]
      ASSERT_EQ(yin.cols, M + E);
      yo.assign(T * (M + E), 0.0);
      const int64_t gs = E / G;
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t i = 0; i < M; ++i) yo[t * (M + E) + i] = silu(proj.at(t, i)) * proj.at(t, M + i);
        for (int64_t g0 = 0; g0 < E; g0 += gs) {
          double ss = 0;
          std::vector<double> gated(gs);
          for (int64_t i = 0; i < gs; ++i) {
            gated[i] = y.at(t, g0 + i) * silu(proj.at(t, off_z + g0 + i));
            ss += gated[i] * gated[i];
          }
          const double inv = 1.0 / std::sqrt(ss / gs + c.norm_eps);
          for (int64_t i = 0; i < gs; ++i) yo[t * (M + E) + M + g0 + i] = gated[i] * inv * lw.gnorm[g0 + i];
        }
      }
    }
    EXPECT_LT(rel_err(yin, yo), kTol) << "out_proj_in";
  }
}

// Residual stream: hidden_in 0 = embedding rows, hidden_in l+1 = hidden_in l + mixer_out l.
void check_residual(const sm::DumpReader& r, const sm::MambaModel& m, const std::vector<int32_t>& ids) {
  const int64_t D = m.config().d_model;
  const Mat h0 = get(r, "/layers/0/hidden_in");
  ASSERT_EQ(h0.rows, static_cast<int64_t>(ids.size()));
  for (size_t t = 0; t < ids.size(); ++t)
    ASSERT_EQ(std::memcmp(&h0.v[t * D], m.weights().embedding + int64_t(ids[t]) * D, D * sizeof(float)), 0)
        << "token " << t;
  for (int l = 0; l + 1 < m.config().n_layer; ++l) {
    const Mat h = get(r, "/layers/" + std::to_string(l) + "/hidden_in");
    const Mat o = get(r, "/layers/" + std::to_string(l) + "/mixer_out");
    const Mat n = get(r, "/layers/" + std::to_string(l + 1) + "/hidden_in");
    for (size_t i = 0; i < n.v.size(); ++i) ASSERT_NEAR(n.v[i], h.v[i] + o.v[i], 1e-6) << "layer " << l;
  }
}

sm::DumpOptions all_options(const std::string& model) {
  sm::DumpOptions o;
  o.logits = true;
  o.model = model;
  return o;
}

// The float tensors of a layer of an fp32, unrotated model, in the reader's order.
std::vector<std::string> layer_tensor_names(int l, sm::Arch arch = sm::Arch::Mamba2) {
  std::vector<std::string> v;
  for (const char* n : {"hidden_in", "in_proj_in", "in_proj_out", "conv_out", "B", "C", "dt_proj_in", "dt",
                        "ssm_out", "out_proj_in", "mixer_out"}) {
    if (std::string(n) == "dt_proj_in" && arch != sm::Arch::Mamba1) continue;
    v.push_back("/layers/" + std::to_string(l) + "/" + n);
  }
  return v;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

TEST(Dump, ShippedTargetRoundTrip) {
  TempDir tmp;
  auto m = sm::MambaModel::load(target_dir());
  const auto ids = bytes_of("In the beginning God");
  ASSERT_EQ(ids.size(), 20u);
  const int64_t V = m->vocab_size(), T = 20;
  std::vector<float> ref(T * V);
  sm::ModelState ref_state = m->new_state();
  m->forward(ids, ref_state, ref.data(), sm::MambaModel::Logits::All);

  const std::string path = tmp.file("d.h5");
  std::vector<float> got(T * V);
  sm::ModelState st = m->new_state();
  {
    sm::DumpWriter w(path, *m, all_options(target_dir()));
    EXPECT_TRUE(fs::exists(w.temp_path()));
    m->set_tap(&w);
    m->forward(ids, st, got.data(), sm::MambaModel::Logits::All);
    m->set_tap(nullptr);
    w.finish();
    EXPECT_FALSE(fs::exists(w.temp_path()));
  }
  // The tap changes nothing: logits and state bit for bit.
  EXPECT_TRUE(bit_equal(ref, got.data(), got.size()));
  EXPECT_TRUE(st == ref_state);

  sm::DumpReader r(path);
  const auto& a = r.attributes();
  EXPECT_EQ(a.format, "specmamba-dump");
  EXPECT_EQ(a.version, 1);
  EXPECT_EQ(a.model, target_dir());
  // The model's own QuantConfig (the fp32 preset), not a placeholder.
  EXPECT_EQ(nlohmann::json::parse(a.quantization), m->weights().quant.to_json());
  EXPECT_EQ(nlohmann::json::parse(a.quantization)["name"], "fp32");
  EXPECT_FALSE(a.rotation);
  const auto cfg = nlohmann::json::parse(a.config);
  EXPECT_EQ(cfg["arch"], "mamba2");
  EXPECT_EQ(cfg["n_layer"], m->config().n_layer);
  EXPECT_EQ(cfg["d_model"], m->config().d_model);
  std::set<std::string> names;
  for (const auto& [k, v] : a.all) names.insert(k);
  for (const char* k : {"format", "version", "model", "config", "quantization", "rotation"})
    EXPECT_TRUE(names.count(k)) << k;
  EXPECT_FALSE(names.count("spec")) << "a plain run is not speculative";

  EXPECT_EQ(r.tokens(), ids);
  std::vector<int64_t> all_idx(T);
  for (int64_t t = 0; t < T; ++t) all_idx[t] = t;
  EXPECT_EQ(r.token_index(), all_idx);
  EXPECT_EQ(r.layers(), (std::vector<int>{0, 1, 2, 3}));

  // The layout, in order, with the shapes of docs/dump-format.md.
  const auto& c = m->config();
  std::vector<std::string> want = {"/tokens", "/token_index"};
  for (int l = 0; l < c.n_layer; ++l)
    for (const auto& n : layer_tensor_names(l)) want.push_back(n);
  want.push_back("/logits");
  std::vector<std::string> have;
  for (const auto& d : r.datasets()) have.push_back(d.name);
  EXPECT_EQ(have, want);  // fp32: no _codes, _exponent or _unrotated datasets
  for (const auto& d : r.datasets()) {
    EXPECT_EQ(d.integer, d.name == "/tokens" || d.name == "/token_index") << d.name;
    EXPECT_EQ(d.dtype, d.integer ? (d.name == "/tokens" ? "int32" : "int64") : "float32") << d.name;
  }
  EXPECT_EQ(r.info("/layers/2/in_proj_in").shape, (std::vector<int64_t>{T, c.d_model}));
  const int64_t GN = int64_t(c.n_groups) * c.d_state;
  EXPECT_EQ(r.info("/layers/2/in_proj_out").shape, (std::vector<int64_t>{T, c.in_proj_dim()}));
  EXPECT_EQ(r.info("layers/2/conv_out").shape, (std::vector<int64_t>{T, c.conv_dim()}));
  EXPECT_EQ(r.info("/layers/2/B").shape, (std::vector<int64_t>{T, GN}));
  EXPECT_EQ(r.info("/layers/2/C").shape, (std::vector<int64_t>{T, GN}));
  EXPECT_EQ(r.info("/layers/2/dt").shape, (std::vector<int64_t>{T, c.n_heads}));
  EXPECT_EQ(r.info("/layers/2/ssm_out").shape, (std::vector<int64_t>{T, c.d_inner}));
  EXPECT_EQ(r.info("/layers/2/out_proj_in").shape, (std::vector<int64_t>{T, c.d_mlp + c.d_inner}));
  EXPECT_EQ(r.info("/layers/2/mixer_out").shape, (std::vector<int64_t>{T, c.d_model}));
  EXPECT_EQ(r.info("/logits").shape, (std::vector<int64_t>{T, V}));
  EXPECT_TRUE(r.info("/tokens").integer);

  // /logits equals the model's own forward logits bit for bit.
  EXPECT_TRUE(bit_equal(r.read("/logits", 0, T), ref.data(), ref.size()));
  check_residual(r, *m, ids);
  check_definitions(r, *m);

  // A slice is exactly the asked rows and columns.
  const auto slice = r.read("/logits", 3, 2, 10, 5);
  ASSERT_EQ(slice.size(), 10u);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 5; ++j) EXPECT_EQ(slice[i * 5 + j], ref[(3 + i) * V + 10 + j]);
  EXPECT_NE(error_of([&] { r.read("/logits", 18, 3); }).find("rows [18, 21) outside"), std::string::npos);
  EXPECT_NE(error_of([&] { r.read("/logits", 0, 1, V - 1, 2); }).find("columns"), std::string::npos);
  EXPECT_NE(error_of([&] { r.info("/layers/9/dt"); }).find("no dataset /layers/9/dt"), std::string::npos);
}

// As generate runs it: prefill with Logits::Last, then one-token decode steps.
TEST(Dump, PrefillAndDecodeInOrderWithAllLogits) {
  TempDir tmp;
  auto m = sm::MambaModel::load(target_dir());
  const auto ids = bytes_of("In the beginning God");
  const int64_t V = m->vocab_size(), T = 20;
  std::vector<float> ref(T * V);
  {
    sm::ModelState s = m->new_state();
    m->forward(ids, s, ref.data(), sm::MambaModel::Logits::All);
  }
  std::vector<float> ref_last(V);
  {
    sm::ModelState s = m->new_state();
    m->forward(ids, s, ref_last.data(), sm::MambaModel::Logits::Last);
  }
  const std::string path = tmp.file("g.h5");
  sm::DumpWriter w(path, m->config(), all_options("m"));
  m->set_tap(&w);
  sm::ModelState st = m->new_state();
  std::vector<float> last(V);
  m->forward(ids, st, last.data(), sm::MambaModel::Logits::Last);
  EXPECT_TRUE(bit_equal(ref_last, last.data(), V)) << "the caller's logits are unchanged";
  std::vector<int32_t> run = ids;
  std::vector<std::vector<float>> step_logits;
  for (int32_t id : {5, 7, 9}) {
    std::vector<float> lg(V);
    m->decode(id, st, lg.data());
    run.push_back(id);
    step_logits.push_back(lg);
  }
  m->set_tap(nullptr);
  w.finish();

  sm::DumpReader r(path);
  EXPECT_EQ(r.tokens(), run);
  ASSERT_EQ(r.info("/logits").rows(), 23);
  // Prefill rows: the head over all rows equals the Logits::All forward.
  EXPECT_TRUE(bit_equal(r.read("/logits", 0, T), ref.data(), ref.size()));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bit_equal(r.read("/logits", T + i, 1), step_logits[i].data(), V));
  check_residual(r, *m, run);
}

TEST(Dump, FiltersKeepOnlyTheAskedLayersAndTokens) {
  TempDir tmp;
  auto m = sm::MambaModel::load(target_dir());
  const auto ids = bytes_of("In the beginning God");
  const std::string full = tmp.file("full.h5"), part = tmp.file("part.h5");
  for (const std::string& p : {full, part}) {
    sm::DumpOptions o;
    if (p == part) {
      o.layers = sm::IndexFilter::parse("3,1", "layers");
      o.tokens = sm::IndexFilter::parse("2-5,10", "tokens");
    }
    sm::DumpWriter w(p, m->config(), o);
    m->set_tap(&w);
    m->set_chunk(7);  // several batches, some without any kept token
    sm::ModelState st = m->new_state();
    m->forward(ids, st, nullptr, sm::MambaModel::Logits::None);
    m->set_tap(nullptr);
    w.finish();
  }
  sm::DumpReader f(full), r(part);
  EXPECT_EQ(r.layers(), (std::vector<int>{1, 3}));
  EXPECT_FALSE(r.has("/logits"));  // not asked for
  EXPECT_FALSE(r.has("/layers/0/hidden_in"));
  EXPECT_EQ(r.tokens(), ids);  // every id run, filtered or not
  const std::vector<int64_t> kept = {2, 3, 4, 5, 10};
  EXPECT_EQ(r.token_index(), kept);
  for (int l : {1, 3})
    for (const auto& n : layer_tensor_names(l)) {
      const auto a = get(r, n), b = get(f, n);
      ASSERT_EQ(a.rows, 5) << n;
      for (size_t i = 0; i < kept.size(); ++i)
        EXPECT_EQ(std::memcmp(&a.v[i * a.cols], &b.v[kept[i] * b.cols], a.cols * sizeof(float)), 0) << n;
    }
  bool found = false;
  for (const auto& [k, v] : r.attributes().all)
    if (k == "token_filter") found = v == "2-5,10";
  EXPECT_TRUE(found);
}

// The model asks wants() and skips everything the tap leaves out.
TEST(Dump, ModelCallsTheTapOnlyForWantedLayers) {
  struct Recorder : sm::ActivationTap {
    std::vector<std::string> calls;
    int64_t tokens = 0;
    void on_tokens(int64_t, const int32_t*, int64_t rows) override { tokens += rows; }
    bool wants(int layer, int64_t, int64_t) const override { return layer == 1; }
    void on_tensor(int layer, const char* name, int64_t, int64_t, int64_t, const float*, int64_t) override {
      calls.push_back(std::to_string(layer) + "/" + name);
    }
  } rec;
  auto m = sm::MambaModel::load(target_dir());
  m->set_tap(&rec);
  sm::ModelState st = m->new_state();
  std::vector<float> lg(m->vocab_size());
  m->forward(bytes_of("abc"), st, lg.data(), sm::MambaModel::Logits::Last);
  m->set_tap(nullptr);
  std::vector<std::string> want;
  for (const char* n : {"hidden_in", "in_proj_in", "in_proj_out", "conv_out", "B", "C", "dt", "ssm_out",
                        "out_proj_in", "mixer_out"})
    want.push_back(std::string("1/") + n);
  EXPECT_EQ(rec.calls, want);
  EXPECT_EQ(rec.tokens, 3);
}

TEST(Dump, RandomMamba1RoundTripAcrossChunkBoundaries) {
  TempDir tmp;
  sm::RandomModelSpec spec;
  spec.arch = sm::Arch::Mamba1;
  spec.n_layer = 3;
  spec.seed = 7;
  const std::string dir = tmp.file("m1");
  sm::write_random_model(dir, spec);
  auto m = sm::MambaModel::load(dir);
  m->set_chunk(50);  // 150 tokens: three batches, appends cross the 64-row chunks
  std::mt19937 rng(3);
  std::vector<int32_t> ids(150);
  for (auto& id : ids) id = static_cast<int32_t>(rng() % spec.vocab_size);
  const int64_t V = m->vocab_size(), T = 150;
  std::vector<float> ref(T * V), got(T * V);
  {
    sm::ModelState s = m->new_state();
    m->forward(ids, s, ref.data(), sm::MambaModel::Logits::All);
  }
  const std::string path = tmp.file("m1.h5");
  {
    sm::DumpWriter w(path, m->config(), all_options(dir));
    m->set_tap(&w);
    sm::ModelState s = m->new_state();
    m->forward(ids, s, got.data(), sm::MambaModel::Logits::All);
    m->set_tap(nullptr);
    w.finish();
  }
  EXPECT_TRUE(bit_equal(ref, got.data(), got.size()));
  sm::DumpReader r(path);
  EXPECT_EQ(nlohmann::json::parse(r.attributes().config)["arch"], "mamba1");
  const auto& c = m->config();
  EXPECT_EQ(r.info("/layers/0/in_proj_out").shape, (std::vector<int64_t>{T, 2 * int64_t(c.d_inner)}));
  EXPECT_EQ(r.info("/layers/0/conv_out").shape, (std::vector<int64_t>{T, c.d_inner}));
  EXPECT_EQ(r.info("/layers/0/B").shape, (std::vector<int64_t>{T, c.d_state}));
  EXPECT_EQ(r.info("/layers/0/dt").shape, (std::vector<int64_t>{T, c.d_inner}));
  EXPECT_EQ(r.info("/layers/0/out_proj_in").shape, (std::vector<int64_t>{T, c.d_inner}));
  EXPECT_EQ(r.info("/layers/0/dt_proj_in").shape, (std::vector<int64_t>{T, c.dt_rank}));
  std::vector<std::string> want = {"/tokens", "/token_index"}, have;
  for (int l = 0; l < c.n_layer; ++l)
    for (const auto& n : layer_tensor_names(l, sm::Arch::Mamba1)) want.push_back(n);
  want.push_back("/logits");
  for (const auto& d : r.datasets()) have.push_back(d.name);
  EXPECT_EQ(have, want);
  EXPECT_TRUE(bit_equal(r.read("/logits", 0, T), ref.data(), ref.size()));
  EXPECT_EQ(r.tokens(), ids);
  check_residual(r, *m, ids);
  check_definitions(r, *m);
}

TEST(Dump, IndexFilterParsing) {
  const auto f = sm::IndexFilter::parse(" 5-7, 0,3 ,6", "--dump-layers");
  EXPECT_EQ(f.spec(), "0,3,5-7");
  EXPECT_TRUE(f.contains(0) && f.contains(3) && f.contains(7));
  EXPECT_FALSE(f.contains(1) || f.contains(8) || f.contains(-1));
  EXPECT_TRUE(f.intersects(1, 3));   // 1..3
  EXPECT_FALSE(f.intersects(1, 2));  // 1..2
  EXPECT_EQ(f.max_index(), 7);
  const auto open = sm::IndexFilter::parse("64-", "--dump-tokens");
  EXPECT_TRUE(open.contains(1000000) && !open.contains(63));
  EXPECT_EQ(open.max_index(), -1);
  EXPECT_EQ(open.spec(), "64-");
  EXPECT_TRUE(sm::IndexFilter::parse("all", "x").all());
  EXPECT_TRUE(sm::IndexFilter::parse("", "x").all());
  EXPECT_EQ(sm::IndexFilter::parse("0-3,4", "x").spec(), "0-4");  // adjacent ranges merge
  for (const char* bad : {"1,,2", "a", "-3", "7-5", "1-2-3", "3x", "1.5", "99999999999999999999"}) {
    const std::string msg = error_of([&] { sm::IndexFilter::parse(bad, "--dump-layers"); });
    EXPECT_EQ(msg.rfind("--dump-layers: ", 0), 0u) << bad << ": " << msg;
  }
  const std::string msg = error_of([] { sm::check_layer_filter(sm::IndexFilter::parse("0,9", "l"), 4, "--dump-layers"); });
  EXPECT_NE(msg.find("--dump-layers: layer 9 does not exist"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { sm::check_layer_filter(sm::IndexFilter::parse("4-", "l"), 4, "L"); }).find("selects no layer"),
            std::string::npos);
  EXPECT_EQ(error_of([] { sm::check_layer_filter(sm::IndexFilter::parse("2-", "l"), 4, "L"); }), "(no error)");
}

// A small valid dump of the random model, for the damage tests.
std::string small_dump(const TempDir& tmp, const std::string& name) {
  sm::RandomModelSpec spec;
  const std::string dir = tmp.file("model_" + name);
  if (!fs::exists(dir)) sm::write_random_model(dir, spec);
  auto m = sm::MambaModel::load(dir);
  const std::string path = tmp.file(name);
  sm::DumpWriter w(path, m->config(), all_options(dir));
  m->set_tap(&w);
  sm::ModelState st = m->new_state();
  m->forward(bytes_of("some text to dump, long enough to fill a few chunks of rows ......."), st, nullptr,
             sm::MambaModel::Logits::None);
  m->set_tap(nullptr);
  w.finish();
  return path;
}

TEST(Dump, ReaderRejectsMissingForeignDamagedAndNewerFiles) {
  TempDir tmp;
  const std::string good = small_dump(tmp, "good.h5");
  EXPECT_NO_THROW(sm::DumpReader{good});

  const std::string missing = tmp.file("missing.h5");
  EXPECT_EQ(error_of([&] { sm::DumpReader{missing}; }), missing + ": no such file");

  const std::string text = tmp.file("text.h5");
  std::ofstream(text) << "just some text, not HDF5\n";
  EXPECT_EQ(error_of([&] { sm::DumpReader{text}; }), text + ": not an HDF5 file");

  // Truncated to half: the file names itself in the error, from open or from a read.
  const std::string trunc = tmp.file("trunc.h5");
  fs::copy_file(good, trunc);
  fs::resize_file(trunc, fs::file_size(good) / 2);
  const std::string tmsg = error_of([&] {
    sm::DumpReader r(trunc);
    for (const auto& d : r.datasets()) r.read(d.name, 0, d.rows());
  });
  EXPECT_EQ(tmsg.rfind(trunc + ": ", 0), 0u) << tmsg;

  // A foreign HDF5 file: no format attribute, then another format.
  const std::string foreign = tmp.file("foreign.h5");
  {
    hid_t f = H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = 4;
    hid_t sp = H5Screate_simple(1, &n, nullptr);
    hid_t ds = H5Dcreate2(f, "data", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
  }
  std::string msg = error_of([&] { sm::DumpReader{foreign}; });
  EXPECT_EQ(msg.rfind(foreign + ": not a SpecMamba activation dump", 0), 0u) << msg;
  const std::string trace = tmp.file("trace.h5");
  { auto sink = sm::make_hdf5_sink(trace); }
  msg = error_of([&] { sm::DumpReader{trace}; });
  EXPECT_NE(msg.find(trace + ": not a SpecMamba activation dump (root attribute format is \"specmamba-trace\""),
            std::string::npos)
      << msg;

  // A newer version.
  const std::string newer = tmp.file("newer.h5");
  fs::copy_file(good, newer);
  {
    hid_t f = H5Fopen(newer.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    H5Adelete(f, "version");
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    const int32_t v = 2;
    H5Awrite(a, H5T_NATIVE_INT32, &v);
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
  }
  EXPECT_EQ(error_of([&] { sm::DumpReader{newer}; }),
            newer + ": unsupported dump version 2 (this build reads version 1)");
}

// Fuzzer finding (fuzz_dump_reader's first smoke run: 74 inputs/s at 1.5 GB RSS):
// a /tokens or /token_index that declares more ids than the file stores (a
// chunked dataset never written) made tokens() allocate and read back fill
// values, 2^k of them for any k up to 64. Now a clear error, before allocating.
TEST(Dump, IdsDeclaredButNotStoredAreAnError) {
  TempDir tmp;
  const std::string path = tmp.file("unstored.h5");
  {
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, std::strlen(sm::kDumpFormat));
    hid_t a = H5Acreate2(f, "format", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, sm::kDumpFormat);
    H5Aclose(a);
    a = H5Acreate2(f, "version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    const int32_t v = 1;
    H5Awrite(a, H5T_NATIVE_INT32, &v);
    H5Aclose(a);
    H5Tclose(st);
    H5Sclose(sp);
    const hsize_t n = hsize_t(1) << 40, maxn = H5S_UNLIMITED, chunk = 4096;
    hid_t ds_sp = H5Screate_simple(1, &n, &maxn);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    for (const char* name : {"tokens", "token_index"}) {
      hid_t ds = H5Dcreate2(f, name, H5T_STD_I32LE, ds_sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
      ASSERT_GE(ds, 0);
      H5Dclose(ds);
    }
    H5Pclose(dcpl);
    H5Sclose(ds_sp);
    H5Fclose(f);
  }
  sm::DumpReader r(path);
  EXPECT_EQ(r.info("/tokens").rows(), int64_t(1) << 40);  // listing and slices stay lazy
  EXPECT_EQ(r.read("/tokens", 0, 2, 0, 1).size(), 2u);
  std::string msg = error_of([&] { (void)r.tokens(); });
  EXPECT_NE(msg.find(path + ": /tokens declares 1099511627776 values but the file does not store them all"),
            std::string::npos)
      << msg;
  msg = error_of([&] { (void)r.token_index(); });
  EXPECT_NE(msg.find("/token_index declares 1099511627776 values"), std::string::npos) << msg;
}

TEST(Dump, TemporaryFileNeverRemains) {
  TempDir tmp;
  sm::RandomModelSpec spec;
  const std::string dir = tmp.file("m");
  sm::write_random_model(dir, spec);
  auto m = sm::MambaModel::load(dir);

  // Destroyed unfinished (an error in the run): neither file exists.
  const std::string p1 = tmp.file("a.h5");
  {
    sm::DumpWriter w(p1, m->config(), {});
    m->set_tap(&w);
    sm::ModelState st = m->new_state();
    m->forward(bytes_of("abc"), st, nullptr, sm::MambaModel::Logits::None);
    m->set_tap(nullptr);
  }
  EXPECT_FALSE(fs::exists(p1));
  EXPECT_FALSE(fs::exists(p1 + ".tmp"));

  // An error from inside the forward (a second sequence), then destruction.
  const std::string p2 = tmp.file("b.h5");
  {
    sm::DumpWriter w(p2, m->config(), {});
    m->set_tap(&w);
    sm::ModelState s1 = m->new_state(), s2 = m->new_state();
    m->forward(bytes_of("abc"), s1, nullptr, sm::MambaModel::Logits::None);
    s2.position = 0;
    const std::string msg = error_of([&] { m->forward(bytes_of("x"), s2, nullptr, sm::MambaModel::Logits::None); });
    EXPECT_NE(msg.find(p2 + ": a dump records one sequence"), std::string::npos) << msg;
    m->set_tap(nullptr);
  }
  EXPECT_FALSE(fs::exists(p2));
  EXPECT_FALSE(fs::exists(p2 + ".tmp"));

  // finish() fails (the target is a directory): the error names it, no temp remains.
  const std::string p3 = tmp.file("dir.h5");
  fs::create_directories(p3 + "/x");
  {
    sm::DumpWriter w(p3, m->config(), {});
    const std::string msg = error_of([&] { w.finish(); });
    EXPECT_EQ(msg.rfind(p3 + ": cannot write dump: rename failed", 0), 0u) << msg;
    EXPECT_FALSE(fs::exists(p3 + ".tmp"));
    EXPECT_NE(error_of([&] { w.finish(); }).find("already finished"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(p3 + ".tmp"));

  // Cannot create (no such directory): the error names the dump, nothing is created.
  const std::string p4 = tmp.file("nodir/c.h5");
  EXPECT_EQ(error_of([&] { sm::DumpWriter(p4, m->config(), {}); }).rfind(p4 + ": cannot create HDF5 dump", 0), 0u);
  EXPECT_FALSE(fs::exists(p4 + ".tmp"));

  // A bad layer filter is refused before any file exists.
  const std::string p5 = tmp.file("e.h5");
  sm::DumpOptions o;
  o.layers = sm::IndexFilter::parse("1,5", "l");
  EXPECT_NE(error_of([&] { sm::DumpWriter(p5, m->config(), o); }).find("layer 5 does not exist"), std::string::npos);
  EXPECT_FALSE(fs::exists(p5) || fs::exists(p5 + ".tmp"));

  // Success: the dump, no temp; an empty run still has the layout.
  const std::string p6 = tmp.file("f.h5");
  {
    sm::DumpWriter w(p6, m->config(), {});
    w.finish();
  }
  EXPECT_TRUE(fs::exists(p6));
  EXPECT_FALSE(fs::exists(p6 + ".tmp"));
  sm::DumpReader r(p6);
  EXPECT_TRUE(r.tokens().empty());
  EXPECT_EQ(r.info("/tokens").rows(), 0);
}

// ---- quantized models, rotation, speculative runs ------------------------------

std::string quantized_copy(const TempDir& tmp, const std::string& src, const std::string& preset, bool rotation,
                           const std::string& name) {
  const std::string dst = tmp.file(name);
  auto q = sm::quant::QuantConfig::preset(preset, rotation);
  if (q.linear_weights.quantized())  // as `specmamba quantize` does
    q.linear_weights.group = q.lm_head_weights.group = static_cast<int>(sm::quant::default_weight_group(src));
  sm::quant::quantize_model(src, dst, q);
  return dst;
}

// Dumps `ids` (one forward, several batches) with every layer and the logits;
// checks that the tap (codes included) changes neither logits nor state.
void dump_forward(sm::MambaModel& m, const std::string& path, const std::vector<int32_t>& ids) {
  const int64_t V = m.vocab_size(), T = static_cast<int64_t>(ids.size());
  std::vector<float> ref(T * V), got(T * V);
  sm::ModelState rs = m.new_state(), gs = m.new_state();
  m.forward(ids, rs, ref.data(), sm::MambaModel::Logits::All);
  sm::DumpWriter w(path, m, all_options(m.where()));
  m.set_tap(&w);
  m.forward(ids, gs, got.data(), sm::MambaModel::Logits::All);
  m.set_tap(nullptr);
  w.finish();
  EXPECT_TRUE(bit_equal(ref, got.data(), got.size())) << "the tap changes the logits";
  EXPECT_TRUE(gs == rs) << "the tap changes the state";
}

// code * 2^exp of a dumped codes dataset, as float (exact: int8 codes, small exponents).
std::vector<float> dequantized(const sm::DumpReader& r, const std::string& name) {
  const Mat cd = get(r, name + "_codes"), ex = get(r, name + "_exponent");
  const int64_t group = r.info(name + "_codes").group;
  std::vector<float> v(cd.v.size());
  for (int64_t t = 0; t < cd.rows; ++t)
    for (int64_t c = 0; c < cd.cols; ++c)
      v[t * cd.cols + c] = float(std::ldexp(double(cd.at(t, c)), int(ex.at(t, c / group))));
  return v;
}

// NAME_codes / NAME_exponent of a quantized linear layer's input are exactly
// quantize_activations of the float NAME dataset with the layer's settings.
void check_linear_codes(const sm::DumpReader& r, const std::string& name, const sm::LinearOp& op) {
  SCOPED_TRACE(name);
  ASSERT_TRUE(op.is_quantized());
  const sm::ActQuantSpec& a = op.act_quant();
  const Mat f = get(r, name), cd = get(r, name + "_codes"), ex = get(r, name + "_exponent");
  const auto ci = r.info(name + "_codes"), ei = r.info(name + "_exponent");
  EXPECT_EQ(ci.dtype, "int8");
  EXPECT_EQ(ei.dtype, "int8");
  EXPECT_EQ(ci.bits, a.bits);
  EXPECT_EQ(ci.group, a.group);
  EXPECT_EQ(ei.group, a.group);
  ASSERT_EQ(ci.shape, (std::vector<int64_t>{f.rows, f.cols}));
  ASSERT_EQ(ei.shape, (std::vector<int64_t>{f.rows, f.cols / a.group}));
  const auto q = sm::quant::quantize_activations(f.v.data(), f.rows, f.cols, a.bits, a.group, a.exp_min, a.exp_max);
  int64_t bad_codes = 0, bad_exps = 0, nonzero = 0;
  for (size_t i = 0; i < q.codes.size(); ++i) {
    bad_codes += cd.v[i] != float(q.codes[i]);
    nonzero += q.codes[i] != 0;
  }
  for (size_t i = 0; i < q.exps.size(); ++i) bad_exps += ex.v[i] != float(q.exps[i]);
  EXPECT_EQ(bad_codes, 0);
  EXPECT_EQ(bad_exps, 0);
  EXPECT_GT(nonzero, int64_t(q.codes.size() / 4));
  // The dequantized codes reproduce quantize_activations' values bit for bit.
  const std::vector<float> deq = sm::quant::dequantize(q);
  EXPECT_TRUE(bit_equal(dequantized(r, name), deq.data(), deq.size()));
}

// NAME_codes / NAME_exponent of a PoT SSM input: quantize_pot of each row of the float dataset.
void check_pot_codes(const sm::DumpReader& r, const std::string& name, int64_t group) {
  SCOPED_TRACE(name);
  const Mat f = get(r, name), cd = get(r, name + "_codes"), ex = get(r, name + "_exponent");
  EXPECT_EQ(r.info(name + "_codes").bits, 8);
  EXPECT_EQ(r.info(name + "_codes").group, group);
  ASSERT_EQ(cd.cols, f.cols);
  ASSERT_EQ(ex.cols, (f.cols + group - 1) / group);
  int64_t bad = 0;
  for (int64_t t = 0; t < f.rows; ++t) {
    const auto q = sm::quant::quantize_pot(std::span<const float>(&f.v[t * f.cols], size_t(f.cols)), group);
    for (int64_t c = 0; c < f.cols; ++c) bad += cd.at(t, c) != float(q.codes[c]);
    for (int64_t i = 0; i < ex.cols; ++i) bad += ex.at(t, i) != float(q.exps[i]);
  }
  EXPECT_EQ(bad, 0);
}

TEST(Dump, QuantizedW4A4DumpHasTheKernelsCodes) {
  TempDir tmp;
  const std::string dir = quantized_copy(tmp, target_dir(), "w4a4", true, "w4a4");
  auto m = sm::MambaModel::load(dir);
  const auto& c = m->config();
  const auto& w = m->weights();
  ASSERT_TRUE(w.quant.pot_ssm && w.quant.rotation);
  m->set_chunk(7);  // several batches per forward
  const auto ids = bytes_of("In the beginning God created the heaven");
  const int64_t T = static_cast<int64_t>(ids.size());
  const std::string path = tmp.file("q.h5");
  dump_forward(*m, path, ids);

  sm::DumpReader r(path);
  EXPECT_EQ(nlohmann::json::parse(r.attributes().quantization), w.quant.to_json());
  EXPECT_EQ(nlohmann::json::parse(r.attributes().quantization)["name"], "w4a4");
  EXPECT_TRUE(r.attributes().rotation);
  const int64_t E = c.d_inner, H = c.n_heads, N = c.d_state, G = w.quant.ssm.group;
  const int64_t off_dt = 2 * c.d_mlp + E + c.conv_dim();
  for (int l = 0; l < c.n_layer; ++l) {
    SCOPED_TRACE("layer " + std::to_string(l));
    const std::string g = "/layers/" + std::to_string(l) + "/";
    const auto& pl = w.packed[l];
    // The inputs of the integer linear layers, as the layers quantize them.
    check_linear_codes(r, g + "in_proj_in", pl.in_proj);
    check_linear_codes(r, g + "out_proj_in", pl.out_proj);
    // out_proj_in is the rotated row the product consumes.
    const Mat un = get(r, g + "out_proj_in_unrotated"), rot = get(r, g + "out_proj_in");
    std::vector<float> want(un.v.size());
    sm::quant::transform_rows(un.v.data(), want.data(), un.rows, un.cols);
    EXPECT_TRUE(bit_equal(want, rot.v.data(), rot.v.size())) << "transform_rows(out_proj_in_unrotated)";
    // The PoT SSM's inputs: x and dt_raw are exact slices, their codes quantize_pot's.
    const Mat conv = get(r, g + "conv_out"), proj = get(r, g + "in_proj_out"), x = get(r, g + "x"),
              dtr = get(r, g + "dt_raw");
    ASSERT_EQ(x.cols, E);
    ASSERT_EQ(dtr.cols, H);
    for (int64_t t = 0; t < T; ++t) {
      EXPECT_EQ(std::memcmp(&x.v[t * E], &conv.v[t * conv.cols], E * sizeof(float)), 0);
      EXPECT_EQ(std::memcmp(&dtr.v[t * H], &proj.v[t * proj.cols + off_dt], H * sizeof(float)), 0);
    }
    check_pot_codes(r, g + "x", G);
    check_pot_codes(r, g + "B", G);
    check_pot_codes(r, g + "C", G);
    check_pot_codes(r, g + "dt_raw", 1);
    // ssm_out's codes are the integer step's output: they dequantize to ssm_out exactly.
    const Mat y = get(r, g + "ssm_out");
    EXPECT_EQ(r.info(g + "ssm_out_codes").bits, 8);
    EXPECT_EQ(r.info(g + "ssm_out_exponent").shape, (std::vector<int64_t>{T, E / G}));
    EXPECT_TRUE(bit_equal(dequantized(r, g + "ssm_out"), y.v.data(), y.v.size()));
    EXPECT_EQ(r.info(g + "B_exponent").shape, (std::vector<int64_t>{T, N / G}));
    // Tensors no kernel quantizes have no codes.
    for (const char* n : {"hidden_in", "in_proj_out", "conv_out", "dt", "mixer_out", "out_proj_in_unrotated"})
      EXPECT_FALSE(r.has(g + n + "_codes")) << n;
  }
  // Reader order: T_unrotated, T, T_codes, T_exponent.
  std::vector<std::string> names;
  for (const auto& d : r.datasets())
    if (d.name.rfind("/layers/0/", 0) == 0) names.push_back(d.name.substr(10));
  const std::vector<std::string> want = {
      "hidden_in", "in_proj_in", "in_proj_in_codes", "in_proj_in_exponent", "in_proj_out", "conv_out", "x",
      "x_codes", "x_exponent", "B", "B_codes", "B_exponent", "C", "C_codes", "C_exponent", "dt_raw",
      "dt_raw_codes", "dt_raw_exponent", "dt", "ssm_out", "ssm_out_codes", "ssm_out_exponent",
      "out_proj_in_unrotated", "out_proj_in", "out_proj_in_codes", "out_proj_in_exponent", "mixer_out"};
  EXPECT_EQ(names, want);
}

// Codes are computed only for a tap that wants them, and only for the layers it wants.
TEST(Dump, CodesOnlyForWantedLayersAndTapsThatAsk) {
  struct Recorder : sm::ActivationTap {
    bool codes = false;
    std::vector<std::string> tensors, code_calls;
    void on_tokens(int64_t, const int32_t*, int64_t) override {}
    bool wants(int layer, int64_t, int64_t) const override { return layer == 2; }
    void on_tensor(int layer, const char* name, int64_t, int64_t, int64_t, const float*, int64_t) override {
      tensors.push_back(std::to_string(layer) + "/" + name);
    }
    bool wants_codes() const override { return codes; }
    void on_codes(int layer, const char* name, int64_t, int64_t, int64_t, int, int64_t, const int8_t*,
                  const int16_t*) override {
      code_calls.push_back(std::to_string(layer) + "/" + name);
    }
  };
  TempDir tmp;
  auto q = sm::MambaModel::load(quantized_copy(tmp, target_dir(), "w4a4", true, "w4a4"));
  auto f = sm::MambaModel::load(target_dir());
  for (sm::MambaModel* m : {q.get(), f.get()})
    for (bool codes : {false, true}) {
      Recorder rec;
      rec.codes = codes;
      m->set_tap(&rec);
      sm::ModelState st = m->new_state();
      m->forward(bytes_of("abcd"), st, nullptr, sm::MambaModel::Logits::None);
      m->set_tap(nullptr);
      std::vector<std::string> want;
      if (codes && m == q.get())
        for (const char* n : {"in_proj_in", "x", "B", "C", "dt_raw", "ssm_out", "out_proj_in"})
          want.push_back(std::string("2/") + n);
      EXPECT_EQ(rec.code_calls, want) << (m == q.get() ? "w4a4" : "fp32") << " codes " << codes;
      for (const auto& t : rec.tensors) EXPECT_EQ(t.rfind("2/", 0), 0u) << t;
    }
}

// Codes wherever a layer is quantized and nowhere else; _unrotated only with rotation.
TEST(Dump, UnrotatedW4A4AndQuantizedMamba1) {
  TempDir tmp;
  {
    auto m = sm::MambaModel::load(quantized_copy(tmp, target_dir(), "w4a4", false, "w4a4nr"));
    const std::string path = tmp.file("nr.h5");
    dump_forward(*m, path, bytes_of("And God said, Let there be light"));
    sm::DumpReader r(path);
    EXPECT_FALSE(r.attributes().rotation);
    EXPECT_EQ(nlohmann::json::parse(r.attributes().quantization), m->weights().quant.to_json());
    for (int l = 0; l < m->config().n_layer; ++l) {
      const std::string g = "/layers/" + std::to_string(l) + "/";
      EXPECT_FALSE(r.has(g + "out_proj_in_unrotated"));
      check_linear_codes(r, g + "in_proj_in", m->weights().packed[l].in_proj);
      check_linear_codes(r, g + "out_proj_in", m->weights().packed[l].out_proj);
      check_pot_codes(r, g + "x", m->weights().quant.ssm.group);
    }
  }
  sm::RandomModelSpec spec;
  spec.arch = sm::Arch::Mamba1;
  spec.seed = 11;
  const std::string src = tmp.file("m1");
  sm::write_random_model(src, spec);
  auto m = sm::MambaModel::load(quantized_copy(tmp, src, "w8a8", true, "m1q"));
  ASSERT_FALSE(m->weights().quant.pot_ssm);
  m->set_chunk(5);
  const std::string path = tmp.file("m1.h5");
  dump_forward(*m, path, bytes_of("a short random sequence"));
  sm::DumpReader r(path);
  int quantized_inputs = 0;
  for (int l = 0; l < m->config().n_layer; ++l) {
    const std::string g = "/layers/" + std::to_string(l) + "/";
    const auto& pl = m->weights().packed[l];
    const std::pair<const char*, const sm::LinearOp*> inputs[] = {
        {"in_proj_in", &pl.in_proj}, {"conv_out", &pl.x_proj}, {"dt_proj_in", &pl.dt_proj}, {"out_proj_in", &pl.out_proj}};
    for (const auto& [n, op] : inputs) {
      EXPECT_EQ(r.has(g + n + "_codes"), op->is_quantized()) << g + n;
      if (op->is_quantized()) {
        check_linear_codes(r, g + n, *op);
        ++quantized_inputs;
      }
    }
    EXPECT_TRUE(r.has(g + "out_proj_in_unrotated"));
    for (const char* n : {"x", "dt_raw", "B_codes", "ssm_out_codes"}) EXPECT_FALSE(r.has(g + n)) << n;
  }
  EXPECT_GE(quantized_inputs, 3 * m->config().n_layer);  // in_proj, x_proj, out_proj at least
}

// An fp32 model with the rotation folded: every definition holds, out_proj_in is
// the rotated row (transform_rows of out_proj_in_unrotated), and there are no codes.
TEST(Dump, RotatedFp32Model) {
  TempDir tmp;
  auto m = sm::MambaModel::load(quantized_copy(tmp, target_dir(), "fp32", true, "rot"));
  ASSERT_TRUE(m->weights().quant.rotation);
  const std::string path = tmp.file("rot.h5");
  dump_forward(*m, path, bytes_of("In the beginning God"));
  sm::DumpReader r(path);
  EXPECT_TRUE(r.attributes().rotation);
  for (const auto& d : r.datasets()) {
    EXPECT_FALSE(ends_with(d.name, "_codes") || ends_with(d.name, "_exponent")) << d.name;
    EXPECT_EQ(d.integer, d.name == "/tokens" || d.name == "/token_index") << d.name;
  }
  for (int l = 0; l < m->config().n_layer; ++l)
    EXPECT_TRUE(r.has("/layers/" + std::to_string(l) + "/out_proj_in_unrotated"));
  check_definitions(r, *m);
}

// A greedy speculative run's dump (the target replayed over the committed
// sequence) equals the dump of the same plain greedy run, dataset by dataset.
void check_spec_dump_equals_plain(const std::string& target, const std::string& draft, const TempDir& tmp,
                                  const std::string& tag) {
  auto m = sm::MambaModel::load(target);
  auto d = sm::MambaModel::load(draft);
  auto tok = sm::load_tokenizer_for_model(target_dir());
  const std::vector<int32_t> prompt = tok->encode("In the beginning God created");
  sm::GenerateOptions opt;
  opt.max_tokens = 30;
  const std::string plain = tmp.file(tag + "_plain.h5");
  sm::GenerateResult g;
  {
    sm::DumpWriter w(plain, *m, all_options(target));
    m->set_tap(&w);
    g = sm::generate(*m, *tok, prompt, opt);
    m->set_tap(nullptr);
    w.finish();
  }
  sm::DumpReader p(plain);
  for (const char* tree : {"2,2,1", "1,1,1,1"}) {
    SCOPED_TRACE(tag + std::string(" tree ") + tree);
    sm::SpecConfig cfg;
    cfg.tree = sm::TreeShape::parse(tree);
    cfg.verify = sm::VerifyOrder::Dfs;
    const auto sr = sm::spec_generate(*m, *d, *tok, prompt, opt, cfg);
    ASSERT_EQ(sr.gen.ids, g.ids) << "greedy speculative output differs from plain greedy";
    ASSERT_GT(sr.spec.accepted, 0);
    const std::string path = tmp.file(tag + "_spec_" + std::to_string(cfg.tree.size()) + ".h5");
    sm::DumpOptions o = all_options(target);
    o.spec = nlohmann::json{{"tree", tree}, {"verify", "dfs"}}.dump();
    {
      sm::DumpWriter w(path, *m, o);
      sm::replay_generation(*m, prompt, sr.gen.ids, w);
      EXPECT_EQ(m->tap(), nullptr) << "the replay detaches its tap";
      w.finish();
    }
    sm::DumpReader s(path);
    // Attributes: the same but for `spec`.
    std::vector<std::pair<std::string, std::string>> pa = p.attributes().all, sa;
    std::string spec_attr;
    for (const auto& kv : s.attributes().all)
      if (kv.first == "spec") spec_attr = kv.second;
      else sa.push_back(kv);
    EXPECT_EQ(sa, pa);
    EXPECT_EQ(nlohmann::json::parse(spec_attr)["tree"], tree);
    EXPECT_EQ(s.tokens(), p.tokens());
    EXPECT_EQ(s.token_index(), p.token_index());
    const auto sd = s.datasets(), pd = p.datasets();
    ASSERT_EQ(sd.size(), pd.size());
    for (size_t i = 0; i < sd.size(); ++i) {
      ASSERT_EQ(sd[i].name, pd[i].name);
      ASSERT_EQ(sd[i].shape, pd[i].shape) << sd[i].name;
      EXPECT_EQ(sd[i].dtype, pd[i].dtype) << sd[i].name;
      const auto a = s.read(sd[i].name, 0, sd[i].rows()), b = p.read(pd[i].name, 0, pd[i].rows());
      EXPECT_TRUE(bit_equal(a, b.data(), b.size())) << sd[i].name;
    }
  }
  // The run's tokens: the prompt, then every generated token but the last.
  std::vector<int32_t> run = prompt;
  run.insert(run.end(), g.ids.begin(), g.ids.end() - 1);
  EXPECT_EQ(p.tokens(), run);
}

TEST(Dump, SpeculativeDumpEqualsPlainDump) {
  TempDir tmp;
  check_spec_dump_equals_plain(target_dir(), draft_dir(), tmp, "fp32");
}

TEST(Dump, QuantizedSpeculativeDumpEqualsPlainDump) {
  TempDir tmp;
  const std::string t = quantized_copy(tmp, target_dir(), "w4a4", true, "tq");
  const std::string d = quantized_copy(tmp, draft_dir(), "w4a4", true, "dq");
  check_spec_dump_equals_plain(t, d, tmp, "w4a4");
  sm::DumpReader r(tmp.file("w4a4_plain.h5"));
  EXPECT_TRUE(r.has("/layers/0/ssm_out_codes"));  // the comparison covered the codes
}

TEST(Dump, CodesThatDoNotFitAreClearErrors) {
  TempDir tmp;
  sm::RandomModelSpec spec;
  const std::string dir = tmp.file("m");
  const sm::ModelConfig cfg = sm::write_random_model(dir, spec);
  const std::string path = tmp.file("c.h5");
  sm::DumpWriter w(path, cfg, {});
  EXPECT_TRUE(w.wants_codes());
  const int32_t ids[2] = {1, 2};
  w.on_tokens(0, ids, 2);
  int8_t codes[16] = {};
  codes[3] = 7;
  int16_t exps[2] = {-5, -140};
  std::string msg = error_of([&] { w.on_codes(0, "x", 0, 2, 8, 4, 8, codes, exps); });
  EXPECT_NE(msg.find(path + ": /layers/0/x_exponent: exponent -140 of token 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not fit"), std::string::npos) << msg;
  exps[1] = 127;
  codes[9] = 8;  // 4 bits: |code| <= 7
  msg = error_of([&] { w.on_codes(0, "x", 0, 2, 8, 4, 8, codes, exps); });
  EXPECT_NE(msg.find("/layers/0/x_codes: code 8 of token 1 is outside 4 bits"), std::string::npos) << msg;
  codes[9] = -7;
  w.on_codes(0, "x", 0, 2, 8, 4, 8, codes, exps);
  msg = error_of([&] { w.on_codes(0, "x", 0, 2, 8, 8, 8, codes, exps); });
  EXPECT_NE(msg.find("/layers/0/x_codes has 4 bits in groups of 8, got a batch of 8 bits"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { w.on_codes(sm::ActivationTap::kLogits, "logits", 0, 2, 8, 4, 8, codes, exps); })
                .find("only layer tensors have codes"),
            std::string::npos);
  w.finish();
  sm::DumpReader r(path);
  const Mat cd = get(r, "/layers/0/x_codes"), ex = get(r, "/layers/0/x_exponent");
  ASSERT_EQ(cd.rows, 2);  // only the accepted batch
  EXPECT_EQ(cd.at(0, 3), 7);
  EXPECT_EQ(cd.at(1, 1), -7);
  EXPECT_EQ(ex.at(0, 0), -5);
  EXPECT_EQ(ex.at(1, 0), 127);
  EXPECT_EQ(r.info("/layers/0/x_codes").bits, 4);
}

}  // namespace
