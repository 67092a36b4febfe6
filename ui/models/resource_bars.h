// SPDX-License-Identifier: Apache-2.0
#pragma once
// One fabric resource of a design against its platform (the tuner's meter).
#include <QString>

#include <cstdint>

namespace sm::ui {

struct ResourceBar {
  QString name;  // "DSP", "LUT", "BRAM", "URAM"
  int64_t used = 0, available = 0;
  bool fits() const { return used <= available; }
  double fraction() const { return available > 0 ? double(used) / double(available) : (used > 0 ? 1e9 : 0); }
};

}  // namespace sm::ui
