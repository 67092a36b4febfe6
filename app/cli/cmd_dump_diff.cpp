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
        list.push_back({{"name", x.name}, {"layer", x.layer}, {"rows", x.rows}, {"cols", x.cols},
                        {"max_abs", num(x.max_abs)}, {"max_rel", num(x.max_rel)},
                        {"max_position", x.max_position}, {"max_column", x.max_col}, {"beyond", x.beyond},
                        {"first_position", x.first_position}, {"first_column", x.first_col}});
      j["datasets"] = list;
      j["only_a"] = d.only_a;
      j["only_b"] = d.only_b;
      print_json(j);
      return 0;
    }
    std::printf("a  %s (%s)\nb  %s (%s)\n", a->a.c_str(), quant_name(ra).c_str(), a->b.c_str(),
                quant_name(rb).c_str());
    std::printf("%lld common positions, %zu common datasets, tolerance %g\n", (long long)d.positions,
                d.datasets.size(), a->tol);
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
    for (const auto& x : d.datasets) w = std::max(w, x.name.size());
    const int nw = static_cast<int>(w);
    std::printf("\n%-*s %-12s %12s %12s %12s %10s\n", nw, "dataset", "shape", "max abs", "max rel", "beyond tol",
                "first pos");
    for (const auto& x : d.datasets) {
      const std::string shape = "[" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "]";
      std::printf("%-*s %-12s %12.4g %12.4g %12lld %10s\n", nw, x.name.c_str(), shape.c_str(), x.max_abs, x.max_rel,
                  (long long)x.beyond, x.first_position >= 0 ? std::to_string(x.first_position).c_str() : "-");
    }
    for (const auto& n : d.only_a) std::printf("only in a: %s\n", n.c_str());
    for (const auto& n : d.only_b) std::printf("only in b: %s\n", n.c_str());
    std::printf("\n(max rel: max |a - b| / the larger absmax of the two tensors)\n");
    return 0;
  };
}

}  // namespace sm::cli
