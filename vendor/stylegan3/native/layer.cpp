// A whole StyleGAN3 layer on the CPU in one call: each image's weights modulated, the direct
// convolution, the filtered activation -- the three kernels in the order the separate calls made
// them (the same pixels, bit for bit), without two returns to Python, their checks and two output
// arrays in between: about 20 us a layer, a tenth of a small network's frame.
#include <cstdint>

#include "geometry.h"

extern "C" {

// Mirrors native.LayerGeometry (ctypes): keep the two in the same order.
struct LayerGeometry {
    ModGeometry mod;
    ConvGeometry conv;               // w_batch = mod.n: each image its own weights
    Geometry act;                    // its input is the convolution's output, contiguous
};

// wbuf [n, o, i, k, k] and conv_out [n, o, h, w] are the caller's scratch.  0: done; otherwise the
// failing kernel's code (1: a geometry it does not take, 2: out of memory).
int livegan_layer(const LayerGeometry* g, const float* x, const float* styles, const float* weight,
                  const float* gain, const float* bias, const float* hx, const float* hy, const float* gd,
                  float* wbuf, float* conv_out, float* out) {
    if (g->conv.w_batch != g->mod.n || g->act.c != g->conv.o || g->act.n != g->conv.n) return 1;
    int rc = livegan_modulate(&g->mod, styles, weight, gain, wbuf);
    if (rc == 0) rc = livegan_conv2d(&g->conv, x, wbuf, conv_out);
    if (rc == 0) rc = livegan_filtered_lrelu(&g->act, conv_out, bias, hx, hy, gd, out);
    return rc;
}

}  // extern "C"
