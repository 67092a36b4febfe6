// SPDX-License-Identifier: Apache-2.0
// `specmamba sweep-merge`: shard files in, one complete result out.
#include <algorithm>
#include <map>

#include "core/io/error.h"
#include "core/sweep/sweep.h"

namespace sm::sweep {

namespace {
std::string names_of(const std::vector<ColumnInfo>& cols) {
  std::string s;
  for (const ColumnInfo& c : cols) s += (s.empty() ? "" : ",") + c.name;
  return s;
}

// "3, 7, 11" (at most `limit` listed).
std::string list_indices(const std::vector<int64_t>& v, size_t limit = 10) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < limit; ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  if (v.size() > limit) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}
}  // namespace

SweepResults merge_results(const std::vector<SweepResults>& parts, const std::vector<std::string>& names) {
  if (parts.empty()) fail("sweep-merge", "no parts to merge");
  auto name = [&](size_t i) { return i < names.size() ? names[i] : "part " + std::to_string(i); };
  const SweepResults& first = parts[0];
  const SweepSpec spec = SweepSpec::parse(first.spec_text, name(0) + ": attribute spec");
  if (spec.hash != first.spec_hash)
    fail(name(0), "the stored spec_hash " + first.spec_hash + " does not match its spec (" + spec.hash + ")");
  if (first.total_configs != spec.size())
    fail(name(0), "total_configs " + std::to_string(first.total_configs) + " but the spec has " +
                      std::to_string(spec.size()) + " configurations");
  std::map<int64_t, std::pair<size_t, const SweepRow*>> seen;  // config index -> (part, row)
  for (size_t p = 0; p < parts.size(); ++p) {
    const SweepResults& r = parts[p];
    if (r.spec_hash != first.spec_hash)
      fail("sweep-merge", name(p) + " is from a different spec (hash " + r.spec_hash + ") than " + name(0) +
                              " (hash " + first.spec_hash + ")");
    if (names_of(r.columns) != names_of(first.columns))
      fail("sweep-merge", name(p) + " has other columns than " + name(0) + " (" + names_of(r.columns) + " vs " +
                              names_of(first.columns) + ")");
    if (!r.complete)
      fail("sweep-merge", name(p) + " is incomplete (shard " + r.shard.describe() +
                              " was interrupted: rerun its sweep command to finish it)");
    for (const SweepRow& row : r.rows) {
      const int64_t i = row.config.index;
      if (i < 0 || i >= spec.size())
        fail("sweep-merge", name(p) + ": config_index " + std::to_string(i) + " is outside the spec's " +
                                std::to_string(spec.size()) + " configurations");
      if (!row.config.same_settings(spec.config(i)))
        fail("sweep-merge", name(p) + ": configuration " + std::to_string(i) + " (" + row.config.describe() +
                                ") does not match the spec's (" + spec.config(i).describe() + ")");
      auto [it, fresh] = seen.emplace(i, std::make_pair(p, &row));
      if (!fresh)
        fail("sweep-merge", "configuration " + std::to_string(i) + " (" + row.config.describe() + ") is in both " +
                                name(it->second.first) + " and " + name(p));
    }
  }
  std::vector<int64_t> missing;
  for (int64_t i = 0; i < spec.size(); ++i)
    if (!seen.count(i)) missing.push_back(i);
  if (!missing.empty())
    fail("sweep-merge", std::to_string(missing.size()) + " of " + std::to_string(spec.size()) +
                            " configurations are in no part: " + list_indices(missing) +
                            " (a shard file is missing?)");
  SweepResults out;
  out.spec_text = first.spec_text;
  out.spec_hash = first.spec_hash;
  out.total_configs = spec.size();
  out.shard = {};
  out.complete = true;
  out.columns = first.columns;
  for (const auto& [i, pr] : seen) out.rows.push_back(*pr.second);
  return out;
}

}  // namespace sm::sweep
