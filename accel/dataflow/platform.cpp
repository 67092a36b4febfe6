// SPDX-License-Identifier: Apache-2.0
#include "accel/dataflow/platform.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/io/default_paths.h"
#include "core/io/error.h"

namespace sm::accel {
namespace {

using json = nlohmann::json;

// Checks that `j` (an object at `path` inside file `where`) has exactly `keys`.
void exact_keys(const json& j, const std::string& where, const std::string& path,
                const std::vector<std::string>& keys) {
  const std::string at = path.empty() ? "" : path + ": ";
  if (!j.is_object()) fail(where, (path.empty() ? std::string("top level") : path) + ": expected an object");
  std::set<std::string> want(keys.begin(), keys.end());
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!want.count(it.key())) fail(where, "unknown key '" + (path.empty() ? "" : path + ".") + it.key() + "'");
  for (const auto& k : keys)
    if (!j.contains(k)) fail(where, "missing key '" + (path.empty() ? "" : path + ".") + k + "'");
}

std::string dotted(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

double num(const json& j, const std::string& where, const std::string& path, const std::string& key, double lo,
           double hi) {
  const json& v = j.at(key);
  if (!v.is_number()) fail(where, "key '" + dotted(path, key) + "': expected a number");
  double d = v.get<double>();
  if (!(d >= lo && d <= hi))
    fail(where, "key '" + dotted(path, key) + "': " + std::to_string(d) + " out of range [" + std::to_string(lo) +
                    ", " + std::to_string(hi) + "]");
  return d;
}

int64_t count(const json& j, const std::string& where, const std::string& path, const std::string& key) {
  const json& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < 0)
    fail(where, "key '" + dotted(path, key) + "': expected a non-negative integer");
  return v.get<int64_t>();
}

std::string str(const json& j, const std::string& where, const std::string& path, const std::string& key) {
  const json& v = j.at(key);
  if (!v.is_string() || v.get<std::string>().empty())
    fail(where, "key '" + dotted(path, key) + "': expected a non-empty string");
  return v.get<std::string>();
}

}  // namespace

Platform Platform::from_json(const json& j, const std::string& where) {
  exact_keys(j, where, "", {"format", "version", "name", "board", "device", "clock", "resources", "memory", "power", "source"});
  Platform p;
  if (str(j, where, "", "format") != kFormat) fail(where, "key 'format': expected \"" + std::string(kFormat) + "\"");
  if (count(j, where, "", "version") != kVersion) fail(where, "key 'version': expected " + std::to_string(kVersion));
  p.name = str(j, where, "", "name");
  p.board = str(j, where, "", "board");
  p.device = str(j, where, "", "device");
  const json& c = j.at("clock");
  exact_keys(c, where, "clock", {"default_mhz", "max_mhz"});
  p.max_mhz = num(c, where, "clock", "max_mhz", 1, 5000);
  p.default_mhz = num(c, where, "clock", "default_mhz", 1, p.max_mhz);
  const json& r = j.at("resources");
  exact_keys(r, where, "resources", {"dsp", "lut", "ff", "bram36", "uram"});
  p.resources = {count(r, where, "resources", "dsp"), count(r, where, "resources", "lut"),
                 count(r, where, "resources", "ff"), count(r, where, "resources", "bram36"),
                 count(r, where, "resources", "uram")};
  const json& m = j.at("memory");
  exact_keys(m, where, "memory", {"type", "peak_gbps", "channels", "efficiency", "capacity_gb", "pj_per_byte"});
  p.memory.type = str(m, where, "memory", "type");
  p.memory.peak_gbps = num(m, where, "memory", "peak_gbps", 1e-3, 1e5);
  p.memory.channels = static_cast<int>(count(m, where, "memory", "channels"));
  if (p.memory.channels < 1) fail(where, "key 'memory.channels': must be >= 1");
  p.memory.efficiency = num(m, where, "memory", "efficiency", 1e-3, 1.0);
  p.memory.capacity_gb = num(m, where, "memory", "capacity_gb", 1e-3, 1e5);
  p.memory.pj_per_byte = num(m, where, "memory", "pj_per_byte", 0, 1e5);
  const json& w = j.at("power");
  exact_keys(w, where, "power",
             {"static_w", "max_w", "lut_w_per_k_ghz", "dsp_w_per_ghz", "bram_w_per_ghz", "uram_w_per_ghz", "activity"});
  p.power.static_w = num(w, where, "power", "static_w", 0, 1e4);
  p.power.max_w = num(w, where, "power", "max_w", p.power.static_w, 1e4);
  p.power.lut_w_per_k_ghz = num(w, where, "power", "lut_w_per_k_ghz", 0, 100);
  p.power.dsp_w_per_ghz = num(w, where, "power", "dsp_w_per_ghz", 0, 100);
  p.power.bram_w_per_ghz = num(w, where, "power", "bram_w_per_ghz", 0, 100);
  p.power.uram_w_per_ghz = num(w, where, "power", "uram_w_per_ghz", 0, 100);
  p.power.activity = num(w, where, "power", "activity", 0, 1);
  const json& s = j.at("source");
  // Every section's numbers must be cited.
  exact_keys(s, where, "source", {"clock", "resources", "memory", "power"});
  for (auto it = s.begin(); it != s.end(); ++it)
    if (!it.value().is_string() || it.value().get<std::string>().empty())
      fail(where, "key 'source." + it.key() + "': expected a non-empty string");
  p.source = s;
  return p;
}

Platform Platform::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, "cannot open platform file");
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    fail(path, std::string("invalid JSON: ") + e.what());
  }
  return from_json(j, path);
}

std::vector<std::string> Platform::known_names() {
  std::vector<std::string> v;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(data_dir() + "/platforms", ec))
    if (e.path().extension() == ".json") v.push_back(e.path().stem().string());
  std::sort(v.begin(), v.end());
  return v;
}

Platform Platform::load(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  if (name_or_path.find('/') != std::string::npos || (name_or_path.size() > 5 && name_or_path.ends_with(".json")))
    return load_file(name_or_path);
  const std::string path = data_dir() + "/platforms/" + name_or_path + ".json";
  if (!fs::exists(path)) {
    std::string list;
    for (const auto& n : known_names()) list += (list.empty() ? "" : ", ") + n;
    fail("platform", "unknown platform '" + name_or_path + "' (known: " + list + ")");
  }
  return load_file(path);
}

}  // namespace sm::accel
