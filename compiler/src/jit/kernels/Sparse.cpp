// Library kernels of the CSR sparse products (spmm, sddmm).
#include "jit/kernels/KernelSupport.h"

namespace chainjit::compiler::jit::kernels {

std::vector<LibraryKernel> sparseKernels() { return {}; }

SymbolList sparseSymbols() { return {}; }

} // namespace chainjit::compiler::jit::kernels
