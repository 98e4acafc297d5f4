// The kernel object every bundle carries: the library kernels and the
// bundle runtime as one relocatable object that needs only libc, libm and
// OpenBLAS. Made at build time by cmake/AotKernelObject.cmake, which writes
// these two definitions.
#pragma once

#include <cstddef>

namespace chainjit::compiler::aot {

extern const unsigned char kKernelObject[];
extern const size_t kKernelObjectSize;

} // namespace chainjit::compiler::aot
