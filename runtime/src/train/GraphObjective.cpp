// An Objective over a loss graph: the derivative graphs come from the
// compiler, are built on first use, and run through Executable so that the
// interpreter and the JIT behave the same.
#include "chainjit/runtime/train/GraphObjective.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/ir/Error.h"

#include <algorithm>

namespace chainjit::runtime::train {

namespace {

// The position of the output named `name` in g.outputs().
size_t outputIndex(const ir::Graph &g, const std::string &name) {
  const auto &outs = g.outputs();
  for (size_t i = 0; i < outs.size(); ++i)
    if (g.node(outs[i]).name == name)
      return i;
  throw Error("graph '" + g.name() + "' has no output named %" + name);
}

// One prepared graph and the bindings it takes: the data (only the names
// the graph has: derivative graphs may have dropped unused inputs) plus the
// current params, replaced on each run.
class Runner {
public:
  explicit Runner(ir::Graph g, Backend backend)
      : exe_(makeExecutable(std::move(g), backend)) {
    for (ir::NodeId id = 0; id < exe_->graph().size(); ++id) {
      ir::OpKind k = exe_->graph().node(id).kind;
      if (k == ir::OpKind::Input || k == ir::OpKind::Param)
        sources_.push_back(exe_->graph().node(id).name);
    }
  }
  bool has(const std::string &name) const {
    return std::find(sources_.begin(), sources_.end(), name) != sources_.end();
  }
  void setData(const Bindings &data) {
    bindings_.clear();
    for (const auto &[name, t] : data)
      if (has(name))
        bindings_[name] = t;
  }
  void set(const std::string &name, const ir::Tensor &t) {
    if (has(name))
      bindings_[name] = t;
  }
  std::vector<ir::Tensor> run() const { return exe_->run(bindings_).outputs; }
  const ir::Graph &graph() const { return exe_->graph(); }

private:
  std::unique_ptr<Executable> exe_;
  std::vector<std::string> sources_;
  Bindings bindings_;
};

} // namespace

struct GraphObjective::Compiled {
  std::unique_ptr<Runner> forward, gradient, hvp;
  std::vector<std::unique_ptr<Runner>> hessianBlocks; // row-major P x P
};

GraphObjective::GraphObjective(const ir::Graph &model, std::vector<std::string> paramNames,
                               Bindings data, GraphObjectiveOptions options)
    : graph_(compiler::expandModes(model, options.mode)), paramNames_(std::move(paramNames)),
      data_(std::move(data)), options_(options), compiled_(std::make_unique<Compiled>()) {
  if (graph_.outputs().empty())
    throw Error("graph '" + model.name() + "' has no output to minimize");
  ir::NodeId lossId = graph_.outputs()[0];
  if (graph_.type(lossId).rank() != 0 || !ir::isFloat(graph_.type(lossId).dtype))
    throw Error("the loss (the first output of '" + model.name() +
                "') must be a float scalar, not " + graph_.type(lossId).str());
  if (graph_.node(lossId).name.empty())
    graph_.setNodeName(lossId, "loss");
  loss_ = graph_.node(lossId).name;
  if (paramNames_.empty())
    throw Error("GraphObjective: no params to optimize");
  for (const std::string &p : paramNames_) {
    ir::NodeId id = graph_.lookup(p);
    if (!ir::isFloat(graph_.type(id).dtype))
      throw Error("the trainable value %" + p + " has type " + graph_.type(id).str() +
                  ": only f32 and f64 values can be optimized");
    if (std::count(paramNames_.begin(), paramNames_.end(), p) > 1)
      throw Error("the trainable value %" + p + " is listed twice");
  }
}

GraphObjective::~GraphObjective() = default;
GraphObjective::GraphObjective(GraphObjective &&) noexcept = default;
GraphObjective &GraphObjective::operator=(GraphObjective &&) noexcept = default;

void GraphObjective::setData(Bindings data) {
  data_ = std::move(data);
  Compiled &c = *compiled_;
  for (Runner *r : {c.forward.get(), c.gradient.get(), c.hvp.get()})
    if (r)
      r->setData(data_);
  for (auto &r : c.hessianBlocks)
    if (r)
      r->setData(data_);
}

ParamSet GraphObjective::initialParams() const {
  ParamSet x;
  for (const std::string &p : paramNames_) {
    auto it = data_.find(p);
    if (it != data_.end())
      x.push_back(it->second);
    else if (graph_.node(graph_.lookup(p)).kind == ir::OpKind::Param)
      x.push_back(initialParamValue(graph_, graph_.lookup(p)));
    else
      throw Error("the trainable input %" + p + " has no value: bind it in the data");
  }
  return x;
}

// Prepares `g` with the data bound.
static std::unique_ptr<Runner> prepared(ir::Graph g, const Bindings &data, Backend backend) {
  auto r = std::make_unique<Runner>(std::move(g), backend);
  r->setData(data);
  return r;
}

// Puts the params (and v, as "direction.<p>", when given) into `r`'s bindings.
static void bindParams(Runner &r, const std::vector<std::string> &names, const ParamSet &x,
                       const ParamSet *v = nullptr) {
  if (x.size() != names.size())
    throw Error("GraphObjective: " + std::to_string(x.size()) + " param values for " +
                std::to_string(names.size()) + " params");
  for (size_t i = 0; i < names.size(); ++i) {
    r.set(names[i], x[i]);
    if (v)
      r.set("direction." + names[i], (*v)[i]);
  }
}

double GraphObjective::value(const ParamSet &x) {
  Compiled &c = *compiled_;
  if (!c.forward)
    c.forward = prepared(graph_, data_, options_.backend);
  bindParams(*c.forward, paramNames_, x);
  return c.forward->run()[0].at(0);
}

double GraphObjective::gradient(const ParamSet &x, ParamSet &g) {
  Compiled &c = *compiled_;
  if (!c.gradient)
    c.gradient = prepared(compiler::grad(graph_, loss_, paramNames_), data_, options_.backend);
  bindParams(*c.gradient, paramNames_, x);
  std::vector<ir::Tensor> outs = c.gradient->run();
  const ir::Graph &gg = c.gradient->graph();
  g.clear();
  for (const std::string &p : paramNames_)
    g.push_back(std::move(outs[outputIndex(gg, "grad." + p)]));
  return outs[outputIndex(gg, loss_)].at(0);
}

void GraphObjective::hessianVector(const ParamSet &x, const ParamSet &v, ParamSet &hv) {
  requireSameLayout(x, v, "hessianVector (params and direction)");
  Compiled &c = *compiled_;
  if (!c.hvp)
    c.hvp = prepared(compiler::hvp(graph_, loss_, paramNames_), data_, options_.backend);
  bindParams(*c.hvp, paramNames_, x, &v);
  std::vector<ir::Tensor> outs = c.hvp->run();
  hv.clear();
  for (const std::string &p : paramNames_)
    hv.push_back(std::move(outs[outputIndex(c.hvp->graph(), "hvp." + p)]));
}

std::vector<double> GraphObjective::hessian(const ParamSet &x) {
  const size_t P = paramNames_.size();
  Compiled &c = *compiled_;
  if (c.hessianBlocks.empty()) {
    ir::Graph gradGraph = compiler::grad(graph_, loss_, paramNames_);
    for (size_t i = 0; i < P; ++i)
      for (size_t j = 0; j < P; ++j)
        c.hessianBlocks.push_back(prepared(
            i == j ? compiler::hessian(graph_, loss_, paramNames_[i])
                   : compiler::jacobian(gradGraph, "grad." + paramNames_[i], paramNames_[j]),
            data_, options_.backend));
  }
  const int64_t n = totalSize(x);
  std::vector<double> h(static_cast<size_t>(n * n));
  int64_t row0 = 0;
  for (size_t i = 0; i < P; ++i) {
    int64_t col0 = 0, rows = x[i].numel();
    for (size_t j = 0; j < P; ++j) {
      Runner &r = *c.hessianBlocks[i * P + j];
      bindParams(r, paramNames_, x);
      std::string name = i == j ? "hessian." + paramNames_[i]
                                : "jacobian.grad." + paramNames_[i] + "." + paramNames_[j];
      ir::Tensor block = r.run()[outputIndex(r.graph(), name)];
      int64_t cols = x[j].numel();
      for (int64_t a = 0; a < rows; ++a)
        for (int64_t b = 0; b < cols; ++b)
          h[(row0 + a) * n + col0 + b] = block.at(a * cols + b);
      col0 += cols;
    }
    row0 += rows;
  }
  symmetrize(h, n);
  return h;
}

} // namespace chainjit::runtime::train
