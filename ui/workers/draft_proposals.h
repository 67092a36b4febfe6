// SPDX-License-Identifier: Apache-2.0
#pragma once
// The draft's ranked proposals at every position of a finished run's output,
// for what-if re-scoring (ui/models/what_if.h). A run's trees hold the
// draft's proposals only where a step drafted; after a fully accepted leaf
// the next position was never drafted, yet another tree shape would draft
// there. One pass of the draft alone over prompt + output (token by token,
// as decoding feeds it) records its top-k after every output token, so the
// what-if stays exact without running the target again. Plain C++, no Qt.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sm {
class MambaModel;
}

namespace sm::ui {

// rows[g] = the draft's `k` most probable next tokens after prompt +
// generated[0..g], most probable first (ties to the lower id, as core's drafter).
std::vector<std::vector<int32_t>> draft_proposals(MambaModel& draft, std::span<const int32_t> prompt,
                                                  std::span<const int32_t> generated, int k);
// (format_proposals / parse_proposals in ui/models/run_record.h carry them in traces.)

}  // namespace sm::ui
