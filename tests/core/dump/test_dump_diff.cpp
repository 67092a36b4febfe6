// SPDX-License-Identifier: Apache-2.0
// The dump diff: a planted difference is found at exactly its token and
// layer, the first in run order (token-major, then layer, then tensor) when
// there are several; identical dumps differ nowhere; rows are matched by
// position across token filters; other shapes and foreign files are errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "core/dump/dump_diff.h"
#include "core/dump/dump_reader.h"
#include "tests/core/dump/synthetic_dump.h"
#include "tests/core/error_of.h"
#include "tests/core/temp_dir.h"

namespace {

using sm_test::error_of;
using sm_test::SyntheticDump;
using sm_test::TempDir;
using sm_test::write_synthetic_dump;

sm_test::Plant plant_at(int64_t token, int layer, std::string tensor, int64_t col, float delta) {
  return [=](int64_t t, int l, const std::string& name, int64_t c, float v) {
    return t == token && l == layer && name == tensor && c == col ? v + delta : v;
  };
}

const sm::DatasetDiff& find(const sm::DumpDiff& d, const std::string& name) {
  for (const auto& x : d.datasets)
    if (x.name == name) return x;
  throw std::runtime_error("no dataset " + name);
}

}  // namespace

TEST(DumpDiff, IdenticalDumpsDifferNowhere) {
  TempDir tmp;
  write_synthetic_dump(tmp.file("a.h5"), {});
  write_synthetic_dump(tmp.file("b.h5"), {});
  const sm::DumpReader a(tmp.file("a.h5")), b(tmp.file("b.h5"));
  const sm::DumpDiff d = sm::diff_dumps(a, b);
  EXPECT_FALSE(d.differs());
  EXPECT_EQ(d.first_position, -1);
  EXPECT_EQ(d.first_token_mismatch, -1);
  EXPECT_EQ(d.positions, 100);
  // 4 layers x (5 float tensors + codes + exponent)
  EXPECT_EQ(d.datasets.size(), 28u);
  for (const auto& x : d.datasets) {
    EXPECT_EQ(x.max_abs, 0.0) << x.name;
    EXPECT_EQ(x.beyond, 0) << x.name;
    EXPECT_EQ(x.rows, 100) << x.name;
  }
  EXPECT_TRUE(d.only_a.empty());
  EXPECT_TRUE(d.only_b.empty());
}

TEST(DumpDiff, FindsAPlantedDifferenceAtItsTokenAndLayer) {
  TempDir tmp;
  write_synthetic_dump(tmp.file("a.h5"), {});
  SyntheticDump s;
  s.plant = plant_at(70, 2, "conv_out", 5, 1e-3f);  // row 70: past the first 64-row chunk
  write_synthetic_dump(tmp.file("b.h5"), s);
  const sm::DumpReader a(tmp.file("a.h5")), b(tmp.file("b.h5"));
  const sm::DumpDiff d = sm::diff_dumps(a, b);
  ASSERT_TRUE(d.differs());
  EXPECT_EQ(d.first_position, 70);
  EXPECT_EQ(d.first_layer, 2);
  EXPECT_EQ(d.first_dataset, "/layers/2/conv_out");
  EXPECT_EQ(d.first_col, 5);
  EXPECT_NEAR(d.first_b - d.first_a, 1e-3, 1e-6);
  const auto& x = find(d, "/layers/2/conv_out");
  EXPECT_NEAR(x.max_abs, 1e-3, 1e-6);
  EXPECT_EQ(x.max_position, 70);
  EXPECT_EQ(x.max_col, 5);
  EXPECT_EQ(x.beyond, 1);
  EXPECT_GT(x.max_rel, 0.0);
  EXPECT_EQ(find(d, "/layers/2/hidden_in").max_abs, 0.0);
  EXPECT_EQ(find(d, "/layers/3/conv_out").max_abs, 0.0);

  // Below the tolerance it is no difference; the maxima are still reported.
  const sm::DumpDiff t = sm::diff_dumps(a, b, {1e-2});
  EXPECT_FALSE(t.differs());
  EXPECT_NEAR(find(t, "/layers/2/conv_out").max_abs, 1e-3, 1e-6);
}

TEST(DumpDiff, FirstIsTokenMajorThenLayerThenTensor) {
  TempDir tmp;
  write_synthetic_dump(tmp.file("a.h5"), {});
  SyntheticDump s;
  // A later layer at an earlier token beats an earlier layer at a later token;
  // within that token, layer 1 beats layer 3; within layer 1, conv_out beats mixer_out.
  s.plant = [](int64_t t, int l, const std::string& name, int64_t, float v) {
    if (t == 40 && l == 0 && name == "hidden_in") return v + 1.0f;
    if (t == 37 && l == 3 && name == "hidden_in") return v + 1.0f;
    if (t == 37 && l == 1 && name == "mixer_out") return v + 1.0f;
    if (t == 37 && l == 1 && name == "conv_out") return v + 0.5f;
    return v;
  };
  write_synthetic_dump(tmp.file("b.h5"), s);
  const sm::DumpReader a(tmp.file("a.h5")), b(tmp.file("b.h5"));
  const sm::DumpDiff d = sm::diff_dumps(a, b);
  EXPECT_EQ(d.first_position, 37);
  EXPECT_EQ(d.first_layer, 1);
  EXPECT_EQ(d.first_dataset, "/layers/1/conv_out");
  EXPECT_EQ(find(d, "/layers/0/hidden_in").first_position, 40);
}

TEST(DumpDiff, RowsAreMatchedByPositionAcrossTokenFilters) {
  TempDir tmp;
  write_synthetic_dump(tmp.file("a.h5"), {});
  SyntheticDump s;
  s.token_filter = "20-";
  s.plant = plant_at(50, 3, "mixer_out", 0, -0.25f);
  write_synthetic_dump(tmp.file("b.h5"), s);
  const sm::DumpReader a(tmp.file("a.h5")), b(tmp.file("b.h5"));
  const sm::DumpDiff d = sm::diff_dumps(a, b);
  EXPECT_EQ(d.positions, 80);
  EXPECT_EQ(d.first_position, 50);
  EXPECT_EQ(d.first_layer, 3);
  EXPECT_EQ(d.first_dataset, "/layers/3/mixer_out");

  // The aligned difference rows say the same.
  const sm::RowMatch m = sm::match_rows(a, b);
  ASSERT_EQ(m.positions.size(), 80u);
  EXPECT_EQ(m.positions[30], 50);
  std::vector<float> out(static_cast<size_t>(16));
  sm::read_diff_rows(a, b, m, "/layers/3/mixer_out", 30, 1, out.data());
  EXPECT_FLOAT_EQ(out[0], 0.25f);
  EXPECT_EQ(out[1], 0.0f);
}

TEST(DumpDiff, DatasetsInOneDumpOnlyAreListed) {
  TempDir tmp;
  write_synthetic_dump(tmp.file("a.h5"), {});
  SyntheticDump s;
  s.codes = false;
  write_synthetic_dump(tmp.file("b.h5"), s);
  const sm::DumpReader a(tmp.file("a.h5")), b(tmp.file("b.h5"));
  const sm::DumpDiff d = sm::diff_dumps(a, b);
  EXPECT_FALSE(d.differs());
  EXPECT_EQ(d.only_a.size(), 8u);  // codes and exponents of 4 layers
  EXPECT_EQ(d.only_a.front(), "/layers/0/out_proj_in_codes");
  EXPECT_TRUE(d.only_b.empty());
}

TEST(DumpDiff, OtherShapesAndForeignFilesAreClearErrors) {
  TempDir tmp;
  write_synthetic_dump(tmp.file("a.h5"), {});
  SyntheticDump s;
  s.cfg = sm_test::synthetic_config(24, 4);
  write_synthetic_dump(tmp.file("wide.h5"), s);
  const sm::DumpReader a(tmp.file("a.h5")), w(tmp.file("wide.h5"));
  const std::string msg = error_of([&] { sm::diff_dumps(a, w); });
  EXPECT_EQ(msg.rfind(tmp.file("a.h5") + " vs " + tmp.file("wide.h5") + ": different model shapes: d_model 16 vs 24",
                      0),
            0u)
      << msg;
  SyntheticDump deep;
  deep.cfg = sm_test::synthetic_config(16, 5);
  write_synthetic_dump(tmp.file("deep.h5"), deep);
  const sm::DumpReader dr(tmp.file("deep.h5"));
  EXPECT_NE(error_of([&] { sm::diff_dumps(a, dr); }).find("n_layer 4 vs 5"), std::string::npos);

  const std::string text = tmp.file("notes.h5");
  std::ofstream(text) << "not a dump\n";
  EXPECT_EQ(error_of([&] { sm::DumpReader{text}; }), text + ": not an HDF5 file");
  EXPECT_NE(error_of([&] { sm::diff_dumps(a, a, {-1.0}); }).find("tolerance"), std::string::npos);
}

TEST(DumpDiff, CancelStopsEarlyWithPartialFigures) {
  TempDir tmp;
  write_synthetic_dump(tmp.file("a.h5"), {});
  const sm::DumpReader a(tmp.file("a.h5"));
  std::atomic<bool> cancel{true};
  const sm::DumpDiff d = sm::diff_dumps(a, a, {}, &cancel);
  EXPECT_TRUE(d.cancelled);
}

// A rotated dump against an unrotated one: the residual stream (and the
// rotated out_proj_in) are in another basis and not compared; Mamba-1 compares
// out_proj_in with the rotated dump's out_proj_in_unrotated; the first
// difference is the planted one, not the basis change at token 0.
TEST(DumpDiff, RotatedAgainstUnrotatedComparesInOneBasis) {
  for (const sm::Arch arch : {sm::Arch::Mamba1, sm::Arch::Mamba2}) {
    TempDir tmp;
    SyntheticDump plain;
    plain.cfg.arch = arch;
    plain.unrotated_twin = false;
    plain.codes = false;
    write_synthetic_dump(tmp.file("plain.h5"), plain);
    SyntheticDump rot = plain;
    rot.rotation = true;
    rot.unrotated_twin = true;
    rot.plant = [](int64_t t, int l, const std::string& name, int64_t c, float v) {
      if (name == "hidden_in" || name == "mixer_out" || name == "out_proj_in") return -2 * v;  // another basis
      if (name == "out_proj_in_unrotated") return sm_test::synthetic_value(t, l, 3, c);  // = plain's out_proj_in
      return t == 40 && l == 2 && name == "conv_out" && c == 5 ? v + 0.5f : v;
    };
    write_synthetic_dump(tmp.file("rot.h5"), rot);
    const sm::DumpReader a(tmp.file("plain.h5")), b(tmp.file("rot.h5"));
    for (const bool swap : {false, true}) {
      const sm::DumpDiff d = swap ? sm::diff_dumps(b, a) : sm::diff_dumps(a, b);
      EXPECT_TRUE(d.bases_differ);
      ASSERT_TRUE(d.differs());
      EXPECT_EQ(d.first_position, 40);
      EXPECT_EQ(d.first_layer, 2);
      EXPECT_EQ(d.first_dataset, "/layers/2/conv_out");
      EXPECT_TRUE(d.only_a.empty());
      EXPECT_TRUE(d.only_b.empty());
      auto listed = [&d](const std::string& n) {
        return std::find(d.other_basis.begin(), d.other_basis.end(), n) != d.other_basis.end();
      };
      EXPECT_TRUE(listed("/layers/0/hidden_in"));
      EXPECT_TRUE(listed("/layers/3/mixer_out"));
      EXPECT_TRUE(listed("/layers/1/out_proj_in"));
      if (arch == sm::Arch::Mamba1) {
        // 4 layers x (conv_out + out_proj_in); the pair matches exactly.
        EXPECT_EQ(d.datasets.size(), 8u);
        const sm::DatasetDiff& x = find(d, swap ? "/layers/1/out_proj_in_unrotated" : "/layers/1/out_proj_in");
        EXPECT_EQ(x.name_b, swap ? "/layers/1/out_proj_in" : "/layers/1/out_proj_in_unrotated");
        EXPECT_EQ(x.max_abs, 0.0);
        EXPECT_FALSE(listed("/layers/1/out_proj_in_unrotated"));
      } else {
        // Mamba-2 folds the gated-norm weight away: only conv_out is comparable.
        EXPECT_EQ(d.datasets.size(), 4u);
        EXPECT_TRUE(listed("/layers/1/out_proj_in_unrotated"));
      }
      // The diff heatmap's reader follows the same pairing, and names a tensor it cannot pair.
      const sm::RowMatch m = swap ? sm::match_rows(b, a) : sm::match_rows(a, b);
      std::vector<float> out(static_cast<size_t>(3 * 32));
      if (arch == sm::Arch::Mamba1) {
        const std::string n = swap ? "/layers/0/out_proj_in_unrotated" : "/layers/0/out_proj_in";
        swap ? sm::read_diff_rows(b, a, m, n, 0, 3, out.data()) : sm::read_diff_rows(a, b, m, n, 0, 3, out.data());
        for (float v : out) EXPECT_EQ(v, 0.0f);
      }
      const std::string msg = error_of([&] {
        swap ? sm::read_diff_rows(b, a, m, "/layers/0/hidden_in", 0, 3, out.data())
             : sm::read_diff_rows(a, b, m, "/layers/0/hidden_in", 0, 3, out.data());
      });
      EXPECT_NE(msg.find("rotated basis"), std::string::npos) << msg;
    }
  }
}
