// Modulated weights for one frame (StyleGAN2/3 inference): each image's styles normalised to unit
// mean square, the layer's weight scaled by them per input channel, demodulated per output channel
// and scaled by the input gain -- in torch a dozen small operations a layer (about 30 us each layer
// on a 2-core CPU, mostly dispatch), here one call.  The products are taken in the same order as
// modconv.modulate_weights; the two sums (mean square, demodulation) run in double, so they may
// differ from torch's float reductions in the last bit (and are nearer the exact sums).
#include <cmath>
#include <cstdint>
#include <vector>

#include "geometry.h"

namespace {

// The sum of squares in double, eight running sums (one long chain of additions is bound by
// their latency: 14 us for a 32-channel 3x3 layer, against about 2 us).
inline double square_sum(const float* v, int64_t len) {
    double a[8] = {};
    int64_t t = 0;
    for (; t + 8 <= len; t += 8)
        for (int j = 0; j < 8; ++j) a[j] += static_cast<double>(v[t + j]) * v[t + j];
    for (; t < len; ++t) a[0] += static_cast<double>(v[t]) * v[t];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

}  // namespace

extern "C" {

// 0: done; 1: a geometry it does not take; 2: out of memory.  gain may be null (no input gain).
static int modulate(const ModGeometry* g, const float* styles, const float* weight, const float* gain, float* out) {
    const int64_t n = g->n, o = g->o, i = g->i, kk = g->kk, row = i * kk;
    if (n < 1 || o < 1 || i < 1 || kk < 1) return 1;
    // Each image's normalised styles, repeated per tap, so that the products below run as whole
    // vectors (a 3x3 kernel's nine taps per channel do not).
    std::vector<float> scale(n * row);
    for (int64_t ni = 0; ni < n; ++ni) {
        const float* s = styles + ni * i;
        const float r = g->demodulate ? 1.0f / std::sqrt(static_cast<float>(square_sum(s, i) / static_cast<double>(i)))
                                      : 1.0f;
        for (int64_t c = 0; c < i; ++c)
            for (int64_t t = 0; t < kk; ++t) scale[ni * row + c * kk + t] = g->demodulate ? s[c] * r : s[c];
    }
    const float gn = gain ? *gain : 1.0f;
    // Small layers in one thread: a parallel region costs more than their few thousand products.
    const bool parallel = n * o * row >= (1 << 16);
    #pragma omp parallel for schedule(static) num_threads(g->threads) if (parallel)
    for (int64_t task = 0; task < n * o; ++task) {
        const float* sc = scale.data() + (task / o) * row;
        const float* w = weight + (task % o) * row;
        float* dst = out + task * row;
        for (int64_t t = 0; t < row; ++t) dst[t] = w[t] * sc[t];
        const float d = g->demodulate ? 1.0f / std::sqrt(static_cast<float>(square_sum(dst, row)) + 1e-8f) : 1.0f;
        if (g->demodulate && gain)
            for (int64_t t = 0; t < row; ++t) dst[t] = dst[t] * d * gn;
        else if (g->demodulate)
            for (int64_t t = 0; t < row; ++t) dst[t] *= d;
        else if (gain)
            for (int64_t t = 0; t < row; ++t) dst[t] *= gn;
    }
    return 0;
}

int livegan_modulate(const ModGeometry* g, const float* styles, const float* weight, const float* gain,
                     float* out) {
    try {
        return modulate(g, styles, weight, gain, out);
    } catch (...) {
        return 2;
    }
}

}  // extern "C"
