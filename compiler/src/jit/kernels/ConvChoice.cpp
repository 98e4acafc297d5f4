// The measured choice between im2col + GEMM and the direct convolution; see
// ConvChoice.h. Both are timed through the same cj_conv2d kernel the
// generated code calls, with its params and scratch as the lowering sizes
// them.
#include "jit/kernels/ConvChoice.h"
#include "jit/kernels/DirectConv.h"
#include "jit/kernels/ParallelItems.h" // monotonicSeconds
#include "jit/KernelChoice.h"            // calibrationTarget
#include "jit/ObjectCache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <tuple>
#include <vector>

extern "C" int32_t cj_conv2d_f32(void *const *, void *, const int64_t *, void *);
extern "C" int32_t cj_conv2d_f64(void *const *, void *, const int64_t *, void *);

namespace chainjit::compiler::jit::kernels {

namespace {

// A layer whose one image through GEMM takes longer than this is left on
// GEMM untimed the other way: a compile-time budget, not a speed.
constexpr double kMeasureBudget = 2e-3;
constexpr int kRuns = 5; // per kernel, alternating; the least counts

std::vector<int64_t> oneImageParams(const Window &g, int64_t outChannels, ConvKernel k) {
  return {1,    g.c,  g.h,  g.w,  g.kh, g.kw, g.oh, g.ow,
          g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, outChannels, int64_t(k), 1}; // 1 slot
}

template <typename T> ConvTiming timeBoth(const Window &g, int64_t outChannels, bool both) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> x(size_t(g.c * g.h * g.w)), w(size_t(outChannels * g.c * g.kh * g.kw)),
      y(size_t(outChannels * g.oh * g.ow));
  for (T &v : x)
    v = T(u(rng));
  for (T &v : w)
    v = T(u(rng));
  const size_t scratch = size_t(std::max(g.c * g.kh * g.kw * g.oh * g.ow,
                                         direct::scratchElements<T>(g, outChannels, 1)));
  std::vector<T> s(scratch);
  void *operands[2] = {x.data(), w.data()};
  auto kernel = sizeof(T) == 4 ? &cj_conv2d_f32 : &cj_conv2d_f64;
  const std::vector<int64_t> pg = oneImageParams(g, outChannels, ConvKernel::Gemm),
                             pd = oneImageParams(g, outChannels, ConvKernel::Direct);
  auto once = [&](const std::vector<int64_t> &p) {
    const double t0 = monotonicSeconds();
    kernel(operands, y.data(), p.data(), s.data());
    return monotonicSeconds() - t0;
  };
  ConvTiming t{once(pg), 0}; // also the warm-up: pages, BLAS start
  if (!both && t.gemm > kMeasureBudget)
    return t;
  once(pd); // the direct kernel's warm-up
  t = {1e30, 1e30};
  for (int r = 0; r < kRuns; ++r) {
    t.gemm = std::min(t.gemm, once(pg));
    t.direct = std::min(t.direct, once(pd));
  }
  return t;
}

using Key = std::tuple<std::vector<int64_t>, ir::DType>;

constexpr const char *kFormat = "chainjit-conv-choice 1";

ConvKernel measureChoice(const Window &g, int64_t outChannels, ir::DType dt) {
  const ConvTiming t = dt == ir::DType::f32 ? timeBoth<float>(g, outChannels, false)
                                            : timeBoth<double>(g, outChannels, false);
  return t.direct > 0 && t.direct < t.gemm ? ConvKernel::Direct : ConvKernel::Gemm;
}

} // namespace

std::string convChoiceKey(const Window &g, int64_t outChannels, ir::DType dt) {
  static const std::string target = calibrationTarget();
  std::string shape = std::string(kFormat) + " " + std::string(ir::dtypeName(dt));
  for (int64_t v : oneImageParams(g, outChannels, ConvKernel::Gemm))
    shape += " " + std::to_string(v);
  return "conv-choice-" + jit::ObjectCache::key(shape, target);
}

ConvKernel loadOrMeasureConvKernel(const std::string &dir, const Window &g,
                                   int64_t outChannels, ir::DType dt) {
  const jit::ObjectCache cache(dir);
  const std::string key = convChoiceKey(g, outChannels, dt);
  const jit::ObjectCache::Lookup found = cache.load(key); // verified; a bad entry is deleted
  if (found.object && *found.object == "gemm")
    return ConvKernel::Gemm;
  if (found.object && *found.object == "direct")
    return ConvKernel::Direct;
  if (found.object) // checksummed yet not a choice: measure again
    cache.discard(key);
  const ConvKernel k = measureChoice(g, outChannels, dt);
  cache.store(key, k == ConvKernel::Direct ? "direct" : "gemm"); // best effort
  return k;
}

ConvTiming measureConvKernels(const Window &g, int64_t outChannels, ir::DType dt) {
  return dt == ir::DType::f32 ? timeBoth<float>(g, outChannels, true)
                              : timeBoth<double>(g, outChannels, true);
}

ConvKernel chooseConvKernel(const Window &g, int64_t outChannels, ir::DType dt) {
  if (const char *e = std::getenv("CHAINJIT_CONV_KERNEL")) {
    if (std::strcmp(e, "gemm") == 0)
      return ConvKernel::Gemm;
    if (std::strcmp(e, "direct") == 0)
      return ConvKernel::Direct;
  }
  static std::mutex mutex;
  static std::map<Key, ConvKernel> chosen; // one disk lookup per shape per process
  const Key key{oneImageParams(g, outChannels, ConvKernel::Gemm), dt};
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = chosen.find(key); it != chosen.end())
    return it->second;
  // The machine's choice lives in the default cache directory whatever a
  // graph's JitOptions say, as the matmul calibration does (KernelChoice.cpp).
  const ConvKernel k = loadOrMeasureConvKernel(jit::ObjectCache("").directory(), g,
                                               outChannels, dt);
  chosen.emplace(key, k);
  return k;
}

} // namespace chainjit::compiler::jit::kernels
