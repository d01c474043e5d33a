// StyleGAN3's Fourier input in one call: each image's rotation and translation (from its affine
// output and the user's transform) applied to the fixed frequencies and phases, the sinusoids
// sampled on the grid with their fade-out amplitudes, and mixed by the layer's weight into the
// output planes.  In torch that was some thirty small operations and five passes over the features.
// The grid is separable (x from the column, y from the row), so sin(a_x + b_y) = sin a_x cos b_y +
// cos a_x sin b_y: per channel two tables of W and H sines and cosines (in double, each table by
// rotation from its first angle), then two products and a sum per sample.  Float32 results differ
// from the torch path's by rounding (about 1e-7 of the features' scale).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "combine.h"

namespace {

// sin and cos of a0 + k * step for k = 0 .. count - 1, by rotation (error grows by about 1e-16 a step).
void rotations(double a0, double step, int64_t count, float* sin_out, float* cos_out) {
    double s = std::sin(a0), c = std::cos(a0);
    const double ds = std::sin(step), dc = std::cos(step);
    for (int64_t k = 0; k < count; ++k) {
        sin_out[k] = float(s);
        cos_out[k] = float(c);
        const double s2 = s * dc + c * ds, c2 = c * dc - s * ds;
        s = s2, c = c2;
    }
}

}  // namespace

extern "C" {

// Mirrors native.FourierGeometry (ctypes): keep the two in the same order.
struct FourierGeometry {
    int64_t n, c, o;                 // images, features, output channels
    int64_t w, h;                    // samples across and down
    double sampling_rate, bandwidth;
    int64_t threads;
};

static int fourier(const FourierGeometry* g, const float* t, const float* user, const float* freqs,
                   const float* phases, const float* weight, float* out) {
    const int64_t n = g->n, C = g->c, O = g->o, W = g->w, H = g->h, hw = W * H;
    if (n < 1 || C < 1 || O < 1 || hw < V || g->sampling_rate <= 2 * g->bandwidth) return 1;
    // Per image and channel: amplitude and the tables [sa | ca] (W each), [sb | cb] (H each).
    std::vector<float> amp(n * C), ta(n * C * 2 * W), tb(n * C * 2 * H);
    const double two_pi = 6.283185307179586, sr = g->sampling_rate, bw = g->bandwidth;
    for (int64_t ni = 0; ni < n; ++ni) {
        const float* ti = t + ni * 4;
        const double norm = std::sqrt(double(ti[0]) * ti[0] + double(ti[1]) * ti[1]);
        const double c = ti[0] / norm, s = ti[1] / norm, tx = ti[2] / norm, ty = ti[3] / norm;
        const double m[3][3] = {{c, -s, -c * tx + s * ty}, {s, c, -s * tx - c * ty}, {0, 0, 1}};
        const float* u = user + ni * 9;
        double T[3][3];
        for (int r = 0; r < 3; ++r)
            for (int k = 0; k < 3; ++k) T[r][k] = m[r][0] * u[k] + m[r][1] * u[3 + k] + m[r][2] * u[6 + k];
        for (int64_t k = 0; k < C; ++k) {
            const double f0 = freqs[2 * k], f1 = freqs[2 * k + 1];
            const double ph = phases[k] + f0 * T[0][2] + f1 * T[1][2];
            const double fx = f0 * T[0][0] + f1 * T[1][0], fy = f0 * T[0][1] + f1 * T[1][1];
            const double a = 1 - (std::sqrt(fx * fx + fy * fy) - bw) / (sr / 2 - bw);
            amp[ni * C + k] = float(std::min(1.0, std::max(0.0, a)));
            // Grid sample i at x = (i + 0.5 - W / 2) / sampling_rate (affine_grid, align_corners off).
            float* a_tab = ta.data() + (ni * C + k) * 2 * W;
            float* b_tab = tb.data() + (ni * C + k) * 2 * H;
            rotations(two_pi * fx * (0.5 - W / 2.0) / sr, two_pi * fx / sr, W, a_tab, a_tab + W);
            rotations(two_pi * (fy * (0.5 - H / 2.0) / sr + ph), two_pi * fy / sr, H, b_tab, b_tab + H);
        }
    }
    // A task: a band of rows of one image, its features for every channel, then the mix.
    const int64_t bands = std::max<int64_t>(1, std::min({H, H * W / (4 * V), (4 * g->threads + n - 1) / n}));
    const int64_t G = REGS >= 32 && O % 8 == 0 ? 8 : 4;
    int failed = 0;

    #pragma omp parallel num_threads(g->threads)
    {
        const int64_t rows = (H + bands - 1) / bands;
        Lines feat = lines(C * rows * W);
        std::vector<const float*> src;
        std::vector<float*> dst(8);
        bool ok = bool(feat);
        try {
            src.resize(C);
        } catch (...) {
            ok = false;
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < n * bands; ++task) {
            if (!ok) continue;
            const int64_t ni = task / bands, band = task % bands;
            const int64_t r0 = band * H / bands, r1 = (band + 1) * H / bands, len = (r1 - r0) * W;
            if (len < V) {                               // (never: bands keep at least 4 vectors)
                #pragma omp atomic write
                failed = 1;
                continue;
            }
            for (int64_t k = 0; k < C; ++k) {
                const float* sa = ta.data() + (ni * C + k) * 2 * W;
                const float* ca = sa + W;
                const float* sb = tb.data() + (ni * C + k) * 2 * H;
                const float* cb = sb + H;
                const float am = amp[ni * C + k];
                float* f = feat.get() + k * len;
                for (int64_t y = r0; y < r1; ++y) {
                    const float cby = cb[y], sby = sb[y];
                    float* row = f + (y - r0) * W;
                    #pragma omp simd
                    for (int64_t x = 0; x < W; ++x) row[x] = (sa[x] * cby + ca[x] * sby) * am;
                }
                src[k] = f;
            }
            for (int64_t o0 = 0; o0 < O; o0 += G) {
                const int64_t no = std::min(G, O - o0);
                for (int64_t j = 0; j < no; ++j) dst[j] = out + ((ni * O + o0 + j) * H + r0) * W;
                constexpr int B = REGS >= 32 ? 2 : 1;
                const float* cf = weight + o0 * C;
                switch (no) {
                case 8: combine_n<8, B>(dst.data(), src.data(), cf, C, len, same); break;
                case 4: combine_n<4, 2 * B>(dst.data(), src.data(), cf, C, len, same); break;
                case 3: combine_n<3, 2 * B>(dst.data(), src.data(), cf, C, len, same); break;
                case 2: combine_n<2, 4>(dst.data(), src.data(), cf, C, len, same); break;
                default: combine_n<1, 4>(dst.data(), src.data(), cf, C, len, same);
                }
            }
        }
    }
    return failed ? 2 : 0;
}

// 0: done; 1: a geometry it does not take; 2: out of memory (out is then not all written).
int livegan_fourier(const FourierGeometry* g, const float* t, const float* user, const float* freqs,
                    const float* phases, const float* weight, float* out) {
    try {
        return fourier(g, t, user, freqs, phases, weight, out);
    } catch (...) {
        return 2;
    }
}

}  // extern "C"
