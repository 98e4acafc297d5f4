// Names JIT code for Linux perf: with CHAINJIT_PERF_MAP=1 in the
// environment, every function the JIT links (compiled graphs, their
// kernels, the micro-kernel library) is appended to /tmp/perf-<pid>.map as
// "address size name", the file `perf report` reads to name [JIT] samples.
// Without the variable nothing is written.
#pragma once

#include <llvm/ExecutionEngine/Orc/LLJIT.h>

namespace chainjit::compiler::jit {

// Adds the writer to `jit`'s object linking layer when CHAINJIT_PERF_MAP=1
// (and the layer is JITLink's, as LLJIT's default on x86-64 Linux is).
void addPerfMapWriter(llvm::orc::LLJIT &jit);

} // namespace chainjit::compiler::jit
