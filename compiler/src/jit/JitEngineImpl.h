// Inside JitEngine: the LLJIT instance and the host TargetMachine, plus the
// steps compileGraph needs separately (so it can time them and cache the
// object between optimization and loading).
#pragma once

#include "chainjit/compiler/JitEngine.h"

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <mutex>
#include <string>

namespace chainjit::compiler {

struct JitEngine::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::unique_ptr<llvm::TargetMachine> tm;
  std::mutex mutex; // LLJIT is thread-safe; our counters and the TM are not
  int modules = 0;

  // Sets the module's data layout and triple and verifies it.
  void prepare(llvm::Module &m);
  // The O3 pipeline with loop and SLP vectorization, for the host.
  void optimize(llvm::Module &m);
  // Machine code for the module: an object file, or assembly text.
  std::string codegen(llvm::Module &m, bool assembly);
  // Loads an object file into a fresh JITDylib (which sees the process,
  // OpenBLAS and the library kernels) and returns `entry`'s address and the
  // dylib, to be released with unload().
  std::pair<void *, llvm::orc::JITDylib *> load(const std::string &object,
                                                const std::string &entry);
  void unload(llvm::orc::JITDylib *dylib);
};

// The engine shared by every compiled graph of the process.
JitEngine &sharedJitEngine();

} // namespace chainjit::compiler
