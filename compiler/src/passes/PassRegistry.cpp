#include "chainjit/compiler/Passes.h"

#include "chainjit/ir/Verifier.h"

namespace chainjit::compiler {

const std::vector<PassInfo> &passRegistry() {
  static const std::vector<PassInfo> passes = {
      {"expand-train",
       "dropout -> bernoulli mask; batch_norm -> batch statistics and "
       "running-statistic updates",
       expandTrain},
      {"expand-eval",
       "dropout -> identity; batch_norm -> running statistics", expandEval},
      {"fold-constants",
       "evaluate exact elementwise, data-movement and splat-reduction ops on consts",
       foldConstants},
      {"simplify",
       "algebraic identities: x+0, x*1, x*0, neg(neg(x)), nested reshape/transpose...",
       simplifyAlgebra},
      {"cse", "merge nodes with the same op, operands and attributes, and equal consts",
       eliminateCommonSubexpressions},
      {"dce", "remove nodes that no output or update depends on",
       eliminateDeadCode},
      {"simplify-all",
       "fold-constants, simplify, cse and dce until the graph stops changing",
       simplifyGraph},
  };
  return passes;
}

const PassInfo &findPass(std::string_view name) {
  std::string known;
  for (const PassInfo &p : passRegistry()) {
    if (p.name == name)
      return p;
    known += (known.empty() ? "" : ", ") + std::string(p.name);
  }
  throw Error("unknown pass '" + std::string(name) + "' (known: " + known + ")");
}

ir::Graph runPasses(const ir::Graph &g, const std::vector<std::string> &names,
                    const PassObserver &observer) {
  ir::Graph cur = g;
  for (const std::string &n : names) {
    const PassInfo &p = findPass(n);
    cur = p.run(cur);
    ir::verifyOrThrow(cur);
    if (observer)
      observer(p.name, cur);
  }
  return cur;
}

} // namespace chainjit::compiler
