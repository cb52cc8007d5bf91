/*
 * siamtrack.models._kernels: small CPU kernels for channels-last (NHWC) float32 tensors of batch 1.
 *
 * oneDNN's depthwise convolution spends ~50-60 us of fixed cost per call on this project's
 * small maps (16x16 to 32x32 NanoTrack features), several times the arithmetic; these plain
 * loops, vectorised by the compiler over the contiguous channel axis, do the same work in a
 * fraction of that. The loops over output rows run on torch's OpenMP threads (torch.set_num_threads) when
 * built with OpenMP. Called from Python (siamtrack/models/fastops.py) with raw data pointers of
 * tensors that Python has checked (device, dtype, layout, shapes); the GIL is released.
 *
 *   depthwise_nhwc(x, w, b, y, H, W, C, k, stride, pad, Ho, Wo, act)
 *       y[oy, ox, c] = act(b[c] + sum_{ky, kx} x[oy*stride - pad + ky, ox*stride - pad + kx, c] * w[ky, kx, c])
 *       (zero padding: taps outside the input are skipped)
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

MULTIVERSION
static void depthwise_nhwc_impl(const float *restrict x, const float *restrict w, const float *restrict b,
                                float *restrict y, int H, int W, int C, int k, int s, int p, int Ho, int Wo,
                                int act) {
    const double work = (double)Ho * Wo * C * k * k;
#pragma omp parallel for schedule(static) if (work > PARALLEL_MIN_WORK)
    for (int oy = 0; oy < Ho; ++oy) {
        const int iy0 = oy * s - p;
        const int ky0 = iy0 < 0 ? -iy0 : 0;
        const int ky1 = iy0 + k > H ? H - iy0 : k;
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

static PyObject *depthwise_nhwc(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t a[13];
    if (parse_args(args, nargs, 13, "depthwise_nhwc", a) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    depthwise_nhwc_impl((const float *)a[0], (const float *)a[1], (const float *)a[2], (float *)a[3],
                        (int)a[4], (int)a[5], (int)a[6], (int)a[7], (int)a[8], (int)a[9], (int)a[10],
                        (int)a[11], (int)a[12]);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *bias_act_nhwc(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t a[6];
    if (parse_args(args, nargs, 6, "bias_act_nhwc", a) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    bias_act_nhwc_impl((float *)a[0], (const float *)a[1], (const float *)a[2], a[3], (int)a[4], (int)a[5]);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

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
    {"bias_act_nhwc", (PyCFunction)(void (*)(void))bias_act_nhwc, METH_FASTCALL,
     "bias_act_nhwc(y, b, r, P, C, act): in place y[p, c] = act(y[p, c] + b[c]) (+ r[p, c] if r), NHWC float32"},
    {"gate_act_nhwc", (PyCFunction)(void (*)(void))gate_act_nhwc, METH_FASTCALL,
     "gate_act_nhwc(x, P, C, w1, b1, Hd, w2, b2, kind, act): channel gate (squeeze-excite / attention) + act, "
     "in place, NHWC float32"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
