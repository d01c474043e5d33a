// The kernels' argument structs, shared by the files that define the kernels and by layer.cpp,
// which calls three of them in a row.  Each mirrors a ctypes Structure in native/__init__.py: keep
// the fields in the same order.
#pragma once

#include <cstdint>

extern "C" {

// native.Geometry: the filtered activation (filtered_lrelu.cpp).
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

// native.ConvGeometry: the direct convolution (conv2d.cpp) and Winograd's (winograd.cpp).
struct ConvGeometry {
    int64_t n, i, h, w;              // input [n, i, h, w], contiguous
    int64_t o, k, pad;               // output channels, kernel size, zero padding on every side
    int64_t w_batch;                 // weights [w_batch, o, i, k, k]: 1 (shared) or n (per image)
    int64_t threads;
};

// native.ModGeometry: the modulation (modulate.cpp).
struct ModGeometry {
    int64_t n, o, i, kk;             // styles [n, i]; weight [o, i, kk]; out [n, o, i, kk]
    int64_t demodulate;              // 1: normalise the styles and demodulate
    int64_t threads;
};

int livegan_filtered_lrelu(const Geometry* g, const float* x, const float* bias, const float* hx,
                           const float* hy, const float* gd, float* out);
int livegan_conv2d(const ConvGeometry* g, const float* x, const float* w, float* out);
int livegan_winograd(const ConvGeometry* g, const float* x, const float* w, float* out);
int livegan_modulate(const ModGeometry* g, const float* styles, const float* weight, const float* gain,
                     float* out);

}  // extern "C"
