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

const std::string kUnrot = kDumpUnrotatedSuffix;

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// A rotated model's tensors that only exist in the rotated basis: the
// residual stream (folded offline) and out_proj's rotated input.
bool rotated_basis_only(const std::string& name, bool gnorm_folded = false) {
  const std::string base = dump_base_name(name);
  const size_t slash = base.rfind('/');
  const std::string leaf = slash == std::string::npos ? base : base.substr(slash + 1);
  if (leaf == "hidden_in" || leaf == "in_proj_in" || leaf == "mixer_out") return true;
  if (leaf == "out_proj_in" && gnorm_folded) return true;
  return leaf == "out_proj_in" && !ends_with(name, kUnrot);  // codes and exponent are of the rotated row
}

// Mamba-2 folds its gated-norm weight into out_proj when rotating (gnorm' = 1,
// core/quant/rotation_fold.h), so out_proj_in_unrotated is out_proj_in divided
// by that weight per channel: no counterpart either. Mamba-1 has no gated norm.
bool gated_norm_folded(const DumpReader& r) {
  const auto j = nlohmann::json::parse(r.attributes().config, nullptr, false);
  return !(j.is_object() && j.contains("arch") && j["arch"] == "mamba1");
}

}  // namespace

std::string diff_counterpart(const DumpReader& a, const DumpReader& b, const std::string& name) {
  const bool ra = a.attributes().rotation, rb = b.attributes().rotation;
  if (ra == rb) return b.has(name) ? name : std::string();
  if (ends_with(dump_base_name(name), "/out_proj_in") && gated_norm_folded(a)) return {};
  if (rotated_basis_only(name)) {
    if (ra) return {};  // a's rotated-basis tensor
    // a is unrotated: its out_proj_in meets b's out_proj_in_unrotated; its residual stream has no match.
    if (dump_base_name(name) == name && ends_with(name, "/out_proj_in") && b.has(name + kUnrot))
      return name + kUnrot;
    return {};
  }
  // a rotated: its out_proj_in_unrotated meets b's out_proj_in.
  if (ra && ends_with(name, "/out_proj_in" + kUnrot)) {
    const std::string plain = name.substr(0, name.size() - kUnrot.size());
    return b.has(plain) ? plain : std::string();
  }
  return b.has(name) ? name : std::string();
}

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
  const std::string name_b = diff_counterpart(a, b, name);
  if (name_b.empty())
    fail(a.path() + " vs " + b.path(), name + " has no counterpart in " + b.path() +
                                           (a.attributes().rotation != b.attributes().rotation
                                                ? " (one dump is rotated: this tensor is in the rotated basis)"
                                                : ""));
  const int64_t cols = a.info(name).cols();
  if (b.info(name_b).cols() != cols)
    fail(a.path() + " vs " + b.path(), name + " has " + std::to_string(cols) + " vs " +
                                           std::to_string(b.info(name_b).cols()) + " columns");
  if (i0 < 0 || n < 0 || i0 + n > static_cast<int64_t>(m.positions.size()))
    fail(a.path() + " vs " + b.path(), "matched rows out of range");
  std::vector<float> vb(static_cast<size_t>(n * cols));
  read_rows(a, name, m.row_a, i0, n, cols, out);
  read_rows(b, name_b, m.row_b, i0, n, cols, vb.data());
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
  out.bases_differ = a.attributes().rotation != b.attributes().rotation;
  const bool folded = gated_norm_folded(a);
  std::vector<DumpDatasetInfo> common;
  std::vector<std::string> partner;  // common[k]'s name in b
  std::vector<std::string> used_b;
  for (const auto& d : a.datasets()) {
    if (dump_is_ids(d)) continue;
    const std::string nb = diff_counterpart(a, b, d.name);
    if (nb.empty()) {
      if (out.bases_differ && a.attributes().rotation && rotated_basis_only(d.name, folded))
        out.other_basis.push_back(d.name);
      else if (!(out.bases_differ && rotated_basis_only(d.name, folded) && b.has(d.name)))
        out.only_a.push_back(d.name);  // (else a is unrotated and b's tensor of that name is listed from b's side)
      continue;
    }
    const auto db = b.info(nb);
    if (db.cols() != d.cols())
      fail(a.path() + " vs " + b.path(), d.name + " has " + std::to_string(d.cols()) + " vs " +
                                             std::to_string(db.cols()) + " columns");
    common.push_back(d);
    partner.push_back(nb);
    used_b.push_back(nb);
  }
  for (const auto& d : b.datasets()) {
    if (dump_is_ids(d) || std::find(used_b.begin(), used_b.end(), d.name) != used_b.end()) continue;
    if (out.bases_differ && b.attributes().rotation && rotated_basis_only(d.name, folded))
      out.other_basis.push_back(d.name);
    else if (!(out.bases_differ && rotated_basis_only(d.name, folded) && a.has(d.name)))
      out.only_b.push_back(d.name);
  }
  {
    // Keep partner aligned with common through the sort.
    std::vector<size_t> order(common.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return layer_of(common[x].name) < layer_of(common[y].name); });
    std::vector<DumpDatasetInfo> c2;
    std::vector<std::string> p2;
    for (size_t k : order) {
      c2.push_back(common[k]);
      p2.push_back(partner[k]);
    }
    common.swap(c2);
    partner.swap(p2);
  }

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
    dd.name_b = partner[k];
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
      read_rows(b, dd.name_b, m.row_b, i0, n, cols, vb.data());
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
