// The reference interpreter: evaluates any verified graph on the CPU with
// plain, obviously correct loops (f64 accumulation, also for f32 data). It is
// the oracle the JIT and the derivative tests are compared against:
// correctness before speed.
#pragma once

#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Tensor.h"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::runtime {

// Values for a graph's inputs and params, by name.
using Bindings = std::map<std::string, ir::Tensor, std::less<>>;

// What a run returns: outputs by position (`outputs[0]`) or by name
// (`output("loss")`), and the new value of every updated param.
struct EvalResult {
  std::vector<ir::Tensor> outputs;      // in the order of g.outputs()
  std::vector<std::string> outputNames; // the node name of each ("" if unnamed)
  Bindings updatedParams;               // the new value of each updated param

  // The output named `name` ("loss" or "%loss"). Throws chainjit::Error
  // naming it and listing the outputs there are when there is none.
  const ir::Tensor &output(std::string_view name) const;
};

// The node name of each output of `g`, in order: EvalResult::outputNames.
std::vector<std::string> outputNamesOf(const ir::Graph &g);

// Evaluates `g` (which must not contain mode-dependent ops such as dropout or
// batch_norm: expand them first with compiler::expandModes). Every input
// must be bound; params not bound take their initializer. A bound value must
// have exactly the declared type (dtype and shape), and a name that is no
// input or param is an error, not ignored. Throws
// chainjit::Error naming the input or node on a problem (missing or
// mistyped binding, singular matrix in solve, ...).
EvalResult interpret(const ir::Graph &g, const Bindings &bindings);

// Evaluates every node and returns all values (indexed by NodeId): for
// tests and for --check-numerics.
std::vector<ir::Tensor> interpretAll(const ir::Graph &g, const Bindings &bindings);

// Whether the interpreter has a kernel for ops of kind `k`. Every non-source
// op has one (dropout and batch_norm: one that asks for mode expansion).
bool interpreterHasKernel(ir::OpKind k);

// Throws unless every binding names an input or param of `g`.
void checkBindingNames(const ir::Graph &g, const Bindings &bindings);

// The value of source node `id` (input, param or const) under `bindings`:
// the bound tensor (type-checked), a param's initializer when unbound, a
// const's literal. Throws naming the node when an input is not bound or a
// binding has the wrong type. Shared by every backend.
ir::Tensor sourceValue(const ir::Graph &g, ir::NodeId id, const Bindings &bindings);

// The initial value of a param from its init/scale/seed attributes.
ir::Tensor initialParamValue(const ir::Graph &g, ir::NodeId param);

} // namespace chainjit::runtime
