// SPDX-License-Identifier: Apache-2.0
#pragma once
// Runs a value-parameterized suite once per SIMD target this CPU supports
// (AVX3, AVX2, SSE4, SCALAR...), so an AVX-512 machine also checks the
// lower targets: derive the fixture from PerSimdTarget, write TEST_P, and
// instantiate with SM_INSTANTIATE_PER_SIMD_TARGET(Suite).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/kernels/simd.h"

namespace sm::test {

inline std::vector<int64_t> simd_target_bits() {
  std::vector<int64_t> v;
  for (const auto& t : simd::available_targets()) v.push_back(t.bits);
  return v;
}

inline std::string simd_target_label(int64_t bits) {
  for (const auto& t : simd::available_targets())
    if (t.bits == bits) return t.name;
  return "unknown";
}

template <class Param = int64_t>
class PerSimdTargetT : public ::testing::TestWithParam<Param> {
 protected:
  virtual int64_t target_bits() const = 0;
  void SetUp() override { scope_.emplace(target_bits()); }
  void TearDown() override { scope_.reset(); }

 private:
  std::optional<simd::ScopedTarget> scope_;
};

class PerSimdTarget : public PerSimdTargetT<int64_t> {
 protected:
  int64_t target_bits() const override { return GetParam(); }
};

}  // namespace sm::test

#define SM_INSTANTIATE_PER_SIMD_TARGET(Suite)                                  \
  INSTANTIATE_TEST_SUITE_P(Simd, Suite, ::testing::ValuesIn(sm::test::simd_target_bits()), \
                           [](const auto& info) { return sm::test::simd_target_label(info.param); })
