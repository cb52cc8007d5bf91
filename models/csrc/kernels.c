/*
 * siamtrack.models._kernels: small CPU kernels for channels-last (NHWC) float32 tensors of batch 1.
 *
 * oneDNN's depthwise convolution spends ~50-60 us of fixed cost per call on this project's small maps
 * (16x16 to 32x32 NanoTrack features), several times the arithmetic, and MKL's matrix product leaves the bias
 * and activation to separate passes and does not split these sizes across threads. These loops keep blocks of
 * outputs in registers (8-float vectors: GCC vector extensions, AVX2 + FMA in the x86-64-v3 clone chosen at load
 * time) and fuse bias, activation and residual into the pass that computes them. The loops over output rows
 * run on torch's OpenMP threads (torch.set_num_threads) when built with OpenMP; each output element is
 * computed by one thread in a fixed order, so results do not depend on the thread count. Called from Python
 * (siamtrack/models/fastops.py) with raw data pointers of tensors that Python has checked (device, dtype,
 * layout, shapes); the GIL is released.
 *
 *   depthwise_nhwc(x, w, b, y, H, W, C, k, stride, pad, Ho, Wo, act)
 *       y[oy, ox, c] = act(b[c] + sum_{ky, kx} x[oy*stride - pad + ky, ox*stride - pad + kx, c] * w[ky, kx, c])
 *       (zero padding: taps outside the input are skipped)
 *   conv_nhwc(x, w, b, y, H, W, Cin, Cout, k, stride, pad, Ho, Wo, act)
 *       dense convolution, w (k, k, Cin, Cout), Cout a multiple of 8 (meant for stems: Cin of an image)
 *   pointwise_nhwc(x, w, b, r, y, P, K, N, act)
 *       1x1 convolution: y (P, N) = act(x (P, K) w (K, N) + b) (+ r (P, N) when r != 0), N a multiple of 8
 *   bias_act_nhwc(y, b, r, P, C, act)     in place: y[p, c] = act(y[p, c] + b[c]) (+ r[p, c] when r != 0)
 *   gate_act_nhwc(x, P, C, w1, b1, Hd, w2, b2, kind, act)
 *       channel gate in place: m = mean_p x[p, :]; h = relu(w1 m + b1) (w1: Hd x C);
 *       g = sigma(w2 h + b2) (w2: C x Hd), sigma = hard-sigmoid relu6(v + 3) / 6 (kind 0, MobileNetV3
 *       squeeze-excite) or the logistic sigmoid (kind 1, NanoTrack's channel attention);
 *       x[p, c] = act(x[p, c] * g[c])
 *
 * act: 0 none, 1 ReLU, 2 ReLU6, 3 hard-swish (x * relu6(x + 3) / 6, Howard et al. 2019).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
/* One build that uses AVX2/FMA where the CPU has them (chosen at load time), plain SSE2 elsewhere. */
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

/* Loops split across OpenMP threads (torch's own runtime and thread count: torch loads libgomp first and
 * this module reuses it) only above this many multiply-adds / elements: below, a fork costs more than it saves. */
#define PARALLEL_MIN_WORK 32768.0

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_HSWISH = 3 };

static inline float clamp06(float v) { return v < 0.f ? 0.f : (v > 6.f ? 6.f : v); }

static inline void activate(float *restrict v, int n, int act) {
    switch (act) {
    case ACT_RELU:
        for (int i = 0; i < n; ++i) v[i] = v[i] > 0.f ? v[i] : 0.f;
        break;
    case ACT_RELU6:
        for (int i = 0; i < n; ++i) v[i] = clamp06(v[i]);
        break;
    case ACT_HSWISH:
        for (int i = 0; i < n; ++i) v[i] = v[i] * clamp06(v[i] + 3.f) * (1.f / 6.f);
        break;
    default:
        break;
    }
}

/* Eight floats, unaligned: GCC vector extension (one AVX register in the x86-64-v3 clone, two SSE registers in the
 * default one). Loads and stores through memcpy compile to single unaligned moves. */
typedef float v8 __attribute__((vector_size(32)));

static inline v8 ld8(const float *p) {
    v8 v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

static inline void st8(float *p, v8 v) { __builtin_memcpy(p, &v, sizeof v); }

/* Output row oy of a k x k convolution (stride s, zero padding p) on an H x W input: its first input row iy0, the
 * kernel rows [ky0, ky1) that fall inside the input, and the interior output columns [lo, hi), whose whole
 * window lies inside the input (ox * s - p >= 0 and ox * s - p + k <= W). */
typedef struct {
    int iy0, ky0, ky1, lo, hi;
} row_window;

static inline row_window window_of_row(int H, int W, int k, int s, int p, int oy, int Wo) {
    row_window r;
    r.iy0 = oy * s - p;
    r.ky0 = r.iy0 < 0 ? -r.iy0 : 0;
    r.ky1 = r.iy0 + k > H ? H - r.iy0 : k;
    r.lo = (p + s - 1) / s;
    r.hi = W - k + p >= 0 ? (W - k + p) / s + 1 : 0;
    if (r.hi > Wo) r.hi = Wo;
    if (r.lo > r.hi) r.lo = r.hi;
    return r;
}

/* Depthwise convolution, one output pixel (any position: taps outside the input skipped), channels
 * [c, c + 8 NV): NV independent accumulators so consecutive FMAs do not wait on each other. */
static inline __attribute__((always_inline)) void dw_pixel(const float *restrict x, const float *restrict w,
                                                           const float *restrict b, float *restrict o, int W, int C,
                                                           const int k, const int s, int p, int iy0, int ky0,
                                                           int ky1, int ox, int c, const int NV) {
    const int ix0 = ox * s - p;
    const int kx0 = ix0 < 0 ? -ix0 : 0;
    const int kx1 = ix0 + k > W ? W - ix0 : k;
    v8 a[4];
    for (int v = 0; v < NV; ++v) a[v] = ld8(b + c + 8 * v);
    for (int ky = ky0; ky < ky1; ++ky)
        for (int kx = kx0; kx < kx1; ++kx) {
            const float *restrict xr = x + ((size_t)(iy0 + ky) * W + (ix0 + kx)) * C + c;
            const float *restrict wr = w + ((size_t)ky * k + kx) * C + c;
            for (int v = 0; v < NV; ++v) a[v] += ld8(xr + 8 * v) * ld8(wr + 8 * v);
        }
    for (int v = 0; v < NV; ++v) st8(o + c + 8 * v, a[v]);
}

/* Four interior output pixels (all taps inside the input), channels [c, c + 8 NV): 4 NV accumulators in
 * registers, each weight vector loaded once for the four pixels; with k and s constants the tap loop unrolls
 * and the loads that overlapping windows share are done once. */
static inline __attribute__((always_inline)) void dw_block4(const float *restrict x, const float *restrict w,
                                                            const float *restrict b, float *restrict o, int W, int C,
                                                            const int k, const int s, int iy0, int ky0, int ky1,
                                                            int ix0, int c, const int NV) {
    v8 a[4][2];
    for (int v = 0; v < NV; ++v) a[0][v] = a[1][v] = a[2][v] = a[3][v] = ld8(b + c + 8 * v);
    for (int ky = ky0; ky < ky1; ++ky) {
        const float *restrict xr = x + ((size_t)(iy0 + ky) * W + ix0) * C + c;
        const float *restrict wr = w + (size_t)ky * k * C + c;
        for (int kx = 0; kx < k; ++kx)
            for (int v = 0; v < NV; ++v) {
                const v8 wv = ld8(wr + (size_t)kx * C + 8 * v);
                for (int j = 0; j < 4; ++j) a[j][v] += ld8(xr + (size_t)(j * s + kx) * C + 8 * v) * wv;
            }
    }
    for (int j = 0; j < 4; ++j)
        for (int v = 0; v < NV; ++v) st8(o + (size_t)j * C + c + 8 * v, a[j][v]);
}

/* One output row of a depthwise convolution, C % 8 == 0: interior pixels four at a time, border ones singly. */
static inline __attribute__((always_inline)) void dw_row(const float *restrict x, const float *restrict w,
                                                         const float *restrict b, float *restrict yrow, int H, int W,
                                                         int C, const int k, const int s, int p, int oy, int Wo,
                                                         int act) {
    const row_window r = window_of_row(H, W, k, s, p, oy, Wo);
    const int iy0 = r.iy0, ky0 = r.ky0, ky1 = r.ky1;
    for (int ox = 0; ox < Wo; ++ox) {
        float *restrict o = yrow + (size_t)ox * C;
        if (ox >= r.lo && ox + 4 <= r.hi) {
            const int ix0 = ox * s - p;
            int c = 0;
            for (; c + 16 <= C; c += 16) dw_block4(x, w, b, o, W, C, k, s, iy0, ky0, ky1, ix0, c, 2);
            if (c < C) dw_block4(x, w, b, o, W, C, k, s, iy0, ky0, ky1, ix0, c, 1);
            ox += 3;
            continue;
        }
        int c = 0;
        for (; c + 32 <= C; c += 32) dw_pixel(x, w, b, o, W, C, k, s, p, iy0, ky0, ky1, ox, c, 4);
        for (; c < C; c += 8) dw_pixel(x, w, b, o, W, C, k, s, p, iy0, ky0, ky1, ox, c, 1);
    }
    activate(yrow, Wo * C, act);
}

MULTIVERSION
static void depthwise_nhwc_impl(const float *restrict x, const float *restrict w, const float *restrict b,
                                float *restrict y, int H, int W, int C, int k, int s, int p, int Ho, int Wo,
                                int act) {
    const double work = (double)Ho * Wo * C * k * k;
    if (C % 8 == 0) {
#pragma omp parallel for schedule(static) if (work > PARALLEL_MIN_WORK)
        for (int oy = 0; oy < Ho; ++oy) {
            float *restrict yrow = y + (size_t)oy * Wo * C;
            /* The kernel sizes of MobileNet / NanoTrack compiled with constant k and s; others generic. */
            if (k == 3 && s == 1) dw_row(x, w, b, yrow, H, W, C, 3, 1, p, oy, Wo, act);
            else if (k == 3 && s == 2) dw_row(x, w, b, yrow, H, W, C, 3, 2, p, oy, Wo, act);
            else if (k == 5 && s == 1) dw_row(x, w, b, yrow, H, W, C, 5, 1, p, oy, Wo, act);
            else if (k == 5 && s == 2) dw_row(x, w, b, yrow, H, W, C, 5, 2, p, oy, Wo, act);
            else dw_row(x, w, b, yrow, H, W, C, k, s, p, oy, Wo, act);
        }
        return;
    }
#pragma omp parallel for schedule(static) if (work > PARALLEL_MIN_WORK)
    for (int oy = 0; oy < Ho; ++oy) {
        const row_window r = window_of_row(H, W, k, s, p, oy, Wo);
        const int iy0 = r.iy0, ky0 = r.ky0, ky1 = r.ky1;
        for (int ox = 0; ox < Wo; ++ox) {
            const int ix0 = ox * s - p;
            const int kx0 = ix0 < 0 ? -ix0 : 0;
            const int kx1 = ix0 + k > W ? W - ix0 : k;
            float *restrict o = y + ((size_t)oy * Wo + ox) * C;
            for (int c = 0; c < C; ++c) o[c] = b[c];
            for (int ky = ky0; ky < ky1; ++ky) {
                for (int kx = kx0; kx < kx1; ++kx) {
                    const float *restrict xr = x + ((size_t)(iy0 + ky) * W + (ix0 + kx)) * C;
                    const float *restrict wr = w + ((size_t)ky * k + kx) * C;
                    for (int c = 0; c < C; ++c) o[c] += xr[c] * wr[c];
                }
            }
            activate(o, C, act);
        }
    }
}

/* Dense convolution, four output pixels x NV vectors of 8 output channels with the accumulators in registers;
 * every input value broadcast once per tap. x (H, W, Cin), w (k, k, Cin, Cout). */
static inline __attribute__((always_inline)) void conv_block4(const float *restrict x, const float *restrict w,
                                                              const float *restrict b, float *restrict o, int W,
                                                              int Cin, int Cout, int k, int s, int iy0, int ky0,
                                                              int ky1, int ix0, int co, const int NV) {
    v8 a[4][2];
    for (int v = 0; v < NV; ++v) a[0][v] = a[1][v] = a[2][v] = a[3][v] = ld8(b + co + 8 * v);
    for (int ky = ky0; ky < ky1; ++ky) {
        const float *restrict xr = x + ((size_t)(iy0 + ky) * W + ix0) * Cin;
        for (int kx = 0; kx < k; ++kx) {
            for (int ci = 0; ci < Cin; ++ci) {
                const float *restrict wr = w + (((size_t)ky * k + kx) * Cin + ci) * Cout + co;
                const float x0 = xr[(size_t)kx * Cin + ci], x1 = xr[(size_t)(s + kx) * Cin + ci];
                const float x2 = xr[(size_t)(2 * s + kx) * Cin + ci], x3 = xr[(size_t)(3 * s + kx) * Cin + ci];
                for (int v = 0; v < NV; ++v) {
                    const v8 wv = ld8(wr + 8 * v);
                    a[0][v] += x0 * wv;
                    a[1][v] += x1 * wv;
                    a[2][v] += x2 * wv;
                    a[3][v] += x3 * wv;
                }
            }
        }
    }
    for (int j = 0; j < 4; ++j)
        for (int v = 0; v < NV; ++v) st8(o + (size_t)j * Cout + co + 8 * v, a[j][v]);
}

/* One output row of a dense convolution: interior pixels four at a time, border ones singly. */
static inline __attribute__((always_inline)) void conv_row(const float *restrict x, const float *restrict w,
                                                           const float *restrict b, float *restrict yrow, int H,
                                                           int W, const int Cin, int Cout, const int k, int s, int p,
                                                           int oy, int Wo, int act) {
    const row_window r = window_of_row(H, W, k, s, p, oy, Wo);
    const int iy0 = r.iy0, ky0 = r.ky0, ky1 = r.ky1;
    for (int ox = 0; ox < Wo; ++ox) {
        const int ix0 = ox * s - p;
        if (ox >= r.lo && ox + 4 <= r.hi) { /* four interior pixels */
            int co = 0;
            for (; co + 16 <= Cout; co += 16)
                conv_block4(x, w, b, yrow + (size_t)ox * Cout, W, Cin, Cout, k, s, iy0, ky0, ky1, ix0, co, 2);
            for (; co < Cout; co += 8)
                conv_block4(x, w, b, yrow + (size_t)ox * Cout, W, Cin, Cout, k, s, iy0, ky0, ky1, ix0, co, 1);
            ox += 3;
            continue;
        }
        const int kx0 = ix0 < 0 ? -ix0 : 0;
        const int kx1 = ix0 + k > W ? W - ix0 : k;
        float *restrict o = yrow + (size_t)ox * Cout;
        for (int co = 0; co < Cout; co += 8) {
            v8 a = ld8(b + co);
            for (int ky = ky0; ky < ky1; ++ky)
                for (int kx = kx0; kx < kx1; ++kx)
                    for (int ci = 0; ci < Cin; ++ci)
                        a += x[((size_t)(iy0 + ky) * W + ix0 + kx) * Cin + ci] *
                             ld8(w + (((size_t)ky * k + kx) * Cin + ci) * Cout + co);
            st8(o + co, a);
        }
    }
    activate(yrow, Wo * Cout, act);
}

MULTIVERSION
static void conv_nhwc_impl(const float *restrict x, const float *restrict w, const float *restrict b,
                           float *restrict y, int H, int W, int Cin, int Cout, int k, int s, int p, int Ho, int Wo,
                           int act) {
    const double work = (double)Ho * Wo * Cout * Cin * k * k;
#pragma omp parallel for schedule(static) if (work > PARALLEL_MIN_WORK)
    for (int oy = 0; oy < Ho; ++oy) {
        float *restrict yrow = y + (size_t)oy * Wo * Cout;
        if (Cin == 3 && k == 3) /* an image stem, compiled with constant sizes */
            conv_row(x, w, b, yrow, H, W, 3, Cout, 3, s, p, oy, Wo, act);
        else
            conv_row(x, w, b, yrow, H, W, Cin, Cout, k, s, p, oy, Wo, act);
    }
}

/* Matrix product rows [p, p + M) x columns [n, n + 8 NV): y = x W + b with the M x NV accumulators in registers;
 * x (P, K) row-major, w (K, N) row-major. */
static inline __attribute__((always_inline)) void gemm_block(const float *restrict x, const float *restrict w,
                                                             const float *restrict b, float *restrict y, int K,
                                                             int N, Py_ssize_t p, int n, const int M, const int NV) {
    v8 a[6][2];
    for (int v = 0; v < NV; ++v) {
        const v8 bv = ld8(b + n + 8 * v);
        for (int r = 0; r < M; ++r) a[r][v] = bv;
    }
    const float *restrict xr = x + (size_t)p * K;
    for (int k = 0; k < K; ++k) {
        const float *restrict wr = w + (size_t)k * N + n;
        v8 wv[2];
        for (int v = 0; v < NV; ++v) wv[v] = ld8(wr + 8 * v);
        for (int r = 0; r < M; ++r) {
            const float xv = xr[(size_t)r * K + k];
            for (int v = 0; v < NV; ++v) a[r][v] += xv * wv[v];
        }
    }
    for (int r = 0; r < M; ++r)
        for (int v = 0; v < NV; ++v) st8(y + ((size_t)p + r) * N + n + 8 * v, a[r][v]);
}

/* Rows [p, p + M) of y = act(x W + b) (+ r), all columns (N % 8 == 0). */
static inline __attribute__((always_inline)) void gemm_rows(const float *restrict x, const float *restrict w,
                                                            const float *restrict b, const float *restrict res,
                                                            float *restrict y, int K, int N, Py_ssize_t p,
                                                            const int M, int act) {
    int n = 0;
    for (; n + 16 <= N; n += 16) gemm_block(x, w, b, y, K, N, p, n, M, 2);
    if (n < N) gemm_block(x, w, b, y, K, N, p, n, M, 1);
    float *restrict rows = y + (size_t)p * N;
    activate(rows, M * N, act);
    if (res) {
        const float *restrict rr = res + (size_t)p * N;
        for (int i = 0; i < M * N; ++i) rows[i] += rr[i];
    }
}

/* y (P, N) = act(x (P, K) W (K, N) + b) (+ r (P, N) when r != 0): a 1x1 convolution on a channels-last map. */
MULTIVERSION
static void pointwise_nhwc_impl(const float *restrict x, const float *restrict w, const float *restrict b,
                                const float *restrict res, float *restrict y, Py_ssize_t P, int K, int N, int act) {
    const Py_ssize_t blocks = P / 6;
#pragma omp parallel for schedule(static) if ((double)P * K * N > PARALLEL_MIN_WORK)
    for (Py_ssize_t i = 0; i < blocks; ++i) gemm_rows(x, w, b, res, y, K, N, i * 6, 6, act);
    const Py_ssize_t p = blocks * 6;
    switch (P - p) {
    case 5: gemm_rows(x, w, b, res, y, K, N, p, 5, act); break;
    case 4: gemm_rows(x, w, b, res, y, K, N, p, 4, act); break;
    case 3: gemm_rows(x, w, b, res, y, K, N, p, 3, act); break;
    case 2: gemm_rows(x, w, b, res, y, K, N, p, 2, act); break;
    case 1: gemm_rows(x, w, b, res, y, K, N, p, 1, act); break;
    default: break;
    }
}

MULTIVERSION
static void scale_act_nhwc_impl(float *restrict x, const float *restrict g, Py_ssize_t P, int C, int act) {
#pragma omp parallel for schedule(static) if ((double)P * C > PARALLEL_MIN_WORK)
    for (Py_ssize_t i = 0; i < P; ++i) {
        float *restrict r = x + i * C;
        for (int c = 0; c < C; ++c) r[c] *= g[c];
        activate(r, C, act);
    }
}

MULTIVERSION
static void bias_act_nhwc_impl(float *restrict y, const float *restrict b, const float *restrict r, Py_ssize_t P,
                               int C, int act) {
#pragma omp parallel for schedule(static) if ((double)P * C > PARALLEL_MIN_WORK)
    for (Py_ssize_t i = 0; i < P; ++i) {
        float *restrict row = y + i * C;
        for (int c = 0; c < C; ++c) row[c] += b[c];
        activate(row, C, act);
        if (r) {
            const float *restrict rr = r + i * C;
            for (int c = 0; c < C; ++c) row[c] += rr[c];
        }
    }
}

MULTIVERSION
static void gate_act_nhwc_impl(float *restrict x, Py_ssize_t P, int C, const float *restrict w1,
                               const float *restrict b1, int Hd, const float *restrict w2, const float *restrict b2,
                               int kind, int act, float *restrict buf /* C + Hd + C floats, then C doubles */) {
    float *restrict mean = buf, *restrict hid = buf + C, *restrict g = buf + C + Hd;
    /* Channel sums in double: a float32 running sum over thousands of pixels (MobileNetV3's first gate sees
     * 64x64) drifts by ~1e-5 relative, which the network then amplifies. */
    double *restrict acc = (double *)(buf + ((2 * C + Hd + 1) & ~1));
    for (int c = 0; c < C; ++c) acc[c] = 0.0;
    for (Py_ssize_t i = 0; i < P; ++i) {
        const float *restrict r = x + i * C;
        for (int c = 0; c < C; ++c) acc[c] += r[c];
    }
    for (int c = 0; c < C; ++c) mean[c] = (float)(acc[c] / (double)P);
    for (int j = 0; j < Hd; ++j) {
        const float *restrict wr = w1 + (size_t)j * C;
        float v = b1[j];
        for (int c = 0; c < C; ++c) v += wr[c] * mean[c];
        hid[j] = v > 0.f ? v : 0.f;
    }
    for (int c = 0; c < C; ++c) {
        const float *restrict wr = w2 + (size_t)c * Hd;
        float v = b2[c];
        for (int j = 0; j < Hd; ++j) v += wr[j] * hid[j];
        g[c] = kind == 0 ? clamp06(v + 3.f) * (1.f / 6.f) : 1.f / (1.f + expf(-v));
    }
    scale_act_nhwc_impl(x, g, P, C, act);
}

static int parse_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t expected, const char *name,
                      Py_ssize_t *out) {
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments (%zd given)", name, expected, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; ++i) {
        out[i] = PyLong_AsSsize_t(args[i]);
        if (out[i] == -1 && PyErr_Occurred()) return -1;
    }
    return 0;
}

/* The 8-float vector kernels need whole vectors of output channels. */
static int check_multiple_of_8(Py_ssize_t n, const char *message) {
    if (n % 8 == 0) return 0;
    PyErr_SetString(PyExc_ValueError, message);
    return -1;
}

/* A Python function NAME(a[0], ..., a[N-1]) of N integers (data pointers and sizes): parses them, evaluates CHECK
 * (0, or -1 with a Python error set), then runs CALL with the GIL released. */
#define KERNEL_FUNCTION(NAME, N, CHECK, CALL)                                          \
    static PyObject *NAME(PyObject *self, PyObject *const *args, Py_ssize_t nargs) { \
        Py_ssize_t a[N];                                                              \
        if (parse_args(args, nargs, N, #NAME, a) < 0 || (CHECK) < 0) return NULL;    \
        Py_BEGIN_ALLOW_THREADS CALL;                                                  \
        Py_END_ALLOW_THREADS Py_RETURN_NONE;                                          \
    }

#define F_IN(i) ((const float *)a[i])
#define F_OUT(i) ((float *)a[i])

KERNEL_FUNCTION(depthwise_nhwc, 13, 0,
                depthwise_nhwc_impl(F_IN(0), F_IN(1), F_IN(2), F_OUT(3), (int)a[4], (int)a[5], (int)a[6], (int)a[7],
                                    (int)a[8], (int)a[9], (int)a[10], (int)a[11], (int)a[12]))

KERNEL_FUNCTION(conv_nhwc, 14, check_multiple_of_8(a[7], "conv_nhwc: Cout must be a multiple of 8"),
                conv_nhwc_impl(F_IN(0), F_IN(1), F_IN(2), F_OUT(3), (int)a[4], (int)a[5], (int)a[6], (int)a[7],
                               (int)a[8], (int)a[9], (int)a[10], (int)a[11], (int)a[12], (int)a[13]))

KERNEL_FUNCTION(pointwise_nhwc, 9, check_multiple_of_8(a[7], "pointwise_nhwc: N must be a multiple of 8"),
                pointwise_nhwc_impl(F_IN(0), F_IN(1), F_IN(2), F_IN(3), F_OUT(4), a[5], (int)a[6], (int)a[7],
                                    (int)a[8]))

KERNEL_FUNCTION(bias_act_nhwc, 6, 0,
                bias_act_nhwc_impl(F_OUT(0), F_IN(1), F_IN(2), a[3], (int)a[4], (int)a[5]))

static PyObject *gate_act_nhwc(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t a[10];
    if (parse_args(args, nargs, 10, "gate_act_nhwc", a) < 0) return NULL;
    const int C = (int)a[2], Hd = (int)a[5];
    if (C <= 0 || Hd <= 0 || a[1] <= 0) {
        PyErr_SetString(PyExc_ValueError, "gate_act_nhwc: P, C and Hd must be positive");
        return NULL;
    }
    /* 2C + Hd floats (rounded up to an even count so the doubles after them are aligned), then C doubles. */
    const size_t nf = (size_t)(2 * C + Hd + 1) & ~(size_t)1;
    float *buf = (float *)PyMem_RawMalloc(sizeof(float) * nf + sizeof(double) * (size_t)C);
    if (!buf) return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    gate_act_nhwc_impl((float *)a[0], a[1], C, (const float *)a[3], (const float *)a[4], Hd, (const float *)a[6],
                       (const float *)a[7], (int)a[8], (int)a[9], buf);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(buf);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"depthwise_nhwc", (PyCFunction)(void (*)(void))depthwise_nhwc, METH_FASTCALL,
     "depthwise_nhwc(x, w, b, y, H, W, C, k, stride, pad, Ho, Wo, act): depthwise convolution, NHWC float32"},
    {"conv_nhwc", (PyCFunction)(void (*)(void))conv_nhwc, METH_FASTCALL,
     "conv_nhwc(x, w, b, y, H, W, Cin, Cout, k, stride, pad, Ho, Wo, act): dense convolution, NHWC float32, "
     "weights (k, k, Cin, Cout), Cout a multiple of 8"},
    {"pointwise_nhwc", (PyCFunction)(void (*)(void))pointwise_nhwc, METH_FASTCALL,
     "pointwise_nhwc(x, w, b, r, y, P, K, N, act): y = act(x w + b) (+ r if r), x (P, K), w (K, N), N a multiple "
     "of 8, NHWC float32"},
    {"bias_act_nhwc", (PyCFunction)(void (*)(void))bias_act_nhwc, METH_FASTCALL,
     "bias_act_nhwc(y, b, r, P, C, act): in place y[p, c] = act(y[p, c] + b[c]) (+ r[p, c] if r), NHWC float32"},
    {"gate_act_nhwc", (PyCFunction)(void (*)(void))gate_act_nhwc, METH_FASTCALL,
     "gate_act_nhwc(x, P, C, w1, b1, Hd, w2, b2, kind, act): channel gate (squeeze-excite / attention) + act, "
     "in place, NHWC float32"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
