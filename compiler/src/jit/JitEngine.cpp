// LLJIT set up as ../shared/design/llvm-jit-notes.md prescribes: a real host
// TargetMachine for the pass pipeline (else the vectorizers emit scalar
// code), SLP vectorization switched on, O3 run before the module is added,
// and OpenBLAS loaded explicitly so generated code can call cblas_*.
#include "chainjit/compiler/JitEngine.h"

#include "chainjit/ir/Error.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/IRReader/IRReader.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Target/TargetMachine.h>

#include <mutex>

namespace chainjit::compiler {

namespace {

std::string message(llvm::Error e) { return llvm::toString(std::move(e)); }

template <typename T> T unwrap(llvm::Expected<T> v, const char *what) {
  if (!v)
    throw Error(std::string(what) + ": " + message(v.takeError()));
  return std::move(*v);
}

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

} // namespace

struct JitEngine::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::unique_ptr<llvm::TargetMachine> tm;
  int modules = 0;
};

JitEngine::JitEngine() : impl_(std::make_unique<Impl>()) {
  initializeNativeTarget();
  auto jtmb = unwrap(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host");
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  impl_->tm = unwrap(jtmb.createTargetMachine(), "creating the target machine");
  impl_->jit = unwrap(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(jtmb).create(),
                      "creating the JIT");
  auto &main = impl_->jit->getMainJITDylib();
  char prefix = impl_->jit->getDataLayout().getGlobalPrefix();
  // Our own process (libc, libm) and OpenBLAS, which the linker may have
  // dropped as unused (--as-needed).
  main.addGenerator(unwrap(
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(prefix), "process symbols"));
  if (auto blas = llvm::orc::DynamicLibrarySearchGenerator::Load("libopenblas.so.0", prefix))
    main.addGenerator(std::move(*blas));
  else
    throw Error("cannot load libopenblas.so.0 for generated code: " + message(blas.takeError()));
}

JitEngine::~JitEngine() = default;

std::string JitEngine::targetDescription() const {
  return impl_->tm->getTargetCPU().str() + " " + impl_->tm->getTargetFeatureString().str();
}

void *JitEngine::compileIR(const std::string &irText, const std::string &entry) {
  auto context = std::make_unique<llvm::LLVMContext>();
  llvm::SMDiagnostic diag;
  std::unique_ptr<llvm::Module> module =
      llvm::parseIR(llvm::MemoryBufferRef(irText, "chainjit"), diag, *context);
  if (!module)
    throw Error("LLVM IR: " + std::to_string(diag.getLineNo()) + ":" +
                std::to_string(diag.getColumnNo()) + ": " + diag.getMessage().str());
  // Unique module names: each compile adds a new module to the same JIT.
  module->setModuleIdentifier("chainjit." + std::to_string(impl_->modules++));
  module->setDataLayout(impl_->tm->createDataLayout());
  module->setTargetTriple(impl_->tm->getTargetTriple().str());
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(*module, &os))
    throw Error("LLVM IR does not verify: " + os.str());

  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  llvm::PassBuilder pb(impl_->tm.get(), tuning);
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cam;
  llvm::ModuleAnalysisManager mam;
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(*module, mam);

  if (auto err = impl_->jit->addIRModule(
          llvm::orc::ThreadSafeModule(std::move(module), std::move(context))))
    throw Error("adding the module to the JIT: " + message(std::move(err)));
  auto addr = unwrap(impl_->jit->lookup(entry), ("looking up '" + entry + "'").c_str());
  return addr.toPtr<void *>();
}

} // namespace chainjit::compiler
