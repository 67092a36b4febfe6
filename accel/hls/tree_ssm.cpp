// SPDX-License-Identifier: Apache-2.0
// sm_tree_ssm: tree verification's power-of-two SSM of one layer, in
// SpecMamba's FIFO (breadth-first) order with state tiling. Every node v is
// one token (T = 1) stepped from its parent's state (S_root for parent -1):
// bit for bit quant::pot_scan_mamba2 with T = 1 on v's xbc / dt row, for any
// tile_heads. The per-(head, token) datapath is step_head_token (ssm.h; its
// DATAFLOW stages are in ssm_pot.cpp), shared with sm_ssm_pot.
//
//   parent[] --m_axi--> [schedule: check parent[v] < v, child lists
//                        (counting sort), the walk on ids -> peak live states]
//                             |  kBadShape if peak > fifo_depth
//                             v
//   for each tile of tile_heads heads:          (outer: one tile per state on chip)
//     S_root[tile] --m_axi--> slot s0 of the state pool [fifo_depth][tile] (URAM)
//     node FIFO (hls::stream<NodeSlot>) <- {root (-1), s0}
//     while the node FIFO is not empty:
//       pop {u, su}  <-------------------------------------------------+
//       for each child c of u (ascending id):                           |
//         d = last child ? su (in place) : a free slot                  |
//         for hd in tile:                                               |
//           xbc[c], dt[c] --> DATAFLOW step_head_token                  |
//              (slot su, head hd) --> (slot d, head hd), y[c][hd*P..]   |
//           slot d (head hd) --m_axi--> S_nodes[c][hd]                  |
//         c has children ? push {c, d} ---------------------------------+
//                        : free d (a leaf is written out and dropped)
//   status = the first error in (BFS position, rank) order
//
// Slots: TreeVerifier's FIFO schedule (a stack of free slots; the last
// child steps the popped state in place), so the live states per tile,
// S_root's included, are its slot_count; fifo_depth of them must fit, and
// fifo_depth * tile_heads * P * N floats must fit the pool (smaller tiles
// allow more live states: SpecMamba's trade-off).
#include "accel/hls/ssm.h"
#include "accel/hls/top.h"

// Loop labels are for the HLS reports.
#if defined(__GNUC__) && !defined(__SYNTHESIS__)
#pragma GCC diagnostic ignored "-Wunused-label"
#endif

namespace {

using namespace sm::hls_kernels;       // NOLINT
using namespace sm::hls_kernels::ssm;  // NOLINT

struct NodeSlot {
  int16_t node;  // -1: the committed state (S_root)
  int16_t slot;  // ring slot of the node's state tile
};

void put_status(int32_t* status, int32_t v) {
  if (status) *status = v;
}

// The tree's schedule, once per call: child lists in ascending id order
// (index 0 is the virtual root, node v is v + 1) and the peak number of
// live states of the FIFO walk. kBadShape for parent[v] >= v or < -1.
struct Schedule {
  int16_t begin[kMaxNodes + 2];  // children of u: list[begin[u] .. begin[u + 1])
  int16_t list[kMaxNodes];
  int32_t peak = 0;
};

int32_t build_schedule(const int32_t* parent, int32_t n, Schedule& sc) {
  int16_t count[kMaxNodes + 1];
sched_clear:
  for (int32_t u = 0; u <= n; ++u) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 257
    count[u] = 0;
  }
  int32_t par[kMaxNodes];
sched_count:
  for (int32_t v = 0; v < n; ++v) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 256
    par[v] = parent[v];
    if (par[v] >= v || par[v] < -1) return kBadShape;
    ++count[par[v] + 1];
  }
  sc.begin[0] = 0;
sched_prefix:
  for (int32_t u = 0; u <= n; ++u) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 257
    sc.begin[u + 1] = int16_t(sc.begin[u] + count[u]);
    count[u] = sc.begin[u];  // next free position of u's list
  }
sched_fill:
  for (int32_t v = 0; v < n; ++v) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 256
    sc.list[count[par[v] + 1]++] = int16_t(v);
  }
  // The FIFO walk on ids only, with the kernel's slot rule (below): the
  // peak of live states = distinct slots (TreeVerifier's slot_count).
  int16_t queue[kMaxNodes + 1];
  int32_t qh = 0, qt = 0, live = 1;
  sc.peak = 1;
  queue[qt++] = 0;
sched_walk:
  while (qh < qt) {
#pragma HLS LOOP_TRIPCOUNT max = 257
    const int32_t u = queue[qh++];
    const int32_t b = sc.begin[u], e = sc.begin[u + 1];
    if (b == e) --live;
  sched_children:
    for (int32_t i = b; i < e; ++i) {
#pragma HLS LOOP_TRIPCOUNT max = 256
      const int32_t c = sc.list[i] + 1;
      if (i + 1 < e) sc.peak = imax(sc.peak, ++live);  // a new slot; the last child takes u's
      if (sc.begin[c + 1] > sc.begin[c]) {
        queue[qt++] = int16_t(c);
      } else {
        --live;  // a leaf's slot is free once it is written out
      }
    }
  }
  return kOk;
}

}  // namespace

extern "C" void sm_tree_ssm(const float* xbc, const float* dt_raw, const int32_t* parent, const int32_t* params,
                            const int64_t* lut_sp, const int64_t* lut_exp, const int64_t* lut_cfg,
                            const float* S_root, float* S_nodes, float* y, int32_t n, int32_t H, int32_t P,
                            int32_t N, int32_t group, int32_t xbc_stride, int32_t dt_stride, int32_t tile_heads,
                            int32_t fifo_depth, int32_t* status) {
#pragma HLS INTERFACE m_axi port = xbc offset = slave bundle = gmem0 max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = dt_raw offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = parent offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = params offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = lut_sp offset = slave bundle = gmem2
#pragma HLS INTERFACE m_axi port = lut_exp offset = slave bundle = gmem2
#pragma HLS INTERFACE m_axi port = lut_cfg offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = S_root offset = slave bundle = gmem3 max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = S_nodes offset = slave bundle = gmem4 max_write_burst_length = 64
#pragma HLS INTERFACE m_axi port = y offset = slave bundle = gmem0 max_write_burst_length = 64
#pragma HLS INTERFACE m_axi port = status offset = slave bundle = gmem1
#pragma HLS INTERFACE s_axilite port = n
#pragma HLS INTERFACE s_axilite port = H
#pragma HLS INTERFACE s_axilite port = P
#pragma HLS INTERFACE s_axilite port = N
#pragma HLS INTERFACE s_axilite port = group
#pragma HLS INTERFACE s_axilite port = xbc_stride
#pragma HLS INTERFACE s_axilite port = dt_stride
#pragma HLS INTERFACE s_axilite port = tile_heads
#pragma HLS INTERFACE s_axilite port = fifo_depth
#pragma HLS INTERFACE s_axilite port = return
  if (n == 0) {
    put_status(status, kOk);
    return;
  }
  int32_t st = n < 0 || n > kMaxNodes ? kBadShape : check_shape(H, P, N, group);
  const int32_t E = H * P, PN = P * N;
  if (st == kOk && n > 1 && (xbc_stride < E + 2 * N || dt_stride < H)) st = kBadShape;
  // tile_heads: 0 or >= H is one tile (TreeVerifier's convention).
  const int32_t th = (tile_heads == 0 || tile_heads > H) ? H : tile_heads;
  if (st == kOk && (tile_heads < 0 || th * PN > kMaxTileElems)) st = kBadShape;
  if (st == kOk && (fifo_depth < 1 || fifo_depth > kMaxFifoDepth || int64_t(fifo_depth) * th * PN > kStatePoolWords))
    st = kBadShape;
  if (st != kOk) {
    put_status(status, st);
    return;
  }
  Schedule sc;
  st = build_schedule(parent, n, sc);
  if (st == kOk && sc.peak > fifo_depth) st = kBadShape;
  if (st != kOk) {
    put_status(status, st);
    return;
  }
  LutRom rom_sp, rom_exp;
#pragma HLS BIND_STORAGE variable = rom_sp type = rom_2p impl = bram
#pragma HLS BIND_STORAGE variable = rom_exp type = rom_2p impl = bram
  st = load_layer(params, 0, H, lut_sp, lut_exp, lut_cfg, rom_sp, rom_exp);
  if (st != kOk) {
    put_status(status, st);
    return;
  }

  uint32_t pool[kStatePoolWords];  // fifo_depth slots of one tile each
#pragma HLS BIND_STORAGE variable = pool type = ram_2p impl = uram
#pragma HLS ARRAY_PARTITION variable = pool cyclic factor = 8
  const int64_t tile_words = int64_t(th) * PN;
  int64_t first = INT64_MAX;  // (BFS position * 4 + rank) of the first error
tile_loop:
  for (int32_t hb = 0; hb < H; hb += th) {
#pragma HLS LOOP_TRIPCOUNT max = 256
    const int32_t he = imin(H, hb + th);
    hls::stream<NodeSlot> fifo("node_fifo", kMaxFifoDepth);
#pragma HLS STREAM variable = fifo depth = 64
    // Free slots (a stack, as TreeVerifier's schedule) and the next unused one.
    int16_t free_slots[kMaxFifoDepth];
    int32_t n_free = 0, next_slot = 0;
    const int16_t s0 = int16_t(next_slot++);
  root_load:
    for (int64_t i = 0; i < int64_t(he - hb) * PN; ++i) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 16384
      pool[int64_t(s0) * tile_words + i] = f2u(S_root[int64_t(hb) * PN + i]);
    }
    fifo.write(NodeSlot{-1, s0});
    int32_t pos = 0;  // BFS position of the next node stepped
  walk:
    while (!fifo.empty()) {
#pragma HLS LOOP_TRIPCOUNT max = 257
      const NodeSlot u = fifo.read();
      const int32_t b = sc.begin[u.node + 1], e = sc.begin[u.node + 2];
      if (b == e) free_slots[n_free++] = u.slot;
      const uint32_t* src = pool + int64_t(u.slot) * tile_words;
    children:
      for (int32_t i = b; i < e; ++i, ++pos) {
#pragma HLS LOOP_TRIPCOUNT max = 256
        const int32_t c = sc.list[i];
        // Every child but the last gets a new slot; the last one steps the
        // popped state in place (its siblings are done with it).
        int16_t slot = u.slot;
        if (i + 1 < e) slot = n_free ? free_slots[--n_free] : int16_t(next_slot++);
        uint32_t* dst = pool + int64_t(slot) * tile_words;
        const float* row = xbc + int64_t(c) * xbc_stride;
      tile_heads_loop:
        for (int32_t hd = hb; hd < he; ++hd) {
#pragma HLS LOOP_TRIPCOUNT max = 256
          const int64_t off = int64_t(hd - hb) * PN;
          const HeadToken in{row + int64_t(hd) * P, row + E, row + E + N, dt_raw + int64_t(c) * dt_stride + hd,
                             params[hd], params[H + hd], params[2 * H + hd], P, N, group};
          const uint8_t err =
              step_head_token(in, rom_sp, rom_exp, src + off, dst + off, y + int64_t(c) * E + int64_t(hd) * P);
          if (err) {
            const int64_t key = int64_t(pos) * 4 + mask_rank(err);
            if (key < first) first = key;
          }
          float* Sn = S_nodes + (int64_t(c) * H + hd) * PN;
        node_store:
          for (int32_t k = 0; k < PN; ++k) {
#pragma HLS PIPELINE II = 1
#pragma HLS LOOP_TRIPCOUNT max = 16384
            Sn[k] = u2f(dst[off + k]);
          }
        }
        if (sc.begin[c + 2] > sc.begin[c + 1]) {
          fifo.write(NodeSlot{int16_t(c), slot});
        } else {
          free_slots[n_free++] = slot;  // a leaf: written out, dropped
        }
      }
    }
  }
  put_status(status, first == INT64_MAX ? kOk : mask_status(uint8_t(1u << (first % 4))));
}
