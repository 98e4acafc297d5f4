// The native-code engine under the JIT backend: LLVM ORC (LLJIT) for the
// host CPU with the O3 pipeline, loop and SLP vectorization on, and OpenBLAS
// and the library kernels resolvable from generated code. compileGraph
// (Jit.h) lowers graphs into modules for it; this header keeps LLVM out of
// users' builds (it needs only the standard library).
//
// Thread-safe: every member may be called from several threads at once. ORC
// serializes its own bookkeeping, and each compilation gets its own LLVM
// context and its own TargetMachine (a TargetMachine is not thread-safe).
#pragma once

#include <memory>
#include <string>

namespace chainjit::compiler {

class JitEngine {
public:
  JitEngine();
  ~JitEngine();
  JitEngine(const JitEngine &) = delete;
  JitEngine &operator=(const JitEngine &) = delete;

  // Parses a module in LLVM's textual IR, optimizes it at O3 for the host
  // and returns the address of `entry`. Throws chainjit::Error with LLVM's
  // message on a parse, verification or lookup failure.
  void *compileIR(const std::string &irText, const std::string &entry);

  // The host CPU name and feature string the code is generated for.
  std::string targetDescription() const;

  // The LLVM objects behind the engine, for the lowering (JitEngineImpl.h).
  struct Impl;
  Impl &impl() { return *impl_; }

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace chainjit::compiler
