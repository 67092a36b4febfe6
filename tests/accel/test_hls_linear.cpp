// SPDX-License-Identifier: Apache-2.0
// sm_linear (accel/hls/linear.cpp) against the core reference, bit for bit:
// quant::transform (rotate) -> quant::quantize_activations -> quant::linear_int
// (Pow2Sum weights). Every comparison is a memcmp of the whole output buffer,
// padding columns (ldy > rows) included, so a kernel that writes outside its
// rows fails too; every error the reference raises must come back as the
// matching status.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "accel/hls/linear.h"
#include "accel/hls/top.h"
#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/io/model_config.h"
#include "core/quant/hadamard.h"
#include "core/quant/quantizers.h"

namespace {

namespace q = sm::quant;
namespace hk = sm::hls_kernels;
namespace lin = sm::hls_kernels::linear;

// A quiet NaN with a payload: neither implementation produces it, so an
// output position nobody should write keeps it in both buffers.
float sentinel() {
  const uint32_t bits = 0x7FC0DEADu;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

struct Case {
  int32_t rows = 8, cols = 64, T = 1, ldx = 64, ldy = 8;
  int32_t wbits = 8, wgroup = 64, abits = 8, agroup = 8;
  int32_t exp_min = q::kActExpMin, exp_max = q::kActExpMax;
  bool rotate = false;
  std::string str() const {
    char b[256];
    std::snprintf(b, sizeof b, "rows=%d cols=%d T=%d ldx=%d ldy=%d w%d/g%d a%d/g%d exp=[%d,%d] rot=%d", rows,
                  cols, T, ldx, ldy, wbits, wgroup, abits, agroup, exp_min, exp_max, rotate ? 1 : 0);
    return b;
  }
};

// The raw arrays sm_linear reads (copies, so a test can corrupt them).
struct Weights {
  std::vector<uint8_t> codes;
  std::vector<int16_t> s1, s2;
  q::QuantizedMatrix m;  // the same data for the reference
  void sync() {  // raw arrays -> reference matrix
    m.codes = codes;
    m.s1 = s1;
    m.s2 = s2;
  }
};

Weights make_weights(const std::vector<float>& W, int32_t rows, int32_t cols, int32_t bits, int32_t group) {
  Weights w;
  w.m = q::quantize_weights(W.data(), rows, cols, bits, group, q::ScaleKind::Pow2Sum);
  w.codes = w.m.codes;
  w.s1 = w.m.s1;
  w.s2 = w.m.s2;
  return w;
}

struct Result {
  int32_t status = -1;
  std::string error;  // the reference's message (empty: it succeeded)
  std::vector<float> y;
};

Result run_kernel(const Case& c, const Weights& w, const std::vector<float>& x,
                  const std::vector<int8_t>* hbase_override = nullptr, int32_t hk_override = -1) {
  Result r;
  r.y.assign(static_cast<size_t>(std::max(c.T, 0)) * std::max(c.ldy, 0) + 1, sentinel());
  std::vector<int8_t> hb;
  int32_t K = 1;
  if (c.rotate) {
    K = q::hadamard_k(c.cols);
    if (K > 0) hb = q::hadamard_base(K);
  }
  if (hbase_override) hb = *hbase_override;
  if (hk_override >= 0) K = hk_override;
  int32_t st = -12345;
  sm_linear(w.codes.data(), w.s1.data(), w.s2.data(), x.data(), r.y.data(), hb.empty() ? nullptr : hb.data(), K,
            c.rows, c.cols, c.T, c.ldx, c.ldy, c.wbits, c.wgroup, c.abits, c.agroup, c.exp_min, c.exp_max,
            c.rotate ? 1 : 0, &st);
  r.status = st;
  return r;
}

Result run_reference(const Case& c, const Weights& w, const std::vector<float>& x) {
  Result r;
  r.y.assign(static_cast<size_t>(std::max(c.T, 0)) * std::max(c.ldy, 0) + 1, sentinel());
  try {
    std::vector<float> xc(static_cast<size_t>(c.T) * c.cols);
    for (int32_t t = 0; t < c.T; ++t) {
      const float* src = x.data() + static_cast<size_t>(t) * c.ldx;
      if (c.rotate) q::transform(src, xc.data() + static_cast<size_t>(t) * c.cols, c.cols);
      else std::copy(src, src + c.cols, xc.begin() + static_cast<ptrdiff_t>(t) * c.cols);
    }
    const auto qa = q::quantize_activations(xc.data(), c.T, c.cols, c.abits, c.agroup, c.exp_min, c.exp_max);
    q::linear_int(qa, w.m, r.y.data(), c.ldy);
    r.status = hk::kOk;
  } catch (const sm::Error& e) {
    r.error = e.what();
    r.status = -1;
  }
  return r;
}

bool input_finite(const Case& c, const std::vector<float>& x) {
  for (int32_t t = 0; t < c.T; ++t)
    for (int32_t i = 0; i < c.cols; ++i)
      if (!std::isfinite(x[static_cast<size_t>(t) * c.ldx + i])) return false;
  return true;
}

// The status a reference error must come back as.
int32_t expected_status(const Result& ref, const Case& c, const std::vector<float>& x) {
  if (ref.error.empty()) return hk::kOk;
  const std::string& e = ref.error;
  if (e.find("exceeds the int64") != std::string::npos) return hk::kOverflow;
  if (e.find("gap") != std::string::npos) return hk::kBadCode;
  if (e.find("non-finite") != std::string::npos) return input_finite(c, x) ? hk::kOutOfRange : hk::kNonFinite;
  return hk::kBadShape;
}

// Runs both; returns true when the reference succeeded. Fails the test on any
// difference.
bool check_case(const Case& c, const Weights& w, const std::vector<float>& x, const std::string& what = "") {
  const Result ref = run_reference(c, w, x);
  const Result ker = run_kernel(c, w, x);
  const int32_t want = expected_status(ref, c, x);
  EXPECT_EQ(ker.status, want) << what << " " << c.str() << " reference: " << (ref.error.empty() ? "ok" : ref.error)
                              << " kernel: " << hk::status_name(ker.status);
  if (want == hk::kOk && ker.status == hk::kOk) {
    const bool same = std::memcmp(ref.y.data(), ker.y.data(), ref.y.size() * sizeof(float)) == 0;
    EXPECT_TRUE(same) << what << " " << c.str();
    if (!same) {
      int shown = 0;
      for (size_t i = 0; i < ref.y.size() && shown < 5; ++i) {
        uint32_t a, b;
        std::memcpy(&a, &ref.y[i], 4);
        std::memcpy(&b, &ker.y[i], 4);
        if (a != b) {
          ADD_FAILURE() << "  y[" << i / c.ldy << "][" << i % c.ldy << "] reference " << ref.y[i] << " (0x" << std::hex
                        << a << ") kernel " << ker.y[i] << " (0x" << b << std::dec << ")";
          ++shown;
        }
      }
    }
  }
  return want == hk::kOk;
}

// ------------------------------------------------------------------ inputs

enum class Kind { Normal, Ties, Tiny, Subnormal, Huge, Zero, Sparse, Pow2, Mixed };
constexpr Kind kAllKinds[] = {Kind::Normal, Kind::Ties,  Kind::Tiny,   Kind::Subnormal, Kind::Huge,
                              Kind::Zero,   Kind::Sparse, Kind::Pow2, Kind::Mixed};

// x is [T][ldx]; columns past cols get garbage (NaN among it) that must never be read.
std::vector<float> make_x(const Case& c, std::mt19937_64& rng, Kind kind) {
  std::vector<float> x(static_cast<size_t>(c.T) * c.ldx + 1);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::uniform_int_distribution<int> coin(0, 9);
  const int qm = q::qmax(c.abits);
  for (int32_t t = 0; t < c.T; ++t) {
    float* row = x.data() + static_cast<size_t>(t) * c.ldx;
    const int p = std::uniform_int_distribution<int>(-14, 8)(rng);
    for (int32_t i = 0; i < c.cols; ++i) {
      double v = 0.0;
      switch (kind) {
        case Kind::Normal: v = std::ldexp(nd(rng), p); break;
        case Kind::Ties: {
          // Group-leading +-qmax * 2^p fixes the exponent at p; the rest are
          // (n + 1/2) * 2^p: exact rounding ties (unless rotated).
          if (i % c.agroup == 0) v = (coin(rng) < 5 ? qm : -qm);
          else v = std::uniform_int_distribution<int>(-qm, qm - 1)(rng) + 0.5;
          v = std::ldexp(v, p);
          break;
        }
        case Kind::Tiny: v = std::ldexp(nd(rng), -100 + p); break;
        case Kind::Subnormal: v = std::ldexp(nd(rng), -135 - std::abs(p)); break;
        case Kind::Huge: v = std::ldexp(nd(rng), 90 + p); break;
        case Kind::Zero: v = coin(rng) < 5 ? 0.0 : -0.0; break;
        case Kind::Sparse: v = coin(rng) < 8 ? 0.0 : std::ldexp(nd(rng), p); break;
        case Kind::Pow2: v = std::ldexp(coin(rng) < 5 ? 1.0 : -1.0, p + coin(rng)); break;
        case Kind::Mixed: {
          const int e = std::uniform_int_distribution<int>(-149, 20)(rng);
          v = coin(rng) == 0 ? 0.0 : std::ldexp(nd(rng), e);
          break;
        }
      }
      row[i] = static_cast<float>(v);
    }
    for (int32_t i = c.cols; i < c.ldx; ++i) row[i] = (i % 2) ? std::numeric_limits<float>::quiet_NaN() : 1e30f;
  }
  x.back() = std::numeric_limits<float>::infinity();
  return x;
}

std::vector<float> make_w(int32_t rows, int32_t cols, std::mt19937_64& rng, int lo = -10, int hi = 2) {
  std::vector<float> W(static_cast<size_t>(rows) * cols);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::uniform_int_distribution<int> pe(lo, hi), coin(0, 19);
  for (int32_t r = 0; r < rows; ++r) {
    const int p = pe(rng);
    for (int32_t c = 0; c < cols; ++c) {
      const int k = coin(rng);
      // a few zero groups' worth of zeros and outliers
      W[static_cast<size_t>(r) * cols + c] =
          k == 0 ? 0.0f : static_cast<float>(std::ldexp(nd(rng) * (k == 1 ? 8.0 : 1.0), p));
    }
  }
  return W;
}

// Hand-built codes the quantizer never emits but the kernel accepts:
// -2^(bits-1), and (int4, odd cols) a non-zero pad nibble, which the
// reference ignores.
void add_extreme_codes(Weights& w, const Case& c, std::mt19937_64& rng) {
  std::uniform_int_distribution<size_t> pick(0, w.codes.size() - 1);
  for (int i = 0; i < 6 && !w.codes.empty(); ++i) {
    const size_t at = pick(rng);
    if (c.wbits == 8) w.codes[at] = 0x80;
    else w.codes[at] = static_cast<uint8_t>((w.codes[at] & 0xF0) | 0x08);
  }
  if (c.wbits == 4 && c.cols % 2 == 1)
    for (int32_t r = 0; r < c.rows; ++r) w.codes[static_cast<size_t>(r) * ((c.cols + 1) / 2) + c.cols / 2] |= 0x50;
  w.sync();
}

// Random nesting groups for width cols (groups from `options` dividing cols).
bool pick_groups(std::mt19937_64& rng, int32_t cols, const std::vector<int32_t>& options, int32_t& wg, int32_t& ag) {
  std::vector<std::pair<int32_t, int32_t>> ok;
  for (int32_t a : options)
    for (int32_t b : options)
      if (cols % a == 0 && cols % b == 0 && (std::max(a, b) % std::min(a, b) == 0) &&
          int64_t(cols / std::min(a, b)) * ((std::min(a, b) + 7) / 8) <= lin::kMaxTiles)
        ok.push_back({a, b});
  if (ok.empty()) return false;
  const auto p = ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
  wg = p.first;
  ag = p.second;
  return true;
}

void random_window(std::mt19937_64& rng, Case& c) {
  switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
    case 0: break;  // default [-160, 160]
    case 1: c.exp_min = 0; c.exp_max = 15; break;  // LightMamba's 4-bit field
    case 2: {
      c.exp_min = std::uniform_int_distribution<int>(-24, -2)(rng);
      c.exp_max = c.exp_min + std::uniform_int_distribution<int>(0, 15)(rng);
      break;
    }
    default: c.exp_min = c.exp_max = std::uniform_int_distribution<int>(-12, 4)(rng); break;
  }
}

// ------------------------------------------------------------------- tests

TEST(HlsLinear, Constants) {
  EXPECT_EQ(lin::kTileRows, 8);
  EXPECT_EQ(lin::kTileCols, 8);
  EXPECT_EQ(lin::kFracBits, q::kFracBits);
  EXPECT_EQ(lin::kMaxGap, q::kPow2SumMaxGap);
  EXPECT_EQ(lin::kExpMin, q::kActExpMin);
  EXPECT_EQ(lin::kExpMax, q::kActExpMax);
  EXPECT_EQ(lin::kMaxGroup, q::kMaxGroup);
  const auto sizes = q::hadamard_base_sizes();
  EXPECT_EQ(*std::max_element(sizes.begin(), sizes.end()), lin::kMaxHadamardK);
}

TEST(HlsLinear, StatusNames) {
  const int32_t all[] = {hk::kOk, hk::kBadShape, hk::kOverflow, hk::kOutOfRange, hk::kNonFinite, hk::kBadCode};
  std::vector<std::string> names;
  for (int32_t s : all) {
    ASSERT_NE(hk::status_name(s), nullptr);
    names.push_back(hk::status_name(s));
    EXPECT_FALSE(names.back().empty());
    EXPECT_NE(names.back(), "unknown status") << s;
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end()) << "status names must be distinct";
  EXPECT_STREQ(hk::status_name(hk::kOk), "ok");
  EXPECT_STREQ(hk::status_name(99), "unknown status");
  EXPECT_STREQ(hk::status_name(-1), "unknown status");
}

// Random shapes without rotation: rows and T not multiples of the tiles,
// strides wider than the rows, every group pairing that nests (odd groups
// give widths that are not multiples of 8), narrow exponent windows, and
// every input kind.
TEST(HlsLinear, RandomShapesBitExact) {
  std::mt19937_64 rng(20251202);
  const std::vector<int32_t> common = {8, 16, 32, 64, 128};
  const std::vector<int32_t> odd = {1, 2, 3, 4, 5, 6, 12, 20, 24, 40, 48, 96};
  int ok = 0, errors = 0, nonzero = 0;
  for (int iter = 0; iter < 360; ++iter) {
    Case c;
    c.wbits = (iter & 1) ? 4 : 8;
    c.abits = (iter & 2) ? 4 : 8;
    c.T = 1 + iter % 9;
    c.rows = std::uniform_int_distribution<int>(1, 70)(rng);
    std::vector<int32_t> opts = (iter % 3 == 0) ? odd : common;
    if (iter % 3 == 0) opts.insert(opts.end(), common.begin(), common.end());
    const int32_t base = opts[std::uniform_int_distribution<size_t>(0, opts.size() - 1)(rng)];
    const int32_t mult = std::uniform_int_distribution<int>(1, std::max(1, 640 / base))(rng);
    c.cols = std::max<int32_t>(base * mult, 1);
    if (!pick_groups(rng, c.cols, opts, c.wgroup, c.agroup)) continue;
    c.ldx = c.cols + std::uniform_int_distribution<int>(0, 5)(rng);
    c.ldy = c.rows + std::uniform_int_distribution<int>(0, 5)(rng);
    random_window(rng, c);
    const Kind kind = kAllKinds[iter % 9];
    // Half of the tiny / subnormal / huge activations meet weights of the
    // opposite magnitude, so their products land inside the 2^-32 .. 2^31
    // fixed-point window and their exponents and codes show in y.
    int wlo = -10, whi = 2;
    if ((iter / 9) % 2 == 0) {
      if (kind == Kind::Tiny) wlo = 60, whi = 75;
      if (kind == Kind::Subnormal) wlo = 95, whi = 110;
      if (kind == Kind::Huge) wlo = -110, whi = -95;
    }
    // Rows of very different scales in one tile: some rows' terms are left
    // shifts by more than 27 while others round (the kernel's general path).
    if (iter % 4 == 1 && wlo == -10) wlo = -40, whi = 12;
    const auto W = make_w(c.rows, c.cols, rng, wlo, whi);
    Weights w = make_weights(W, c.rows, c.cols, c.wbits, c.wgroup);
    if (iter % 5 == 0) add_extreme_codes(w, c, rng);
    const auto x = make_x(c, rng, kind);
    if (check_case(c, w, x, "kind " + std::to_string(int(kind)))) {
      ++ok;
      const Result r = run_kernel(c, w, x);
      for (int32_t t = 0; t < c.T; ++t)
        for (int32_t i = 0; i < c.rows; ++i) nonzero += r.y[size_t(t) * c.ldy + i] != 0.0f;
    } else {
      ++errors;
    }
  }
  EXPECT_GT(ok, 250) << "too few cases the reference accepts: the comparison would prove little";
  EXPECT_GT(errors, 5) << "the huge inputs should overflow sometimes";
  EXPECT_GT(nonzero, 10000);
}

// Rotation on for every Hadamard base (K = 1, 12, 20, 28, ..., 148) and the
// widths the models use.
TEST(HlsLinear, RotatedBitExact) {
  std::mt19937_64 rng(77);
  const std::vector<int32_t> widths = {1,   2,   8,   20,  24,  40,  64,  72,  112, 120, 176, 192, 208,
                                       216, 280, 296, 320, 384, 512, 640, 768, 1024, 1536, 2560};
  const std::vector<int32_t> groups = {1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 64, 128};
  int ok = 0;
  std::vector<int> bases_seen;
  for (size_t wi = 0; wi < widths.size(); ++wi) {
    for (int rep = 0; rep < 4; ++rep) {
      Case c;
      c.rotate = true;
      c.cols = widths[wi];
      ASSERT_GT(q::hadamard_k(c.cols), 0) << c.cols;
      bases_seen.push_back(q::hadamard_k(c.cols));
      c.wbits = (rep & 1) ? 4 : 8;
      c.abits = (rep & 2) ? 4 : 8;
      c.T = 1 + (wi + rep * 3) % 9;
      c.rows = std::uniform_int_distribution<int>(1, c.cols >= 1024 ? 24 : 40)(rng);
      if (!pick_groups(rng, c.cols, groups, c.wgroup, c.agroup)) continue;
      c.ldx = c.cols + rep;
      c.ldy = c.rows + 1;
      if (rep == 3) random_window(rng, c);
      const Kind kind = rep == 0 ? Kind::Normal : kAllKinds[(wi * 4 + rep) % 9];
      const auto W = make_w(c.rows, c.cols, rng);
      const Weights w = make_weights(W, c.rows, c.cols, c.wbits, c.wgroup);
      const auto x = make_x(c, rng, kind);
      ok += check_case(c, w, x, "rotated");
    }
  }
  std::sort(bases_seen.begin(), bases_seen.end());
  bases_seen.erase(std::unique(bases_seen.begin(), bases_seen.end()), bases_seen.end());
  EXPECT_EQ(bases_seen, (std::vector<int>{1, 12, 20, 28, 36, 40, 44, 52, 60, 108, 140, 148}));
  EXPECT_GT(ok, 70);
}

// The rotation must matter: the same input with and without it differs, and
// the kernel follows the reference both ways (guards against a kernel that
// ignores `rotate` passing with a reference that also ignored it).
TEST(HlsLinear, RotationChangesTheResult) {
  std::mt19937_64 rng(5);
  Case c;
  c.rows = 16;
  c.cols = 192;
  c.ldx = 192;
  c.ldy = 16;
  c.T = 2;
  const auto W = make_w(c.rows, c.cols, rng);
  const Weights w = make_weights(W, c.rows, c.cols, 8, 64);
  const auto x = make_x(c, rng, Kind::Normal);
  const Result plain = run_kernel(c, w, x);
  c.rotate = true;
  const Result rot = run_kernel(c, w, x);
  ASSERT_EQ(plain.status, hk::kOk);
  ASSERT_EQ(rot.status, hk::kOk);
  EXPECT_NE(std::memcmp(plain.y.data(), rot.y.data(), plain.y.size() * sizeof(float)), 0);
  EXPECT_TRUE(check_case(c, w, x));
}

// The shipped draft / target models' linear layers (config.json): in_proj
// [in_proj_dim x d_model] on the residual stream (rotated: the folded
// rotation is applied online here) and out_proj [d_model x d_inner] with the
// online rotation of width d_inner; LightMamba's W4A4 and W8A8.
TEST(HlsLinear, ShippedModelShapes) {
  std::mt19937_64 rng(11);
  int models = 0;
  for (const char* name : {"mamba2-draft", "mamba2-target"}) {
    const std::string dir = sm::data_dir() + "/models/" + name;
    if (!std::filesystem::exists(dir + "/config.json")) continue;
    ++models;
    const sm::ModelConfig cfg = sm::parse_model_config(dir + "/config.json");
    struct Layer {
      const char* what;
      int32_t rows, cols;
    };
    const Layer layers[] = {{"in_proj", cfg.in_proj_dim(), cfg.d_model}, {"out_proj", cfg.d_model, cfg.d_inner}};
    for (const Layer& L : layers) {
      for (int bits : {4, 8}) {
        for (bool rotate : {false, true}) {
          for (int32_t T : {1, 7, 9}) {
            Case c;
            c.rows = L.rows;
            c.cols = L.cols;
            c.T = T;
            c.ldx = L.cols + 3;
            c.ldy = L.rows + 2;
            c.wbits = c.abits = bits;
            c.wgroup = L.cols % 128 == 0 ? 128 : L.cols % 64 == 0 ? 64 : 32;
            c.agroup = bits == 4 ? 8 : 16;
            c.rotate = rotate;
            const auto W = make_w(c.rows, c.cols, rng);
            const Weights w = make_weights(W, c.rows, c.cols, bits, c.wgroup);
            const auto x = make_x(c, rng, Kind::Normal);
            EXPECT_TRUE(check_case(c, w, x, std::string(name) + " " + L.what)) << "reference failed";
          }
        }
      }
    }
  }
  EXPECT_EQ(models, 2) << "shipped models not found under " << sm::data_dir();
}

// mamba-130m-sized layers: 768 -> 1536 and back, with and without rotation.
TEST(HlsLinear, LargeShapes) {
  std::mt19937_64 rng(13);
  for (auto [rows, cols] : {std::pair{1536, 768}, std::pair{768, 1536}, std::pair{20, 8192}}) {
    for (int32_t T : {1, 3}) {
      Case c;
      c.rows = rows;
      c.cols = cols;
      c.T = T;
      c.ldx = cols + 1;
      c.ldy = rows + 5;
      c.wbits = T == 1 ? 4 : 8;
      c.abits = T == 1 ? 4 : 8;
      c.wgroup = 128;
      c.agroup = 8;
      c.rotate = cols != 8192 || T == 3;
      const auto W = make_w(rows, cols, rng);
      const Weights w = make_weights(W, rows, cols, c.wbits, c.wgroup);
      const auto x = make_x(c, rng, Kind::Normal);
      EXPECT_TRUE(check_case(c, w, x, "large"));
    }
  }
}

// Rotated values exactly on a rounding tie: x = c * e_0 rotates to +-c * s
// in every channel, with c chosen so that the reference's value is exactly
// 100.5 (code 101, ties away). The normalisation s = float(1 / sqrt(n)) must
// be the reference's: for these widths float(1 / sqrt(n)) and
// 1 / sqrtf(n) differ, and the latter moves the value off the tie.
TEST(HlsLinear, RotationTies) {
  std::mt19937_64 rng(17);
  int found = 0;
  for (int32_t n : {24, 72, 96, 112, 288, 384, 448, 1152, 1536}) {
    const float s_ref = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
    const float s_alt = 1.0f / std::sqrt(static_cast<float>(n));
    ASSERT_NE(s_ref, s_alt) << n;
    const float c0 = static_cast<float>(100.5 / s_ref);
    float pick = 0.0f, lo = c0, hi = c0;
    std::vector<float> e(static_cast<size_t>(n), 0.0f), out(static_cast<size_t>(n));
    auto is_tie = [&](float cand) {
      e[0] = cand;
      q::transform(e.data(), out.data(), n);
      return std::fabs(out[0]) == 100.5f && std::fabs(cand * s_alt) != 100.5f;
    };
    if (is_tie(c0)) pick = c0;
    for (int step = 0; step < 200 && pick == 0.0f; ++step) {
      hi = std::nextafter(hi, 1e30f);
      lo = std::nextafter(lo, 0.0f);
      if (is_tie(hi)) pick = hi;
      else if (is_tie(lo)) pick = lo;
    }
    if (pick == 0.0f) continue;
    ++found;
    Case cs;
    cs.rows = 11;
    cs.cols = n;
    cs.ldx = n;
    cs.ldy = 11;
    cs.T = 2;
    cs.wgroup = 8;
    cs.agroup = 8;
    cs.rotate = true;
    const Weights w = make_weights(make_w(cs.rows, n, rng), cs.rows, n, 8, 8);
    std::vector<float> x(size_t(2) * n + 1, 0.0f);
    x[0] = pick;
    x[size_t(n)] = -pick;
    EXPECT_TRUE(check_case(cs, w, x, "rotation tie"));
  }
  EXPECT_GE(found, 3) << "no tie found: the test would not detect a wrong normalisation";
}

// float(Q) must be one int64 -> binary32 rounding. Q = (2H + 1) 2^38 + 1
// with H even is just above a float tie; through double the +1 is lost and
// the tie rounds to even (down). Built from two blocks of 16 channels:
// block 0 acc = 130057, gap 7 (x 129), s2 = 6: term (2H + 1) 2^38; block 1
// acc = 1, gap 1 (x 3), s2 = -34: term round(3 / 4) = 1.
TEST(HlsLinear, Int64ToFloatRoundsOnce) {
  Case c;
  c.rows = 1;
  c.cols = 32;
  c.ldx = 32;
  c.ldy = 1;
  c.T = 1;
  c.wbits = 8;
  c.wgroup = 16;
  c.abits = 8;
  c.agroup = 16;
  Weights w;
  w.codes.assign(32, 0);
  for (int i = 0; i < 15; ++i) w.codes[size_t(i)] = 127;
  w.codes[15] = 9;
  w.codes[16] = 1;
  w.s1 = {13, -33};
  w.s2 = {6, -34};
  w.m.rows = 1;
  w.m.cols = 32;
  w.m.bits = 8;
  w.m.group = 16;
  w.m.kind = q::ScaleKind::Pow2Sum;
  w.sync();
  std::vector<float> x(33, 0.0f);
  x[0] = 72.0f;
  for (int i = 1; i < 15; ++i) x[size_t(i)] = 68.0f;
  x[15] = 1.0f;   // 127 * 1024 + 9 * 1 = 130057
  x[16] = 1.0f;   // acc 1
  x[17] = 100.0f; // exponent 0 for the second group (weight 0 there)
  const int64_t Q = (int64_t(130057) * 129) * (int64_t(1) << 38) + 1;
  const float once = static_cast<float>(Q) * 0x1p-32f;
  const float twice = static_cast<float>(static_cast<double>(Q)) * 0x1p-32f;
  ASSERT_NE(once, twice);
  const Result ref = run_reference(c, w, x);
  ASSERT_TRUE(ref.error.empty()) << ref.error;
  ASSERT_EQ(ref.y[0], once);
  EXPECT_TRUE(check_case(c, w, x, "single rounding"));
}

// A row gives the same bits alone and inside a batch (tokens straddle the
// kTileTokens batch boundary here).
TEST(HlsLinear, BatchRowsIndependent) {
  std::mt19937_64 rng(3);
  Case c;
  c.rows = 19;
  c.cols = 96;
  c.ldx = 100;
  c.ldy = 21;
  c.T = 9;
  c.wbits = 4;
  c.wgroup = 32;
  c.abits = 8;
  c.agroup = 8;
  const Weights w = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, c.wbits, c.wgroup);
  const auto x = make_x(c, rng, Kind::Mixed);
  const Result all = run_kernel(c, w, x);
  ASSERT_EQ(all.status, hk::kOk);
  for (int32_t t = 0; t < c.T; ++t) {
    Case one = c;
    one.T = 1;
    std::vector<float> xt(x.begin() + ptrdiff_t(t) * c.ldx, x.begin() + ptrdiff_t(t + 1) * c.ldx);
    const Result r = run_kernel(one, w, xt);
    ASSERT_EQ(r.status, hk::kOk);
    EXPECT_EQ(std::memcmp(r.y.data(), all.y.data() + size_t(t) * c.ldy, size_t(c.rows) * sizeof(float)), 0) << t;
  }
}

TEST(HlsLinear, EmptyShapes) {
  std::mt19937_64 rng(1);
  // T = 0: nothing written.
  {
    Case c;
    c.T = 0;
    const Weights w = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, 8, 64);
    std::vector<float> x(1, 0.0f);
    const Result r = run_kernel(c, w, x);
    EXPECT_EQ(r.status, hk::kOk);
    EXPECT_TRUE(check_case(c, w, x));
  }
  // rows = 0
  {
    Case c;
    c.rows = 0;
    c.ldy = 0;
    c.T = 3;
    const Weights w = make_weights({}, 0, c.cols, 8, 64);
    const auto x = make_x(c, rng, Kind::Normal);
    EXPECT_TRUE(check_case(c, w, x));
  }
  // cols = 0: every output is +0.
  {
    Case c;
    c.cols = 0;
    c.ldx = 0;
    c.T = 2;
    c.wgroup = 8;
    const Weights w = make_weights({}, c.rows, 0, 8, 8);
    std::vector<float> x(1, 0.0f);
    EXPECT_TRUE(check_case(c, w, x));
    const Result r = run_kernel(c, w, x);
    ASSERT_EQ(r.status, hk::kOk);
    for (int32_t i = 0; i < c.rows; ++i) EXPECT_EQ(std::signbit(r.y[i]) ? 1 : 0, 0);
    EXPECT_EQ(r.y[0], 0.0f);
  }
}

// --------------------------------------------------------------- error paths

struct ErrFixture {
  Case c;
  Weights w;
  std::vector<float> x;
  explicit ErrFixture(int32_t rows = 13, int32_t cols = 96, int32_t T = 3, int32_t wbits = 8) {
    std::mt19937_64 rng(99);
    c.rows = rows;
    c.cols = cols;
    c.T = T;
    c.ldx = cols + 2;
    c.ldy = rows + 1;
    c.wbits = wbits;
    c.wgroup = 32;
    c.agroup = 8;
    w = make_weights(make_w(rows, cols, rng), rows, cols, wbits, c.wgroup);
    x = make_x(c, rng, Kind::Normal);
  }
};

// The reference must also reject it (unless it is the kernel's own limit),
// and the kernel must report `want`.
void expect_status(const Case& c, const Weights& w, const std::vector<float>& x, int32_t want, bool ref_rejects,
                   const char* what) {
  const Result ker = run_kernel(c, w, x);
  EXPECT_EQ(ker.status, want) << what << ": got " << hk::status_name(ker.status) << " " << c.str();
  if (ref_rejects) {
    const Result ref = run_reference(c, w, x);
    EXPECT_FALSE(ref.error.empty()) << what << ": the reference accepted it";
    if (!ref.error.empty()) {
      EXPECT_EQ(expected_status(ref, c, x), want) << what << ": " << ref.error;
    }
  }
}

TEST(HlsLinearErrors, BadBits) {
  ErrFixture f;
  for (int32_t b : {0, 1, 2, 3, 5, 7, 16, -8}) {
    Case c = f.c;
    c.abits = b;
    expect_status(c, f.w, f.x, hk::kBadShape, true, "abits");
    c = f.c;
    c.wbits = b;
    Weights w = f.w;
    w.m.bits = b;
    expect_status(c, w, f.x, hk::kBadShape, true, "wbits");
  }
}

TEST(HlsLinearErrors, GroupsAndShapes) {
  ErrFixture f;  // cols 96
  auto with = [&](auto edit, bool ref_rejects, const char* what) {
    Case c = f.c;
    Weights w = f.w;
    edit(c, w);
    expect_status(c, w, f.x, hk::kBadShape, ref_rejects, what);
  };
  with([](Case& c, Weights& w) { c.wgroup = w.m.group = 36; }, true, "wgroup does not divide cols");
  with([](Case& c, Weights&) { c.agroup = 64; }, true, "agroup does not divide cols");
  with([](Case& c, Weights&) { c.agroup = 0; }, true, "agroup 0");
  with([](Case& c, Weights& w) { c.wgroup = w.m.group = 0; }, true, "wgroup 0");
  with([](Case& c, Weights& w) { c.wgroup = w.m.group = -32; }, true, "wgroup negative");
  with([](Case& c, Weights&) { c.agroup = 96 * 1024; }, true, "agroup > kMaxGroup");
  // 32 and 48 both divide 96 but do not nest.
  with([](Case& c, Weights&) { c.agroup = 48; }, true, "groups do not nest");
  with([](Case& c, Weights&) { c.exp_min = 3, c.exp_max = 2; }, true, "empty exponent window");
  with([](Case& c, Weights&) { c.exp_min = -161; }, true, "window below -160");
  with([](Case& c, Weights&) { c.exp_max = 161; }, true, "window above 160");
  with([](Case& c, Weights&) { c.ldy = c.rows - 1; }, true, "ldy < rows");
  with([](Case& c, Weights&) { c.ldx = c.cols - 1; }, false, "ldx < cols");
  with([](Case& c, Weights&) { c.rows = -1; }, false, "rows < 0");
  with([](Case& c, Weights&) { c.T = -1; }, false, "T < 0");
  with([](Case& c, Weights&) { c.cols = -8; }, false, "cols < 0");
}

// The kernel's own limits: widths past kMaxCols, and blocks so narrow that a
// row tile needs more than kMaxTiles tiles. The reference computes these.
TEST(HlsLinearErrors, BeyondOnChipMaxima) {
  std::mt19937_64 rng(4);
  {
    Case c;
    c.rows = 3;
    c.cols = lin::kMaxCols + 8;
    c.ldx = c.cols;
    c.ldy = 3;
    c.wgroup = 8;
    c.agroup = 8;
    const Weights w = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, 8, 8);
    const auto x = make_x(c, rng, Kind::Normal);
    expect_status(c, w, x, hk::kBadShape, false, "cols > kMaxCols");
    EXPECT_TRUE(run_reference(c, w, x).error.empty());
  }
  {
    Case c;  // B = 4: 2048 / 4 = 512 blocks of one tile each: fits
    c.rows = 3;
    c.cols = 2048;
    c.ldx = c.cols;
    c.ldy = 3;
    c.wgroup = 4;
    c.agroup = 8;
    const Weights w = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, 8, 4);
    const auto x = make_x(c, rng, Kind::Normal);
    EXPECT_TRUE(check_case(c, w, x, "B = 4 at 2048"));
    c.cols = 8192;  // 2048 blocks: too many tiles
    c.ldx = c.cols;
    const Weights w2 = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, 8, 4);
    const auto x2 = make_x(c, rng, Kind::Normal);
    expect_status(c, w2, x2, hk::kBadShape, false, "too many tiles");
  }
  {
    Case c;  // the widest row there is, B a multiple of 8: fits exactly
    c.rows = 9;
    c.cols = lin::kMaxCols;
    c.ldx = c.cols;
    c.ldy = 9;
    c.wgroup = 8;
    c.agroup = 16;
    c.rotate = true;
    const Weights w = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, 4, 8);
    const auto x = make_x(c, rng, Kind::Normal);
    c.wbits = 4;
    EXPECT_TRUE(check_case(c, w, x, "kMaxCols"));
  }
}

TEST(HlsLinearErrors, RotationArguments) {
  std::mt19937_64 rng(8);
  Case c;
  c.rows = 5;
  c.cols = 136;  // 17 * 8: no Hadamard construction
  c.ldx = 136;
  c.ldy = 5;
  c.wgroup = 8;
  c.agroup = 8;
  c.rotate = true;
  Weights w = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, 8, 8);
  auto x = make_x(c, rng, Kind::Normal);
  expect_status(c, w, x, hk::kBadShape, true, "no construction for 136");

  c.cols = 192;  // K = 12
  c.ldx = 192;
  w = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, 8, 8);
  x = make_x(c, rng, Kind::Normal);
  ASSERT_TRUE(check_case(c, w, x));
  std::vector<int8_t> hb = q::hadamard_base(12);
  EXPECT_EQ(run_kernel(c, w, x, &hb, 1).status, hk::kBadShape) << "hk != hadamard_k(cols)";
  EXPECT_EQ(run_kernel(c, w, x, &hb, 20).status, hk::kBadShape);
  EXPECT_EQ(run_kernel(c, w, x, &hb, 0).status, hk::kBadShape);
  std::vector<int8_t> bad = hb;
  bad[17] = 0;
  EXPECT_EQ(run_kernel(c, w, x, &bad, 12).status, hk::kBadShape) << "a base entry that is not +-1";
  bad[17] = 2;
  EXPECT_EQ(run_kernel(c, w, x, &bad, 12).status, hk::kBadShape);
  const std::vector<int8_t> none;
  EXPECT_EQ(run_kernel(c, w, x, &none, 12).status, hk::kBadShape) << "null hbase";
  // A wrong but valid-looking base is the host's business: it must change the result.
  std::vector<int8_t> flipped = hb;
  flipped[13] = static_cast<int8_t>(-flipped[13]);
  const Result good = run_kernel(c, w, x, &hb, 12), other = run_kernel(c, w, x, &flipped, 12);
  ASSERT_EQ(other.status, hk::kOk);
  EXPECT_NE(std::memcmp(good.y.data(), other.y.data(), good.y.size() * sizeof(float)), 0) << "hbase is not used";
  // 2560 = 40 * 64 = 20 * 128: the reference picks 40.
  c.cols = 2560;
  c.ldx = 2560;
  c.rows = 2;
  c.ldy = 2;
  w = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, 8, 8);
  x = make_x(c, rng, Kind::Normal);
  std::vector<int8_t> h20 = q::hadamard_base(20);
  EXPECT_EQ(run_kernel(c, w, x, &h20, 20).status, hk::kBadShape);
  EXPECT_TRUE(check_case(c, w, x));
  // rotate == 0 ignores hbase / hk.
  c.rotate = false;
  EXPECT_EQ(run_kernel(c, w, x, &none, 0).status, hk::kOk);
}

TEST(HlsLinearErrors, NonFiniteInput) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (bool rotate : {false, true}) {
      for (int32_t where_t : {0, 8}) {  // first batch, and the second batch (T = 9)
        ErrFixture f(13, 96, 9);
        f.c.rotate = rotate;
        f.x[size_t(where_t) * f.c.ldx + 95] = bad;
        expect_status(f.c, f.w, f.x, hk::kNonFinite, true, "non-finite x");
      }
    }
  }
  // Garbage past cols (ldx > cols) is never read: make_x already puts NaN there.
  ErrFixture f;
  ASSERT_TRUE(std::isnan(f.x[size_t(f.c.cols) + 1]));
  EXPECT_TRUE(check_case(f.c, f.w, f.x));
}

// Finite input whose rotation overflows float: the reference's quantizer
// sees inf; the kernel says the (rotated) value is beyond float range.
TEST(HlsLinearErrors, RotationOverflow) {
  ErrFixture f(9, 64, 2);
  f.c.rotate = true;
  for (int32_t i = 0; i < 64; ++i) f.x[size_t(f.c.ldx) + i] = 3.0e38f;
  expect_status(f.c, f.w, f.x, hk::kOutOfRange, true, "rotated inf");
  f.c.rotate = false;  // unrotated the same values are fine (they overflow the fixed point instead)
  const Result r = run_kernel(f.c, f.w, f.x);
  EXPECT_NE(r.status, hk::kOutOfRange);
  EXPECT_TRUE(r.status == hk::kOk || r.status == hk::kOverflow);
  check_case(f.c, f.w, f.x);
}

TEST(HlsLinearErrors, FixedPointOverflow) {
  // Huge activations: the term's left shift leaves int64.
  {
    ErrFixture f;
    for (int32_t i = 0; i < f.c.cols; ++i) f.x[size_t(2) * f.c.ldx + i] = 1e30f;
    expect_status(f.c, f.w, f.x, hk::kOverflow, true, "huge x");
  }
  // A large scale on the last row of the last tile, last group.
  {
    ErrFixture f(13, 96, 2);
    const size_t gi = size_t(12) * 3 + 2;
    f.w.s1[gi] = 40;
    f.w.s2[gi] = 39;
    f.w.sync();
    expect_status(f.c, f.w, f.x, hk::kOverflow, true, "large s1");
  }
  // The sum of |terms| passes INT64_MAX although each term fits (2^31 in
  // output units is the bound): two blocks, swept across the edge.
  {
    Case c;
    c.rows = 1;
    c.cols = 16;
    c.ldx = 16;
    c.ldy = 1;
    c.T = 1;
    c.wgroup = 8;
    c.agroup = 8;
    c.wbits = 8;
    Weights w;
    w.codes.assign(16, 127);
    w.s1 = {22, 22};
    w.s2 = {21, 21};
    w.m.rows = 1;
    w.m.cols = 16;
    w.m.bits = 8;
    w.m.group = 8;
    w.m.kind = q::ScaleKind::Pow2Sum;
    w.sync();
    std::vector<float> x(17, 127.0f);  // exponent 0, codes 127: acc = 8 * 127 * 127 per block
    // m = 3 acc ~ 2^18.56 per block: one term fits while s2 + 32 <= 44, the
    // sum of two while s2 + 32 <= 43. s2 = 12: each term fits, the sum does not.
    int flips = 0;
    for (int s = 8; s <= 20; ++s) {
      w.s1 = {int16_t(s), int16_t(s)};
      w.s2 = {int16_t(s - 1), int16_t(s - 1)};
      w.sync();
      const Result r1 = run_reference(c, w, x), k1 = run_kernel(c, w, x);
      EXPECT_EQ(k1.status, expected_status(r1, c, x)) << "s1=" << s << " " << r1.error;
      if (r1.error.empty() && k1.status == hk::kOk) {
        EXPECT_EQ(std::memcmp(r1.y.data(), k1.y.data(), r1.y.size() * sizeof(float)), 0) << s;
      }
      flips += !r1.error.empty();
    }
    EXPECT_EQ(flips, 8);
    // One block of 16 channels, 12 codes of 127, gap 7: m = 129 * 193548 =
    // 24967692 (2^24.6; m mod 2^24 < 2^23, so a left shift by 40 that wrapped
    // modulo 2^64 would even pass the |term| check), shifts of 28..45 around
    // the int64 edge; alone, and with a second row of tiny scale whose term
    // needs rounding (so one tile mixes left shifts and roundings).
    for (int tiny = 0; tiny < 2; ++tiny) {
      Case c2;
      c2.rows = 1 + tiny;
      c2.cols = 16;
      c2.ldx = 16;
      c2.ldy = c2.rows;
      c2.T = 1;
      c2.wbits = 8;
      c2.wgroup = 16;
      c2.abits = 8;
      c2.agroup = 16;
      Weights w2;
      w2.m.rows = c2.rows;
      w2.m.cols = 16;
      w2.m.bits = 8;
      w2.m.group = 16;
      w2.m.kind = q::ScaleKind::Pow2Sum;
      w2.codes.assign(size_t(16) * c2.rows, 0);
      for (int r = 0; r < c2.rows; ++r)
        for (int i = 0; i < 12; ++i) w2.codes[size_t(r) * 16 + i] = 127;
      int ok2 = 0, bad2 = 0;
      for (int s2 = -4; s2 <= 13; ++s2) {
        w2.s1.assign(size_t(c2.rows), int16_t(s2 + 7));
        w2.s2.assign(size_t(c2.rows), int16_t(s2));
        if (tiny) {
          w2.s1[1] = -50;
          w2.s2[1] = -53;
        }
        w2.sync();
        const Result r2 = run_reference(c2, w2, x), k2 = run_kernel(c2, w2, x);
        EXPECT_EQ(k2.status, expected_status(r2, c2, x)) << "gap 7, s2=" << s2 << " " << r2.error;
        if (r2.error.empty() && k2.status == hk::kOk) {
          EXPECT_EQ(std::memcmp(r2.y.data(), k2.y.data(), r2.y.size() * sizeof(float)), 0) << s2;
        }
        (r2.error.empty() ? ok2 : bad2)++;
      }
      EXPECT_EQ(ok2, 11);  // shifts 28..38
      EXPECT_EQ(bad2, 7);  // 39..45
    }
    w.s1 = {13, 13};
    w.s2 = {12, 12};
    w.sync();
    EXPECT_EQ(run_kernel(c, w, x).status, hk::kOverflow) << "sum of |terms| beyond INT64_MAX";
    for (int i = 8; i < 16; ++i) w.codes[size_t(i)] = 0;  // second block zero: one term alone fits
    w.sync();
    EXPECT_TRUE(check_case(c, w, x, "one term just below 2^63"));
  }
}

TEST(HlsLinearErrors, ScaleGap) {
  for (int gap : {0, 8, -1, 100, -32768}) {
    for (int32_t T : {3, 0}) {  // T = 0: no weight pass, but the reference still checks every gap
      ErrFixture f(13, 96, T);
      const size_t gi = size_t(12) * 3 + 2;  // last row, last group
      f.w.s2[gi] = static_cast<int16_t>(std::clamp(int(f.w.s1[gi]) - gap, -32768, 32767));
      if (gap == -32768) {
        f.w.s1[gi] = -32768;
        f.w.s2[gi] = 0;
      }
      f.w.sync();
      expect_status(f.c, f.w, f.x, hk::kBadCode, true, "gap");
    }
  }
  // The first row and group too (the first tile's first ScaleWord).
  {
    ErrFixture f;
    f.w.s2[0] = f.w.s1[0];
    f.w.sync();
    expect_status(f.c, f.w, f.x, hk::kBadCode, true, "gap 0 at (0, 0)");
  }
  // 1 and 7 are fine.
  for (int gap : {1, 7}) {
    ErrFixture f;
    f.w.s2[5] = static_cast<int16_t>(f.w.s1[5] - gap);
    f.w.sync();
    EXPECT_TRUE(check_case(f.c, f.w, f.x));
  }
}

// Several errors at once: the reference's order (quantization, gaps, range).
TEST(HlsLinearErrors, Priority) {
  ErrFixture f(13, 96, 9);
  f.w.s2[7] = f.w.s1[7];  // gap 0
  f.w.sync();
  for (int32_t i = 0; i < f.c.cols; ++i) f.x[size_t(1) * f.c.ldx + i] = 1e30f;  // overflow
  expect_status(f.c, f.w, f.x, hk::kBadCode, true, "gap before overflow");
  f.x[size_t(8) * f.c.ldx + 3] = std::numeric_limits<float>::quiet_NaN();  // in the second batch
  expect_status(f.c, f.w, f.x, hk::kNonFinite, true, "non-finite before gap");
}

TEST(HlsLinearErrors, NullPointers) {
  ErrFixture f;
  int32_t st = -1;
  std::vector<float> y(size_t(f.c.T) * f.c.ldy);
  sm_linear(f.w.codes.data(), f.w.s1.data(), f.w.s2.data(), f.x.data(), y.data(), nullptr, 1, f.c.rows, f.c.cols,
            f.c.T, f.c.ldx, f.c.ldy, 8, 32, 8, 8, -160, 160, 0, nullptr);  // no status: must not crash
  sm_linear(nullptr, f.w.s1.data(), f.w.s2.data(), f.x.data(), y.data(), nullptr, 1, f.c.rows, f.c.cols, f.c.T,
            f.c.ldx, f.c.ldy, 8, 32, 8, 8, -160, 160, 0, &st);
  EXPECT_EQ(st, hk::kBadShape);
  st = -1;
  sm_linear(f.w.codes.data(), f.w.s1.data(), f.w.s2.data(), nullptr, y.data(), nullptr, 1, f.c.rows, f.c.cols,
            f.c.T, f.c.ldx, f.c.ldy, 8, 32, 8, 8, -160, 160, 0, &st);
  EXPECT_EQ(st, hk::kBadShape);
  st = -1;
  sm_linear(f.w.codes.data(), f.w.s1.data(), f.w.s2.data(), f.x.data(), nullptr, nullptr, 1, f.c.rows, f.c.cols,
            f.c.T, f.c.ldx, f.c.ldy, 8, 32, 8, 8, -160, 160, 0, &st);
  EXPECT_EQ(st, hk::kBadShape);
  st = -1;
  sm_linear(f.w.codes.data(), nullptr, f.w.s2.data(), f.x.data(), y.data(), nullptr, 1, f.c.rows, f.c.cols, f.c.T,
            f.c.ldx, f.c.ldy, 8, 32, 8, 8, -160, 160, 0, &st);
  EXPECT_EQ(st, hk::kBadShape);
}

// ----------------------------------------------------------------- speed

// Best-of-rounds microseconds per call of f and g, the rounds interleaved so
// both see the same machine load.
std::pair<double, double> time_us(const std::function<void()>& f, const std::function<void()>& g, int reps) {
  f();  // warm
  g();
  double bf = 1e300, bg = 1e300;
  for (int round = 0; round < 7; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) f();
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) g();
    const auto t2 = std::chrono::steady_clock::now();
    bf = std::min(bf, std::chrono::duration<double, std::micro>(t1 - t0).count() / reps);
    bg = std::min(bg, std::chrono::duration<double, std::micro>(t2 - t1).count() / reps);
  }
  return {bf, bg};
}

// Not a pass / fail benchmark: prints microseconds per call of sm_linear and
// of the reference (quantize_activations + linear_int, plus transform when
// rotating) on the same inputs (best of 3 rounds).
TEST(HlsLinearSpeed, Report) {
  std::mt19937_64 rng(21);
  int32_t target_in = 844, target_d = 192;
  const std::string cfgp = sm::default_target_model() + "/config.json";
  if (std::filesystem::exists(cfgp)) {
    const auto cfg = sm::parse_model_config(cfgp);
    target_in = cfg.in_proj_dim();
    target_d = cfg.d_model;
  }
  struct Shape {
    const char* name;
    int32_t rows, cols, T, bits;
    bool rotate;
  };
  const Shape shapes[] = {{"target in_proj w8a8", target_in, target_d, 1, 8, false},
                          {"target in_proj w4a4 rot", target_in, target_d, 1, 4, true},
                          {"768x1536 w8a8", 768, 1536, 1, 8, false},
                          {"1536x768 w8a8", 1536, 768, 1, 8, false},
                          {"768x1536 w4a4 rot", 768, 1536, 1, 4, true},
                          {"768x1536 w8a8 T=8", 768, 1536, 8, 8, false}};
  for (const Shape& s : shapes) {
    Case c;
    c.rows = s.rows;
    c.cols = s.cols;
    c.T = s.T;
    c.ldx = s.cols;
    c.ldy = s.rows;
    c.wbits = c.abits = s.bits;
    c.wgroup = 64;
    c.agroup = 8;
    c.rotate = s.rotate;
    const Weights w = make_weights(make_w(c.rows, c.cols, rng), c.rows, c.cols, s.bits, c.wgroup);
    const auto x = make_x(c, rng, Kind::Normal);
    ASSERT_TRUE(check_case(c, w, x, s.name));
    std::vector<float> y(size_t(c.T) * c.ldy);
    std::vector<int8_t> hb = c.rotate ? q::hadamard_base(q::hadamard_k(c.cols)) : std::vector<int8_t>{1};
    const int32_t K = c.rotate ? q::hadamard_k(c.cols) : 1;
    const int reps = std::max(3, int(2e6 / (double(c.rows) * c.cols * c.T)));
    int32_t st = 0;
    std::vector<float> xr(size_t(c.T) * c.cols);
    const auto [ker, ref] = time_us(
        [&] {
          sm_linear(w.codes.data(), w.s1.data(), w.s2.data(), x.data(), y.data(), hb.data(), K, c.rows, c.cols, c.T,
                    c.ldx, c.ldy, c.wbits, c.wgroup, c.abits, c.agroup, c.exp_min, c.exp_max, c.rotate, &st);
        },
        [&] {
          for (int32_t t = 0; t < c.T; ++t) {
            if (c.rotate) q::transform(x.data() + size_t(t) * c.ldx, xr.data() + size_t(t) * c.cols, c.cols);
            else std::copy_n(x.data() + size_t(t) * c.ldx, c.cols, xr.data() + size_t(t) * c.cols);
          }
          const auto qa = q::quantize_activations(xr.data(), c.T, c.cols, c.abits, c.agroup);
          q::linear_int(qa, w.m, y.data(), c.ldy);
        },
        reps);
    ASSERT_EQ(st, hk::kOk);
    std::printf("[speed] %-26s %5dx%-5d T=%d  sm_linear %9.1f us  reference %9.1f us  ratio %.2f\n", s.name, c.rows,
                c.cols, c.T, ker, ref, ker / ref);
  }
}

}  // namespace
