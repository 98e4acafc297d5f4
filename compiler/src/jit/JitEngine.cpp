// LLJIT set up as ../shared/design/llvm-jit-notes.md prescribes: a real host
// TargetMachine for the pass pipeline (else the vectorizers emit scalar
// code), SLP vectorization switched on, O3 run before the module is added,
// and OpenBLAS loaded explicitly so generated code can call cblas_*. The
// library kernels are absolute symbols in the main JITDylib; each compiled
// graph gets its own JITDylib (its entry is always named the same, so the
// cached object is the same bytes) linked against the main one.
#include "JitEngineImpl.h"

#include "LibraryKernels.h"
#include "PerfMap.h"
#include "RuntimeSupport.h"
#include "chainjit/ir/Error.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/IRReader/IRReader.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <mutex>

namespace chainjit::compiler {

namespace {

std::string message(llvm::Error e) { return llvm::toString(std::move(e)); }

template <typename T> T unwrap(llvm::Expected<T> v, const char *what) {
  if (!v)
    throw Error(std::string(what) + ": " + message(v.takeError()));
  return std::move(*v);
}

} // namespace

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

JitEngine::JitEngine() : impl_(std::make_unique<Impl>()) {
  initializeNativeTarget();
  auto jtmb = unwrap(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host");
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  impl_->machine = std::make_unique<llvm::orc::JITTargetMachineBuilder>(jtmb);
  std::unique_ptr<llvm::TargetMachine> tm = impl_->newTargetMachine();
  impl_->dataLayout = tm->createDataLayout().getStringRepresentation();
  impl_->triple = tm->getTargetTriple().str();
  impl_->description = tm->getTargetCPU().str() + " " + tm->getTargetFeatureString().str();
  impl_->jit = unwrap(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(jtmb).create(),
                      "creating the JIT");
  jit::addPerfMapWriter(*impl_->jit);
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
  llvm::orc::SymbolMap symbols;
  auto &session = impl_->jit->getExecutionSession();
  auto define = [&](const std::string &name, void *address) {
    symbols[session.intern(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                     llvm::JITSymbolFlags::Exported};
  };
  for (const auto &[name, address] : jit::librarySymbols())
    define(name, address);
  for (const auto &[name, address] : jit::runtimeSupportSymbols())
    define(name, address);
  if (auto err = main.define(llvm::orc::absoluteSymbols(std::move(symbols))))
    throw Error("defining the library kernels: " + message(std::move(err)));
}

JitEngine::~JitEngine() = default;

std::string JitEngine::targetDescription() const { return impl_->description; }

std::unique_ptr<llvm::TargetMachine> JitEngine::Impl::newTargetMachine() const {
  // createTargetMachine() is not const: each thread asks its own copy.
  llvm::orc::JITTargetMachineBuilder builder = *machine;
  return unwrap(builder.createTargetMachine(), "creating the target machine");
}

void JitEngine::Impl::prepare(llvm::Module &m) const {
  m.setDataLayout(dataLayout);
  m.setTargetTriple(triple);
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(m, &os))
    throw Error("internal: generated LLVM IR does not verify: " + os.str());
}

void JitEngine::Impl::optimize(llvm::Module &m) const {
  optimizeModule(m, *newTargetMachine());
}

std::string JitEngine::Impl::codegen(llvm::Module &m, bool assembly) const {
  return emitMachineCode(m, *newTargetMachine(), assembly);
}

void optimizeModule(llvm::Module &m, llvm::TargetMachine &tm, PipelineLevel level,
                    bool vectorize) {
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = vectorize;
  tuning.SLPVectorization = vectorize;
  if (!vectorize)
    tuning.LoopUnrolling = false;
  llvm::PassBuilder pb(&tm, tuning);
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cam;
  llvm::ModuleAnalysisManager mam;
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cam, mam);
  pb.buildPerModuleDefaultPipeline(level == PipelineLevel::O1 ? llvm::OptimizationLevel::O1
                                                              : llvm::OptimizationLevel::O3)
      .run(m, mam);
}

std::string emitMachineCode(llvm::Module &m, llvm::TargetMachine &tm, bool assembly) {
  llvm::SmallVector<char, 0> bytes;
  llvm::raw_svector_ostream os(bytes);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr,
                             assembly ? llvm::CodeGenFileType::AssemblyFile
                                      : llvm::CodeGenFileType::ObjectFile))
    throw Error("internal: the target cannot emit machine code");
  pm.run(m);
  return std::string(bytes.data(), bytes.size());
}

std::pair<void *, llvm::orc::JITDylib *> JitEngine::Impl::load(const std::string &object,
                                                               const std::string &entry) {
  std::string name = "chainjit.graph." + std::to_string(modules++);
  auto created = jit->createJITDylib(name);
  if (!created)
    throw Error("creating a JITDylib: " + message(created.takeError()));
  llvm::orc::JITDylib &dylib = *created;
  dylib.addToLinkOrder(jit->getMainJITDylib());
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(object, name);
  if (auto err = jit->addObjectFile(dylib, std::move(buffer))) {
    unload(&dylib);
    throw Error("loading the compiled graph: " + message(std::move(err)));
  }
  auto addr = jit->lookup(dylib, entry);
  if (!addr) {
    unload(&dylib);
    throw Error("linking the compiled graph: " + message(addr.takeError()));
  }
  return {addr->toPtr<void *>(), &dylib};
}

void *JitEngine::Impl::symbol(llvm::orc::JITDylib *dylib, const std::string &name) {
  auto addr = jit->lookup(*dylib, name);
  if (!addr)
    throw Error("looking up " + name + " in the compiled graph: " + message(addr.takeError()));
  return addr->toPtr<void *>();
}

void JitEngine::Impl::unload(llvm::orc::JITDylib *dylib) {
  if (auto err = jit->getExecutionSession().removeJITDylib(*dylib))
    llvm::consumeError(std::move(err)); // nothing to do about it at teardown
}

void *JitEngine::compileIR(const std::string &irText, const std::string &entry) {
  auto context = std::make_unique<llvm::LLVMContext>();
  llvm::SMDiagnostic diag;
  std::unique_ptr<llvm::Module> module =
      llvm::parseIR(llvm::MemoryBufferRef(irText, "chainjit"), diag, *context);
  if (!module)
    throw Error("LLVM IR: " + std::to_string(diag.getLineNo()) + ":" +
                std::to_string(diag.getColumnNo()) + ": " + diag.getMessage().str());
  impl_->prepare(*module);
  impl_->optimize(*module);
  return impl_->load(impl_->codegen(*module, false), entry).first;
}

JitEngine &sharedJitEngine() {
  // Never destroyed: compiled graphs may outlive static destruction order.
  static JitEngine *engine = new JitEngine();
  return *engine;
}

} // namespace chainjit::compiler
