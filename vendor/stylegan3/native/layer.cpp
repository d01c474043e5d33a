// A whole StyleGAN3 layer on the CPU in one call: each image's weights modulated, the direct (or
// Winograd's) convolution, the filtered activation -- the three kernels in the order the separate
// calls made them (the same pixels, bit for bit), without two returns to Python, their checks and
// two arrays in between (the scratch is this call's, and the caller keeps the checked geometry between
// frames): about 25 us a layer, an eighth of a small network's frame.
#include <cstdint>
#include <cstdlib>

#include "geometry.h"

extern "C" {

// Mirrors native.LayerGeometry (ctypes): keep the two in the same order.
struct LayerGeometry {
    ModGeometry mod;
    ConvGeometry conv;               // w_batch = mod.n: each image its own weights
    Geometry act;                    // its input is the convolution's output, contiguous
    int64_t winograd;                // 1: the convolution as Winograd's F(2x2, 3x3), 0: direct
};

// 0: done; otherwise the failing kernel's code (1: a geometry it does not take, 2: out of memory).
int livegan_layer(const LayerGeometry* g, const float* x, const float* styles, const float* weight,
                  const float* gain, const float* bias, const float* hx, const float* hy, const float* gd,
                  float* out) {
    if (g->conv.w_batch != g->mod.n || g->act.c != g->conv.o || g->act.n != g->conv.n) return 1;
    // Scratch: each image's weights [n, o, i, k, k], the convolution's output [n, o, h, w].
    const int64_t nw = g->mod.n * g->mod.o * g->mod.i * g->mod.kk;
    const int64_t nc = g->act.n * g->act.c * g->act.h_in * g->act.w_in;
    float* wbuf = static_cast<float*>(std::malloc(sizeof(float) * (nw + nc)));
    if (!wbuf) return 2;
    int rc = livegan_modulate(&g->mod, styles, weight, gain, wbuf);
    if (rc == 0)
        rc = (g->winograd ? livegan_winograd : livegan_conv2d)(&g->conv, x, wbuf, wbuf + nw);
    if (rc == 0) rc = livegan_filtered_lrelu(&g->act, wbuf + nw, bias, hx, hy, gd, out);
    std::free(wbuf);
    return rc;
}

}  // extern "C"
