// A 3x3 convolution as Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms
// for Convolutional Neural Networks", 2016) for layers with many channels (StyleGAN3's 36-84 px
// layers at 51-64 channels), where oneDNN's direct convolution already runs at 85-90% of the
// matrix-product rate: each 2x2 block of outputs comes from a 4x4 patch of input with 16 products
// per channel pair instead of 36, so 2.25x fewer multiply-adds for the same sums up to rounding
// (the transforms add and halve; relative differences to the direct sums of a few 1e-7).
//
// The 16 products of every (output, input) channel pair are 16 matrix products over the tiles.
// A task is a block of tiles of one image: its inputs transformed once into V[16][in][tiles] (in
// the second-level cache); then per register block of tiles, each of the 16 products for every
// output channel, R channels by NC vectors of tiles at a time summed over the input channels in
// registers (that product's tiles stay in the first-level cache across the output channels:
// 0.93-0.96x the time under AVX-512 against the output channels outermost), and all 16
// transformed into the output.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "combine.h"
#include "geometry.h"

namespace {

constexpr int R = 6;                                          // output channels per register block
constexpr int NC = 2;                                         // vectors of tiles per register block
constexpr int NT = NC * V;                                    // tiles per register block
// A vector pair's even and odd floats (a0 a2 ... b0 b2 ...; a1 a3 ... b1 b3 ...).
#if defined(__AVX512F__)
const vi EVEN = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
const vi ODD = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
#elif defined(__AVX__)
const vi EVEN = {0, 2, 4, 6, 8, 10, 12, 14};
const vi ODD = {1, 3, 5, 7, 9, 11, 13, 15};
#else
const vi EVEN = {0, 2, 4, 6};
const vi ODD = {1, 3, 5, 7};
#endif

// u = G g G^T for one 3x3 kernel g (row-major), G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
inline void weight_tile(const float* g, float* u /* [16], stride ustride */, int64_t ustride) {
    float t[4][3];
    for (int c = 0; c < 3; ++c) {
        const float a = g[c], b = g[3 + c], d = g[6 + c];
        t[0][c] = a;
        t[1][c] = 0.5f * (a + b + d);
        t[2][c] = 0.5f * (a - b + d);
        t[3][c] = d;
    }
    for (int r = 0; r < 4; ++r) {
        const float a = t[r][0], b = t[r][1], d = t[r][2];
        u[(4 * r + 0) * ustride] = a;
        u[(4 * r + 1) * ustride] = 0.5f * (a + b + d);
        u[(4 * r + 2) * ustride] = 0.5f * (a - b + d);
        u[(4 * r + 3) * ustride] = d;
    }
}

// R output channels x NT tiles of one of the 16 products: m[r][t] = sum_i u[i][r] v[i][t].
inline void product(const float* u, int64_t ostride, const float* v, int64_t tstride, int64_t n_in, float* m) {
    vf a[R][NC];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < NC; ++c) a[r][c] = vf{};
    for (int64_t i = 0; i < n_in; ++i) {
        vf x[NC];
        for (int c = 0; c < NC; ++c) x[c] = load(v + i * tstride + c * V);
        const float* w = u + i * ostride;
        for (int r = 0; r < R; ++r)
            for (int c = 0; c < NC; ++c) a[r][c] += w[r] * x[c];
    }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < NC; ++c) store(m + r * NT + c * V, a[r][c]);
}

}  // namespace

extern "C" {

static int winograd(const ConvGeometry* g, const float* x, const float* wt, float* out) {
    const int64_t pad = g->pad, ni_ = g->i, no_ = g->o, h = g->h, w = g->w;
    const int64_t ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
    if (g->k != 3 || pad < 0 || pad > 2 || ho < 2 || wo < 2 || ni_ < 1 || no_ < 1
        || (g->w_batch != 1 && g->w_batch != g->n))
        return 1;
    const int64_t th = (ho + 1) / 2, tw = (wo + 1) / 2, tiles = th * tw;
    const int64_t op = round_up(no_, R);                      // output channels padded with zero weights
    // Blocks of whole register blocks of tiles, enough for every thread (four tasks each where the
    // image has the tiles), at most 128 tiles: V then holds 16 x channels x 128 floats (512 KiB at 64).
    const int64_t want = std::max<int64_t>(1, (4 * g->threads + g->n - 1) / g->n);
    const int64_t pb = std::min<int64_t>(round_up(128, NT), round_up((tiles + want - 1) / want, NT));
    const int64_t blocks = (tiles + pb - 1) / pb;
    // A padded input row: 2 (tw + 1) columns read, rounded up to whole vector pairs.
    const int64_t es = round_up(tw + 1, V) + V, wp = 2 * es + V;
    const int64_t ps = pb + V;                                // V's rows: a spare vector each
    std::vector<float> u;
    try {
        u.assign(g->w_batch * 16 * ni_ * op, 0.0f);           // U[image][16][in][out padded]
    } catch (...) {
        return 2;
    }
    // Per input channel, the output channels in a row: the 16 planes written along their rows
    // (output channels innermost; the other way round each write was a line of its own).
    #pragma omp parallel for num_threads(g->threads) schedule(static)
    for (int64_t t = 0; t < g->w_batch * ni_; ++t) {
        const int64_t b = t / ni_, i = t % ni_;
        for (int64_t o = 0; o < no_; ++o)
            weight_tile(wt + ((b * no_ + o) * ni_ + i) * 9, u.data() + (b * 16 * ni_ + i) * op + o, ni_ * op);
    }
    int failed = 0;

    #pragma omp parallel num_threads(g->threads)
    {
        Lines vb = lines(16 * ni_ * ps), row = lines(wp), ev = lines(4 * es), od = lines(4 * es);
        Lines mt = lines(16 * op * NT), yt = lines(4 * V);
        std::vector<int64_t> off;                            // each tile's first output
        std::vector<unsigned char> edge;                     // 1: no second column, 2: no second row
        std::vector<unsigned char> whole;                    // per vector of tiles: all in one row, no edge
        bool ok = vb && row && ev && od && mt && yt;
        try {
            off.resize(pb);
            edge.resize(pb);
            whole.resize(pb / V);
        } catch (...) {
            ok = false;
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        } else {
            std::memset(row.get(), 0, sizeof(float) * wp);    // only the input's columns are written
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < g->n * blocks; ++task) {
            if (!ok) continue;
            const int64_t n = task / blocks, p0 = task % blocks * pb, p1 = std::min(tiles, p0 + pb), nq = p1 - p0;
            const float* xin = x + n * ni_ * h * w;
            const float* ub = u.data() + (g->w_batch == 1 ? 0 : n) * 16 * ni_ * op;
            float* v = vb.get();
            // The block's inputs: per tile row segment and input channel, the four input rows
            // (zero outside the image) split into even and odd columns, then B^T d B for V tiles
            // at a time (the last vectors' extra lanes land in tiles written later, or in the
            // zeroed tail, or in the row's spare vector).
            for (int64_t p = p0; p < p1;) {
                const int64_t ty = p / tw, tx0 = p % tw, nj = std::min(tw - tx0, p1 - p), q0 = p - p0;
                const int64_t jn = round_up(nj + 1, V);            // even/odd columns made
                for (int64_t i = 0; i < ni_; ++i) {
                    float* e[4];
                    float* d[4];
                    for (int a = 0; a < 4; ++a) {
                        e[a] = ev.get() + a * es;
                        d[a] = od.get() + a * es;
                        const int64_t y = 2 * ty - pad + a;
                        if (y < 0 || y >= h) {
                            std::memset(e[a], 0, sizeof(float) * jn);
                            std::memset(d[a], 0, sizeof(float) * jn);
                            continue;
                        }
                        float* r = row.get();                  // r[c + pad] = input column c
                        std::memcpy(r + pad, xin + (i * h + y) * w, sizeof(float) * w);
                        const float* s = r + 2 * tx0;
                        for (int64_t j = 0; j < jn; j += V) {
                            const vf lo = load(s + 2 * j), hi = load(s + 2 * j + V);
                            store(e[a] + j, __builtin_shuffle(lo, hi, EVEN));
                            store(d[a] + j, __builtin_shuffle(lo, hi, ODD));
                        }
                    }
                    float* vi = v + i * ps + q0;
                    const int64_t plane = ni_ * ps;
                    for (int64_t j = 0; j < nj; j += V) {
                        // patch column b of row a: even j, odd j, even j+1, odd j+1.
                        vf t[4][4];
                        for (int b = 0; b < 4; ++b) {
                            vf c[4];
                            for (int a = 0; a < 4; ++a)
                                c[a] = load((b & 1 ? d[a] : e[a]) + j + (b >> 1));
                            t[0][b] = c[0] - c[2];
                            t[1][b] = c[1] + c[2];
                            t[2][b] = c[2] - c[1];
                            t[3][b] = c[1] - c[3];
                        }
                        for (int a = 0; a < 4; ++a) {
                            store(vi + (4 * a + 0) * plane + j, t[a][0] - t[a][2]);
                            store(vi + (4 * a + 1) * plane + j, t[a][1] + t[a][2]);
                            store(vi + (4 * a + 2) * plane + j, t[a][2] - t[a][1]);
                            store(vi + (4 * a + 3) * plane + j, t[a][1] - t[a][3]);
                        }
                    }
                }
                p += nj;
            }
            const int64_t nqr = round_up(nq, NT);
            for (int64_t k = 0; k < 16; ++k)                   // the last register block's tail: zeros
                for (int64_t i = 0; i < ni_; ++i)
                    std::memset(v + (k * ni_ + i) * ps + nq, 0, sizeof(float) * (nqr - nq));
            for (int64_t q = 0; q < nq; ++q) {
                const int64_t p = p0 + q, yy = 2 * (p / tw), xx = 2 * (p % tw);
                off[q] = yy * wo + xx;
                edge[q] = (xx + 1 < wo ? 0 : 1) | (yy + 1 < ho ? 0 : 2);
            }
            for (int64_t q = 0; q < nq; q += V)               // edges: a row's last tile, the last row
                whole[q / V] = q + V <= nq && (p0 + q) % tw + V <= tw && edge[q] == 0 && edge[q + V - 1] == 0;
            for (int64_t qb = 0; qb < nq; qb += NT) {
                for (int64_t k = 0; k < 16; ++k)              // this product's tiles stay in L1 for every o
                    for (int64_t o0 = 0; o0 < no_; o0 += R)
                        product(ub + k * ni_ * op + o0, op, v + k * ni_ * ps + qb, ps, ni_, mt.get() + (k * op + o0) * NT);
                const int64_t nt = std::min<int64_t>(NT, nq - qb);
                for (int64_t o = 0; o < no_; ++o) {
                    const float* m = mt.get() + o * NT;
                    float* dst = out + (n * no_ + o) * ho * wo;
                    for (int c = 0; c < NC && c * V < nt; ++c) {
                        vf s[16];
                        for (int k = 0; k < 16; ++k) s[k] = load(m + k * op * NT + c * V);
                        // A^T m A, A^T = [1 1 1 0; 0 1 -1 -1]: the rows, then the columns.
                        vf t0[4], t1[4];
                        for (int b = 0; b < 4; ++b) {
                            t0[b] = s[b] + s[4 + b] + s[8 + b];
                            t1[b] = s[4 + b] - s[8 + b] - s[12 + b];
                        }
                        const vf y00 = t0[0] + t0[1] + t0[2], y01 = t0[1] - t0[2] - t0[3];
                        const vf y10 = t1[0] + t1[1] + t1[2], y11 = t1[1] - t1[2] - t1[3];
                        const int64_t q0 = qb + c * V;
                        if (whole[q0 / V]) {
                            // V whole tiles side by side: two output rows of 2V, interleaved.
                            float* at = dst + off[q0];
                            store(at, __builtin_shuffle(y00, y01, LO));
                            store(at + V, __builtin_shuffle(y00, y01, HI));
                            store(at + wo, __builtin_shuffle(y10, y11, LO));
                            store(at + wo + V, __builtin_shuffle(y10, y11, HI));
                            continue;
                        }
                        float* y = yt.get();
                        store(y, y00);
                        store(y + V, y01);
                        store(y + 2 * V, y10);
                        store(y + 3 * V, y11);
                        for (int64_t q = 0; q < std::min<int64_t>(V, nt - c * V); ++q) {
                            float* at = dst + off[q0 + q];
                            const int e = edge[q0 + q];
                            at[0] = y[q];
                            if (!(e & 1)) at[1] = y[V + q];
                            if (!(e & 2)) at[wo] = y[2 * V + q];
                            if (e == 0) at[wo + 1] = y[3 * V + q];
                        }
                    }
                }
            }
        }
    }
    return failed ? 2 : 0;
}

// F.conv2d(x, w, padding=pad) for 3x3 kernels through F(2x2, 3x3).  0: done; 1: a geometry it
// does not take; 2: out of memory (out is then not all written).
int livegan_winograd(const ConvGeometry* g, const float* x, const float* w, float* out) {
    try {
        return winograd(g, x, w, out);
    } catch (...) {
        return 2;
    }
}

}  // extern "C"
