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
      {"dce", "remove nodes that no output or update depends on",
       eliminateDeadCode},
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
