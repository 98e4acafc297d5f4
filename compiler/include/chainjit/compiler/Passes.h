// Graph passes: functions from graph to graph, listed once in passRegistry()
// so that the CLI's --passes=, --print-after=PASS and --print-after-all work
// for every pass without further wiring.
#pragma once

#include "chainjit/ir/Graph.h"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::compiler {

using PassFn = ir::Graph (*)(const ir::Graph &);

struct PassInfo {
  std::string_view name;        // as written on the command line
  std::string_view description; // one line for --help and docs
  PassFn run;
};

// Every pass, in the order of the default pipeline.
const std::vector<PassInfo> &passRegistry();
// Throws chainjit::Error listing the known passes if `name` is unknown.
const PassInfo &findPass(std::string_view name);

// Called after each pass with its name and result (for --print-after).
using PassObserver = std::function<void(std::string_view, const ir::Graph &)>;
// Runs the named passes in order, verifying the graph after each one.
ir::Graph runPasses(const ir::Graph &g, const std::vector<std::string> &names,
                    const PassObserver &observer = {});

// --- the passes ---
// Removes nodes that no output or update depends on (inputs and params stay:
// they are the graph's calling interface).
ir::Graph eliminateDeadCode(const ir::Graph &g);

// Train and eval graphs of a model: dropout and batch_norm become primitives.
// Train: dropout multiplies by a bernoulli mask scaled by 1/(1-rate);
// batch_norm normalizes with batch statistics and adds updates of the running
// statistics. Eval: dropout is the identity; batch_norm uses the running
// statistics.
enum class Mode { Train, Eval };
ir::Graph expandModes(const ir::Graph &g, Mode mode);
ir::Graph expandTrain(const ir::Graph &g); // expandModes(g, Mode::Train)
ir::Graph expandEval(const ir::Graph &g);  // expandModes(g, Mode::Eval)

// --- simplification: each keeps outputs, updates and every name (a named
// node that is replaced gives its name to the replacement, or stays as an
// alias of it when that is named too) ---

// Replaces ops whose operands are known consts by consts, computed exactly as
// the reference interpreter does: exact elementwise arithmetic, comparisons,
// where and cast on small consts or on splats of any size, data movement of
// consts, sum and mean of splats. Transcendental functions are not folded.
ir::Graph foldConstants(const ir::Graph &g);
// Algebraic identities: x + 0, x * 1, x * 0 (a strong zero), neg(neg(x)),
// nested reshapes, transposes and broadcasts, identity casts and reshapes,
// where(c, x, x)... (the full list is in SimplifyAlgebra.cpp).
ir::Graph simplifyAlgebra(const ir::Graph &g);
// Common-subexpression elimination: one node per (op, operands, attributes),
// one const per (type, bits); inputs and params are never merged.
ir::Graph eliminateCommonSubexpressions(const ir::Graph &g);
// foldConstants, simplifyAlgebra, eliminateCommonSubexpressions and
// eliminateDeadCode, repeated until the graph stops changing (at most a few
// rounds); the result is verified. The derivative transforms end with it.
ir::Graph simplifyGraph(const ir::Graph &g);

} // namespace chainjit::compiler
