// Inside JitEngine: the LLJIT instance and what makes host TargetMachines,
// plus the steps compileGraph needs separately (so it can time them and
// cache the object between optimization and loading).
//
// Every step is safe to run on several threads at once: LLJIT serializes
// its own state; a TargetMachine is not thread-safe (its subtarget cache and
// codegen state are mutable), so optimize() and codegen() each make their
// own, as ORC's ConcurrentIRCompiler does; the module's LLVMContext is the
// caller's and must not be shared with another thread.
#pragma once

#include "chainjit/compiler/JitEngine.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <atomic>
#include <memory>
#include <string>

namespace chainjit::compiler {

struct JitEngine::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  // The host CPU, its features and O3 codegen; read-only after construction.
  std::unique_ptr<llvm::orc::JITTargetMachineBuilder> machine;
  std::string dataLayout, triple, description;
  std::atomic<uint64_t> modules{0}; // names the JITDylibs

  // A fresh TargetMachine for the host, for one thread's use.
  std::unique_ptr<llvm::TargetMachine> newTargetMachine() const;
  // Sets the module's data layout and triple and verifies it.
  void prepare(llvm::Module &m) const;
  // The O3 pipeline with loop and SLP vectorization, for the host.
  void optimize(llvm::Module &m) const;
  // Machine code for the module: an object file, or assembly text.
  std::string codegen(llvm::Module &m, bool assembly) const;
  // Loads an object file into a fresh JITDylib (which sees the process,
  // OpenBLAS and the library kernels) and returns `entry`'s address and the
  // dylib, to be released with unload(). Throws chainjit::Error when the
  // object cannot be linked (the dylib is released then).
  std::pair<void *, llvm::orc::JITDylib *> load(const std::string &object,
                                                const std::string &entry);
  void unload(llvm::orc::JITDylib *dylib);
  // The address of `name` defined in a loaded dylib. Throws chainjit::Error
  // when it is not there.
  void *symbol(llvm::orc::JITDylib *dylib, const std::string &name);
};

// The O3 pipeline and the code generation of optimize() and codegen() for
// any target machine (ahead-of-time bundles choose theirs, compiler/src/aot).
// Explicit vector code (the micro-kernel library) runs `level` O1 without
// the loop vectorizers and unrolling (`vectorize` false).
enum class PipelineLevel { O1, O3 };
void optimizeModule(llvm::Module &m, llvm::TargetMachine &tm,
                    PipelineLevel level = PipelineLevel::O3, bool vectorize = true);
std::string emitMachineCode(llvm::Module &m, llvm::TargetMachine &tm, bool assembly);

// The engine shared by every compiled graph of the process.
JitEngine &sharedJitEngine();

// LLVM's native target, asm printer and parser, registered once per process
// (the JIT and ahead-of-time compilation both need them).
void initializeNativeTarget();

} // namespace chainjit::compiler
