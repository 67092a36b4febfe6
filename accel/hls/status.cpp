// SPDX-License-Identifier: Apache-2.0
// Names of the kernels' status codes (top.h), for the host's error messages.
#include "accel/hls/top.h"

namespace sm::hls_kernels {

const char* status_name(int32_t status) {
  switch (status) {
    case kOk: return "ok";
    case kBadShape: return "unsupported shape, group or width";
    case kOverflow: return "fixed-point overflow";
    case kOutOfRange: return "result beyond float range";
    case kNonFinite: return "non-finite input";
    case kBadCode: return "weight code or scale gap outside the contract";
    default: return "unknown status";
  }
}

}  // namespace sm::hls_kernels
