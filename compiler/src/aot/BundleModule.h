// The LLVM half of a bundle: the JIT's module for the graph, its entry made
// internal, plus what a C program calls (NAME_run, NAME_check), the
// descriptor cj_bundle_call reads (BundleRuntime.h) and the embedded weights.
#pragma once

#include "aot/AotTarget.h"
#include "jit/LoweringPlan.h"

#include <llvm/IR/Module.h>

#include <map>
#include <string>
#include <vector>

namespace chainjit::compiler::aot {

// NAME_run's arguments, in the entry's buffer order (Jit.h's ABI).
struct BundleArgument {
  ArgumentSpec spec;
  std::string cname;     // a C identifier, unique in the bundle
  bool embedded = false; // a param whose value is in the object
};

struct BundleSignature {
  std::string name; // the C prefix
  std::vector<BundleArgument> arguments;
  int64_t workspaceBytes = 0;
};

using ParamValues = std::map<std::string, ir::Tensor, std::less<>>;

// Adds the C entry points, the descriptor and the weights (`params`, already
// checked against the signature) to `m`, whose entry is jit::kEntryName.
void addBundleInterface(llvm::Module &m, const ir::Graph &g, const BundleSignature &sig,
                        const ParamValues &params, const AotTarget &target);

} // namespace chainjit::compiler::aot
