// The message of a library kernel that fails on its operands' values (a CSR
// structure that is not one, an index out of range): the kernel records it
// and returns kJitKernelError; the compiled graph's call, on the same thread,
// takes it and throws it with the failing node's name and op. A status code
// alone cannot say which value at which position was wrong.
#pragma once

#include <string>

namespace chainjit::compiler::jit {

// Keeps `message` for this thread until takeKernelError().
void recordKernelError(std::string message);
// This thread's recorded message (cleared), or a generic one if none.
std::string takeKernelError();

} // namespace chainjit::compiler::jit
