// Measuring the kernel choice on this machine: the host's vector registers
// from LLVM's target info, and calibrationShapes() timed both ways, the
// per-machine generic micro-kernels (MicroKernelLibrary.h) and BLAS through
// the very calls the lowering emits.
#include "JitEngineImpl.h"
#include "KernelChoice.h"
#include "chainjit/ir/Error.h"

#include <llvm/Analysis/TargetTransformInfo.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <vector>

extern "C" int32_t cj_matmul_f32(void *const *, void *, const int64_t *, void *);
extern "C" int32_t cj_matmul_f64(void *const *, void *, const int64_t *, void *);

namespace chainjit::compiler::jit {

HostVectors hostVectors() {
  static std::once_flag once;
  static HostVectors v;
  std::call_once(once, [] {
    auto &impl = sharedJitEngine().impl();
    std::unique_ptr<llvm::TargetMachine> tm = impl.newTargetMachine();
    llvm::LLVMContext ctx;
    llvm::Module m("probe", ctx);
    impl.prepare(m);
    auto *fn = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), false),
                                      llvm::Function::ExternalLinkage, "probe", m);
    llvm::TargetTransformInfo tti = tm->getTargetTransformInfo(*fn);
    unsigned bits = static_cast<unsigned>(
        tti.getRegisterBitWidth(llvm::TargetTransformInfo::RGK_FixedWidthVector).getFixedValue());
    unsigned regs = tti.getNumberOfRegisters(tti.getRegisterClassForType(true));
    if (bits >= 64)
      v.bits = bits;
    if (regs >= 8)
      v.registers = regs;
  });
  return v;
}

namespace {

using Clock = std::chrono::steady_clock;
using CalibrateFn = int32_t (*)(int64_t which, void *c, const void *a, const void *b);

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Seconds per call of `call`, the least over a few batches of calls each
// lasting at least ~20 µs (the least: calibration wants the machine's
// speed, not its momentary load). Two functions are timed in alternating
// batches so a burst of load hits both.
template <typename F, typename G> std::pair<double, double> timePair(F f, G g) {
  f(), g(); // warm: page faults, BLAS buffers
  auto perCall = [](auto &fn) {
    auto t0 = Clock::now();
    fn();
    return std::max(seconds(t0), 1e-9);
  };
  int nf = std::clamp(int(20e-6 / perCall(f)), 1, 100000);
  int ng = std::clamp(int(20e-6 / perCall(g)), 1, 100000);
  double bestF = 1e9, bestG = 1e9;
  for (int round = 0; round < 7; ++round) {
    auto t0 = Clock::now();
    for (int i = 0; i < nf; ++i)
      f();
    bestF = std::min(bestF, seconds(t0) / nf);
    t0 = Clock::now();
    for (int i = 0; i < ng; ++i)
      g();
    bestG = std::min(bestG, seconds(t0) / ng);
  }
  return {bestF, bestG};
}

} // namespace

MatMulCalibration measureCalibration(const MicroKernelAddresses &kernels) {
  MatMulCalibration cal;
  cal.vectors = hostVectors();
  const std::vector<MatMulDims> shapes = calibrationShapes();
  using Axpy = void (*)(void *, const void *, const void *, int64_t, int64_t, int64_t, int64_t,
                        int64_t);
  using Dot = void (*)(void *, const void *, const void *, int64_t, int64_t, int64_t);

  size_t most = 0;
  for (const MatMulDims &d : shapes)
    most = std::max<size_t>(most, size_t(std::max({d.m * d.k, d.k * d.n, d.m * d.n})));
  std::vector<double> a(most, 0.5), bm(most, 0.25), c(most); // f64-sized, f32 uses half
  for (size_t t = 0; t < 2; ++t) {
    auto &samples = (t ? cal.f64 : cal.f32).samples;
    auto axpy = reinterpret_cast<Axpy>(t ? kernels.axpyF64 : kernels.axpyF32);
    auto dot = reinterpret_cast<Dot>(t ? kernels.dotF64 : kernels.dotF32);
    for (const MatMulDims &d : shapes) {
      int64_t params[9] = {1, d.m, d.n, d.k, d.transA, d.transB, 0, 0, 0};
      void *operands[2] = {a.data(), bm.data()};
      // The very calls the lowering emits (GenericMicroKernel.cpp).
      auto loops = [&] {
        if (d.transB)
          dot(c.data(), a.data(), bm.data(), d.m, d.n, d.k);
        else
          axpy(c.data(), a.data(), bm.data(), d.m, d.n, d.k, d.transA ? 1 : d.k,
               d.transA ? d.m : 1);
      };
      auto blas = [&] {
        (t ? cj_matmul_f64 : cj_matmul_f32)(operands, c.data(), params, nullptr);
      };
      auto [tl, tb] = timePair(loops, blas);
      samples.push_back({d, tl, tb});
    }
  }
  cal.fit();
  return cal;
}

} // namespace chainjit::compiler::jit
