// Interpreter kernels of the CSR sparse products (spmm, sddmm).
#include "interp/Kernels.h"

namespace chainjit::runtime::interp {

// Placeholder until the kernels land: a clear error when used.
static ir::Tensor notYet(const KernelArgs &a) { a.fail("no interpreter kernel yet"); }

std::vector<KernelEntry> sparseKernels() {
  return {{ir::OpKind::SpMM, notYet}, {ir::OpKind::SDDMM, notYet}};
}

} // namespace chainjit::runtime::interp
