// The kernel objects every bundle carries: the library kernels and the
// bundle runtime, one relocatable object per source file, each reduced to
// its C-ABI functions so that it needs only libc, libm and OpenBLAS (unless
// a kernel itself uses more). Made at build time by
// cmake/AotKernelObject.cmake, which writes these definitions.
#pragma once

#include <cstddef>

namespace chainjit::compiler::aot {

struct KernelObject {
  const char *name; // the archive member's name, e.g. "chainjit_reduce.o"
  const unsigned char *bytes;
  size_t size;
};

extern const KernelObject kKernelObjects[];
extern const size_t kKernelObjectCount;

} // namespace chainjit::compiler::aot
