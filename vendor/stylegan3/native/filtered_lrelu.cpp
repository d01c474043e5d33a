// StyleGAN3's filtered leaky ReLU on the CPU, one plane (image x channel) at a time.
//
// The torch path (ops.FilteredLReLU) makes four passes over arrays the size of the whole layer, each a
// banded matrix product that multiplies zeros and copies windows; on small channel counts it is bound
// by memory.  Here one thread takes a plane through every pass while it is in cache:
//
//   up columns   each input row (+ bias, zero padding) -> its polyphase outputs, stored phase-major
//                (phase p's samples contiguous), so every later pass reads contiguous vectors;
//   up rows      each upsampled row from its input rows' polyphase taps (activation gain folded in),
//                then leaky ReLU and clamp, into a ring of as many rows as the down filter has taps;
//   down rows    each kept row from that ring (only the kept rows are ever made);
//   down columns each output sample from the phase-major row: contiguous loads again.
//
// Sums run over the taps in the same order for every plane, batch size and thread count, so a frame's
// pixels do not depend on what else is in its batch.  Written for this project from the StyleGAN3
// paper's definition (upsample, FIR, activation, FIR, downsample); see ops.filtered_lrelu_ref.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "combine.h"
#include "geometry.h"

namespace {

// One thread's scratch, made once per call and reused for each of its planes.
struct Scratch {
    std::vector<float> xp;                        // one input row + bias, zero padded
    Lines ups, ring, drow, stream;
    std::vector<const float*> src;
    std::vector<float*> dst;
    std::vector<float> coef;
};

// The V x V block in r transposed in registers: log2(V) rounds of interleaving row j with row
// j + V/2 (the perfect shuffle of both indices; after log2(V) rounds each has rotated back).
inline void transpose(vf* r) {
    for (int n = V; n > 1; n /= 2) {
        vf t[V];
        for (int j = 0; j < V / 2; ++j) {
            t[2 * j] = __builtin_shuffle(r[j], r[j + V / 2], LO);
            t[2 * j + 1] = __builtin_shuffle(r[j], r[j + V / 2], HI);
        }
        for (int j = 0; j < V; ++j) r[j] = t[j];
    }
}

// Input row y of channels [c0, c0 + cnt) from channels-last x (channels contiguous) into planes
// dst + (c - c0) * plane: V pixels by V channels at a time, each pixel's channels loaded as a
// vector (only where all V lie inside the pixel) and the block transposed; the rest one float at
// a time.
inline void gather_row(const float* row, int64_t s_w, int64_t w, int64_t c0, int64_t cnt, int64_t channels,
                       float* dst, int64_t plane) {
    for (int64_t cc = 0; cc < cnt; cc += V) {
        const int64_t m = std::min<int64_t>(V, cnt - cc);
        const float* src = row + cc;
        float* out = dst + cc * plane;
        int64_t i = 0;
        if (c0 + cc + V <= channels)
            for (; i + V <= w; i += V) {
                vf r[V];
                for (int j = 0; j < V; ++j) r[j] = load(src + (i + j) * s_w);
                transpose(r);
                for (int64_t c = 0; c < m; ++c) store(out + c * plane + i, r[c]);
            }
        for (int64_t c = 0; c < m; ++c)
            for (int64_t k = i; k < w; ++k) out[c * plane + k] = src[k * s_w + c];
    }
}

// Outputs 2j (stream 0, sources s0) and 2j + 1 (stream 1, sources s1) of one row, B vectors of
// each stream made together and interleaved straight into the row (no stream buffers to merge).
template <int B>
inline void two_streams_block(float* dst, const float* const* s0, const float* const* s1, const float* gd,
                              int64_t td, int64_t c0) {
    vf a[B], b[B];
    for (int i = 0; i < B; ++i) a[i] = b[i] = vf{};
    for (int64_t t = 0; t < td; ++t) {
        const float c = gd[t];
        for (int i = 0; i < B; ++i) {
            a[i] += c * load(s0[t] + c0 + i * V);
            b[i] += c * load(s1[t] + c0 + i * V);
        }
    }
    for (int i = 0; i < B; ++i) {
        store(dst + 2 * (c0 + i * V), __builtin_shuffle(a[i], b[i], LO));
        store(dst + 2 * (c0 + i * V) + V, __builtin_shuffle(a[i], b[i], HI));
    }
}

// A row of w >= 2V outputs from two streams: whole pairs in blocks, the last vector of pairs
// overlapping the one before (the same values again), an odd last output (stream 0's index
// pairs) from one more block written into the scratch `aside`.
inline void two_streams(float* dst, const float* const* s0, const float* const* s1, const float* gd, int64_t td,
                        int64_t w, float* aside) {
    constexpr int B = REGS >= 32 ? 4 : 2;
    const int64_t pairs = w / 2;
    int64_t c0 = 0;
    for (; c0 + B * V <= pairs; c0 += B * V) two_streams_block<B>(dst, s0, s1, gd, td, c0);
    for (; c0 + V <= pairs; c0 += V) two_streams_block<1>(dst, s0, s1, gd, td, c0);
    if (c0 < pairs) two_streams_block<1>(dst, s0, s1, gd, td, pairs - V);
    if (w % 2) {                       // (aside holds 2 * pairs + 2V floats: written at 2 * c0)
        two_streams_block<1>(aside, s0, s1, gd, td, pairs - V + 1);
        dst[w - 1] = aside[2 * pairs];
    }
}

}  // namespace

extern "C" {

static int filtered_lrelu(const Geometry* g, const float* x, const float* bias, const float* hx,
                          const float* hy, const float* gd, float* out) {
    const int64_t up = g->up, down = g->down, E = up / down;     // E output streams per row
    if (up < 1 || up > 8 || down < 1 || up % down || g->d_taps < 1) return 1;
    const int64_t jx = g->jx_taps, jy = g->jy_taps, td = g->d_taps;
    // Stream e holds outputs E*j + e (j < ns); its tap k reads phase (down*e + k) % up at offset
    // (down*e + k) / up, so each phase needs lq = sl + max_off samples.
    const int64_t ns = (g->w_out + E - 1) / E;
    const int64_t sl = std::max<int64_t>(ns, V);                 // a stream's length (>= one vector)
    const int64_t max_off = (down * (E - 1) + td - 1) / up;
    const int64_t lq = sl + max_off;
    const int64_t wr = up * lq;                                    // one row, every phase
    const int64_t stride = round_up(wr, V);                        // between rows of scratch
    const int64_t xp_len = lq + jx - 1;
    const int64_t ring_rows = td + down + up;    // a pair of kept rows' window and the group after it
    // Tasks: groups of channels of one image.  Channels-last input with enough channels is gathered
    // per group (two tasks per thread at least); otherwise a task is a channel, read where it lies.
    const int64_t per_task = std::min<int64_t>(16, g->c / (2 * std::max<int64_t>(g->threads, 1)));
    const bool gather = g->s_w != 1 && per_task >= 2;
    const int64_t group = gather ? per_task : 1;
    const int64_t groups = (g->c + group - 1) / group, tasks = g->n * groups;
    std::vector<int64_t> col_off(E * td);
    for (int64_t e = 0; e < E; ++e)
        for (int64_t k = 0; k < td; ++k) col_off[e * td + k] = ((down * e + k) % up) * lq + (down * e + k) / up;
    std::vector<float> pair_coef(2 * (td + down), 0.0f);         // two kept rows from one window
    for (int64_t k = 0; k < td; ++k) pair_coef[k] = pair_coef[td + down + down + k] = gd[k];
    const vf zero = {}, slope = zero + g->slope, hi = zero + g->clamp, lo = zero - g->clamp;
    auto act = [=](vf v) { return v < zero ? v * slope : v; };
    auto act_clamp = [=](vf v) {
        v = v < zero ? v * slope : v;
        v = v > hi ? hi : v;
        return v < lo ? lo : v;
    };

    // Scratch that cannot be had fails the call (the caller then takes the torch path), never the
    // process: nothing may throw out of a parallel region.
    int failed = 0;
    #pragma omp parallel num_threads(g->threads)
    {
        Scratch s;
        Lines local;
        int64_t t0 = 0, t1 = 0;
        bool ok = true;
        try {
            const int64_t taps_max = std::max(std::max(jx, jy), td + down);
            s.xp.assign(xp_len, 0.0f);
            s.ups = lines(g->h_in * stride);
            s.ring = lines(ring_rows * stride);
            s.drow = lines(2 * stride);
            s.stream = lines(4 * round_up(sl, V));
            s.src.resize(std::max(taps_max, E * td));
            s.dst.resize(std::max<int64_t>(up, 2));
            s.coef.resize(std::max(taps_max, up * jy));
            if (gather) local = lines(group * g->h_in * g->w_in);
            ok = s.ups && s.ring && s.drow && s.stream && (local || !gather);
        } catch (...) {
            ok = false;
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        // xp[t] = x[t + jx0] + b inside the row; [0, t0) and [t1, xp_len) stay zero.
        t0 = std::min(std::max<int64_t>(-g->jx0, 0), xp_len);
        t1 = std::max(std::min(g->w_in - g->jx0, xp_len), t0);

        #pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; ++task) {
          if (!ok) continue;
          const int64_t ni = task / groups, c0 = (task % groups) * group, c1 = std::min(c0 + group, g->c);
          if (gather) {
              // Channels last: this group's channels into planes of its own, each input line read
              // once (a plane at a time would read every line once per channel), a block of V
              // pixels by V channels transposed in registers at a time.
              const int64_t plane = g->h_in * g->w_in;
              for (int64_t y = 0; y < g->h_in; ++y) {
                  const float* src_row = x + ni * g->s_n + y * g->s_h + c0 * g->s_c;
                  float* dst_row = local.get() + y * g->w_in;
                  if (g->s_c == 1) {
                      gather_row(src_row, g->s_w, g->w_in, c0, c1 - c0, g->c, dst_row, plane);
                      continue;
                  }
                  for (int64_t c = c0; c < c1; ++c)
                      for (int64_t i = 0, sw = g->s_w; i < g->w_in; ++i)
                          dst_row[(c - c0) * plane + i] = src_row[(c - c0) * g->s_c + i * sw];
              }
          }
          for (int64_t ci = c0; ci < c1; ++ci) {
            const int64_t plane = ni * g->c + ci;
            const float* xin = gather ? local.get() + (ci - c0) * g->h_in * g->w_in : x + ni * g->s_n + ci * g->s_c;
            const int64_t s_h = gather ? g->w_in : g->s_h, s_w = gather ? 1 : g->s_w;
            const float b = bias ? bias[ci] : 0.0f;
            const float** src = s.src.data();
            float** dsts = s.dst.data();
            float* coef = s.coef.data();

            // Up columns: every input row, phase-major (phase p of row y: ups[y][p*lq, (p+1)*lq)).
            for (int64_t t = 0; t < jx; ++t) src[t] = s.xp.data() + t;
            for (int64_t y = 0; y < g->h_in; ++y) {
                const float* row = xin + y * s_h + g->jx0 * s_w;
                float* xp = s.xp.data();
                if (s_w == 1)
                    for (int64_t t = t0; t < t1; ++t) xp[t] = row[t] + b;
                else
                    for (int64_t t = t0; t < t1; ++t) xp[t] = row[t * s_w] + b;
                for (int64_t p = 0; p < up; ++p) dsts[p] = s.ups.get() + y * stride + p * lq;
                combine_rows(up, dsts, src, hx, jx, lq, same);
            }

            // Upsampled rows, a group of `up` (one window of input rows, one row per phase) at a
            // time, with the activation, into the ring.
            auto up_group = [&](int64_t q) {                         // rows up*q ... up*q + up-1
                int64_t k = 0;
                for (int64_t j = 0; j < jy; ++j) {
                    const int64_t y = q + j + g->jy0;
                    if (y < 0 || y >= g->h_in) continue;             // zero padding rows
                    src[k] = s.ups.get() + y * stride;
                    for (int64_t p = 0; p < up; ++p) coef[p * jy + k] = hy[p * jy + j];
                    ++k;
                }
                if (k < jy)                                          // compact: k taps per phase
                    for (int64_t p = 1; p < up; ++p)
                        for (int64_t t = 0; t < k; ++t) coef[p * k + t] = coef[p * jy + t];
                for (int64_t p = 0; p < up; ++p) dsts[p] = s.ring.get() + ((up * q + p) % ring_rows) * stride;
                if (k == 0)
                    for (int64_t p = 0; p < up; ++p) std::memset(dsts[p], 0, sizeof(float) * wr);
                else if (g->clamp >= 0)
                    combine_rows(up, dsts, src, coef, k, wr, act_clamp);
                else
                    combine_rows(up, dsts, src, coef, k, wr, act);
            };

            float* dst_plane = out + plane * g->h_out * g->w_out;
            int64_t made = 0;                                        // upsampled rows made so far
            for (int64_t r = 0; r < g->h_out; r += 2) {
                const int64_t first = r * down, pair = std::min<int64_t>(2, g->h_out - r);
                for (; made < first + td + (pair - 1) * down; made += up) up_group(made / up);
                // Down rows: kept rows r and r + 1 from one window of the ring.
                for (int64_t k = 0, slot = first % ring_rows; k < td + (pair - 1) * down;
                     ++k, slot = slot + 1 == ring_rows ? 0 : slot + 1)
                    src[k] = s.ring.get() + slot * stride;
                dsts[0] = s.drow.get();
                dsts[1] = s.drow.get() + stride;
                if (pair == 2) combine_n<2, 4>(dsts, src, pair_coef.data(), td + down, wr, same);
                else combine_n<1, 4>(dsts, src, gd, td, wr, same);
                // Down columns, per stream (col_off): straight into the output where it is one
                // stream at least a vector wide, two streams together where each is.
                for (int64_t h = 0; h < pair; ++h) {
                    const float* dr = s.drow.get() + h * stride;
                    float* dst = dst_plane + (r + h) * g->w_out;
                    float* streams = s.stream.get();
                    if (E == 2 && g->w_out >= 2 * V) {
                        for (int64_t k = 0; k < 2 * td; ++k) src[k] = dr + col_off[k];
                        two_streams(dst, src, src + td, gd, td, g->w_out, streams);
                        continue;
                    }
                    for (int64_t e = 0; e < E; ++e) {
                        for (int64_t k = 0; k < td; ++k) src[k] = dr + col_off[e * td + k];
                        dsts[0] = E == 1 && g->w_out >= V ? dst : streams + e * round_up(sl, V);
                        combine_n<1, 4>(dsts, src, gd, td, sl, same);
                    }
                    if (E == 1) {
                        if (g->w_out < V) std::memcpy(dst, streams, sizeof(float) * g->w_out);
                    } else {                                        // rows too narrow for two_streams
                        const int64_t ls = round_up(sl, V);
                        for (int64_t e = 0; e < E; ++e)
                            for (int64_t j = e, i = e * ls; j < g->w_out; j += E, ++i) dst[j] = streams[i];
                    }
                }
            }
          }
        }
    }
    return failed ? 2 : 0;
}

// 0: done; 1: a geometry it does not take; 2: out of memory (out is then not all written).
int livegan_filtered_lrelu(const Geometry* g, const float* x, const float* bias, const float* hx,
                           const float* hy, const float* gd, float* out) {
    try {
        return filtered_lrelu(g, x, bias, hx, hy, gd, out);
    } catch (...) {
        return 2;
    }
}

}  // extern "C"
