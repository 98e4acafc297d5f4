// The one list of library kernels and of the symbols generated code may
// call, collected from the family files, and the helpers their lowerings
// share.
#include "jit/kernels/KernelSupport.h"

namespace chainjit::compiler::jit {

std::vector<LibraryKernel> libraryKernels() {
  std::vector<LibraryKernel> all;
  for (auto family : {kernels::movementKernels, kernels::reduceKernels,
                      kernels::lossKernels, kernels::convKernels,
                      kernels::poolKernels, kernels::bernoulliKernels,
                      kernels::indexKernels, kernels::sparseKernels,
                      kernels::normalizationKernels})
    for (const LibraryKernel &k : family())
      all.push_back(k);
  return all;
}

std::vector<std::pair<std::string, void *>> librarySymbols() {
  kernels::SymbolList all;
  for (auto family : {kernels::movementSymbols, kernels::reduceSymbols,
                      kernels::lossSymbols, kernels::convSymbols,
                      kernels::poolSymbols, kernels::bernoulliSymbols,
                      kernels::linalgSymbols, kernels::indexSymbols,
                      kernels::sparseSymbols, kernels::normalizationSymbols})
    for (auto &symbol : family())
      all.push_back(std::move(symbol));
  return all;
}

} // namespace chainjit::compiler::jit

namespace chainjit::compiler::jit::kernels {

std::string typedSymbol(std::string_view base, ir::DType dtype) {
  return "cj_" + std::string(base) + "_" + std::string(ir::dtypeName(dtype));
}

void failLowering(const ir::Graph &g, ir::NodeId id, const std::string &message) {
  const ir::Node &node = g.node(id);
  SourceLoc loc = node.loc;
  std::string what = std::string(ir::opName(node.kind)) + ": " + message;
  if (node.name.empty())
    what = node.label(id) + ": " + what; // unnamed: "node #7: argmax: ..."
  else
    loc.node = node.name;
  throw Error(what, loc);
}

AxisSplit splitAtAxis(const ir::Shape &shape, int64_t axis) {
  auto rank = static_cast<int64_t>(shape.size());
  axis = normalizeAxis(axis, rank);
  AxisSplit s{1, shape[static_cast<size_t>(axis)], 1};
  for (int64_t d = 0; d < axis; ++d)
    s.outer *= shape[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < rank; ++d)
    s.inner *= shape[static_cast<size_t>(d)];
  return s;
}

} // namespace chainjit::compiler::jit::kernels
