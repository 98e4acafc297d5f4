// The user-facing derivative transforms: jvp, vjp, grad, jacobian, hessian,
// hvp. Each copies the primal graph, seeds a sweep, names its results, and
// removes what no output needs.
#include "chainjit/compiler/Autodiff.h"
#include "PlannedJacobian.h"
#include "chainjit/compiler/JacobianByPlan.h"
#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Verifier.h"

namespace chainjit::compiler {

using namespace ir;

namespace {

NodeId lookupFloat(const Graph &f, const std::string &name, const char *role) {
  NodeId id = f.lookup(name);
  if (!isFloat(f.type(id).dtype))
    throw Error(std::string(role) + " %" + name + " has type " + f.type(id).str() +
                ": derivatives need f32 or f64");
  return id;
}

// The identity as k = numel(shape) directions: [k, ...shape].
Value identityDirections(Graph &g, const TensorType &t) {
  int64_t n = t.numel();
  return reshape(identityMatrix(g, n, t.dtype), directionShape(n, t.shape));
}

Value zerosDirections(Graph &g, int64_t k, const TensorType &t) {
  return broadcastTo(scalar(g, 0.0, t.dtype), directionShape(k, t.shape));
}

// The derivative graph starts as a copy of f whose outputs are f's outputs
// plus `of` if f does not output it already.
struct DerivativeGraph {
  Graph out;
  std::vector<NodeId> primal;

  DerivativeGraph(const Graph &f, const std::string &suffix, NodeId of)
      : out(f.name() + "." + suffix) {
    primal = copyPrimal(f, out);
    bool hasOf = false;
    for (NodeId o : f.outputs()) {
      out.addOutput(primal[o]);
      hasOf = hasOf || o == of;
    }
    if (!hasOf)
      out.addOutput(primal[of]);
  }
  Value value(NodeId srcId) { return Value(out, primal[srcId]); }
  void emit(Value v, const std::string &name) {
    out.setNodeName(v.id(), name);
    out.addOutput(v.id());
  }
  // mergeCommon = false keeps recomputed nodes apart from the originals.
  Graph finish(bool simplify = true, bool mergeCommon = true) {
    Graph g = eliminateDeadCode(!simplify      ? out
                                : mergeCommon ? simplifyGraph(out)
                                              : simplifyAlgebra(foldConstants(out)));
    verifyOrThrow(g);
    return g;
  }
};

// Names a derivative result; a value that already has a name (a primal value
// passed through) gets an identity copy so both names exist.
Value fresh(Value v) {
  if (v.graph().node(v.id()).name.empty() && !isSource(v.graph().node(v.id()).kind))
    return v;
  return reshape(v, v.shape());
}

// grad, hessian and hvp differentiate a scalar; say which request failed.
void requireScalar(const Graph &f, const std::string &of, const char *request) {
  NodeId id = f.lookup(of);
  if (f.type(id).rank() != 0)
    throw Error(std::string(request) + " needs a scalar, but %" + of + " is " +
                f.type(id).str() + " (use vjp or jacobian)");
}

} // namespace

Graph jvp(const Graph &f, const std::string &of, const std::vector<std::string> &wrt,
          int64_t k) {
  NodeId ofId = lookupFloat(f, of, "the output");
  DerivativeGraph d(f, "jvp", ofId);
  std::map<NodeId, Value> seeds;
  for (const std::string &w : wrt) {
    NodeId id = lookupFloat(f, w, "the wrt value");
    TensorType t{f.type(id).dtype, directionShape(k, f.type(id).shape)};
    seeds.emplace(id, input(d.out, "tangent." + w, t));
  }
  auto tan = tangentSweep(f, d.out, d.primal, seeds, k);
  Value t = tan[ofId] ? *tan[ofId] : zerosDirections(d.out, k, f.type(ofId));
  d.emit(fresh(t), "tangent." + of);
  return d.finish();
}

Graph vjp(const Graph &f, const std::string &of, const std::vector<std::string> &wrt,
          int64_t k) {
  NodeId ofId = lookupFloat(f, of, "the output");
  DerivativeGraph d(f, "vjp", ofId);
  std::vector<NodeId> wrtIds;
  for (const std::string &w : wrt)
    wrtIds.push_back(lookupFloat(f, w, "the wrt value"));
  TensorType seedType{f.type(ofId).dtype, directionShape(k, f.type(ofId).shape)};
  std::map<NodeId, Value> seeds{{ofId, input(d.out, "adjoint." + of, seedType)}};
  std::vector<bool> relevant = dependsOn(f, wrtIds);
  auto onPath = dependedOnBy(f, {ofId});
  for (size_t i = 0; i < relevant.size(); ++i)
    relevant[i] = relevant[i] && onPath[i];
  auto adj = adjointSweep(f, d.out, d.primal, seeds, k, &relevant);
  for (size_t i = 0; i < wrt.size(); ++i) {
    NodeId w = wrtIds[i];
    Value a = adj[w] ? *adj[w] : zerosDirections(d.out, k, f.type(w));
    d.emit(fresh(a), "adjoint." + wrt[i]);
  }
  return d.finish();
}

// The gradient sweep shared by grad, hessian and hvp: adjoints of `wrt` for
// a scalar `of`, reshaped to the wrt shapes, named "grad.<wrt>".
static std::vector<Value> gradientInto(const Graph &f, DerivativeGraph &d, NodeId ofId,
                                       const std::vector<std::string> &wrt) {
  requireScalar(f, f.node(ofId).name, "grad");
  std::vector<NodeId> wrtIds;
  for (const std::string &w : wrt)
    wrtIds.push_back(lookupFloat(f, w, "the wrt value"));
  Value seed = constant(d.out, Tensor::filled(TensorType{f.type(ofId).dtype, {1}}, 1.0));
  std::vector<bool> relevant = dependsOn(f, wrtIds);
  auto onPath = dependedOnBy(f, {ofId});
  for (size_t i = 0; i < relevant.size(); ++i)
    relevant[i] = relevant[i] && onPath[i];
  auto adj = adjointSweep(f, d.out, d.primal, {{ofId, seed}}, 1, &relevant);
  std::vector<Value> grads;
  for (size_t i = 0; i < wrt.size(); ++i) {
    NodeId w = wrtIds[i];
    Value a = adj[w] ? *adj[w] : zerosDirections(d.out, 1, f.type(w));
    Value g = reshape(a, f.type(w).shape);
    d.emit(g, "grad." + wrt[i]);
    grads.push_back(g);
  }
  return grads;
}

Graph grad(const Graph &f, const std::string &of, const std::vector<std::string> &wrt,
           bool simplify) {
  NodeId ofId = lookupFloat(f, of, "the output");
  DerivativeGraph d(f, "grad", ofId);
  gradientInto(f, d, ofId, wrt);
  return d.finish(simplify);
}

namespace {
Graph jacobianGraph(const Graph &f, const std::string &of, const std::string &wrt,
                    JacobianMode mode, const PlannerOptions &opts, bool simplify) {
  NodeId ofId = lookupFloat(f, of, "the output");
  NodeId wId = lookupFloat(f, wrt, "the wrt value");
  const TensorType &ot = f.type(ofId), &wt = f.type(wId);
  if (ot.dtype != wt.dtype)
    throw Error("jacobian of %" + of + " (" + ot.str() + ") with respect to %" + wrt +
                " (" + wt.str() + "): the dtypes differ");
  DerivativeGraph d(f, "jacobian", ofId);
  Shape result = ot.shape;
  result.insert(result.end(), wt.shape.begin(), wt.shape.end());
  int64_t n = wt.numel(), m = ot.numel();
  bool recomputed = false;
  Value j = [&]() -> Value {
    if (mode == JacobianMode::Optimal) {
      GraphChain gc = extractChain(f, ofId, {wId});
      BracketingPlan plan = planChain(gc.chain, opts);
      // Under a limit the tape exceeds, adjoint sweeps follow their schedules.
      double tape = 0;
      for (const ChainFactor &cf : gc.chain.factors)
        tape += cf.tapeBytes;
      std::optional<ReversalTable> table;
      if (plan.recomputed && tape > *opts.tapeLimit)
        table.emplace(gc.chain, *opts.tapeLimit);
      recomputed = table.has_value();
      return reshape(emitPlannedJacobian(f, d.out, d.primal, gc, plan, table ? &*table : nullptr),
                     result);
    }
    if (mode == JacobianMode::Forward) {
      auto tan = tangentSweep(f, d.out, d.primal, {{wId, identityDirections(d.out, wt)}}, n);
      Value t = tan[ofId] ? *tan[ofId] : zerosDirections(d.out, n, ot);
      return reshape(transpose(reshape(t, {n, m})), result);
    }
    std::vector<bool> relevant = dependsOn(f, {wId});
    auto onPath = dependedOnBy(f, {ofId});
    for (size_t i = 0; i < relevant.size(); ++i)
      relevant[i] = relevant[i] && onPath[i];
    auto adj = adjointSweep(f, d.out, d.primal, {{ofId, identityDirections(d.out, ot)}}, m,
                            &relevant);
    Value a = adj[wId] ? *adj[wId] : zerosDirections(d.out, m, wt);
    return reshape(a, result);
  }();
  d.emit(fresh(j), "jacobian." + of + "." + wrt);
  return d.finish(simplify, !recomputed);
}
} // namespace

Graph jacobian(const Graph &f, const std::string &of, const std::string &wrt,
               JacobianMode mode, bool simplify) {
  return jacobianGraph(f, of, wrt, mode, PlannerOptions{}, simplify);
}

Graph plannedJacobian(const Graph &f, const std::string &of, const std::string &wrt,
                      const PlannerOptions &opts, bool simplify) {
  return jacobianGraph(f, of, wrt, JacobianMode::Optimal, opts, simplify);
}

Graph hessian(const Graph &f, const std::string &of, const std::string &wrt,
              JacobianMode mode) {
  requireScalar(f, of, "hessian");
  Graph g = grad(f, of, {wrt});
  Graph h = jacobian(g, "grad." + wrt, wrt, mode);
  h.setName(f.name() + ".hessian");
  h.setNodeName(h.lookup("jacobian.grad." + wrt + "." + wrt), "hessian." + wrt);
  return h;
}

Graph hvp(const Graph &f, const std::string &of, const std::vector<std::string> &wrt) {
  requireScalar(f, of, "hvp");
  Graph g = grad(f, of, wrt);
  DerivativeGraph d(g, "hvp", g.lookup(of));
  d.out.setName(f.name() + ".hvp");
  std::map<NodeId, Value> seeds;
  for (const std::string &w : wrt) {
    NodeId id = g.lookup(w);
    Value v = input(d.out, "direction." + w, g.type(id));
    seeds.emplace(id, reshape(v, directionShape(1, g.type(id).shape)));
  }
  auto tan = tangentSweep(g, d.out, d.primal, seeds, 1);
  for (const std::string &w : wrt) {
    NodeId gw = g.lookup("grad." + w);
    Value t = tan[gw] ? *tan[gw] : zerosDirections(d.out, 1, g.type(gw));
    d.emit(reshape(t, g.type(gw).shape), "hvp." + w);
  }
  return d.finish();
}

} // namespace chainjit::compiler
