// SPDX-License-Identifier: Apache-2.0
// SPEC.json: parsing, validation and the cross product (docs/sweeps.md).
#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "core/io/default_paths.h"
#include "core/io/error.h"
#include "core/quant/quant_config.h"
#include "core/spec/backtrack.h"
#include "core/spec/token_tree.h"
#include "core/spec/tree_verifier.h"
#include "core/sweep/sweep.h"

namespace sm::sweep {

namespace {

using nlohmann::json;

const char* type_name(const json& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  return "null";
}

}  // namespace

// Stable across builds and platforms (std::hash is not).
std::string fnv1a64_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

namespace {

std::string string_key(const json& j, const char* key, const std::string& where) {
  const json& v = j.at(key);
  if (!v.is_string()) fail(where, std::string(key) + ": expected a string, got " + type_name(v));
  return v.get<std::string>();
}

int64_t int_key(const json& j, const char* key, const std::string& where, int64_t lo, int64_t hi) {
  const json& v = j.at(key);
  if (!v.is_number_integer()) fail(where, std::string(key) + ": expected an integer, got " + type_name(v));
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    fail(where, std::string(key) + ": " + std::to_string(x) + " is out of range " + std::to_string(lo) + ".." +
                    std::to_string(hi));
  return x;
}

bool bool_key(const json& j, const char* key, const std::string& where) {
  const json& v = j.at(key);
  if (!v.is_boolean()) fail(where, std::string(key) + ": expected true or false, got " + type_name(v));
  return v.get<bool>();
}

const json& axis_list(const json& axes, const std::string& name, const std::string& where) {
  const json& v = axes.at(name);
  if (!v.is_array()) fail(where, "axes." + name + ": expected a list of values, got " + type_name(v));
  if (v.empty()) fail(where, "axes." + name + ": the list is empty (leave the axis out for its default)");
  return v;
}

template <class T>
void check_unique(const std::vector<T>& values, const std::string& name, const std::string& where) {
  for (size_t i = 0; i < values.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (values[i] == values[j]) {
        std::ostringstream os;
        os << "axes." << name << ": value " << values[i] << " is listed twice";
        fail(where, os.str());
      }
}

// A string axis checked value by value with `check` (which throws sm::Error).
template <class Check>
std::vector<std::string> string_axis(const json& axes, const std::string& name, const std::string& where,
                                     Check check) {
  std::vector<std::string> out;
  const json& list = axis_list(axes, name, where);
  for (size_t i = 0; i < list.size(); ++i) {
    const json& v = list[i];
    const std::string at = "axes." + name + "[" + std::to_string(i) + "]";
    // A tree may be given as an inline path list; it is kept as its JSON text.
    std::string s;
    if (v.is_string()) s = v.get<std::string>();
    else if (name == "tree" && v.is_array()) s = v.dump();
    else fail(where, at + ": expected a string, got " + type_name(v));
    if (s.empty()) fail(where, at + ": empty string");
    try {
      check(s);
    } catch (const Error& e) {
      fail(where, at + " '" + s + "': " + e.what());
    }
    out.push_back(s);
  }
  check_unique(out, name, where);
  return out;
}

std::vector<int64_t> int_axis(const json& axes, const std::string& name, const std::string& where) {
  std::vector<int64_t> out;
  const json& list = axis_list(axes, name, where);
  for (size_t i = 0; i < list.size(); ++i) {
    const json& v = list[i];
    const std::string at = "axes." + name + "[" + std::to_string(i) + "]";
    if (!v.is_number_integer()) fail(where, at + ": expected an integer, got " + type_name(v));
    const int64_t x = v.get<int64_t>();
    if (x < 0) fail(where, at + ": must be >= 0, got " + std::to_string(x));
    out.push_back(x);
  }
  check_unique(out, name, where);
  return out;
}

}  // namespace

// ---- SweepConfig --------------------------------------------------------------

nlohmann::json SweepConfig::to_json() const {
  return {{"tree", tree},         {"verify", verify}, {"tile", tile},         {"backtrack", backtrack},
          {"budget", budget},     {"preset", preset}, {"platform", platform}};
}

std::string SweepConfig::describe() const {
  return "tree=" + tree + " verify=" + verify + " tile=" + std::to_string(tile) + " backtrack=" + backtrack +
         " budget=" + std::to_string(budget) + " preset=" + preset + " platform=" + platform;
}

bool SweepConfig::same_settings(const SweepConfig& o) const {
  return tree == o.tree && verify == o.verify && tile == o.tile && backtrack == o.backtrack && budget == o.budget &&
         preset == o.preset && platform == o.platform;
}

// ---- SweepSpec ------------------------------------------------------------------

SweepSpec SweepSpec::parse(const std::string& json_text, const std::string& where) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    fail(where, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(where, std::string("expected a JSON object, got ") + type_name(j));
  static const std::set<std::string> top = {"target",    "draft",    "prompt",    "max_tokens", "axes",
                                            "eval_text", "eval_bytes", "rotation", "calibrate", "repeats"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!top.count(it.key()))
      fail(where, "unknown key '" + it.key() +
                      "' (expected target, draft, prompt, max_tokens, axes, eval_text, eval_bytes, rotation, "
                      "calibrate, repeats)");
  SweepSpec s;
  s.text = json_text;
  s.hash = fnv1a64_hex(j.dump());  // object keys sorted, no whitespace: the spec's meaning only
  s.target = j.contains("target") ? string_key(j, "target", where) : "";
  s.draft = j.contains("draft") ? string_key(j, "draft", where) : "";
  if (s.target.empty()) s.target = default_target_model();
  if (s.draft.empty()) s.draft = default_draft_model();
  if (!j.contains("prompt")) fail(where, "prompt: missing (the text every configuration generates from)");
  s.prompt = string_key(j, "prompt", where);
  if (s.prompt.empty()) fail(where, "prompt: empty");
  if (j.contains("max_tokens")) s.max_tokens = static_cast<int>(int_key(j, "max_tokens", where, 1, 100000));
  if (j.contains("eval_text")) {
    s.eval_text = string_key(j, "eval_text", where);
    if (s.eval_text.empty()) fail(where, "eval_text: empty (leave the key out for no bpb column)");
  }
  if (j.contains("eval_bytes")) {
    if (s.eval_text.empty()) fail(where, "eval_bytes: needs eval_text");
    s.eval_bytes = int_key(j, "eval_bytes", where, 0, int64_t{1} << 40);
  }
  if (j.contains("rotation")) s.rotation = bool_key(j, "rotation", where);
  if (j.contains("calibrate")) s.calibrate = bool_key(j, "calibrate", where);
  if (j.contains("repeats")) s.repeats = static_cast<int>(int_key(j, "repeats", where, 1, 100));

  // The defaults of `specmamba generate` (app/cli/cmd_generate.cpp) and of its simulated platform.
  s.tree = {"1,1,1,1"};
  s.verify = {"fifo"};
  s.tile = {0};
  s.backtrack = {"snapshot"};
  s.budget = {0};
  s.preset = {"fp32"};
  s.platform = {"vck190"};
  if (j.contains("axes")) {
    const json& axes = j.at("axes");
    if (!axes.is_object()) fail(where, std::string("axes: expected an object, got ") + type_name(axes));
    for (auto it = axes.begin(); it != axes.end(); ++it) {
      const auto& names = axis_names();
      if (std::find(names.begin(), names.end(), it.key()) == names.end())
        fail(where, "axes: unknown axis '" + it.key() +
                        "' (expected tree, verify, tile, backtrack, budget, preset, platform)");
    }
    if (axes.contains("tree"))
      s.tree = string_axis(axes, "tree", where, [](const std::string& v) { (void)TreeShape::parse(v); });
    if (axes.contains("verify"))
      s.verify = string_axis(axes, "verify", where, [](const std::string& v) { (void)parse_verify_order(v); });
    if (axes.contains("tile")) s.tile = int_axis(axes, "tile", where);
    if (axes.contains("backtrack"))
      s.backtrack =
          string_axis(axes, "backtrack", where, [](const std::string& v) { (void)parse_backtrack_policy(v); });
    if (axes.contains("budget")) s.budget = int_axis(axes, "budget", where);
    if (axes.contains("preset"))
      s.preset = string_axis(axes, "preset", where,
                             [](const std::string& v) { (void)quant::QuantConfig::preset(v, false); });
    if (axes.contains("platform")) s.platform = string_axis(axes, "platform", where, [](const std::string&) {});
  }
  return s;
}

SweepSpec SweepSpec::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open the sweep spec");
  std::ostringstream os;
  os << f.rdbuf();
  if (!f.good() && !f.eof()) fail(path, "cannot read the sweep spec");
  return parse(os.str(), path);
}

int64_t SweepSpec::size() const {
  return static_cast<int64_t>(tree.size() * verify.size() * tile.size() * backtrack.size() * budget.size() *
                              preset.size() * platform.size());
}

SweepConfig SweepSpec::config(int64_t index) const {
  if (index < 0 || index >= size())
    fail("sweep", "configuration " + std::to_string(index) + " out of range (the spec has " +
                      std::to_string(size()) + ")");
  SweepConfig c;
  c.index = index;
  // Mixed radix, the last axis fastest.
  int64_t r = index;
  auto digit = [&r](size_t n) {
    const int64_t d = r % static_cast<int64_t>(n);
    r /= static_cast<int64_t>(n);
    return static_cast<size_t>(d);
  };
  c.platform = platform[digit(platform.size())];
  c.preset = preset[digit(preset.size())];
  c.budget = budget[digit(budget.size())];
  c.backtrack = backtrack[digit(backtrack.size())];
  c.tile = tile[digit(tile.size())];
  c.verify = verify[digit(verify.size())];
  c.tree = tree[digit(tree.size())];
  return c;
}

std::vector<SweepConfig> SweepSpec::configs() const {
  std::vector<SweepConfig> out;
  const int64_t n = size();
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(config(i));
  return out;
}

// ---- shards ---------------------------------------------------------------------

std::string Shard::describe() const { return std::to_string(k) + "/" + std::to_string(n); }

namespace {
int64_t parse_count(const std::string& s, const std::string& what, const std::string& text) {
  size_t used = 0;
  int64_t v = -1;
  try {
    if (s.empty() || s[0] == '-' || s[0] == '+') throw std::invalid_argument("");
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size())
    fail("--shard", "'" + text + "': " + what + " '" + s + "' is not a non-negative integer (expected K/N, /N or N)");
  return v;
}
}  // namespace

Shard Shard::parse(const std::string& text) { return parse(text, std::getenv("SLURM_ARRAY_TASK_ID")); }

Shard Shard::parse(const std::string& text, const char* slurm_array_task_id) {
  const auto slash = text.find('/');
  const std::string ks = slash == std::string::npos ? "" : text.substr(0, slash);
  const std::string ns = slash == std::string::npos ? text : text.substr(slash + 1);
  Shard s;
  s.n = parse_count(ns, "N", text);
  if (s.n < 1) fail("--shard", "'" + text + "': N must be >= 1");
  if (!ks.empty()) {
    s.k = parse_count(ks, "K", text);
  } else {
    if (!slurm_array_task_id || !*slurm_array_task_id)
      fail("--shard", "'" + text + "': K is not given and $SLURM_ARRAY_TASK_ID is not set (give K/N)");
    s.k = parse_count(slurm_array_task_id, "$SLURM_ARRAY_TASK_ID", text);
  }
  if (s.k >= s.n)
    fail("--shard", "'" + text + "': K = " + std::to_string(s.k) + " must be below N = " + std::to_string(s.n) +
                        (ks.empty() ? " (K from $SLURM_ARRAY_TASK_ID: submit the array as --array=0-" +
                                          std::to_string(s.n - 1) + ")"
                                    : ""));
  return s;
}

std::vector<int64_t> shard_indices(int64_t total, const Shard& s) {
  std::vector<int64_t> out;
  for (int64_t i = s.k; i < total; i += s.n) out.push_back(i);
  return out;
}

}  // namespace sm::sweep
