// Interpreter kernels of the indexing ops (gather, scatter_add, iota, one_hot).
#include "interp/Kernels.h"

namespace chainjit::runtime::interp {

// Placeholder until the kernels land: a clear error when used.
static ir::Tensor notYet(const KernelArgs &a) { a.fail("no interpreter kernel yet"); }

std::vector<KernelEntry> indexKernels() {
  return {{ir::OpKind::Gather, notYet}, {ir::OpKind::ScatterAdd, notYet},
          {ir::OpKind::Iota, notYet}, {ir::OpKind::OneHot, notYet}};
}

} // namespace chainjit::runtime::interp
