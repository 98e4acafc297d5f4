// The measured choice between im2col + GEMM and the direct kernel of each
// pass of a convolution; see ConvChoice.h. Both are timed through the same
// kernel the generated code calls (cj_conv2d, cj_conv_transpose2d or
// cj_conv2d_weight_grad), with its params and scratch as the lowering
// (ConvPlan.h) sizes them.
#include "jit/kernels/ConvChoice.h"
#include "jit/KernelChoice.h" // calibrationTarget
#include "jit/ObjectCache.h"
#include "jit/kernels/Blas.h"          // kMinSplitMultiplyAdds
#include "jit/kernels/ParallelItems.h" // monotonicSeconds

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <tuple>
#include <vector>

#define CJ_CONV_KERNEL(name)                                                                       \
  extern "C" int32_t name##_f32(void *const *, void *, const int64_t *, void *);                   \
  extern "C" int32_t name##_f64(void *const *, void *, const int64_t *, void *);
CJ_CONV_KERNEL(cj_conv2d)
CJ_CONV_KERNEL(cj_conv_transpose2d)
CJ_CONV_KERNEL(cj_conv2d_weight_grad)
#undef CJ_CONV_KERNEL

namespace chainjit::compiler::jit::kernels {

namespace {

// A layer whose one image through GEMM takes longer than this is left on
// GEMM untimed the other way: a compile-time budget, not a speed.
constexpr double kMeasureBudget = 2e-3;
constexpr int kRuns = 5; // per kernel, alternating; the least counts

// The images a measurement runs: one, except for the weight adjoint, whose
// direct kernel sets up and sums its accumulator once per slot of images:
// timed on one image that would be charged to it alone. Up to
// kWeightGradImages images in one slot (the size of the slots of a batch
// of 64 on a few CPUs), so the batch size (up to that many) is part of its
// key.
constexpr int64_t kWeightGradImages = 8;
int64_t measuredImages(ConvPass pass, const Window &g) {
  return pass == ConvPass::WeightGrad ? std::clamp<int64_t>(g.n, 1, kWeightGradImages) : 1;
}

// The kernel's params (ConvPlan.h) for the measured images, in one slot.
std::vector<int64_t> measuredParams(ConvPass pass, const Window &g, int64_t outChannels,
                                    ConvKernel k) {
  const int64_t slots = 1;
  return {measuredImages(pass, g),
          g.c,
          g.h,
          g.w,
          g.kh,
          g.kw,
          g.oh,
          g.ow,
          g.sh,
          g.sw,
          g.ph,
          g.pw,
          g.dh,
          g.dw,
          outChannels,
          int64_t(k),
          slots,
          int64_t(ConvEpilogue::None)};
}

using Kernel = int32_t (*)(void *const *, void *, const int64_t *, void *);
template <typename T> Kernel passKernel(ConvPass pass) {
  const bool f32 = sizeof(T) == 4;
  switch (pass) {
  case ConvPass::Forward:
    return f32 ? &cj_conv2d_f32 : &cj_conv2d_f64;
  case ConvPass::InputGrad:
    return f32 ? &cj_conv_transpose2d_f32 : &cj_conv_transpose2d_f64;
  case ConvPass::WeightGrad:
    return f32 ? &cj_conv2d_weight_grad_f32 : &cj_conv2d_weight_grad_f64;
  }
  return nullptr;
}

// n elements of T on a 64-byte boundary.
template <typename T> struct Aligned {
  int64_t size;
  std::vector<T> storage;
  explicit Aligned(int64_t n) : size(n), storage(size_t(n + 64 / int64_t(sizeof(T)))) {}
  T *data() {
    const auto at = (reinterpret_cast<uintptr_t>(storage.data()) + 63) & ~uintptr_t(63);
    return reinterpret_cast<T *>(at);
  }
};

template <typename T>
ConvTiming timeBoth(ConvPass pass, const Window &g, int64_t outChannels, bool both) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(-1, 1);
  // The measured images of each tensor the passes take: x, w, y (dy).
  Window one = g;
  one.n = measuredImages(pass, g);
  // On 64-byte boundaries, as the arena places every tensor and scratch.
  Aligned<T> x(one.n * g.c * g.h * g.w), w(outChannels * g.c * g.kh * g.kw),
      y(one.n * outChannels * g.oh * g.ow);
  for (Aligned<T> *v : {&x, &w, &y})
    for (int64_t i = 0; i < v->size; ++i)
      v->data()[i] = T(u(rng));
  const bool direct = directApplies(pass, g);
  const size_t scratch = size_t(
      std::max(convScratchElements<T>(pass, ConvKernel::Gemm, one, outChannels, 1),
               direct ? convScratchElements<T>(pass, ConvKernel::Direct, one, outChannels, 1) : 0));
  Aligned<T> s{int64_t(scratch)};
  void *operands[2];
  T *out;
  switch (pass) {
  case ConvPass::Forward:
    operands[0] = x.data(), operands[1] = w.data(), out = y.data();
    break;
  case ConvPass::InputGrad:
    operands[0] = y.data(), operands[1] = w.data(), out = x.data();
    break;
  case ConvPass::WeightGrad:
  default:
    operands[0] = x.data(), operands[1] = y.data(), out = w.data();
    break;
  }
  const Kernel kernel = passKernel<T>(pass);
  const std::vector<int64_t> pg = measuredParams(pass, g, outChannels, ConvKernel::Gemm),
                             pd = measuredParams(pass, g, outChannels, ConvKernel::Direct);
  auto once = [&](const std::vector<int64_t> &p) {
    const double t0 = monotonicSeconds();
    kernel(operands, out, p.data(), s.data());
    return monotonicSeconds() - t0;
  };
  ConvTiming t{once(pg), 0}; // also the warm-up: pages, BLAS start
  if (!direct || (!both && t.gemm > kMeasureBudget))
    return {t.gemm / double(one.n), 0};
  once(pd); // the direct kernel's warm-up
  t = {1e30, 1e30};
  for (int r = 0; r < kRuns; ++r) {
    t.gemm = std::min(t.gemm, once(pg));
    t.direct = std::min(t.direct, once(pd));
  }
  return {t.gemm / double(one.n), t.direct / double(one.n)};
}

using Key = std::tuple<ConvPass, std::vector<int64_t>, ir::DType>;

constexpr const char *kFormat = "chainjit-conv-choice 3";
const char *passName(ConvPass pass) {
  switch (pass) {
  case ConvPass::Forward:
    return "forward";
  case ConvPass::InputGrad:
    return "input-grad";
  case ConvPass::WeightGrad:
    return "weight-grad";
  }
  return "?";
}

ConvKernel measureChoice(ConvPass pass, const Window &g, int64_t outChannels, ir::DType dt) {
  const ConvTiming t = dt == ir::DType::f32 ? timeBoth<float>(pass, g, outChannels, false)
                                            : timeBoth<double>(pass, g, outChannels, false);
  return chooseByTiming(pass, g, outChannels, t, onlineCpus());
}

} // namespace

ConvKernel chooseByTiming(ConvPass pass, const Window &g, int64_t outChannels, const ConvTiming &t,
                          int64_t threads) {
  if (!(t.direct > 0))
    return ConvKernel::Gemm;
  const bool gemmSplits = pass != ConvPass::WeightGrad &&
                          outChannels * g.c * g.kh * g.kw * g.oh * g.ow >= kMinSplitMultiplyAdds;
  const double n = double(std::max<int64_t>(threads, 1));
  return t.direct / n < t.gemm / (gemmSplits ? n : 1.0) ? ConvKernel::Direct : ConvKernel::Gemm;
}

std::string convChoiceKey(ConvPass pass, const Window &g, int64_t outChannels, ir::DType dt) {
  static const std::string target = calibrationTarget();
  std::string shape =
      std::string(kFormat) + " " + passName(pass) + " " + std::string(ir::dtypeName(dt));
  for (int64_t v : measuredParams(pass, g, outChannels, ConvKernel::Gemm))
    shape += " " + std::to_string(v);
  return "conv-choice-" + jit::ObjectCache::key(shape, target);
}

ConvKernel loadOrMeasureConvKernel(const std::string &dir, ConvPass pass, const Window &g,
                                   int64_t outChannels, ir::DType dt) {
  const jit::ObjectCache cache(dir);
  const std::string key = convChoiceKey(pass, g, outChannels, dt);
  const jit::ObjectCache::Lookup found = cache.load(key); // verified; a bad entry is deleted
  if (found.object && *found.object == "gemm")
    return ConvKernel::Gemm;
  if (found.object && *found.object == "direct")
    return ConvKernel::Direct;
  if (found.object) // checksummed yet not a choice: measure again
    cache.discard(key);
  const ConvKernel k = measureChoice(pass, g, outChannels, dt);
  cache.store(key, k == ConvKernel::Direct ? "direct" : "gemm"); // best effort
  return k;
}

ConvTiming measureConvKernels(ConvPass pass, const Window &g, int64_t outChannels, ir::DType dt) {
  return dt == ir::DType::f32 ? timeBoth<float>(pass, g, outChannels, true)
                              : timeBoth<double>(pass, g, outChannels, true);
}

ConvKernel chooseConvKernel(ConvPass pass, const Window &g, int64_t outChannels, ir::DType dt) {
  if (!directApplies(pass, g))
    return ConvKernel::Gemm;
  if (const char *e = std::getenv("CHAINJIT_CONV_KERNEL")) {
    if (std::strcmp(e, "gemm") == 0)
      return ConvKernel::Gemm;
    if (std::strcmp(e, "direct") == 0)
      return ConvKernel::Direct;
  }
  static std::mutex mutex;
  static std::map<Key, ConvKernel> chosen; // one disk lookup per shape per process
  const Key key{pass, measuredParams(pass, g, outChannels, ConvKernel::Gemm), dt};
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = chosen.find(key); it != chosen.end())
    return it->second;
  // The machine's choice lives in the default cache directory whatever a
  // graph's JitOptions say, as the matmul calibration does (KernelChoice.cpp).
  const ConvKernel k =
      loadOrMeasureConvKernel(jit::ObjectCache("").directory(), pass, g, outChannels, dt);
  chosen.emplace(key, k);
  return k;
}

} // namespace chainjit::compiler::jit::kernels
