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

// This thread's last fault.
IndexFault &lastIndexFault();

} // namespace chainjit::compiler::jit
