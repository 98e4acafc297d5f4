// The two Executable implementations: the interpreter (evaluates the graph
// each call) and the JIT (compiles once, then binds buffers and calls).
#include "chainjit/runtime/Executable.h"

#include "chainjit/ir/Error.h"
#include "chainjit/ir/Verifier.h"

namespace chainjit::runtime {

Backend parseBackend(std::string_view name) {
  if (name == "interp")
    return Backend::Interp;
  if (name == "jit")
    return Backend::Jit;
  throw Error("unknown backend '" + std::string(name) + "' (expected interp or jit)");
}

namespace {

class InterpExecutable final : public Executable {
public:
  explicit InterpExecutable(ir::Graph g) : Executable(std::move(g)) {
    ir::verifyOrThrow(graph_);
  }
  EvalResult run(const Bindings &bindings) const override {
    return interpret(graph_, bindings);
  }
};

class JitExecutable final : public Executable {
public:
  JitExecutable(ir::Graph g, const compiler::JitOptions &options)
      : Executable(std::move(g)) {
    ir::verifyOrThrow(graph_);
    compiled_ = compiler::compileGraph(graph_, options);
  }

  EvalResult run(const Bindings &bindings) const override {
    checkBindingNames(graph_, bindings);
    std::vector<ir::Tensor> sources;
    std::vector<const ir::Tensor *> in;
    const auto &args = compiled_->arguments();
    sources.reserve(args.size());
    for (const compiler::ArgumentSpec &a : args)
      if (a.role == compiler::ArgumentRole::Input ||
          a.role == compiler::ArgumentRole::Param)
        sources.push_back(sourceValue(graph_, a.node, bindings));
    for (const ir::Tensor &t : sources)
      in.push_back(&t);
    std::vector<ir::Tensor> results = compiled_->run(in);
    EvalResult r;
    r.outputNames = outputNamesOf(graph_);
    size_t next = 0;
    for (const compiler::ArgumentSpec &a : args) {
      if (a.role == compiler::ArgumentRole::Output)
        r.outputs.push_back(std::move(results[next++]));
      else if (a.role == compiler::ArgumentRole::Update)
        r.updatedParams[a.name] = std::move(results[next++]);
    }
    return r;
  }

  const compiler::CompileTimes *compileTimes() const override { return &compiled_->times(); }
  const compiler::CompiledGraph *compiled() const override { return compiled_.get(); }

private:
  std::unique_ptr<compiler::CompiledGraph> compiled_;
};

} // namespace

std::unique_ptr<Executable> makeExecutable(ir::Graph g, Backend backend,
                                           const compiler::JitOptions &options) {
  if (backend == Backend::Jit)
    return std::make_unique<JitExecutable>(std::move(g), options);
  return std::make_unique<InterpExecutable>(std::move(g));
}

} // namespace chainjit::runtime
