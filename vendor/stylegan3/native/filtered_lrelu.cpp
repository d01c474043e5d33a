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

namespace {

constexpr int V = 16;                                         // floats per vector
typedef float vf __attribute__((vector_size(V * sizeof(float))));  // narrower ISAs: split by gcc

inline vf load(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// dst[0, len) = post(sum_t coef[t] * src[t][0, len)), len a multiple of V.  Every pass is this
// one loop: four vectors of columns at a time keep the sums in registers, so each tap costs a
// load and a multiply-add per vector; the taps are summed in the order given.
template <class Post>
inline void combine(float* dst, const float* const* src, const float* coef, int64_t taps, int64_t len,
                    Post post) {
    const vf zero = {};
    int64_t c0 = 0;
    for (; c0 + 4 * V <= len; c0 += 4 * V) {
        vf a0 = zero, a1 = zero, a2 = zero, a3 = zero;
        for (int64_t t = 0; t < taps; ++t) {
            const float* p = src[t] + c0;
            const float c = coef[t];
            a0 += c * load(p);
            a1 += c * load(p + V);
            a2 += c * load(p + 2 * V);
            a3 += c * load(p + 3 * V);
        }
        store(dst + c0, post(a0));
        store(dst + c0 + V, post(a1));
        store(dst + c0 + 2 * V, post(a2));
        store(dst + c0 + 3 * V, post(a3));
    }
    for (; c0 < len; c0 += V) {
        vf a = zero;
        for (int64_t t = 0; t < taps; ++t) a += coef[t] * load(src[t] + c0);
        store(dst + c0, post(a));
    }
}

// N rows at once from one list of sources: dst[n][0, len) = post(sum_t coef[n * taps + t] * src[t]),
// each source vector loaded once for all N sums (the phases of one upsampled row group share their
// input rows; two kept rows share most of theirs).  A zero coefficient adds an exact zero.
template <int N, int B, class Post>
inline void combine_block(float* const* dst, const float* const* src, const float* coef, int64_t taps,
                          int64_t c0, Post post) {
    vf a[N][B];
    for (int n = 0; n < N; ++n)
        for (int i = 0; i < B; ++i) a[n][i] = vf{};
    for (int64_t t = 0; t < taps; ++t) {
        vf v[B];
        for (int i = 0; i < B; ++i) v[i] = load(src[t] + c0 + i * V);
        for (int n = 0; n < N; ++n) {
            const float c = coef[n * taps + t];
            for (int i = 0; i < B; ++i) a[n][i] += c * v[i];
        }
    }
    for (int n = 0; n < N; ++n)
        for (int i = 0; i < B; ++i) store(dst[n] + c0 + i * V, post(a[n][i]));
}

template <int N, int B, class Post>
inline void combine_n(float* const* dst, const float* const* src, const float* coef, int64_t taps,
                      int64_t len, Post post) {
    int64_t c0 = 0;
    for (; c0 + B * V <= len; c0 += B * V) combine_block<N, B>(dst, src, coef, taps, c0, post);
    for (; c0 < len; c0 += V) combine_block<N, 1>(dst, src, coef, taps, c0, post);   // the rest: shared loads too
}

// combine_n for a run-time N (the upsampling factor).
template <class Post>
inline void combine_rows(int64_t n, float* const* dst, const float* const* src, const float* coef,
                         int64_t taps, int64_t len, Post post) {
    switch (n) {
    case 1: combine(dst[0], src, coef, taps, len, post); break;
    case 2: combine_n<2, 4>(dst, src, coef, taps, len, post); break;
    case 4: combine_n<4, 2>(dst, src, coef, taps, len, post); break;
    default:
        for (int64_t i = 0; i < n; ++i) combine(dst[i], src, coef + i * taps, taps, len, post);
    }
}

inline vf same(vf v) { return v; }

typedef int vi __attribute__((vector_size(V * sizeof(int))));
const vi LO = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};       // a0 b0 a1 b1 ...
const vi HI = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

}  // namespace

extern "C" {

// Mirrors native.Geometry (ctypes): keep the two in the same order.
struct Geometry {
    int64_t n, c, h_in, w_in;        // input planes
    int64_t s_n, s_c, s_h, s_w;      // input strides, in elements (NCHW or NHWC)
    int64_t up, down;                // up % down == 0
    int64_t jx0, jx_taps;            // column phases: out[up*q + p] = sum_j hx[p][j] * x[q + j + jx0]
    int64_t jy0, jy_taps;            // row phases, the same with hy (activation gain folded in)
    int64_t d_taps;                  // flipped down filter: out[j] = sum_k gd[k] * t[down*j + k]
    int64_t h_out, w_out;
    float slope, clamp;              // clamp < 0: none
    int64_t threads;
};

int livegan_filtered_lrelu(const Geometry* g, const float* x, const float* bias, const float* hx,
                           const float* hy, const float* gd, float* out) {
    const int64_t up = g->up, down = g->down, E = up / down;     // E output streams per row
    if (up < 1 || up > 8 || down < 1 || up % down || g->d_taps < 1) return 1;
    const int64_t jx = g->jx_taps, jy = g->jy_taps, td = g->d_taps;
    // Each stream e holds outputs E*j + e; stream e tap k reads phase (down*e + k) % up at offset
    // (down*e + k) / up.  Lq: samples per phase, enough for every stream's vectors.
    const int64_t ns = (g->w_out + E - 1) / E;
    const int64_t max_off = (down * (E - 1) + td - 1) / up;
    const int64_t lq = round_up(round_up(ns, V) + max_off + 1, V);
    const int64_t wr = up * lq;                                    // one row, every phase
    const int64_t xp_len = lq + jx - 1;
    const int64_t planes = g->n * g->c;
    int status = 0;
    // Down columns: stream e tap k reads phase (down*e + k) % up at offset (down*e + k) / up.
    std::vector<int64_t> col_off(E * td);
    for (int64_t e = 0; e < E; ++e)
        for (int64_t k = 0; k < td; ++k) col_off[e * td + k] = ((down * e + k) % up) * lq + (down * e + k) / up;

    #pragma omp parallel for schedule(dynamic, 1) num_threads(g->threads)
    for (int64_t plane = 0; plane < planes; ++plane) {
        const int64_t ni = plane / g->c, ci = plane % g->c;
        const float* xin = x + ni * g->s_n + ci * g->s_c;
        const float b = bias ? bias[ci] : 0.0f;
        const int64_t taps_max = std::max(std::max(jx, jy), td + down);
        // Scratch: every element of these is written before it is read (only xp's edges stay zero).
        std::vector<float> xp(xp_len, 0.0f);
        std::unique_ptr<float[]> ups(new float[g->h_in * wr]), ring(new float[(td + down + up) * wr]),
            drow(new float[2 * wr]), stream(new float[round_up(ns, V) * std::max<int64_t>(E, 4)]);
        std::vector<const float*> src(taps_max);
        std::vector<float*> dsts(std::max<int64_t>(up, 2));
        std::vector<float> coef(std::max(taps_max, up * jy));

        // Up columns: every input row (+ bias, zeros outside), phase-major: phase p of row y
        // is ups[y][p * lq, (p + 1) * lq).
        for (int64_t t = 0; t < jx; ++t) src[t] = xp.data() + t;
        // xp[t] = x[t + jx0] + b inside the row, zero outside: [0, t0) and [t1, xp_len) stay zero.
        const int64_t t0 = std::min(std::max<int64_t>(-g->jx0, 0), xp_len);
        const int64_t t1 = std::max(std::min(g->w_in - g->jx0, xp_len), t0);
        const int64_t s_w = g->s_w;
        float* xpd = xp.data();
        for (int64_t y = 0; y < g->h_in; ++y) {
            const float* row = xin + y * g->s_h + g->jx0 * s_w;
            if (s_w == 1)
                for (int64_t t = t0; t < t1; ++t) xpd[t] = row[t] + b;
            else
                for (int64_t t = t0; t < t1; ++t) xpd[t] = row[t * s_w] + b;
            for (int64_t p = 0; p < up; ++p) dsts[p] = ups.get() + y * wr + p * lq;
            combine_rows(up, dsts.data(), src.data(), hx, jx, lq, same);
        }

        const vf zero = {}, slope = zero + g->slope, hi = zero + g->clamp, lo = zero - g->clamp;
        auto act = [=](vf v) { v = v < zero ? v * slope : v; return v; };
        auto act_clamp = [=](vf v) {
            v = v < zero ? v * slope : v;
            v = v > hi ? hi : v;
            return v < lo ? lo : v;
        };
        // Upsampled rows come in groups of `up` (one input-row window, one row per phase) into a
        // ring that holds a pair of kept rows' window and the group after it.
        const int64_t ring_rows = td + down + up;
        std::vector<float> pair_coef(2 * (td + down), 0.0f);         // two kept rows, one window
        for (int64_t k = 0; k < td; ++k) pair_coef[k] = pair_coef[td + down + down + k] = gd[k];
        auto up_group = [&](int64_t q) {                             // rows up*q ... up*q + up-1
            int64_t k = 0;
            for (int64_t j = 0; j < jy; ++j) {
                const int64_t y = q + j + g->jy0;
                if (y < 0 || y >= g->h_in) continue;                 // zero padding rows
                src[k] = ups.get() + y * wr;
                for (int64_t p = 0; p < up; ++p) coef[p * jy + k] = hy[p * jy + j];
                ++k;
            }
            if (k < jy)                                              // compact: taps = k per phase
                for (int64_t p = 1; p < up; ++p)
                    for (int64_t t = 0; t < k; ++t) coef[p * k + t] = coef[p * jy + t];
            for (int64_t p = 0; p < up; ++p) dsts[p] = ring.get() + ((up * q + p) % ring_rows) * wr;
            if (g->clamp >= 0) combine_rows(up, dsts.data(), src.data(), coef.data(), k, wr, act_clamp);
            else combine_rows(up, dsts.data(), src.data(), coef.data(), k, wr, act);
        };

        float* dst_plane = out + plane * g->h_out * g->w_out;
        const int64_t sl = round_up(ns, V);
        int64_t made = 0;                                            // upsampled rows made so far
        for (int64_t r = 0; r < g->h_out; r += 2) {
            const int64_t first = r * down, pair = std::min<int64_t>(2, g->h_out - r);
            for (; made < first + td + (pair - 1) * down; made += up) up_group(made / up);
            // Down rows: the kept rows r (and r + 1), from the ring.
            for (int64_t k = 0, slot = first % ring_rows; k < td + (pair - 1) * down; ++k, slot = slot + 1 == ring_rows ? 0 : slot + 1)
                src[k] = ring.get() + slot * wr;
            if (pair == 2) {
                dsts[0] = drow.get();
                dsts[1] = drow.get() + wr;
                combine_n<2, 4>(dsts.data(), src.data(), pair_coef.data(), td + down, wr, same);
            } else {
                combine(drow.get(), src.data(), gd, td, wr, same);
            }
            for (int64_t h = 0; h < pair; ++h) {
            // Down columns, per stream (col_off).
            const float* dr = drow.get() + h * wr;
            for (int64_t k = 0; k < td; ++k) src[k] = dr + col_off[k];
            float* dst = dst_plane + (r + h) * g->w_out;
            if (E == 1 && (r + h) * g->w_out + sl <= g->h_out * g->w_out && r + h + 1 < g->h_out) {
                // Straight into the output: the last vector's spill lands in later rows of this
                // plane, written after it (the plane's last row goes through the scratch).
                combine(dst, src.data(), gd, td, sl, same);
                continue;
            }
            for (int64_t e = 0; e < E; ++e) {
                for (int64_t k = 0; k < td; ++k) src[k] = dr + col_off[e * td + k];
                combine(stream.get() + e * sl, src.data(), gd, td, sl, same);
            }
            if (E == 1) {
                std::memcpy(dst, stream.get(), sizeof(float) * g->w_out);
            } else if (E == 2) {                                     // interleave two streams
                float* mixed = stream.get() + 2 * sl;
                for (int64_t j0 = 0; j0 < sl; j0 += V) {
                    const vf a = load(stream.get() + j0), b = load(stream.get() + sl + j0);
                    store(mixed + 2 * j0, __builtin_shuffle(a, b, LO));
                    store(mixed + 2 * j0 + V, __builtin_shuffle(a, b, HI));
                }
                std::memcpy(dst, mixed, sizeof(float) * g->w_out);
            } else
                for (int64_t e = 0; e < E; ++e)
                    for (int64_t j = e, i = e * sl; j < g->w_out; j += E, ++i) dst[j] = stream[i];
            }
        }
    }
    return status;
}

}  // extern "C"
