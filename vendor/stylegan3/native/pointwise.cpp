// A 1x1 convolution with its bias and clamp in one pass (StyleGAN3's ToRGB: a few channels in,
// three out, at the image's full size), where torch made the matrix product, the bias sum and the
// clamp as three passes over the image.  Each output is the input channels' products summed in
// channel order, then the bias added (as a last tap times a row of ones: the same rounding as a
// separate sum), then clamped: the torch path's operations in its order.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "combine.h"

namespace {

struct Clamp {
    float lim;                                          // < 0: none
    vf operator()(vf v) const {
        if (lim < 0) return v;
        const vf hi = vf{} + lim, lo = vf{} - lim;
        v = v < lo ? lo : v;                            // torch.clamp's order: the lower bound first
        return v > hi ? hi : v;
    }
};

// A task's pixels: this many at least, so a call's few hundred tasks each amortise their setup.
constexpr int64_t CHUNK = 4096;

}  // namespace

extern "C" {

// Mirrors native.PointGeometry (ctypes): keep the two in the same order.
struct PointGeometry {
    int64_t n, i, hw, o;             // input [n, i, hw], output [n, o, hw], both contiguous
    int64_t w_batch;                 // weights [w_batch, o, i]: 1 (shared) or n (per image)
    float clamp;                     // < 0: no clamp
    int64_t threads;
};

static int pointwise(const PointGeometry* g, const float* x, const float* wt, const float* bias, float* out) {
    if (g->hw < V || g->i < 1 || g->o < 1 || (g->w_batch != 1 && g->w_batch != g->n)) return 1;
    const int64_t chunks = std::max<int64_t>(1, g->hw / CHUNK);   // each at least CHUNK (or all) long
    const int64_t longest = (g->hw + chunks - 1) / chunks, taps = g->i + 1;
    const Clamp post{g->clamp};
    int failed = 0;

    #pragma omp parallel num_threads(g->threads)
    {
        Lines ones = lines(longest);
        std::vector<const float*> src;
        std::vector<float> coef;
        std::vector<float*> dst;
        bool ok = bool(ones);
        try {
            src.resize(taps);
            coef.resize(g->o * taps);
            dst.resize(g->o);
        } catch (...) {
            ok = false;
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        } else {
            std::fill(ones.get(), ones.get() + longest, 1.0f);
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < g->n * chunks; ++task) {
            if (!ok) continue;
            const int64_t ni = task / chunks, chunk = task % chunks;
            const int64_t p0 = chunk * g->hw / chunks, len = (chunk + 1) * g->hw / chunks - p0;
            const float* w = wt + (g->w_batch == 1 ? 0 : ni) * g->o * g->i;
            for (int64_t o = 0; o < g->o; ++o) {
                for (int64_t c = 0; c < g->i; ++c) coef[o * taps + c] = w[o * g->i + c];
                coef[o * taps + g->i] = bias[o];
                dst[o] = out + (ni * g->o + o) * g->hw + p0;
            }
            for (int64_t c = 0; c < g->i; ++c) src[c] = x + (ni * g->i + c) * g->hw + p0;
            src[g->i] = ones.get();
            constexpr int W = REGS >= 32 ? 2 : 1;
            for (int64_t o0 = 0; o0 < g->o; o0 += 4) {
                const int64_t no = std::min<int64_t>(4, g->o - o0);
                float* const* d = dst.data() + o0;
                const float* cf = coef.data() + o0 * taps;
                switch (no) {
                case 4: combine_n<4, 2 * W>(d, src.data(), cf, taps, len, post); break;
                case 3: combine_n<3, 2 * W>(d, src.data(), cf, taps, len, post); break;
                case 2: combine_n<2, 4>(d, src.data(), cf, taps, len, post); break;
                default: combine_n<1, 4>(d, src.data(), cf, taps, len, post);
                }
            }
        }
    }
    return failed ? 2 : 0;
}

// 0: done; 1: a geometry it does not take; 2: out of memory (out is then not all written).
int livegan_pointwise(const PointGeometry* g, const float* x, const float* w, const float* b, float* out) {
    try {
        return pointwise(g, x, w, b, out);
    } catch (...) {
        return 2;
    }
}

}  // extern "C"
