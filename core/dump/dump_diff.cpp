// SPDX-License-Identifier: Apache-2.0
#include "core/dump/dump_diff.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "core/dump/dump_stats.h"
#include "core/io/error.h"

namespace sm {

namespace {

// The config fields that fix every dataset's shape (docs/dump-format.md).
constexpr const char* kShapeKeys[] = {"arch",   "d_model", "n_layer",  "vocab_size", "d_state",  "d_conv",  "d_inner",
                                      "dt_rank", "n_heads", "head_dim", "n_groups",   "d_mlp", "conv_dim", "in_proj_dim"};

void check_same_shape(const DumpReader& a, const DumpReader& b) {
  const auto ja = nlohmann::json::parse(a.attributes().config, nullptr, false);
  const auto jb = nlohmann::json::parse(b.attributes().config, nullptr, false);
  const std::string who = a.path() + " vs " + b.path();
  if (ja.is_discarded() || !ja.is_object()) fail(a.path(), "the dump's config attribute is not a JSON object");
  if (jb.is_discarded() || !jb.is_object()) fail(b.path(), "the dump's config attribute is not a JSON object");
  for (const char* k : kShapeKeys) {
    const auto va = ja.contains(k) ? ja[k] : nlohmann::json();
    const auto vb = jb.contains(k) ? jb[k] : nlohmann::json();
    if (va != vb)
      fail(who, std::string("different model shapes: ") + k + " " + va.dump() + " vs " + vb.dump() +
                    " (a diff needs dumps of the same model shape)");
  }
}

// "/layers/12/conv_out" -> 12; /logits and anything else -> INT_MAX (after every layer).
int layer_of(const std::string& name) {
  static const std::string p = "/layers/";
  if (name.compare(0, p.size(), p) != 0) return INT_MAX;
  try {
    return std::stoi(name.substr(p.size()));
  } catch (const std::exception&) {
    return INT_MAX;
  }
}

// Rows rows[i0 .. i0+n) of `name` into out, one read per run of consecutive rows.
void read_rows(const DumpReader& r, const std::string& name, const std::vector<int64_t>& rows, int64_t i0,
               int64_t n, int64_t cols, float* out) {
  for (int64_t i = i0; i < i0 + n;) {
    int64_t j = i + 1;
    while (j < i0 + n && rows[j] == rows[j - 1] + 1) ++j;
    r.read_into(name, rows[i], j - i, 0, cols, out + (i - i0) * cols);
    i = j;
  }
}

double abs_diff(float a, float b) {
  if (a == b) return 0.0;
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na && nb) return 0.0;
  if (na || nb) return std::numeric_limits<double>::infinity();
  return std::abs(double(a) - double(b));
}

}  // namespace

RowMatch match_rows(const DumpReader& a, const DumpReader& b) {
  const std::vector<int64_t> pa = a.token_index(), pb = b.token_index();
  RowMatch m;
  // Both ascending (the format's contract): a merge.
  for (size_t i = 0, j = 0; i < pa.size() && j < pb.size();) {
    if (pa[i] < pb[j]) ++i;
    else if (pb[j] < pa[i]) ++j;
    else {
      m.positions.push_back(pa[i]);
      m.row_a.push_back(static_cast<int64_t>(i++));
      m.row_b.push_back(static_cast<int64_t>(j++));
    }
  }
  return m;
}

void read_diff_rows(const DumpReader& a, const DumpReader& b, const RowMatch& m, const std::string& name,
                    int64_t i0, int64_t n, float* out) {
  const int64_t cols = a.info(name).cols();
  if (b.info(name).cols() != cols)
    fail(a.path() + " vs " + b.path(), name + " has " + std::to_string(cols) + " vs " +
                                           std::to_string(b.info(name).cols()) + " columns");
  if (i0 < 0 || n < 0 || i0 + n > static_cast<int64_t>(m.positions.size()))
    fail(a.path() + " vs " + b.path(), "matched rows out of range");
  std::vector<float> vb(static_cast<size_t>(n * cols));
  read_rows(a, name, m.row_a, i0, n, cols, out);
  read_rows(b, name, m.row_b, i0, n, cols, vb.data());
  for (size_t i = 0; i < vb.size(); ++i) out[i] -= vb[i];
}

DumpDiff diff_dumps(const DumpReader& a, const DumpReader& b, const DumpDiffOptions& opt,
                    const std::atomic<bool>* cancel, const std::function<void(int64_t, int64_t)>& progress) {
  if (!(opt.tol >= 0)) fail("dump diff", "tolerance must be >= 0");
  check_same_shape(a, b);
  DumpDiff out;
  const RowMatch m = match_rows(a, b);
  out.positions = static_cast<int64_t>(m.positions.size());

  // Common datasets in run order: by layer, then the reader's order within it.
  std::vector<DumpDatasetInfo> common;
  for (const auto& d : a.datasets()) {
    if (dump_is_ids(d)) continue;
    if (!b.has(d.name)) {
      out.only_a.push_back(d.name);
      continue;
    }
    const auto db = b.info(d.name);
    if (db.cols() != d.cols())
      fail(a.path() + " vs " + b.path(), d.name + " has " + std::to_string(d.cols()) + " vs " +
                                             std::to_string(db.cols()) + " columns");
    common.push_back(d);
  }
  for (const auto& d : b.datasets())
    if (!dump_is_ids(d) && !a.has(d.name)) out.only_b.push_back(d.name);
  std::stable_sort(common.begin(), common.end(),
                   [](const auto& x, const auto& y) { return layer_of(x.name) < layer_of(y.name); });

  const std::vector<int32_t> ta = a.tokens(), tb = b.tokens();
  for (int64_t p : m.positions) {
    const bool in_a = p < static_cast<int64_t>(ta.size()), in_b = p < static_cast<int64_t>(tb.size());
    if (in_a != in_b || (in_a && ta[p] != tb[p])) {
      out.first_token_mismatch = p;
      break;
    }
  }

  std::vector<double> scale(common.size(), 0.0);
  for (size_t k = 0; k < common.size(); ++k) {
    DatasetDiff dd;
    dd.name = common[k].name;
    const int l = layer_of(dd.name);
    dd.layer = l == INT_MAX ? -1 : l;
    dd.rows = out.positions;
    dd.cols = common[k].cols();
    out.datasets.push_back(dd);
  }
  const int64_t total = static_cast<int64_t>(common.size()) * out.positions;
  int64_t done = 0;
  std::vector<float> va, vb;
  for (int64_t i0 = 0; i0 < out.positions; i0 += kDumpBlockRows) {
    const int64_t n = std::min(kDumpBlockRows, out.positions - i0);
    for (size_t k = 0; k < common.size(); ++k) {
      if (cancel && cancel->load(std::memory_order_relaxed)) {
        out.cancelled = true;
        break;
      }
      DatasetDiff& dd = out.datasets[k];
      const int64_t cols = dd.cols;
      va.resize(static_cast<size_t>(n * cols));
      vb.resize(va.size());
      read_rows(a, dd.name, m.row_a, i0, n, cols, va.data());
      read_rows(b, dd.name, m.row_b, i0, n, cols, vb.data());
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < cols; ++c) {
          const float x = va[i * cols + c], y = vb[i * cols + c];
          if (std::isfinite(x)) scale[k] = std::max(scale[k], std::abs(double(x)));
          if (std::isfinite(y)) scale[k] = std::max(scale[k], std::abs(double(y)));
          const double e = abs_diff(x, y);
          if (e == 0.0) continue;
          if (e > dd.max_abs) {
            dd.max_abs = e;
            dd.max_position = m.positions[i0 + i];
            dd.max_col = c;
          }
          if (e > opt.tol) {
            ++dd.beyond;
            if (dd.first_position < 0) {
              dd.first_position = m.positions[i0 + i];
              dd.first_col = c;
              dd.first_a = x;
              dd.first_b = y;
            }
          }
        }
      done += n;
    }
    if (out.cancelled) break;
    if (progress) progress(done, total);
  }
  for (size_t k = 0; k < common.size(); ++k) {
    DatasetDiff& dd = out.datasets[k];
    dd.max_rel = scale[k] > 0 ? dd.max_abs / scale[k] : (dd.max_abs > 0 ? INFINITY : 0.0);
  }
  // The first difference: least (position, run-order index); datasets are in run order.
  const DatasetDiff* first = nullptr;
  for (const DatasetDiff& dd : out.datasets)
    if (dd.first_position >= 0 && (!first || dd.first_position < first->first_position)) first = &dd;
  if (first) {
    out.first_position = first->first_position;
    out.first_layer = first->layer;
    out.first_dataset = first->name;
    out.first_col = first->first_col;
    out.first_a = first->first_a;
    out.first_b = first->first_b;
  }
  return out;
}

}  // namespace sm
