// Internal to the JIT: what an index kernel (gather, scatter_add, one_hot)
// found out of range. The kernel returns kJitIndexOutOfRange and leaves the
// index and its position here; the caller (Jit.cpp), on the same thread,
// turns them into the message of ir/IndexBounds.h. Kernels run on the
// calling thread, so a thread-local record keeps parallel calls apart.
#pragma once

#include <cstdint>

namespace chainjit::compiler::jit {

struct IndexFault {
  int64_t value = 0;    // the offending index
  int64_t position = 0; // its row-major element number in the indices
};

} // namespace chainjit::compiler::jit

// This thread's last fault. A C name with the kernels' cj_ prefix: the AOT
// bundle runtime calls it, and bundles keep exactly the cj_ functions of
// the kernel objects (cmake/AotKernelObject.cmake).
extern "C" chainjit::compiler::jit::IndexFault *cj_index_fault();

namespace chainjit::compiler::jit {
inline IndexFault &lastIndexFault() { return *cj_index_fault(); }
} // namespace chainjit::compiler::jit
