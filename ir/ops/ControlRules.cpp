// Derivative rules of scan. Both are scans again, so derivatives of
// derivatives work:
//  - tangent: one scan in the same direction whose carries are (carries,
//    their tangents [k, ..]), sequences (sequences, their tangents as
//    [T, k, ..]) and invariants (invariants, their tangents); its body is the
//    body's tangent function (a tangent sweep of the body);
//  - adjoint: a scan that also stacks the carry entering each step (the
//    tape, T carries: the body's intermediate values are recomputed), then a
//    scan in the other direction whose carries are (the carries' adjoints,
//    the invariants' accumulated adjoints), whose sequences are (the stacked
//    carries, the sequences, the ys' adjoints) and whose per-step results
//    are the sequences' adjoints; its body recomputes the step and runs an
//    adjoint sweep over it.
// The body functions are built with the sweeps of ir/Sweeps.h and added to
// the derivative graph's table under names that say what they are
// ("cell_jvp2_..." for 2 directions).
#include "RuleFamilies.h"

#include "chainjit/ir/Scan.h"
#include "chainjit/ir/Sweeps.h"

#include <fmt/format.h>

namespace chainjit::ir::rules {

namespace {

TensorType directionsOf(int64_t k, const TensorType &t) {
  return {t.dtype, directionShape(k, t.shape)};
}

Value zerosOf(Graph &g, const TensorType &t) {
  return broadcastTo(scalar(g, 0.0, t.dtype), t.shape);
}

// [a, b, ...] <-> [b, a, ...]: a direction axis and a time axis trade places.
Value swapLeadingAxes(Value v) {
  Ints perm{1, 0};
  for (int64_t i = 2; i < v.type().rank(); ++i)
    perm.push_back(i);
  return transpose(v, perm);
}

// Copies the non-input nodes of `body` into `out`, its inputs mapped to
// `inputs` (ids of out), names dropped (out's own inputs are named); returns
// the map from body ids to out ids for the sweeps.
std::vector<NodeId> copyBody(const Function &f, Graph &out, const std::vector<NodeId> &inputs) {
  const Graph &body = f.body();
  out.copyFunctionsFrom(body);
  std::vector<NodeId> map(body.size());
  size_t p = 0;
  for (NodeId i = 0; i < body.size(); ++i) {
    Node n = body.node(i);
    if (n.kind == OpKind::Input) {
      map[i] = inputs.at(p++);
      continue;
    }
    for (NodeId &o : n.operands)
      o = map[o];
    n.name.clear();
    map[i] = out.appendUnchecked(std::move(n));
  }
  return map;
}

struct ScanSite {
  const Function *f;
  ScanLayout l;
};

ScanSite siteOf(const RuleContext &ctx) {
  const std::string &name = ctx.attrs().getString("body");
  const Function *f = ctx.g.findFunction(name);
  if (!f)
    throw Error("scan: body @" + name + " is not in the derivative graph's function table",
                ctx.node.loc);
  std::vector<TensorType> types;
  for (const Value &v : ctx.operands)
    types.push_back(v.type());
  return {f, scanLayout(*f, types, ctx.attrs())};
}

// "0101": which operands take part, for function names.
std::string maskText(const std::vector<bool> &m) {
  std::string s;
  for (bool b : m)
    s += b ? '1' : '0';
  return s;
}

// The flat [k, total] value of pieces [k, ..] (carries) and [T, k, ..] (ys).
Value packDirections(const std::vector<Value> &carries, const std::vector<Value> &ys, int64_t k) {
  std::vector<Value> parts;
  for (const Value &c : carries)
    parts.push_back(reshape(c, {k, c.type().numel() / k}));
  for (const Value &y : ys)
    parts.push_back(reshape(swapLeadingAxes(y), {k, y.type().numel() / k}));
  return parts.size() == 1 ? parts.front() : concat(parts, 1);
}

MaybeValue scanJvp(const RuleContext &ctx, Tangents tangents) {
  auto [f, l] = siteOf(ctx);
  const int64_t k = ctx.directions, C = l.carries, S = l.sequences;
  const size_t n = ctx.operands.size();
  // Carries always get tangents (they mix with everything); sequences and
  // invariants only where theirs is not zero.
  std::vector<bool> has(n);
  for (size_t i = 0; i < n; ++i)
    has[i] = static_cast<int64_t>(i) < C || tangents[i].has_value();

  Graph jb(fmt::format("{}_jvp{}_{}", f->name(), k, maskText(has)));
  std::vector<NodeId> primalIn(n);
  std::map<NodeId, Value> seeds;
  auto group = [&](size_t begin, size_t end, const char *p) {
    for (size_t i = begin; i < end; ++i)
      primalIn[i] = jb.addInput(fmt::format("{}{}", p, i), f->paramType(i));
    for (size_t i = begin; i < end; ++i)
      if (has[i])
        seeds.emplace(f->params()[i], Value(jb, jb.addInput(fmt::format("d{}{}", p, i),
                                                            directionsOf(k, f->paramType(i)))));
  };
  group(0, C, "c");
  group(C, C + S, "x");
  group(C + S, n, "w");
  std::vector<NodeId> map = copyBody(*f, jb, primalIn);
  std::vector<MaybeValue> tan = tangentSweep(f->body(), jb, map, seeds, k);
  const auto &outs = f->body().outputs();
  auto tangentOut = [&](size_t r) {
    NodeId o = outs[r];
    return tan[o] ? *tan[o] : zerosOf(jb, directionsOf(k, f->body().type(o)));
  };
  for (int64_t i = 0; i < C; ++i)
    jb.addOutput(map[outs[i]]);
  for (int64_t i = 0; i < C; ++i)
    jb.addOutput(tangentOut(i).id());
  for (size_t y = C; y < outs.size(); ++y)
    jb.addOutput(map[outs[y]]);
  for (size_t y = C; y < outs.size(); ++y)
    jb.addOutput(tangentOut(y).id());
  std::string name = jb.name();
  auto jf = std::make_shared<const Function>(name, std::move(jb));

  std::vector<Value> carries, sequences, invariants;
  for (int64_t i = 0; i < C; ++i)
    carries.push_back(ctx.operands[i]);
  for (int64_t i = 0; i < C; ++i)
    carries.push_back(tangentOrZeros(ctx, tangents[i], i));
  for (int64_t i = C; i < C + S; ++i)
    sequences.push_back(ctx.operands[i]);
  for (int64_t i = C; i < C + S; ++i)
    if (has[i])
      sequences.push_back(swapLeadingAxes(*tangents[i]));
  for (size_t i = C + S; i < n; ++i)
    invariants.push_back(ctx.operands[i]);
  for (size_t i = C + S; i < n; ++i)
    if (has[i])
      invariants.push_back(*tangents[i]);
  std::vector<Value> r = scan(jf, carries, sequences, invariants, l.reverse,
                              ctx.attrs().getInt("length"));
  const size_t Y = l.numYs();
  std::vector<Value> dCarries(r.begin() + C, r.begin() + 2 * C);
  std::vector<Value> dYs(r.begin() + 2 * C + Y, r.end());
  return packDirections(dCarries, dYs, k);
}

std::vector<MaybeValue> scanVjp(const RuleContext &ctx, Value adjoint, Wanted wanted) {
  auto [f, l] = siteOf(ctx);
  const int64_t k = ctx.directions, C = l.carries, S = l.sequences;
  const size_t n = ctx.operands.size(), Y = l.numYs();
  const auto &outs = f->body().outputs();
  const DerivativeRules &self = derivativeRules(OpKind::Scan);
  std::vector<bool> want(n);
  for (size_t i = 0; i < n; ++i)
    want[i] = static_cast<int64_t>(i) < C ||
              (wanted[i] && self.isDifferentiable(i, ctx.operands[i].type()));

  // (1) The tape: the same scan, also stacking the carry entering each step.
  Graph tb(f->name() + "_tape");
  std::vector<NodeId> tin;
  for (size_t i = 0; i < n; ++i)
    tin.push_back(tb.addInput(fmt::format("p{}", i), f->paramType(i)));
  std::vector<NodeId> tmap = copyBody(*f, tb, tin);
  for (NodeId o : outs)
    tb.addOutput(tmap[o]);
  for (int64_t i = 0; i < C; ++i)
    tb.addOutput(tin[i]);
  std::string tname = tb.name();
  auto tape = std::make_shared<const Function>(tname, std::move(tb));
  std::vector<Value> carries(ctx.operands.begin(), ctx.operands.begin() + C);
  std::vector<Value> sequences(ctx.operands.begin() + C, ctx.operands.begin() + C + S);
  std::vector<Value> invariants(ctx.operands.begin() + C + S, ctx.operands.end());
  const int64_t length = ctx.attrs().getInt("length");
  std::vector<Value> taped = scan(tape, carries, sequences, invariants, l.reverse, length);
  std::vector<Value> stackedCarries(taped.begin() + C + Y, taped.end());

  // (2) The adjoint scan, in the other direction.
  Graph vb(fmt::format("{}_vjp{}_{}", f->name(), k, maskText(want)));
  std::vector<NodeId> adjCarry, adjInv, primalIn(n), adjY;
  for (int64_t i = 0; i < C; ++i)
    adjCarry.push_back(vb.addInput(fmt::format("ac{}", i), directionsOf(k, f->paramType(i))));
  for (size_t i = C + S; i < n; ++i)
    if (want[i])
      adjInv.push_back(vb.addInput(fmt::format("aw{}", i), directionsOf(k, f->paramType(i))));
  for (int64_t i = 0; i < C; ++i)
    primalIn[i] = vb.addInput(fmt::format("c{}", i), f->paramType(i));
  for (int64_t i = C; i < C + S; ++i)
    primalIn[i] = vb.addInput(fmt::format("x{}", i), f->paramType(i));
  for (size_t y = 0; y < Y; ++y)
    adjY.push_back(vb.addInput(fmt::format("ay{}", y), directionsOf(k, l.yTypes[y])));
  for (size_t i = C + S; i < n; ++i)
    primalIn[i] = vb.addInput(fmt::format("w{}", i), f->paramType(i));
  std::vector<NodeId> vmap = copyBody(*f, vb, primalIn);
  std::map<NodeId, Value> seeds;
  auto seed = [&](NodeId o, NodeId a) {
    Value v(vb, a);
    auto [it, fresh] = seeds.emplace(o, v);
    if (!fresh) // one body value returned twice
      it->second = it->second + v;
  };
  for (int64_t i = 0; i < C; ++i)
    seed(outs[i], adjCarry[i]);
  for (size_t y = 0; y < Y; ++y)
    seed(outs[C + y], adjY[y]);
  std::vector<MaybeValue> adj = adjointSweep(f->body(), vb, vmap, seeds, k);
  auto adjParam = [&](size_t i) -> MaybeValue { return adj[f->params()[i]]; };
  for (int64_t i = 0; i < C; ++i) {
    MaybeValue a = adjParam(i);
    vb.addOutput(a ? a->id() : zerosOf(vb, directionsOf(k, f->paramType(i))).id());
  }
  size_t w = 0;
  for (size_t i = C + S; i < n; ++i)
    if (want[i]) {
      Value acc(vb, adjInv[w++]);
      MaybeValue a = adjParam(i);
      vb.addOutput(a ? (acc + *a).id() : acc.id());
    }
  for (int64_t i = C; i < C + S; ++i)
    if (want[i]) {
      MaybeValue a = adjParam(i);
      vb.addOutput(a ? a->id() : zerosOf(vb, directionsOf(k, f->paramType(i))).id());
    }
  std::string vname = vb.name();
  auto vf = std::make_shared<const Function>(vname, std::move(vb));

  // The incoming adjoint [k, total], cut into the carries' and the ys' parts.
  std::vector<Value> aCarries, aWs, vSeqs;
  for (int64_t i = 0; i < C; ++i) {
    int64_t size = numElements(l.shapes[i]);
    Value part = slice(adjoint, {0, l.offsets[i]}, {k, l.offsets[i] + size});
    aCarries.push_back(reshape(part, directionShape(k, l.shapes[i])));
  }
  for (size_t i = C + S; i < n; ++i)
    if (want[i])
      aWs.push_back(zerosOf(ctx.g, directionsOf(k, ctx.operands[i].type())));
  std::vector<Value> vCarries = aCarries;
  vCarries.insert(vCarries.end(), aWs.begin(), aWs.end());
  vSeqs = stackedCarries;
  vSeqs.insert(vSeqs.end(), sequences.begin(), sequences.end());
  for (size_t y = 0; y < Y; ++y) {
    size_t piece = C + y;
    int64_t size = numElements(l.shapes[piece]);
    Value part = slice(adjoint, {0, l.offsets[piece]}, {k, l.offsets[piece] + size});
    vSeqs.push_back(swapLeadingAxes(reshape(part, directionShape(k, l.shapes[piece]))));
  }
  std::vector<Value> back = scan(vf, vCarries, vSeqs, invariants, !l.reverse, length);

  std::vector<MaybeValue> out(n);
  size_t at = 0;
  for (int64_t i = 0; i < C; ++i)
    out[i] = back[at++];
  for (size_t i = C + S; i < n; ++i)
    if (want[i])
      out[i] = back[at++];
  for (int64_t i = C; i < C + S; ++i)
    if (want[i])
      out[i] = swapLeadingAxes(back[at++]);
  for (size_t i = 0; i < n; ++i)
    if (!wanted[i])
      out[i].reset();
  return out;
}

} // namespace

std::vector<DerivativeRules> controlRules() {
  return {{OpKind::Scan, scanJvp, scanVjp}};
}

} // namespace chainjit::ir::rules
