// SPDX-License-Identifier: Apache-2.0
// specmamba dump-diff A.h5 B.h5: where two activation dumps of the same model
// shape differ (core/dump/dump_diff.h): the first token position and layer in
// run order, and per common dataset the largest absolute and relative
// difference. Exit 0 whether or not they differ (1 for unreadable or
// incomparable dumps), so scripts read "differs" from --json.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "cli_common.h"
#include "core/dump/dump_diff.h"
#include "core/dump/dump_reader.h"
#include "core/io/error.h"

#include <map>

namespace sm::cli {

namespace {

struct DumpDiffArgs {
  std::string a, b;
  double tol = 0.0;
};

std::string quant_name(const DumpReader& r) {
  const auto j = nlohmann::json::parse(r.attributes().quantization, nullptr, false);
  std::string name = j.is_object() && j.contains("name") && j["name"].is_string() ? j["name"].get<std::string>() : "?";
  return name + (r.attributes().rotation ? ", rotated" : "");
}

// JSON has no infinity: a NaN against a number gives null.
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// "only in b: x, x_codes (layers 0-3)": one line per set of layers, not one per dataset.
void print_grouped(const char* what, const std::vector<std::string>& names) {
  std::map<std::string, std::vector<std::string>> by_layers;  // layer list -> leaves
  std::map<std::string, std::vector<std::string>> layers_of;  // leaf -> layers
  std::vector<std::string> leaves;
  for (const std::string& n : names) {
    const size_t slash = n.rfind('/');
    const std::string leaf = n.substr(slash + 1), dir = n.substr(0, slash);
    const std::string layer = dir.rfind("/layers/", 0) == 0 ? dir.substr(8) : std::string();
    if (!layers_of.count(leaf)) leaves.push_back(leaf);
    layers_of[leaf].push_back(layer);
  }
  std::vector<std::string> keys;
  for (const std::string& leaf : leaves) {
    std::string k;
    for (const std::string& l : layers_of[leaf]) k += (k.empty() ? "" : ",") + l;
    if (!by_layers.count(k)) keys.push_back(k);
    by_layers[k].push_back(leaf);
  }
  for (const std::string& k : keys) {
    std::string list;
    for (const std::string& leaf : by_layers[k]) list += (list.empty() ? "" : ", ") + leaf;
    std::printf("%s: %s%s\n", what, list.c_str(), k.empty() ? "" : (" (layers " + k + ")").c_str());
  }
}

}  // namespace

Runner add_dump_diff(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("dump-diff",
                                 "Compare two HDF5 activation dumps: first differing token and layer, max diffs");
  auto a = std::make_shared<DumpDiffArgs>();
  cmd->add_option("A", a->a, "first dump")->required();
  cmd->add_option("B", a->b, "second dump (same model shape)")->required();
  cmd->add_option("--tol", a->tol, "values differ when |a - b| > TOL (default 0: any difference)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [a, &c] {
    const DumpReader ra(a->a), rb(a->b);
    const DumpDiff d = diff_dumps(ra, rb, {a->tol});
    const std::vector<int32_t> ta = ra.tokens();
    if (c.json) {
      nlohmann::json j;
      j["a"] = a->a;
      j["b"] = a->b;
      j["tol"] = a->tol;
      j["positions"] = d.positions;
      j["differs"] = d.differs();
      j["first_token_mismatch"] = d.first_token_mismatch;
      if (d.differs())
        j["first"] = {{"position", d.first_position}, {"layer", d.first_layer}, {"dataset", d.first_dataset},
                      {"column", d.first_col}, {"a", num(d.first_a)}, {"b", num(d.first_b)},
                      {"token", d.first_position < int64_t(ta.size()) ? ta[d.first_position] : -1}};
      else
        j["first"] = nullptr;
      nlohmann::json list = nlohmann::json::array();
      for (const auto& x : d.datasets)
        list.push_back({{"name", x.name}, {"name_b", x.name_b}, {"layer", x.layer}, {"rows", x.rows}, {"cols", x.cols},
                        {"max_abs", num(x.max_abs)}, {"max_rel", num(x.max_rel)},
                        {"max_position", x.max_position}, {"max_column", x.max_col}, {"beyond", x.beyond},
                        {"first_position", x.first_position}, {"first_column", x.first_col}});
      j["datasets"] = list;
      j["only_a"] = d.only_a;
      j["only_b"] = d.only_b;
      j["bases_differ"] = d.bases_differ;
      j["other_basis"] = d.other_basis;
      print_json(j);
      return 0;
    }
    std::printf("a  %s (%s)\nb  %s (%s)\n", a->a.c_str(), quant_name(ra).c_str(), a->b.c_str(),
                quant_name(rb).c_str());
    std::printf("%lld common positions, %zu common datasets, tolerance %g\n", (long long)d.positions,
                d.datasets.size(), a->tol);
    if (d.bases_differ)
      std::printf("one dump is rotated: its residual stream (and, for Mamba-2, out_proj's input, whose gated-norm "
                  "weight is folded into out_proj) has no unrotated form and is not compared\n");
    if (d.first_token_mismatch >= 0)
      std::printf("token ids differ from position %lld on\n", (long long)d.first_token_mismatch);
    if (d.differs()) {
      std::printf("first difference (run order: token, then layer, then tensor): position %lld, ",
                  (long long)d.first_position);
      if (d.first_layer >= 0) std::printf("layer %d, ", d.first_layer);
      std::printf("%s column %lld: %.9g vs %.9g\n", d.first_dataset.c_str(), (long long)d.first_col, d.first_a,
                  d.first_b);
    } else {
      std::printf("no difference beyond %g\n", a->tol);
    }
    size_t w = 28;
    for (const auto& x : d.datasets) w = std::max(w, x.name.size() + (x.name_b == x.name ? 0 : x.name_b.size() - x.name_b.rfind('/') + 2));
    const int nw = static_cast<int>(w);
    std::printf("\n%-*s %-12s %12s %12s %12s %10s\n", nw, "dataset", "shape", "max abs", "max rel", "beyond tol",
                "first pos");
    for (const auto& x : d.datasets) {
      const std::string label = x.name_b == x.name ? x.name : x.name + " ~ " + x.name_b.substr(x.name_b.rfind('/') + 1);
      const std::string shape = "[" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "]";
      std::printf("%-*s %-12s %12.4g %12.4g %12lld %10s\n", nw, label.c_str(), shape.c_str(), x.max_abs, x.max_rel,
                  (long long)x.beyond, x.first_position >= 0 ? std::to_string(x.first_position).c_str() : "-");
    }
    print_grouped("only in a", d.only_a);
    print_grouped("only in b", d.only_b);
    print_grouped("not compared (rotated basis)", d.other_basis);
    std::printf("\n(max rel: max |a - b| / the larger absmax of the two tensors)\n");
    return 0;
  };
}

}  // namespace sm::cli
