// The one dispatch table of the reference interpreter: every family file's
// kernels, indexed by OpKind, with the check that no non-source op is missing
// (so a new op in ops.def fails loudly here instead of at some user's call).
#include "interp/Kernels.h"

namespace chainjit::runtime::interp {

void KernelArgs::fail(const std::string &message) const {
  SourceLoc loc = node.loc;
  std::string what = std::string(ir::opName(node.kind)) + ": " + message;
  if (node.name.empty())
    what = node.label(id) + ": " + what; // unnamed: "node #7: solve: ..."
  else
    loc.node = node.name;                // printed as "in %name"
  throw Error(what, loc);
}

namespace {
struct KernelTable {
  std::array<Kernel, ir::kNumOpKinds> kernels{};

  KernelTable() {
    for (auto family : {elementwiseKernels, shapeKernels, linalgKernels,
                        reduceKernels, lossKernels, nnKernels,
                        indexKernels, sparseKernels, controlKernels})
      for (const KernelEntry &e : family()) {
        Kernel &slot = kernels.at(static_cast<size_t>(e.kind));
        if (slot)
          throw Error("interpreter: op '" + std::string(ir::opName(e.kind)) +
                      "' has two kernels");
        slot = e.kernel;
      }
    for (size_t i = 0; i < ir::kNumOpKinds; ++i) {
      auto k = static_cast<ir::OpKind>(i);
      if (!ir::isSource(k) && !kernels[i])
        throw Error("interpreter: op '" + std::string(ir::opName(k)) +
                    "' has no kernel");
    }
  }
};
} // namespace

const std::array<Kernel, ir::kNumOpKinds> &kernelTable() {
  static const KernelTable table;
  return table.kernels;
}

} // namespace chainjit::runtime::interp
