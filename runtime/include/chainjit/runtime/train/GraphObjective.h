// An Objective over a loss graph: the first output of the graph (a scalar)
// as a function of the named params, with every input bound to fixed data.
// The gradient, Hessian-vector and Hessian graphs come from the compiler
// (compiler::grad, hvp, and the chain-planned jacobian of the gradient),
// are built the first time they are needed, and run through
// runtime::makeExecutable on the chosen backend, so the same object works
// on the interpreter and the JIT.
#pragma once

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Graph.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Interpreter.h"
#include "chainjit/runtime/train/Objective.h"

#include <memory>
#include <string>
#include <vector>

namespace chainjit::runtime::train {

struct GraphObjectiveOptions {
  Backend backend = Backend::Interp;
  // Graphs with dropout or batch_norm are expanded for this mode first.
  compiler::Mode mode = compiler::Mode::Train;
};

class GraphObjective : public Objective {
public:
  // `model`'s first output is the loss (a scalar; given the name "loss" if
  // it has none). `paramNames` are params (or inputs) of `model`, in the
  // order of the ParamSet; `data` binds everything else that needs a value
  // (params not listed and not bound keep their initializers).
  GraphObjective(const ir::Graph &model, std::vector<std::string> paramNames, Bindings data,
                 GraphObjectiveOptions options = {});
  ~GraphObjective() override;
  GraphObjective(GraphObjective &&) noexcept;
  GraphObjective &operator=(GraphObjective &&) noexcept;

  // Replaces the bound data (for example the next batch) without
  // recompiling; the shapes must stay those of the graph.
  void setData(Bindings data);
  const Bindings &data() const { return data_; }

  const std::vector<std::string> &paramNames() const { return paramNames_; }
  const std::string &lossName() const { return loss_; }
  // The graph every derivative is taken of (modes expanded).
  const ir::Graph &graph() const { return graph_; }
  // The params' values from their initializers (or their bound data).
  ParamSet initialParams() const;

  double value(const ParamSet &x) override;
  double gradient(const ParamSet &x, ParamSet &g) override;
  void hessianVector(const ParamSet &x, const ParamSet &v, ParamSet &hv) override;
  // Block (i, j) is d/dp_j of grad.p_i: compiler::hessian for the diagonal
  // blocks, compiler::jacobian of the gradient graph for the others.
  std::vector<double> hessian(const ParamSet &x) override;

private:
  struct Compiled;
  Bindings bindingsWith(const ParamSet &x) const;
  Compiled &compiled();

  ir::Graph graph_;
  std::vector<std::string> paramNames_;
  std::string loss_;
  Bindings data_;
  GraphObjectiveOptions options_;
  std::unique_ptr<Compiled> compiled_;
};

} // namespace chainjit::runtime::train
