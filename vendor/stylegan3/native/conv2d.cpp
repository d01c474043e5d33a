// A direct 2-D convolution for few channels (StyleGAN's modulated convolutions at full resolution:
// 4-16 channels in and out), where oneDNN reaches 15-35% of the machine's matrix-product rate.
// Every output row of a group of output channels is one pass over the input rows it reads, each
// input vector loaded once for the whole group (combine.h); the sums run over (input channel,
// kernel row, kernel column) in that order for every pixel, batch size and thread count.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "combine.h"

extern "C" {

// Mirrors native.ConvGeometry (ctypes): keep the two in the same order.
struct ConvGeometry {
    int64_t n, i, h, w;              // input [n, i, h, w], contiguous
    int64_t o, k, pad;               // output channels, kernel size, zero padding on every side
    int64_t w_batch;                 // weights [w_batch, o, i, k, k]: 1 (shared) or n (per image)
    int64_t threads;
};

static int conv2d(const ConvGeometry* g, const float* x, const float* wt, float* out) {
    const int64_t k = g->k, pad = g->pad, hp = g->h + 2 * pad, wp = g->w + 2 * pad;
    const int64_t ho = hp - k + 1, wo = wp - k + 1, taps = g->i * k * k;
    if (ho < 1 || wo < V || k < 1 || pad < 0 || (g->w_batch != 1 && g->w_batch != g->n)) return 1;
    Lines padded = lines(g->n * g->i * hp * wp + V);
    if (!padded) return 2;
    // Output channels in groups of four (each input vector feeds four sums), rows in bands so
    // that a layer with few output channels still gives every thread work.
    constexpr int64_t G = 4;
    const int64_t groups = (g->o + G - 1) / G;
    const int64_t bands = std::max<int64_t>(1, std::min<int64_t>(ho / 8, (4 * g->threads + g->n * groups - 1) / (g->n * groups)));
    const int64_t rows_per_band = (ho + bands - 1) / bands;
    int failed = 0;

    #pragma omp parallel num_threads(g->threads)
    {
        #pragma omp for schedule(static)
        for (int64_t plane = 0; plane < g->n * g->i; ++plane) {       // zero-padded copy
            float* dst = padded.get() + plane * hp * wp;
            const float* src = x + plane * g->h * g->w;
            std::memset(dst, 0, sizeof(float) * pad * wp);
            for (int64_t y = 0; y < g->h; ++y) {
                float* row = dst + (y + pad) * wp;
                std::memset(row, 0, sizeof(float) * pad);
                std::memcpy(row + pad, src + y * g->w, sizeof(float) * g->w);
                std::memset(row + pad + g->w, 0, sizeof(float) * pad);
            }
            std::memset(dst + (g->h + pad) * wp, 0, sizeof(float) * pad * wp);
        }

        std::vector<const float*> src;
        std::vector<float> coef;
        std::vector<float*> dst(G);
        bool ok = true;
        try {
            src.resize(taps);
            coef.resize(G * taps);
        } catch (...) {
            ok = false;
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < g->n * groups * bands; ++task) {
            if (!ok) continue;
            const int64_t ni = task / (groups * bands), gi = (task / bands) % groups, band = task % bands;
            const int64_t o0 = gi * G, no = std::min(G, g->o - o0);
            const float* w = wt + (g->w_batch == 1 ? 0 : ni) * g->o * taps;
            for (int64_t j = 0; j < no; ++j)
                std::memcpy(coef.data() + j * taps, w + (o0 + j) * taps, sizeof(float) * taps);
            const float* xin = padded.get() + ni * g->i * hp * wp;
            for (int64_t r = band * rows_per_band; r < std::min(ho, (band + 1) * rows_per_band); ++r) {
                int64_t t = 0;
                for (int64_t c = 0; c < g->i; ++c)
                    for (int64_t ky = 0; ky < k; ++ky)
                        for (int64_t kx = 0; kx < k; ++kx) src[t++] = xin + (c * hp + r + ky) * wp + kx;
                for (int64_t j = 0; j < no; ++j) dst[j] = out + ((ni * g->o + o0 + j) * ho + r) * wo;
                combine_rows(no, dst.data(), src.data(), coef.data(), taps, wo, same);
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
