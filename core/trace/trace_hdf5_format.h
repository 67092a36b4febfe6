// SPDX-License-Identifier: Apache-2.0
#pragma once
// Internal (trace_hdf5.cpp / trace_hdf5_reader.cpp only): the on-disk layout of
// HDF5 traces.
//
// File layout (format "specmamba-trace", version 1):
//   /                 attributes: format = "specmamba-trace", version = 1 (int32),
//                     time_unit = "us", producer, + caller metadata (strings)
//   /events/<name>    1-D compound dataset per event type, extendible,
//                     chunked (4096 rows), shuffle + deflate(4) when available.
// Every row starts with t_us (f64), dur_us (f64), step (i32) and ends with
// seq (u64, the event's position in the recorded stream, for exact ordering).
// Strings are fixed-length 64-byte UTF-8 (null padded; longer ones truncated).
// Added later (readers accept files without them): the step phase times and
// sim_us of step_summary (read as 0), the device_op dataset (absent = none),
// and /events/device_op_measured: u8 per device_op row, in row order, 1 for an
// op timed on a board; written only when some op is measured (absent = every
// op predicted), so device_op's own fields stay as they were.
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/io/error.h"
#include "core/io/hdf5_util.h"
#include "core/trace/spec_events.h"

namespace sm::h5trace {

inline constexpr const char* kFormat = "specmamba-trace";
inline constexpr int32_t kVersion = 1;
inline constexpr size_t kStrLen = 64;
inline constexpr hsize_t kChunkRows = 4096;
inline constexpr int kDeflateLevel = 4;
inline constexpr const char* kDeviceOpMeasured = "device_op_measured";

// Handle, QuietErrors, error_stack_text and h5fail live in core/io/hdf5_util.h.
using h5::error_stack_text;
using h5::h5fail;
using h5::Handle;
using h5::QuietErrors;

// ---- rows -------------------------------------------------------------------------
enum class Kind { F64, F32, I32, I64, U64, Bool, Role, Str };
struct Member {
  const char* name;
  size_t offset;
  Kind kind;
};

struct RowTreeDrafted {
  double t_us, dur_us;
  int32_t step, nodes, depth;
  double draft_us;
  uint64_t seq;
};
struct RowNodeDrafted {
  double t_us, dur_us;
  int32_t step, node, parent, depth, token;
  float prob;
  uint64_t seq;
};
struct RowFifo {  // FifoPush and FifoPop
  double t_us, dur_us;
  int32_t step, layer, tile, node, live;
  uint64_t seq;
};
struct RowNodeVerified {
  double t_us, dur_us;
  int32_t step, node, target_argmax;
  float target_prob;
  uint64_t seq;
};
struct RowAccept {
  double t_us, dur_us;
  int32_t step, node, token;
  int8_t accepted;
  char reason[kStrLen];
  uint64_t seq;
};
struct RowBacktrack {
  double t_us, dur_us;
  int32_t step;
  uint8_t model;
  char policy[kStrLen];
  int64_t bytes_kept;
  int32_t replayed;
  double us;
  uint64_t seq;
};
struct RowStepSummary {
  double t_us, dur_us;
  int32_t step;
  int32_t summary_step;  // StepSummary::step (the event's step is "step")
  int32_t tree_nodes, accepted, emitted, bonus_token, peak_live_states;
  int64_t state_bytes_read, state_bytes_written;
  int32_t redundant_nodes;
  double step_us;
  double draft_us, verify_us, accept_us, backtrack_us;
  double sim_us;
  uint64_t seq;
};
struct RowDeviceOp {
  double t_us, dur_us;
  int32_t step;
  char lane[kStrLen];
  char unit[kStrLen];
  int32_t layer;
  uint8_t model;
  double step_sim_start_us, sim_start_us, sim_end_us, active_us;
  uint64_t seq;
};

#define SM_H5_COMMON(R)                                                           \
  Member{"t_us", offsetof(R, t_us), Kind::F64}, Member{"dur_us", offsetof(R, dur_us), Kind::F64}, \
      Member{"step", offsetof(R, step), Kind::I32}
#define SM_H5_SEQ(R) Member{"seq", offsetof(R, seq), Kind::U64}

// Fixed-length string field: copies at most kStrLen bytes, never splitting a
// UTF-8 sequence; the rest is zero.
inline void put_str(char (&dst)[kStrLen], const std::string& s) {
  std::memset(dst, 0, kStrLen);
  size_t n = s.size();
  if (n > kStrLen) {
    n = kStrLen;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // s[n] continues a sequence
  }
  std::memcpy(dst, s.data(), n);
}
inline std::string get_str(const char (&src)[kStrLen]) { return std::string(src, strnlen(src, kStrLen)); }

template <class P>
struct Layout;

template <>
struct Layout<TreeDrafted> {
  using Row = RowTreeDrafted;
  static constexpr const char* name = "tree_drafted";
  static std::vector<Member> members() {
    return {SM_H5_COMMON(Row), {"nodes", offsetof(Row, nodes), Kind::I32},
            {"depth", offsetof(Row, depth), Kind::I32}, {"draft_us", offsetof(Row, draft_us), Kind::F64},
            SM_H5_SEQ(Row)};
  }
  static void fill(Row& r, const TreeDrafted& p) {
    r.nodes = p.nodes;
    r.depth = p.depth;
    r.draft_us = p.draft_us;
  }
  static TreeDrafted payload(const Row& r) { return {r.nodes, r.depth, r.draft_us}; }
};

template <>
struct Layout<NodeDrafted> {
  using Row = RowNodeDrafted;
  static constexpr const char* name = "node_drafted";
  static std::vector<Member> members() {
    return {SM_H5_COMMON(Row), {"node", offsetof(Row, node), Kind::I32},
            {"parent", offsetof(Row, parent), Kind::I32}, {"depth", offsetof(Row, depth), Kind::I32},
            {"token", offsetof(Row, token), Kind::I32}, {"prob", offsetof(Row, prob), Kind::F32},
            SM_H5_SEQ(Row)};
  }
  static void fill(Row& r, const NodeDrafted& p) {
    r.node = p.node;
    r.parent = p.parent;
    r.depth = p.depth;
    r.token = p.token;
    r.prob = p.prob;
  }
  static NodeDrafted payload(const Row& r) { return {r.node, r.parent, r.depth, r.token, r.prob}; }
};

template <class F>
struct FifoLayout {
  using Row = RowFifo;
  static std::vector<Member> members() {
    return {SM_H5_COMMON(Row), {"layer", offsetof(Row, layer), Kind::I32},
            {"tile", offsetof(Row, tile), Kind::I32}, {"node", offsetof(Row, node), Kind::I32},
            {"live", offsetof(Row, live), Kind::I32}, SM_H5_SEQ(Row)};
  }
  static void fill(Row& r, const F& p) {
    r.layer = p.layer;
    r.tile = p.tile;
    r.node = p.node;
    r.live = p.live;
  }
  static F payload(const Row& r) { return {r.layer, r.tile, r.node, r.live}; }
};
template <>
struct Layout<FifoPush> : FifoLayout<FifoPush> {
  static constexpr const char* name = "fifo_push";
};
template <>
struct Layout<FifoPop> : FifoLayout<FifoPop> {
  static constexpr const char* name = "fifo_pop";
};

template <>
struct Layout<NodeVerified> {
  using Row = RowNodeVerified;
  static constexpr const char* name = "node_verified";
  static std::vector<Member> members() {
    return {SM_H5_COMMON(Row), {"node", offsetof(Row, node), Kind::I32},
            {"target_argmax", offsetof(Row, target_argmax), Kind::I32},
            {"target_prob", offsetof(Row, target_prob), Kind::F32}, SM_H5_SEQ(Row)};
  }
  static void fill(Row& r, const NodeVerified& p) {
    r.node = p.node;
    r.target_argmax = p.target_argmax;
    r.target_prob = p.target_prob;
  }
  static NodeVerified payload(const Row& r) { return {r.node, r.target_argmax, r.target_prob}; }
};

template <>
struct Layout<AcceptDecision> {
  using Row = RowAccept;
  static constexpr const char* name = "accept";
  static std::vector<Member> members() {
    return {SM_H5_COMMON(Row), {"node", offsetof(Row, node), Kind::I32},
            {"token", offsetof(Row, token), Kind::I32}, {"accepted", offsetof(Row, accepted), Kind::Bool},
            {"reason", offsetof(Row, reason), Kind::Str}, SM_H5_SEQ(Row)};
  }
  static void fill(Row& r, const AcceptDecision& p) {
    r.node = p.node;
    r.token = p.token;
    r.accepted = p.accepted ? 1 : 0;
    put_str(r.reason, p.reason);
  }
  static AcceptDecision payload(const Row& r) { return {r.node, r.token, r.accepted != 0, get_str(r.reason)}; }
};

template <>
struct Layout<Backtrack> {
  using Row = RowBacktrack;
  static constexpr const char* name = "backtrack";
  static std::vector<Member> members() {
    return {SM_H5_COMMON(Row), {"model", offsetof(Row, model), Kind::Role},
            {"policy", offsetof(Row, policy), Kind::Str}, {"bytes_kept", offsetof(Row, bytes_kept), Kind::I64},
            {"replayed", offsetof(Row, replayed), Kind::I32}, {"us", offsetof(Row, us), Kind::F64},
            SM_H5_SEQ(Row)};
  }
  static void fill(Row& r, const Backtrack& p) {
    r.model = p.model == ModelRole::Draft ? 0 : 1;
    put_str(r.policy, p.policy);
    r.bytes_kept = p.bytes_kept;
    r.replayed = p.replayed;
    r.us = p.us;
  }
  static Backtrack payload(const Row& r) {
    return {r.model == 0 ? ModelRole::Draft : ModelRole::Target, get_str(r.policy), r.bytes_kept, r.replayed, r.us};
  }
};

template <>
struct Layout<StepSummary> {
  using Row = RowStepSummary;
  static constexpr const char* name = "step_summary";
  static std::vector<Member> members() {
    return {SM_H5_COMMON(Row),
            {"summary_step", offsetof(Row, summary_step), Kind::I32},
            {"tree_nodes", offsetof(Row, tree_nodes), Kind::I32},
            {"accepted", offsetof(Row, accepted), Kind::I32},
            {"emitted", offsetof(Row, emitted), Kind::I32},
            {"bonus_token", offsetof(Row, bonus_token), Kind::I32},
            {"peak_live_states", offsetof(Row, peak_live_states), Kind::I32},
            {"state_bytes_read", offsetof(Row, state_bytes_read), Kind::I64},
            {"state_bytes_written", offsetof(Row, state_bytes_written), Kind::I64},
            {"redundant_nodes", offsetof(Row, redundant_nodes), Kind::I32},
            {"step_us", offsetof(Row, step_us), Kind::F64},
            {"draft_us", offsetof(Row, draft_us), Kind::F64},
            {"verify_us", offsetof(Row, verify_us), Kind::F64},
            {"accept_us", offsetof(Row, accept_us), Kind::F64},
            {"backtrack_us", offsetof(Row, backtrack_us), Kind::F64},
            {"sim_us", offsetof(Row, sim_us), Kind::F64},
            SM_H5_SEQ(Row)};
  }
  static void fill(Row& r, const StepSummary& p) {
    r.summary_step = p.step;
    r.tree_nodes = p.tree_nodes;
    r.accepted = p.accepted;
    r.emitted = p.emitted;
    r.bonus_token = p.bonus_token;
    r.peak_live_states = p.peak_live_states;
    r.state_bytes_read = p.state_bytes_read;
    r.state_bytes_written = p.state_bytes_written;
    r.redundant_nodes = p.redundant_nodes;
    r.step_us = p.step_us;
    r.draft_us = p.draft_us;
    r.verify_us = p.verify_us;
    r.accept_us = p.accept_us;
    r.backtrack_us = p.backtrack_us;
    r.sim_us = p.sim_us;
  }
  static StepSummary payload(const Row& r) {
    StepSummary s;
    s.step = r.summary_step;
    s.tree_nodes = r.tree_nodes;
    s.accepted = r.accepted;
    s.emitted = r.emitted;
    s.bonus_token = r.bonus_token;
    s.peak_live_states = r.peak_live_states;
    s.state_bytes_read = r.state_bytes_read;
    s.state_bytes_written = r.state_bytes_written;
    s.redundant_nodes = r.redundant_nodes;
    s.step_us = r.step_us;
    s.draft_us = r.draft_us;
    s.verify_us = r.verify_us;
    s.accept_us = r.accept_us;
    s.backtrack_us = r.backtrack_us;
    s.sim_us = r.sim_us;
    return s;
  }
};

template <>
struct Layout<DeviceOp> {
  using Row = RowDeviceOp;
  static constexpr const char* name = "device_op";
  static std::vector<Member> members() {
    return {SM_H5_COMMON(Row),
            {"lane", offsetof(Row, lane), Kind::Str},
            {"unit", offsetof(Row, unit), Kind::Str},
            {"layer", offsetof(Row, layer), Kind::I32},
            {"model", offsetof(Row, model), Kind::Role},
            {"step_sim_start_us", offsetof(Row, step_sim_start_us), Kind::F64},
            {"sim_start_us", offsetof(Row, sim_start_us), Kind::F64},
            {"sim_end_us", offsetof(Row, sim_end_us), Kind::F64},
            {"active_us", offsetof(Row, active_us), Kind::F64},
            SM_H5_SEQ(Row)};
  }
  static void fill(Row& r, const DeviceOp& p) {
    put_str(r.lane, p.lane);
    put_str(r.unit, p.unit);
    r.layer = p.layer;
    r.model = p.model == ModelRole::Draft ? 0 : 1;
    r.step_sim_start_us = p.step_sim_start_us;
    r.sim_start_us = p.sim_start_us;
    r.sim_end_us = p.sim_end_us;
    r.active_us = p.active_us;
  }
  static DeviceOp payload(const Row& r) {
    return {get_str(r.lane), get_str(r.unit), r.layer, r.model == 0 ? ModelRole::Draft : ModelRole::Target,
            r.step_sim_start_us, r.sim_start_us, r.sim_end_us, r.active_us};
  }
};

#undef SM_H5_COMMON
#undef SM_H5_SEQ

// ---- HDF5 types -------------------------------------------------------------------
// Fixed-length UTF-8 string, null padded.
inline Handle string_type(size_t len) {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!t.ok() || H5Tset_size(t.get(), len) < 0 || H5Tset_strpad(t.get(), H5T_STR_NULLPAD) < 0 ||
      H5Tset_cset(t.get(), H5T_CSET_UTF8) < 0)
    return {};
  return t;
}

// h5py reads an int8 enum {FALSE, TRUE} as numpy bool.
inline Handle bool_type() {
  Handle t(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
  int8_t f = 0, tr = 1;
  if (!t.ok() || H5Tenum_insert(t.get(), "FALSE", &f) < 0 || H5Tenum_insert(t.get(), "TRUE", &tr) < 0) return {};
  return t;
}

inline Handle role_type() {
  Handle t(H5Tenum_create(H5T_NATIVE_UINT8), H5Tclose);
  uint8_t d = 0, g = 1;
  if (!t.ok() || H5Tenum_insert(t.get(), "draft", &d) < 0 || H5Tenum_insert(t.get(), "target", &g) < 0) return {};
  return t;
}

// The in-memory compound type of Row (invalid handle on failure).
template <class Row>
Handle compound_type(const std::vector<Member>& members) {
  Handle t(H5Tcreate(H5T_COMPOUND, sizeof(Row)), H5Tclose);
  if (!t.ok()) return {};
  for (const Member& m : members) {
    Handle owned;
    hid_t mt = H5I_INVALID_HID;
    switch (m.kind) {
      case Kind::F64: mt = H5T_NATIVE_DOUBLE; break;
      case Kind::F32: mt = H5T_NATIVE_FLOAT; break;
      case Kind::I32: mt = H5T_NATIVE_INT32; break;
      case Kind::I64: mt = H5T_NATIVE_INT64; break;
      case Kind::U64: mt = H5T_NATIVE_UINT64; break;
      case Kind::Bool: owned = bool_type(); mt = owned.get(); break;
      case Kind::Role: owned = role_type(); mt = owned.get(); break;
      case Kind::Str: owned = string_type(kStrLen); mt = owned.get(); break;
    }
    if (mt < 0 || H5Tinsert(t.get(), m.name, m.offset, mt) < 0) return {};
  }
  return t;
}

// Visits Layout<P> for every payload type, in variant order.
template <class F>
void for_each_layout(F&& f) {
  f.template operator()<TreeDrafted>();
  f.template operator()<NodeDrafted>();
  f.template operator()<FifoPush>();
  f.template operator()<FifoPop>();
  f.template operator()<NodeVerified>();
  f.template operator()<AcceptDecision>();
  f.template operator()<Backtrack>();
  f.template operator()<StepSummary>();
  f.template operator()<DeviceOp>();
}

}  // namespace sm::h5trace
