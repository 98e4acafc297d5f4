// max_pool2d and avg_pool2d as loops over each window's taps inside the
// image, the tap ranges computed per window so the inner loop has no bounds
// test; 2x2 windows without padding have a loop of their own. Max: padded
// positions are skipped, so padding never wins, and a window holding a NaN
// gives NaN. Avg: padded positions count as zeros and the divisor is always
// the kernel area (PyTorch's count_include_pad=True), as in the interpreter.
// max_pool2d_grad, max_pool2d's adjoint, finds each window's maximum the
// same way and shares the window's output_grad among the taps equal to it.
// The planes are split over the kernel pool's threads where that pays.
#include "jit/kernels/KernelSupport.h"
#include "jit/kernels/MaxPool2x2.h"
#include "jit/kernels/ParallelItems.h"
#include "jit/kernels/SimdLevel.h"
#include "jit/kernels/WindowGeometry.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace chainjit::compiler::jit::kernels {

namespace {

// The taps of one window inside the image: rows top + [i0, i1) and columns
// left + [j0, j1), computed once per window so the tap loops test no bounds.
struct WindowTaps {
  int64_t top, left, i0, i1, j0, j1;
  template <typename Tap> void forEach(const Window &g, const Tap &tap) const {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = j0; j < j1; ++j)
        tap((top + i) * g.w + left + j); // the tap's index in the plane
  }
};

// window(oy, ox, taps) for every window of a plane.
template <typename Fn> void forEachWindow(const Window &g, const Fn &window) {
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t top = oy * g.sh - g.ph;
    const int64_t i0 = std::max<int64_t>(0, -top), i1 = std::min(g.kh, g.h - top);
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t left = ox * g.sw - g.pw;
      window(
          oy, ox,
          WindowTaps{top, left, i0, i1, std::max<int64_t>(0, -left), std::min(g.kw, g.w - left)});
    }
  }
}

// One plane [H, W] -> [OH, OW], any window.
template <typename T, bool Max> void poolPlane(const T *image, T *out, const Window &g) {
  const T area = static_cast<T>(g.kh * g.kw);
  forEachWindow(g, [&](int64_t oy, int64_t ox, const WindowTaps &w) {
    T acc = Max ? -std::numeric_limits<T>::infinity() : T(0);
    bool nan = false;
    w.forEach(g, [&](int64_t at) {
      const T v = image[at];
      if constexpr (Max) {
        // Without branches: which tap wins is data, and a branch on it
        // mispredicted about every other window (measured: the pools were
        // 16% of the Fashion CNN's step).
        acc = v > acc ? v : acc;
        nan |= v != v;
      } else {
        acc += v;
      }
    });
    if constexpr (Max) {
      if (nan) // rare: the window's last NaN, as before
        w.forEach(g, [&](int64_t at) {
          if (image[at] != image[at])
            acc = image[at];
        });
      out[oy * g.ow + ox] = acc;
    } else {
      out[oy * g.ow + ox] = acc / area;
    }
  });
}

// The max of every 2x2 window of an unpadded plane (the pooling of most
// CNNs), the taps compared in the order poolPlane compares them. Returns
// false, for poolPlane to do the plane again, when a tap is NaN.
template <typename T> bool maxPool2x2Plane(const T *image, T *out, const Window &g) {
  bool nan = false;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const T *r0 = image + oy * g.sh * g.w, *r1 = r0 + g.w;
    T *o = out + oy * g.ow;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t j = ox * g.sw;
      const T a = r0[j], b = r0[j + 1], c = r1[j], d = r1[j + 1];
      T acc = -std::numeric_limits<T>::infinity();
      acc = a > acc ? a : acc;
      acc = b > acc ? b : acc;
      acc = c > acc ? c : acc;
      acc = d > acc ? d : acc;
      nan |= (a != a) | (b != b) | (c != c) | (d != d);
      o[ox] = acc;
    }
  }
  return !nan;
}

// 2x2 windows with stride 2 and no padding on AVX2 vectors (MaxPool2x2.h),
// where the CPU has them (SimdLevel.h).
inline bool vectorTwoByTwo(const Window &g) {
#if defined(__x86_64__)
  return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 &&
         simdLevel() >= 1;
#else
  return false;
#endif
}

// One plane of a pool: 2x2 max windows on vectors, or without a loop per
// window, where they can.
template <typename T, bool Max>
void poolOnThisCpu(const T *image, T *out, const Window &g, bool twoByTwo, bool vectors) {
#if defined(__x86_64__)
  if (vectors)
    return pool2x2::forward(image, out, g);
#endif
  if (!twoByTwo || !maxPool2x2Plane(image, out, g))
    poolPlane<T, Max>(image, out, g);
}

// params of cj_max_pool2d_{f32,f64} and cj_avg_pool2d_{f32,f64}: the window
// (WindowGeometry.h, dilation 1). operands: {input [N, C, H, W]}; result
// [N, C, OH, OW].
template <typename T, bool Max>
int32_t pool2d(void *const *operands, void *result, const int64_t *p, void *) {
  const Window g = readWindow(p);
  const T *x = static_cast<const T *>(operands[0]);
  T *y = static_cast<T *>(result);
  const bool twoByTwo = Max && g.kh == 2 && g.kw == 2 && g.ph == 0 && g.pw == 0;
  const bool vectors = Max && vectorTwoByTwo(g);
  forItems(g.n * g.c, [&](int64_t begin, int64_t end) { // planes are independent
    for (int64_t plane = begin; plane < end; ++plane)
      poolOnThisCpu<T, Max>(x + plane * g.h * g.w, y + plane * g.oh * g.ow, g, twoByTwo, vectors);
  });
  return kJitOk;
}

// One plane of max_pool2d_grad: dx [H, W] from x [H, W] and dy [OH, OW].
// Windows may overlap, so each adds its shares.
template <typename T> void maxPoolGradPlane(const T *x, const T *dy, T *dx, const Window &g) {
  std::fill(dx, dx + g.h * g.w, T(0));
  forEachWindow(g, [&](int64_t oy, int64_t ox, const WindowTaps &w) {
    T max = -std::numeric_limits<T>::infinity();
    bool nan = false;
    w.forEach(g, [&](int64_t at) {
      max = x[at] > max ? x[at] : max; // without branches, as poolPlane
      nan |= x[at] != x[at];
    });
    int64_t hits = 0;
    w.forEach(g, [&](int64_t at) { hits += x[at] == max; });
    // A window holding a NaN gives NaN to every tap (its max is NaN).
    const T share = nan ? std::numeric_limits<T>::quiet_NaN() : dy[oy * g.ow + ox] / T(hits);
    w.forEach(g, [&](int64_t at) { dx[at] += nan || x[at] == max ? share : T(0); });
  });
}

// One plane of max_pool2d_grad.
template <typename T>
void maxPoolGradOnThisCpu(const T *x, const T *dy, T *dx, const Window &g, bool vectors) {
#if defined(__x86_64__)
  if (vectors)
    return pool2x2::adjoint(x, dy, dx, g);
#endif
  maxPoolGradPlane(x, dy, dx, g);
}

// params of cj_max_pool2d_grad_{f32,f64}: the window of the pool. operands:
// {input [N, C, H, W], output_grad [N, C, OH, OW]}; result [N, C, H, W].
template <typename T>
int32_t maxPool2dGrad(void *const *operands, void *result, const int64_t *p, void *) {
  const Window g = readWindow(p);
  const T *x = static_cast<const T *>(operands[0]);
  const T *dy = static_cast<const T *>(operands[1]);
  T *dx = static_cast<T *>(result);
  const bool vectors = vectorTwoByTwo(g);
  forItems(g.n * g.c, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane)
      maxPoolGradOnThisCpu(x + plane * g.h * g.w, dy + plane * g.oh * g.ow, dx + plane * g.h * g.w,
                           g, vectors);
  });
  return kJitOk;
}

template <typename T> constexpr auto maxPool2d = pool2d<T, true>;
template <typename T> constexpr auto avgPool2d = pool2d<T, false>;

// The pools and max_pool2d_grad: the window of the pool on operand 0.
LibraryCall lowerPoolWindow(const ir::Graph &g, ir::NodeId id, const char *name) {
  const ir::Node &n = g.node(id);
  const ir::Ints &kernel = n.attrs.getInts("kernel");
  ir::Ints stride = n.attrs.getInts("stride");
  if (stride.empty())
    stride = kernel;
  return {
      typedSymbol(name, n.type.dtype),
      windowParams(g.type(n.operands[0]).shape, kernel, stride, n.attrs.getInts("padding"), {1, 1}),
      0};
}
template <bool Max> LibraryCall lowerPool2d(const ir::Graph &g, ir::NodeId id) {
  return lowerPoolWindow(g, id, Max ? "max_pool2d" : "avg_pool2d");
}
LibraryCall lowerMaxPool2dGrad(const ir::Graph &g, ir::NodeId id) {
  return lowerPoolWindow(g, id, "max_pool2d_grad");
}

} // namespace

std::vector<LibraryKernel> poolKernels() {
  return {
      {ir::OpKind::MaxPool2d, lowerPool2d<true>},
      {ir::OpKind::MaxPool2dGrad, lowerMaxPool2dGrad},
      {ir::OpKind::AvgPool2d, lowerPool2d<false>},
  };
}

} // namespace chainjit::compiler::jit::kernels

CJ_DEFINE_FLOAT_KERNELS(cj_max_pool2d, maxPool2d)
CJ_DEFINE_FLOAT_KERNELS(cj_avg_pool2d, avgPool2d)
CJ_DEFINE_FLOAT_KERNELS(cj_max_pool2d_grad, maxPool2dGrad)

chainjit::compiler::jit::kernels::SymbolList
chainjit::compiler::jit::kernels::poolSymbols() {
  return {CJ_FLOAT_SYMBOLS(cj_max_pool2d), CJ_FLOAT_SYMBOLS(cj_avg_pool2d),
          CJ_FLOAT_SYMBOLS(cj_max_pool2d_grad)};
}
