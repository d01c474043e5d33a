// Vector helpers shared by the kernels: rows combined as weighted sums of other rows, in
// registers, with every source vector loaded once for all the rows it feeds.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

// One vector is one register of the ISA built for: 64-byte vectors on a target without AVX-512
// are split by the compiler through memory (about 40x slower, measured), never into registers.
#if defined(__AVX512F__)
constexpr int V = 16;                                         // floats per vector
constexpr int REGS = 32;                                      // vector registers
#elif defined(__AVX__)
constexpr int V = 8;
constexpr int REGS = 16;
#else
constexpr int V = 4;
constexpr int REGS = 16;
#endif
typedef float vf __attribute__((vector_size(V * sizeof(float))));
typedef int vi __attribute__((vector_size(V * sizeof(int))));
// Two vectors interleaved (a0 b0 a1 b1 ...): the low half's and the high half's shuffle masks.
#if defined(__AVX512F__)
const vi LO = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
const vi HI = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
#elif defined(__AVX__)
const vi LO = {0, 8, 1, 9, 2, 10, 3, 11};
const vi HI = {4, 12, 5, 13, 6, 14, 7, 15};
#else
const vi LO = {0, 4, 1, 5};
const vi HI = {2, 6, 3, 7};
#endif

inline vf load(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
struct Same { vf operator()(vf v) const { return v; } };
constexpr Same same{};

// N rows of B vectors at column c0: dst[n] = post(sum_t coef[n * taps + t] * src[t]).  Each
// source vector is loaded once for all N sums (the phases of one upsampled row group share their
// input rows; two kept rows share most of theirs), the sums stay in registers, and the taps are
// added in the order given.  A zero coefficient adds an exact zero.
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

// combine_block over columns [0, len) of every row, len >= V: a length that is not a whole number
// of vectors ends with one vector that overlaps the one before (the same sums again), so nothing
// is read or written outside [0, len).
template <int N, int B, class Post>
inline void combine_n(float* const* dst, const float* const* src, const float* coef, int64_t taps,
                      int64_t len, Post post) {
    int64_t c0 = 0;
    for (; c0 + B * V <= len; c0 += B * V) combine_block<N, B>(dst, src, coef, taps, c0, post);
    for (; c0 + V <= len; c0 += V) combine_block<N, 1>(dst, src, coef, taps, c0, post);
    if (c0 < len) combine_block<N, 1>(dst, src, coef, taps, len - V, post);
}

// combine_n for a run-time N (the upsampling factor), with the widest blocks that stay in registers.
template <class Post>
inline void combine_rows(int64_t n, float* const* dst, const float* const* src, const float* coef,
                         int64_t taps, int64_t len, Post post) {
    switch (n) {
    case 1: combine_n<1, 4>(dst, src, coef, taps, len, post); break;
    case 2: combine_n<2, 4>(dst, src, coef, taps, len, post); break;
    case 4: combine_n<4, 2>(dst, src, coef, taps, len, post); break;
    default:
        for (int64_t i = 0; i < n; ++i) combine_n<1, 4>(dst + i, src, coef + i * taps, taps, len, post);
    }
}

// Arrays on cache-line boundaries: the row passes then load whole lines (rows are whole vectors apart).
// aligned_alloc's size must be a whole number of alignments (C11; AddressSanitizer returns null for
// 32-byte multiples, glibc takes them): whole lines, at least n floats rounded up to whole vectors.
struct Free { void operator()(float* p) const { std::free(p); } };
typedef std::unique_ptr<float[], Free> Lines;
inline Lines lines(int64_t n) {
    return Lines(static_cast<float*>(std::aligned_alloc(64, round_up(round_up(n, V) * sizeof(float), 64))));
}

}  // namespace
