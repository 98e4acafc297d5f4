// The machine an ahead-of-time bundle is compiled for: the host or a named
// LLVM CPU, with position-independent code (bundles link into PIE programs
// and shared libraries) and every feature the code may then use, which the
// bundle records and checks at run time (BundleRuntime.h).
#pragma once

#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>
#include <vector>

namespace chainjit::compiler::aot {

struct AotTarget {
  std::string triple, cpu;
  std::vector<std::string> features; // enabled, implied ones included ("avx2", "fma", ...)
  std::unique_ptr<llvm::TargetMachine> machine;
  bool x86 = false;
};

// `cpu` empty or "host": the machine running this. Throws chainjit::Error
// naming the CPU and the ones LLVM knows when it is unknown.
AotTarget resolveTarget(const std::string &cpu);

} // namespace chainjit::compiler::aot
