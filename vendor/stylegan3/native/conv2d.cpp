// A direct 2-D convolution for few channels (StyleGAN's modulated convolutions at full resolution:
// 4-32 channels in and out), where oneDNN reaches 15-35% of the machine's matrix-product rate (up
// to 16 channels) or needs its own layout copied in and out (32).
// Every output row of a group of output channels is one pass over the input rows it reads, each
// input vector loaded once for the whole group (combine.h); the sums run over (input channel,
// kernel row, kernel column) in that order for every pixel, batch size and thread count (zero
// padding adds exact zeros, wherever it is made).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "combine.h"
#include "geometry.h"

namespace {

// `no` output rows from the same taps, blocks as wide as the registers hold (16 sums with
// AVX-512's 32 registers, 8 with 16).
inline void outputs(int64_t no, float* const* dst, const float* const* src, const float* coef, int64_t taps,
                    int64_t len) {
    constexpr int W = REGS >= 32 ? 2 : 1;
    switch (no) {
    case 8: combine_n<8, W>(dst, src, coef, taps, len, same); break;
    case 4: combine_n<4, 2 * W>(dst, src, coef, taps, len, same); break;
    case 3: combine_n<3, 2 * W>(dst, src, coef, taps, len, same); break;
    case 2: combine_n<2, 4>(dst, src, coef, taps, len, same); break;
    default: combine_n<1, 4>(dst, src, coef, taps, len, same);
    }
}

}  // namespace

extern "C" {

static int conv2d(const ConvGeometry* g, const float* x, const float* wt, float* out) {
    const int64_t k = g->k, pad = g->pad, hp = g->h + 2 * pad, wp = g->w + 2 * pad;
    const int64_t ho = hp - k + 1, wo = wp - k + 1, taps = g->i * k * k;
    if (ho < 1 || wo < V || k < 1 || pad < 0 || (g->w_batch != 1 && g->w_batch != g->n)) return 1;
    // A task is a band of output rows of one image, every output channel: each thread keeps the
    // k zero-padded input rows of every channel that the current output row reads in a ring (the
    // band's rows copied once, in cache: a padded copy of the whole input cost a quarter of the
    // time), and rows above or below the input read one shared zero row.
    // Output channels sharing each input vector: eight where the registers hold their sums.
    const int64_t G = REGS >= 32 && g->o % 8 == 0 ? 8 : 4;
    const int64_t groups = (g->o + G - 1) / G;
    const int64_t bands = std::max<int64_t>(1, std::min<int64_t>(ho / 4, (4 * g->threads + g->n - 1) / g->n));
    const int64_t rows_per_band = (ho + bands - 1) / bands;
    const int64_t stride = round_up(wp, V);        // between rows of the ring
    int failed = 0;

    #pragma omp parallel num_threads(g->threads)
    {
        Lines ring = lines(g->i * k * stride), zero = lines(stride);
        std::vector<const float*> src;
        std::vector<float> coef;
        std::vector<float*> dst(8);
        bool ok = ring && zero;
        try {
            src.resize(taps);
            coef.resize(g->o * taps);
        } catch (...) {
            ok = false;
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        } else {
            std::memset(zero.get(), 0, sizeof(float) * stride);
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < g->n * bands; ++task) {
            if (!ok) continue;
            const int64_t ni = task / bands, band = task % bands;
            const float* w = wt + (g->w_batch == 1 ? 0 : ni) * g->o * taps;
            std::memcpy(coef.data(), w, sizeof(float) * g->o * taps);
            const float* xin = x + ni * g->i * g->h * g->w;
            const int64_t r0 = band * rows_per_band, r1 = std::min(ho, r0 + rows_per_band);
            for (int64_t r = r0; r < r1; ++r) {
                // Padded input rows r - pad ... r - pad + k - 1 (ring slot = padded row index % k).
                for (int64_t yp = (r == r0 ? r : r + k - 1); yp < r + k; ++yp) {
                    const int64_t y = yp - pad;
                    if (y < 0 || y >= g->h) continue;
                    for (int64_t c = 0; c < g->i; ++c) {
                        float* row = ring.get() + (c * k + yp % k) * stride;
                        std::memset(row, 0, sizeof(float) * pad);
                        std::memcpy(row + pad, xin + (c * g->h + y) * g->w, sizeof(float) * g->w);
                        std::memset(row + pad + g->w, 0, sizeof(float) * (stride - pad - g->w));
                    }
                }
                int64_t t = 0;
                for (int64_t c = 0; c < g->i; ++c)
                    for (int64_t ky = 0; ky < k; ++ky) {
                        const int64_t yp = r + ky, y = yp - pad;
                        const float* row = y < 0 || y >= g->h ? zero.get() : ring.get() + (c * k + yp % k) * stride;
                        for (int64_t kx = 0; kx < k; ++kx) src[t++] = row + kx;
                    }
                for (int64_t gi = 0; gi < groups; ++gi) {
                    const int64_t o0 = gi * G, no = std::min(G, g->o - o0);
                    for (int64_t j = 0; j < no; ++j) dst[j] = out + ((ni * g->o + o0 + j) * ho + r) * wo;
                    const float* cf = coef.data() + o0 * taps;
                    outputs(no, dst.data(), src.data(), cf, taps, wo);
                }
            }
        }
    }
    return failed ? 2 : 0;
}

// 0: done; 1: a geometry it does not take; 2: out of memory (out is then not all written).
int livegan_conv2d(const ConvGeometry* g, const float* x, const float* w, float* out) {
    try {
        return conv2d(g, x, w, out);
    } catch (...) {
        return 2;
    }
}

// The floats in one vector as built (the tests check it is the ISA's register width).
int livegan_vector_floats() { return V; }

}  // extern "C"
