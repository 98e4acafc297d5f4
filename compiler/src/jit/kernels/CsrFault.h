// Internal to the JIT: the CSR structure a sparse kernel (spmm, sddmm) found
// invalid. The kernel returns kJitInvalidCsr and leaves the fault here; the
// caller (Jit.cpp), on the same thread, turns it into the interpreter's
// message (ir/CsrStructure.h). A plain thread-local record, like
// IndexFault.h: the kernels need no C++ runtime (AOT bundles carry them).
#pragma once

#include "chainjit/ir/CsrStructure.h"

namespace chainjit::compiler::jit {

} // namespace chainjit::compiler::jit

// This thread's last fault. A C name with the kernels' cj_ prefix: the AOT
// bundle runtime calls it, and bundles keep exactly the cj_ functions of
// the kernel objects (cmake/AotKernelObject.cmake).
extern "C" chainjit::ir::CsrFault *cj_csr_fault();

namespace chainjit::compiler::jit {
inline ir::CsrFault &lastCsrFault() { return *cj_csr_fault(); }
} // namespace chainjit::compiler::jit
