// Measuring the kernel choice on this machine: the host's vector registers
// from LLVM's target info, and calibrationShapes() timed both ways, the
// generated micro-kernels JIT-compiled into one small module for the
// purpose, BLAS through the very cj_matmul kernel the lowering calls.
#include "JitEngineImpl.h"
#include "KernelChoice.h"
#include "chainjit/ir/Error.h"
#include "jit/kernels/gen/MatMulMicroKernel.h"

#include <llvm/Analysis/TargetTransformInfo.h>
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

MatMulCalibration measureCalibration() {
  MatMulCalibration cal;
  cal.vectors = hostVectors();
  const std::vector<MatMulDims> shapes = calibrationShapes();
  auto &impl = sharedJitEngine().impl();

  // cj_calibrate(which, C, A, B): shape which % S in f32 (which < S) or f64.
  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("chainjit.calibrate", *ctx);
  llvm::IRBuilder<> b(*ctx);
  llvm::Type *ptr = b.getPtrTy();
  auto *fnTy = llvm::FunctionType::get(b.getInt32Ty(), {b.getInt64Ty(), ptr, ptr, ptr}, false);
  auto *fn = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage, "cj_calibrate", *module);
  for (unsigned i = 1; i < 4; ++i)
    fn->getArg(i)->addAttr(llvm::Attribute::NoAlias);
  auto *entry = llvm::BasicBlock::Create(*ctx, "entry", fn);
  auto *bad = llvm::BasicBlock::Create(*ctx, "bad", fn);
  b.SetInsertPoint(bad);
  b.CreateRet(b.getInt32(1));
  b.SetInsertPoint(entry);
  auto *sw = b.CreateSwitch(fn->getArg(0), bad);
  for (size_t t = 0; t < 2; ++t)
    for (size_t s = 0; s < shapes.size(); ++s) {
      auto *block = llvm::BasicBlock::Create(*ctx, "shape", fn);
      sw->addCase(b.getInt64(t * shapes.size() + s), block);
      b.SetInsertPoint(block);
      emitMicroKernelMatMul(b, fn, t ? b.getDoubleTy() : b.getFloatTy(), fn->getArg(1),
                            fn->getArg(2), fn->getArg(3), shapes[s], cal.vectors);
      b.CreateRet(b.getInt32(0));
    }
  impl.prepare(*module);
  impl.optimize(*module);
  std::string object = impl.codegen(*module, false);
  auto [address, dylib] = impl.load(object, "cj_calibrate");
  auto calibrate = reinterpret_cast<CalibrateFn>(address);

  size_t most = 0;
  for (const MatMulDims &d : shapes)
    most = std::max<size_t>(most, size_t(std::max({d.m * d.k, d.k * d.n, d.m * d.n})));
  std::vector<double> a(most, 0.5), bm(most, 0.25), c(most); // f64-sized, f32 uses half
  for (size_t t = 0; t < 2; ++t) {
    auto &samples = (t ? cal.f64 : cal.f32).samples;
    for (size_t s = 0; s < shapes.size(); ++s) {
      const MatMulDims &d = shapes[s];
      int64_t params[9] = {1, d.m, d.n, d.k, d.transA, d.transB, 0, 0, 0};
      void *operands[2] = {a.data(), bm.data()};
      const int64_t which = int64_t(t * shapes.size() + s);
      auto loops = [&] { calibrate(which, c.data(), a.data(), bm.data()); };
      auto blas = [&] {
        (t ? cj_matmul_f64 : cj_matmul_f32)(operands, c.data(), params, nullptr);
      };
      auto [tl, tb] = timePair(loops, blas);
      samples.push_back({d, tl, tb});
    }
  }
  impl.unload(dylib);
  cal.fit();
  return cal;
}

} // namespace chainjit::compiler::jit
