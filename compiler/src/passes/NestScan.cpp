// The graph rewrites of scan checkpointing (ScanCheckpointing.h): a scan
// nested into windows, scan bodies without dead nodes, and a count of how
// often ops run through the loops.
#include "chainjit/compiler/ScanCheckpointing.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Function.h"
#include "chainjit/ir/Scan.h"
#include "chainjit/ir/Sweeps.h"
#include "chainjit/ir/Verifier.h"

#include <map>
#include <memory>

namespace chainjit::compiler {

using namespace ir;

namespace {

// Elements lo..hi of v along its leading (time) axis.
Value stepsOf(Value v, int64_t lo, int64_t hi) {
  const Shape &s = v.type().shape;
  if (lo == 0 && hi == s[0])
    return v;
  Ints starts(s.size(), 0), ends(s.begin(), s.end());
  starts[0] = lo;
  ends[0] = hi;
  return slice(v, starts, ends);
}

// [a, b, rest...] -> [a * b, rest...] and back.
Value mergeLeading(Value v) {
  Shape s = v.type().shape;
  Shape m{s[0] * s[1]};
  m.insert(m.end(), s.begin() + 2, s.end());
  return reshape(v, m);
}
Value splitLeading(Value v, int64_t windows, int64_t k) {
  Shape s = v.type().shape;
  Shape m{windows, k};
  m.insert(m.end(), s.begin() + 1, s.end());
  return reshape(v, m);
}

struct NestContext {
  std::shared_ptr<const Function> body; // the step
  std::string baseName;                 // names of window functions start with it
  int64_t carries = 0, sequences = 0;
  bool reverse = false;
};

std::vector<Value> nestedScan(const NestContext &c, const std::vector<Value> &carries,
                              const std::vector<Value> &seqs, const std::vector<Value> &invs,
                              int64_t n, std::vector<int64_t> ks);

// The body of one window of k steps: the step scanned over them, nested as
// `inner`. Takes (carries, the window's slice [k, ...] of each sequence,
// invariants) and returns (carries, the window's ys [k, ...]).
std::shared_ptr<const Function> windowFunction(const NestContext &c, int64_t k,
                                               const std::vector<int64_t> &inner) {
  std::string name = c.baseName + "_ckpt_w" + std::to_string(k);
  for (int64_t w : inner)
    name += "_w" + std::to_string(w);
  if (c.reverse)
    name += "_rev";
  Graph wb(name);
  const Function &f = *c.body;
  std::vector<Value> carries, seqs, invs;
  for (size_t i = 0; i < f.arity(); ++i) {
    TensorType t = f.paramType(i);
    const bool seq = int64_t(i) >= c.carries && int64_t(i) < c.carries + c.sequences;
    if (seq)
      t.shape.insert(t.shape.begin(), k);
    Value v = input(wb, "p" + std::to_string(i), t);
    (int64_t(i) < c.carries ? carries : seq ? seqs : invs).push_back(v);
  }
  for (const Value &r : nestedScan(c, carries, seqs, invs, k, inner))
    wb.addOutput(r.id());
  return std::make_shared<const Function>(name, std::move(wb));
}

// The scan of c.body over n steps, nested as ks (outermost first): final
// carries, then each y stacked [n, ...], as ir::scan gives them.
std::vector<Value> nestedScan(const NestContext &c, const std::vector<Value> &carries,
                              const std::vector<Value> &seqs, const std::vector<Value> &invs,
                              int64_t n, std::vector<int64_t> ks) {
  auto plain = [&](const std::vector<Value> &from, const std::vector<Value> &xs, int64_t steps) {
    return scan(c.body, from, xs, invs, c.reverse, c.sequences == 0 ? steps : 0);
  };
  if (ks.empty() || ks[0] < 1 || ks[0] >= n)
    return plain(carries, seqs, n);
  const int64_t k = ks[0], W = n / k, r = n % k;
  ks.erase(ks.begin());
  // Forward, the windows are the first W * k steps and the r steps left
  // over come last; reversed, those r steps are the first ones (run last).
  const int64_t mainLo = c.reverse ? r : 0, tailLo = c.reverse ? 0 : W * k;
  std::vector<Value> windowSeqs, tailSeqs;
  for (const Value &x : seqs) {
    windowSeqs.push_back(splitLeading(stepsOf(x, mainLo, mainLo + W * k), W, k));
    if (r > 0)
      tailSeqs.push_back(stepsOf(x, tailLo, tailLo + r));
  }
  std::vector<Value> outer = scan(windowFunction(c, k, ks), carries, windowSeqs, invs,
                                  c.reverse, c.sequences == 0 ? W : 0);
  std::vector<Value> result(outer.begin(), outer.begin() + c.carries);
  std::vector<Value> ys;
  for (size_t i = c.carries; i < outer.size(); ++i)
    ys.push_back(mergeLeading(outer[i]));
  if (r > 0) {
    std::vector<Value> tail = plain(result, tailSeqs, r);
    result.assign(tail.begin(), tail.begin() + c.carries);
    for (size_t y = 0; y < ys.size(); ++y) {
      Value t = tail[c.carries + y];
      ys[y] = c.reverse ? concat({t, ys[y]}, 0) : concat({ys[y], t}, 0);
    }
  }
  result.insert(result.end(), ys.begin(), ys.end());
  return result;
}

// `f` returning only its first `carries` results.
std::shared_ptr<const Function> carriesOnly(const Function &f, int64_t carries,
                                            const std::string &name) {
  Graph b(name);
  b.copyFunctionsFrom(f.body());
  for (const Node &n : f.body().nodes())
    b.appendUnchecked(n);
  for (int64_t i = 0; i < carries; ++i)
    b.addOutput(f.body().outputs()[i]);
  return std::make_shared<const Function>(name, std::move(b));
}

Graph pruned(const Graph &g, bool keepAll,
             std::map<std::string, std::shared_ptr<const Function>> &done);

std::shared_ptr<const Function> prunedFunction(const Function &f,
                                               std::map<std::string, std::shared_ptr<const Function>> &done) {
  auto it = done.find(f.name());
  if (it != done.end())
    return it->second;
  auto p = std::make_shared<const Function>(f.name(), pruned(f.body(), false, done), f.loc());
  done.emplace(f.name(), p);
  return p;
}

Graph pruned(const Graph &g, bool keepAll,
             std::map<std::string, std::shared_ptr<const Function>> &done) {
  Graph out(g.name());
  for (const auto &f : g.functions())
    out.addFunction(prunedFunction(*f, done));
  std::vector<NodeId> roots = g.outputs();
  for (const ParamUpdate &u : g.updates()) {
    roots.push_back(u.param);
    roots.push_back(u.value);
  }
  std::vector<bool> need = keepAll ? std::vector<bool>(g.size(), true) : dependedOnBy(g, roots);
  std::vector<NodeId> map(g.size(), 0);
  for (NodeId id = 0; id < g.size(); ++id) {
    Node n = g.node(id);
    if (!need[id] && n.kind != OpKind::Input && n.kind != OpKind::Param)
      continue;
    for (NodeId &o : n.operands)
      o = map[o];
    map[id] = out.appendUnchecked(std::move(n));
  }
  for (NodeId o : g.outputs())
    out.addOutput(map[o]);
  for (const ParamUpdate &u : g.updates())
    out.addUpdate(map[u.param], map[u.value]);
  return out;
}

} // namespace

Graph nestScan(const Graph &f, NodeId scanId, const std::vector<int64_t> &windows, bool dropYs) {
  const Node &s = f.node(scanId);
  if (s.kind != OpKind::Scan)
    throw Error("internal: nestScan of " + s.label(scanId) + ", which is no scan");
  const ScanLayout l = scanLayout(f, scanId);
  const Function *body = f.findFunction(s.attrs.getString("body"));
  NestContext c;
  c.baseName = body->name();
  c.carries = l.carries;
  c.sequences = l.sequences;
  c.reverse = l.reverse;
  int64_t carrySize = 0;
  for (const TensorType &t : l.carryTypes)
    carrySize += t.numel();
  if (dropYs && l.numYs() > 0)
    c.body = carriesOnly(*body, l.carries, body->name() + "_ckpt_carries");
  else
    for (const auto &fn : f.functions())
      if (fn->name() == body->name())
        c.body = fn;
  Graph g(f.name());
  g.copyFunctionsFrom(f);
  std::vector<NodeId> map(f.size(), 0);
  // Nodes that read the dropped ys (slices the sugar made for them): left out.
  std::vector<bool> dropped(f.size(), false);
  for (NodeId id = 0; id < f.size(); ++id) {
    Node n = f.node(id);
    bool readsDropped = false;
    for (NodeId o : n.operands)
      readsDropped = readsDropped || dropped[o];
    if (dropYs && !readsDropped && id > scanId && n.kind == OpKind::Slice &&
        n.operands[0] == scanId && n.attrs.getInts("starts").at(0) >= carrySize)
      readsDropped = true;
    if (readsDropped) {
      dropped[id] = true;
      continue;
    }
    if (id == scanId) {
      std::vector<Value> ops;
      for (NodeId o : n.operands)
        ops.push_back(Value(g, map[o]));
      const auto C = ops.begin() + l.carries, S = C + l.sequences;
      std::vector<Value> pieces =
          nestedScan(c, {ops.begin(), C}, {C, S}, {S, ops.end()}, l.length, windows);
      std::vector<Value> flat;
      for (const Value &p : pieces)
        flat.push_back(reshape(p, {p.type().numel()}));
      Value packed = flat.size() == 1 ? flat.front() : concat(flat, 0);
      if (!n.name.empty())
        g.setNodeName(packed.id(), n.name);
      map[id] = packed.id();
      continue;
    }
    for (NodeId &o : n.operands)
      o = map[o];
    map[id] = g.appendUnchecked(std::move(n));
  }
  for (NodeId o : f.outputs()) {
    if (dropped[o])
      throw Error("internal: nestScan dropped the ys of a scan that an output reads");
    g.addOutput(map[o]);
  }
  for (const ParamUpdate &u : f.updates()) {
    if (dropped[u.value])
      throw Error("internal: nestScan dropped the ys of a scan that an update reads");
    g.addUpdate(map[u.param], map[u.value]);
  }
  verifyOrThrow(g);
  return g;
}

Graph pruneScanBodies(const Graph &g) {
  std::map<std::string, std::shared_ptr<const Function>> done;
  Graph out = pruned(g, true, done);
  verifyOrThrow(out);
  return out;
}

int64_t countOpRuns(const Graph &g, OpKind kind) {
  int64_t runs = 0;
  for (NodeId id = 0; id < g.size(); ++id) {
    const Node &n = g.node(id);
    if (n.kind == kind)
      ++runs;
    if (n.kind == OpKind::Scan)
      if (const Function *f = g.findFunction(n.attrs.getString("body")))
        runs += scanLayout(g, id).length * countOpRuns(f->body(), kind);
  }
  return runs;
}

} // namespace chainjit::compiler
