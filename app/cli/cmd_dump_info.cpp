// SPDX-License-Identifier: Apache-2.0
// specmamba dump-info FILE: the datasets of an activation dump with their
// shapes and summary statistics (min/max/mean/std, the channel with the
// largest absmax, values beyond 6 sigma; for integer codes the bits, the
// range and how many sit at +-qmax; core/dump/dump_stats.h), read a block of rows at a time, then
// the outliers before and after the online rotation (T_unrotated vs T).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "cli_common.h"
#include "core/dump/dump_reader.h"
#include "core/dump/dump_stats.h"
#include "core/io/error.h"

namespace sm::cli {

namespace {

constexpr double kOutlierSigma = kDumpOutlierSigma;
using Stats = TensorStats;

bool is_codes(const DumpDatasetInfo& d) { return dump_is_codes(d); }
bool is_exponent(const DumpDatasetInfo& d) { return dump_is_exponent(d); }
bool is_ids(const DumpDatasetInfo& d) { return dump_is_ids(d); }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string t = "[";
  for (size_t i = 0; i < shape.size(); ++i) t += (i ? ", " : "") + std::to_string(shape[i]);
  return t + "]";
}

// config, quantization and spec are JSON texts: shown as JSON when they parse.
nlohmann::json attr_json(const std::string& key, const std::string& value) {
  if (key == "config" || key == "quantization" || key == "spec") {
    auto j = nlohmann::json::parse(value, nullptr, false);
    if (!j.is_discarded()) return j;
  }
  if (key == "rotation" || key == "has_logits") return value == "true";
  if (key == "version" || key == "tokens_run") {
    try {
      return std::stoll(value);
    } catch (const std::exception&) {
    }
  }
  return value;
}

}  // namespace

Runner add_dump_info(CLI::App& app, Common& c) {
  auto* cmd = app.add_subcommand("dump-info", "Datasets, shapes and statistics of an HDF5 activation dump");
  auto file = std::make_shared<std::string>();
  cmd->add_option("FILE", *file, "dump written by generate/eval --dump")->required();
  cmd->add_flag("--json", c.json, "print one JSON object");
  return [file, &c] {
    DumpReader r(*file);
    const auto datasets = r.datasets();
    std::map<std::string, Stats> stats;  // every non-id dataset, computed once
    for (const auto& d : datasets)
      if (!is_ids(d)) stats[d.name] = tensor_stats(r, d);
    // Outliers before and after the online rotation: T_unrotated (the row
    // before the Hadamard transform) against T (the row the product consumes).
    struct Rot {
      std::string name;
      const Stats *before, *after;
    };
    std::vector<Rot> rot;
    for (const auto& d : datasets) {
      if (d.integer || !ends_with(d.name, kDumpUnrotatedSuffix)) continue;
      const std::string rotated = d.name.substr(0, d.name.size() - std::strlen(kDumpUnrotatedSuffix));
      if (stats.count(rotated)) rot.push_back({rotated, &stats.at(d.name), &stats.at(rotated)});
    }
    if (c.json) {
      nlohmann::json j;
      j["file"] = *file;
      nlohmann::json attrs = nlohmann::json::object();
      for (const auto& [k, v] : r.attributes().all) attrs[k] = attr_json(k, v);
      j["attributes"] = attrs;
      j["layers"] = r.layers();
      j["outlier_sigma"] = kOutlierSigma;
      nlohmann::json list = nlohmann::json::array();
      for (const auto& d : datasets) {
        nlohmann::json e;
        e["name"] = d.name;
        e["shape"] = d.shape;
        e["dtype"] = d.integer ? (d.dtype.empty() ? "int" : d.dtype) : "float32";
        if (d.bits) e["bits"] = d.bits;
        if (d.group) e["group"] = d.group;
        if (!is_ids(d)) {
          const Stats& s = stats.at(d.name);
          e["count"] = s.count;
          if (!d.integer) e["nonfinite"] = s.nonfinite;
          if (s.count > 0) {
            e["min"] = s.min;
            e["max"] = s.max;
            e["mean"] = s.mean;
            e["std"] = s.std;
            if (!d.integer) {
              e["channel_absmax"] = {{"max", s.channel_absmax}, {"channel", s.channel},
                                     {"median", s.channel_absmax_median}};
              e["outliers"] = s.outliers;
            }
            if (is_codes(d)) {
              e["qmax"] = (1 << (d.bits - 1)) - 1;
              e["saturated"] = s.saturated;
            }
          }
        }
        list.push_back(e);
      }
      j["datasets"] = list;
      nlohmann::json rj = nlohmann::json::array();
      for (const auto& x : rot)
        rj.push_back({{"name", x.name},
                      {"unrotated", x.name + kDumpUnrotatedSuffix},
                      {"outliers_before", x.before->outliers},
                      {"outliers_after", x.after->outliers},
                      {"channel_absmax_before", x.before->channel_absmax},
                      {"channel_absmax_after", x.after->channel_absmax},
                      {"std_before", x.before->std},
                      {"std_after", x.after->std}});
      j["rotation_outliers"] = rj;
      print_json(j);
      return 0;
    }
    std::printf("file          %s\n", file->c_str());
    for (const auto& [k, v] : r.attributes().all) std::printf("%-13s %s\n", k.c_str(), v.c_str());
    size_t w = 28;
    for (const auto& d : datasets) w = std::max(w, d.name.size());
    const int nw = static_cast<int>(w);
    std::printf("\n%-*s %-14s %11s %11s %11s %11s %11s %7s %9s\n", nw, "dataset", "shape", "min", "max", "mean",
                "std", "ch absmax", "channel", "outliers");
    for (const auto& d : datasets) {
      const char* name = d.name.c_str();
      const std::string shape = shape_text(d.shape);
      if (is_ids(d)) {
        std::printf("%-*s %-14s %11s\n", nw, name, shape.c_str(), d.name == "/tokens" ? "(ids)" : "(positions)");
        continue;
      }
      const Stats& s = stats.at(d.name);
      if (s.count == 0) {
        std::printf("%-*s %-14s %11s\n", nw, name, shape.c_str(), "(empty)");
        continue;
      }
      if (is_codes(d)) {
        const int qmax = (1 << (d.bits - 1)) - 1;
        std::printf("%-*s %-14s %11.0f %11.0f   %s %d-bit codes, group %lld; %lld (%.2f%%) at +-%d\n", nw, name,
                    shape.c_str(), s.min, s.max, d.dtype.c_str(), d.bits, (long long)d.group, (long long)s.saturated,
                    100.0 * double(s.saturated) / double(s.count), qmax);
        continue;
      }
      if (d.integer) {
        std::printf("%-*s %-14s %11.0f %11.0f   %s%s\n", nw, name, shape.c_str(), s.min, s.max, d.dtype.c_str(),
                    is_exponent(d) ? (" power-of-two exponents, group " + std::to_string(d.group)).c_str() : "");
        continue;
      }
      std::printf("%-*s %-14s %11.4g %11.4g %11.4g %11.4g %11.4g %7lld %9lld%s\n", nw, name, shape.c_str(), s.min,
                  s.max, s.mean, s.std, s.channel_absmax, (long long)s.channel, (long long)s.outliers,
                  s.nonfinite ? (" (" + std::to_string(s.nonfinite) + " non-finite)").c_str() : "");
    }
    std::printf("\n(ch absmax: the largest per-channel |x| and its channel; outliers: |x - mean| > %.0f std;\n"
                " codes: value = code * 2^exponent, one exponent per group of channels)\n",
                kOutlierSigma);
    if (!rot.empty()) {
      std::printf("\nonline rotation: outliers (> %.0f std) and ch absmax before -> after the Hadamard transform\n",
                  kOutlierSigma);
      for (const auto& x : rot)
        std::printf("%-*s outliers %6lld -> %-6lld ch absmax %9.4g -> %.4g\n", nw, x.name.c_str(),
                    (long long)x.before->outliers, (long long)x.after->outliers, x.before->channel_absmax,
                    x.after->channel_absmax);
    } else if (r.attributes().rotation) {
      std::printf("\nonline rotation: no T_unrotated datasets in this dump (layers filtered out?)\n");
    }
    return 0;
  };
}

}  // namespace sm::cli
