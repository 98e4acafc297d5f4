// A graph at another batch size (withBatchSize, ModelGraphs.h), the
// functions its scans run included.
//
// Which axes hold the batch is found by how the batch flows, never by size
// alone: the inputs whose first dimension is the batch are rebuilt with a
// probe batch size P that no size in the graph equals, every op infers its
// type again, and an axis whose size moved with P holds the batch. Ops whose
// attributes hold sizes (reshape, broadcast_to, bernoulli, slice) get them
// rewritten from the batch axes of their operands; a scan's body is rebuilt
// for the new types of its operands (a step of a time-first sequence
// [T, B, ...] is [B, ...]), so a hidden size that equals the batch is never
// touched. A carry that starts as a constant (zeros [B, H]) gets the batch
// where the body needs it: the carry's axes of the batch's size are tried
// until the body keeps every carry's type, and the constant is rebuilt so.
//
// Every size in a graph is affine in its batch size, so the graph at the
// wanted size follows from the graph and its probe, entry by entry:
// v + (v_P - v) / (P - from) * (to - from). Probing at a size no other
// dimension equals (not `to`, which may be 1 or equal a hidden size) is what
// keeps broadcasting and equal sizes from hiding where the batch went.
#include "chainjit/runtime/train/ModelGraphs.h"

#include "chainjit/ir/Function.h"
#include "chainjit/ir/Scan.h"
#include "chainjit/ir/Verifier.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace chainjit::runtime::train {

namespace {

using ir::Attrs;
using ir::Graph;
using ir::Ints;
using ir::Node;
using ir::NodeId;
using ir::OpKind;
using ir::Shape;
using ir::TensorType;

// A batch axis of a value: its size is outer * batch * inner (a reshape may
// merge the batch with other axes, [T, B] -> [T * B]); `known` is false when
// only the product outer * inner is known.
struct BatchAxis {
  int64_t outer = 1, inner = 1;
  bool known = true;
};
using Axes = std::vector<std::optional<BatchAxis>>; // per axis; nullopt: not the batch

// What the probe found for one graph: each node's type and attributes at the
// probe size, and the same for the body of each scan.
struct Probe {
  std::vector<TensorType> types;
  std::vector<Attrs> attrs;
  std::map<NodeId, Probe> bodies;
};

std::string opLabel(const Graph &g, NodeId id) {
  const Node &n = g.node(id);
  return n.label(id) + " (" + std::string(ir::opName(n.kind)) + ")";
}

std::string firstMessage(const Error &e) {
  return e.diagnostics().empty() ? std::string(e.what()) : e.diagnostics().front().message;
}

int64_t product(const Shape &s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i)
    p *= s[i];
  return p;
}

// Adds a function under `name`, or name_2, name_3, ... where another body
// already has the name (one function re-batched two ways); returns the name.
std::string addFunction(Graph &out, const std::string &name, const Graph &body,
                        const SourceLoc &loc) {
  for (int k = 1;; ++k) {
    std::string candidate = k == 1 ? name : name + "_" + std::to_string(k);
    auto f = std::make_shared<const ir::Function>(candidate, body, loc);
    const ir::Function *have = out.findFunction(candidate);
    if (!have) {
      out.addFunction(f);
      return candidate;
    }
    if (ir::printFunction(*have) == ir::printFunction(*f))
      return candidate;
  }
}

// The types a scan's body takes for operands of types `ops`.
std::vector<TensorType> bodyParamTypes(const std::vector<TensorType> &ops, int64_t carries,
                                       int64_t sequences) {
  std::vector<TensorType> out = ops;
  for (int64_t j = carries; j < carries + sequences && j < static_cast<int64_t>(out.size()); ++j)
    if (out[j].rank() >= 1)
      out[j].shape.erase(out[j].shape.begin());
  return out;
}

// A constant (or a broadcast_to) that a carry of a scan needs with the
// batch on `axes`.
struct Demand {
  NodeId node;
  std::vector<int> axes;
};

class Rebatcher {
public:
  Rebatcher(int64_t from, int64_t probe, int64_t to, std::string model)
      : from_(from), probe_(probe), to_(to), model_(std::move(model)) {}

  struct Decided {
    Graph graph;
    Probe probe;
  };

  // The graph at the probe size. `inputTypes`: a body's parameter types;
  // nullptr for the model, whose inputs with first dimension `from` are the
  // batch. A constant a scan carry needs batched is rebuilt so and the graph
  // decided again (each constant once, so this ends).
  Decided decide(const Graph &g, const std::vector<TensorType> *inputTypes,
                 const std::string &where) {
    std::map<NodeId, std::vector<int>> demands;
    while (true) {
      // Each body of each scan is rebuilt once per way of batching its
      // carries tried; a crafted file of deeply nested scans must not make
      // that explode.
      if (++rebuilds_ > kMaxRebuilds)
        throw Error(where + ": too many scan bodies to rebuild for another batch size (more than " +
                    std::to_string(kMaxRebuilds) + ")");
      State s(g, where);
      std::optional<Demand> d = decideOnce(s, inputTypes, demands);
      if (!d)
        return {std::move(s.out), std::move(s.probe)};
      if (demands.count(d->node))
        throw Error(s.where + ": " + opLabel(g, d->node) +
                    " is needed with the batch on two different axes");
      demands[d->node] = d->axes;
    }
  }

  // The graph at size `to` from its probe.
  Graph apply(const Graph &g, const Probe &p, const std::vector<TensorType> *inputTypes,
              const std::string &where) {
    Graph out(g.name());
    std::vector<NodeId> map(g.size());
    size_t inputIndex = 0;
    for (NodeId id = 0; id < g.size(); ++id) {
      const Node &n = g.node(id);
      TensorType want = extrapolate(n.type, p.types.at(id), g, id, where);
      if (ir::isSource(n.kind)) {
        Node c = n;
        if (n.kind == OpKind::Input && inputTypes)
          want = inputTypes->at(inputIndex++);
        if (n.kind == OpKind::Const && want != n.type)
          c.value = std::make_shared<const ir::Tensor>(ir::Tensor::filled(want, n.value->at(0)));
        c.type = want;
        map[id] = out.appendUnchecked(std::move(c));
        continue;
      }
      Attrs attrs = extrapolate(n.attrs, p.attrs.at(id), g, id, where);
      std::vector<NodeId> operands;
      for (NodeId o : n.operands)
        operands.push_back(map[o]);
      if (n.kind == OpKind::Scan) {
        const ir::Function &f = bodyOf(g, id, where);
        std::vector<TensorType> types;
        for (NodeId o : operands)
          types.push_back(out.type(o));
        std::vector<TensorType> params =
            bodyParamTypes(types, n.attrs.getInt("carries"), n.attrs.getInt("sequences"));
        std::string bodyWhere = bodyLabel(f, g, id, where);
        Graph body = apply(f.body(), p.bodies.at(id), &params, bodyWhere);
        attrs.set("body", addFunction(out, f.name(), body, f.loc()));
      }
      try {
        map[id] = out.addOp(n.kind, operands, attrs, n.name, n.loc);
      } catch (const Error &e) {
        throw Error(where + " at batch size " + std::to_string(to_) + ": " + opLabel(g, id) +
                        ": " + firstMessage(e),
                    n.loc);
      }
      if (out.type(map[id]) != want)
        throw Error(where + ": " + opLabel(g, id) + " is " + n.type.str() + " at batch size " +
                        std::to_string(from_) + " and " + p.types.at(id).str() + " at " +
                        std::to_string(probe_) + ", but " + out.type(map[id]).str() + " at " +
                        std::to_string(to_) + ": its sizes are not affine in the batch size",
                    n.loc);
    }
    for (NodeId o : g.outputs())
      out.addOutput(map[o]);
    for (const ir::ParamUpdate &u : g.updates())
      out.addUpdate(map[u.param], map[u.value]);
    return out;
  }

private:
  // One graph being decided: the graph at the probe size, the old-to-new
  // node map, the batch axes of each old node and what the probe records.
  struct State {
    State(const Graph &g, std::string where)
        : g(g), where(std::move(where)), out(g.name()), map(g.size()), axes(g.size()) {
      probe.types.resize(g.size());
      probe.attrs.resize(g.size());
    }
    const Graph &g;
    std::string where;
    Graph out;
    std::vector<std::optional<NodeId>> map;
    std::vector<Axes> axes;
    Probe probe;
    // A slice of a scan's flat result that is piece i of it.
    std::map<NodeId, std::pair<NodeId, size_t>> pieceOf;
  };

  static std::string bodyLabel(const ir::Function &f, const Graph &g, NodeId id,
                               const std::string &where) {
    return "@" + f.name() + " (the body of " + scanLabel(g, id) + " in " + where + ")";
  }

  static const ir::Function &bodyOf(const Graph &g, NodeId id, const std::string &where) {
    const ir::Function *f = g.findFunction(g.node(id).attrs.getString("body"));
    if (!f)
      throw Error(where + ": " + opLabel(g, id) + " runs an unknown function", g.node(id).loc);
    return *f;
  }

  int64_t extrapolate(int64_t v, int64_t vp, const Graph &g, NodeId id,
                      const std::string &where) const {
    if (v == vp)
      return v;
    int64_t d = vp - v;
    if (d % (probe_ - from_) != 0)
      throw Error(where + ": " + opLabel(g, id) + ": a size that is " + std::to_string(v) +
                      " at batch size " + std::to_string(from_) + " is " + std::to_string(vp) +
                      " at " + std::to_string(probe_) + ", not affine in the batch size",
                  g.node(id).loc);
    int64_t r = 0;
    if (__builtin_mul_overflow(d / (probe_ - from_), to_ - from_, &r) ||
        __builtin_add_overflow(r, v, &r) || r < 0)
      throw Error(where + ": " + opLabel(g, id) + " has no valid size at batch size " +
                      std::to_string(to_),
                  g.node(id).loc);
    return r;
  }

  TensorType extrapolate(const TensorType &t, const TensorType &tp, const Graph &g, NodeId id,
                         const std::string &where) const {
    if (t.rank() != tp.rank())
      throw Error(where + ": " + opLabel(g, id) + " changes rank with the batch size",
                  g.node(id).loc);
    TensorType r = t;
    for (size_t d = 0; d < t.shape.size(); ++d)
      r.shape[d] = extrapolate(t.shape[d], tp.shape[d], g, id, where);
    return r;
  }

  Attrs extrapolate(const Attrs &a, const Attrs &ap, const Graph &g, NodeId id,
                    const std::string &where) const {
    Attrs r = a;
    for (const auto &[name, value] : a) {
      const ir::AttrValue *vp = ap.find(name);
      if (!vp || *vp == value)
        continue;
      if (auto *i = std::get_if<int64_t>(&value); i && std::holds_alternative<int64_t>(*vp)) {
        r.set(name, extrapolate(*i, std::get<int64_t>(*vp), g, id, where));
      } else if (auto *is = std::get_if<Ints>(&value);
                 is && std::holds_alternative<Ints>(*vp) &&
                 std::get<Ints>(*vp).size() == is->size()) {
        Ints v = *is;
        for (size_t k = 0; k < v.size(); ++k)
          v[k] = extrapolate(v[k], std::get<Ints>(*vp)[k], g, id, where);
        r.set(name, v);
      }
      // Other attributes (a scan's body name) are set by the caller.
    }
    return r;
  }

  // --- deciding, at the probe size ---

  std::optional<Demand> decideOnce(State &s, const std::vector<TensorType> *inputTypes,
                                   const std::map<NodeId, std::vector<int>> &demands) {
    const Graph &g = s.g;
    size_t inputIndex = 0;
    for (NodeId id = 0; id < g.size(); ++id) {
      const Node &n = g.node(id);
      if (ir::isSource(n.kind)) {
        Node c = n;
        auto it = demands.find(id);
        if (n.kind == OpKind::Input) {
          if (inputTypes) {
            c.type = inputTypes->at(inputIndex++);
          } else if (c.type.rank() >= 1 && c.type.shape[0] == from_) {
            c.type.shape[0] = probe_;
          }
        } else if (n.kind == OpKind::Const && it != demands.end()) {
          if (!n.value || !n.value->isSplat() || n.value->numel() == 0)
            throw Error(s.where + ": " + opLabel(g, id) + " : " + n.type.str() +
                            " starts a scan carry that holds the batch, but only a constant "
                            "of one repeated value can be re-batched",
                        n.loc);
          for (int d : it->second)
            c.type.shape[d] = probe_;
          c.value = std::make_shared<const ir::Tensor>(ir::Tensor::filled(c.type, n.value->at(0)));
        }
        s.map[id] = s.out.appendUnchecked(std::move(c));
        record(s, id, /*reshapeAxes=*/nullptr);
        continue;
      }
      if (n.kind == OpKind::Scan) {
        std::optional<Demand> d = decideScan(s, id, demands);
        if (d)
          return d;
        continue;
      }
      auto it = demands.find(id);
      decideOp(s, id, it == demands.end() ? nullptr : &it->second);
    }
    for (NodeId o : g.outputs())
      s.out.addOutput(*s.map[o]);
    for (const ir::ParamUpdate &u : g.updates())
      s.out.addUpdate(*s.map[u.param], *s.map[u.value]);
    return std::nullopt;
  }

  const TensorType &newType(const State &s, NodeId old) const { return s.out.type(*s.map[old]); }

  // The probe's record of node `id` and its batch axes: those whose size
  // moved; `given` (a reshape's) replaces what is found here.
  void record(State &s, NodeId id, const Axes *given) {
    const Node &n = s.g.node(id);
    const Node &m = s.out.node(*s.map[id]);
    s.probe.types[id] = m.type;
    s.probe.attrs[id] = m.attrs;
    if (m.type.rank() != n.type.rank())
      throw Error(s.where + ": " + opLabel(s.g, id) + " changes rank with the batch size", n.loc);
    Axes axes(n.type.rank());
    for (size_t d = 0; d < axes.size(); ++d) {
      int64_t v = n.type.shape[d], vp = m.type.shape[d];
      if (v == vp)
        continue;
      if (given && (*given)[d]) {
        axes[d] = (*given)[d];
        continue;
      }
      BatchAxis b;
      int64_t diff = vp - v;
      bool linear = diff % (probe_ - from_) == 0 && diff / (probe_ - from_) * from_ == v;
      int64_t mult = linear ? diff / (probe_ - from_) : 0;
      b.known = linear && mult == 1;
      if (linear && mult > 1) {
        // Inherit the split from an operand axis that moved the same way.
        std::optional<BatchAxis> found;
        bool agree = true;
        for (NodeId o : n.operands) {
          const TensorType &ot = s.g.type(o);
          const TensorType &nt = newType(s, o);
          for (size_t e = 0; e < ot.shape.size(); ++e)
            if (ot.shape[e] == v && nt.shape[e] == vp && s.axes[o].size() > e && s.axes[o][e] &&
                s.axes[o][e]->known) {
              if (found && (found->outer != s.axes[o][e]->outer ||
                            found->inner != s.axes[o][e]->inner))
                agree = false;
              found = s.axes[o][e];
            }
        }
        if (found && agree)
          b = *found;
      }
      axes[d] = b;
    }
    s.axes[id] = std::move(axes);
  }

  void decideOp(State &s, NodeId id, const std::vector<int> *demand) {
    const Graph &g = s.g;
    const Node &n = g.node(id);
    Attrs attrs = n.attrs;
    Axes reshapeAxes;
    std::vector<NodeId> operands;
    for (NodeId o : n.operands)
      operands.push_back(*s.map[o]);
    switch (n.kind) {
    case OpKind::Reshape:
      attrs.set("shape", reshapeShape(s, id, reshapeAxes));
      break;
    case OpKind::BroadcastTo:
      attrs.set("shape", broadcastShape(s, id, demand));
      break;
    case OpKind::Bernoulli: {
      // Its shape is not an operand's: the batch is the leading axis when
      // it starts with the batch size (documented in ModelGraphs.h).
      Ints shape = attrs.getInts("shape");
      if (!shape.empty() && shape[0] == from_)
        shape[0] = probe_;
      attrs.set("shape", shape);
      break;
    }
    case OpKind::Slice:
      sliceBounds(s, id, attrs);
      break;
    default:
      break;
    }
    try {
      s.map[id] = s.out.addOp(n.kind, operands, attrs, n.name, n.loc);
    } catch (const Error &e) {
      throw Error(s.where + " " + atProbe() + ": " + opLabel(g, id) + ": " + firstMessage(e),
                  n.loc);
    }
    record(s, id, reshapeAxes.empty() ? nullptr : &reshapeAxes);
  }

  // A slice keeps the whole of a batch axis (x[0:B] -> x[0:B']); a slice of
  // a scan's flat result that is one of its pieces takes that piece of the
  // new result.
  void sliceBounds(State &s, NodeId id, Attrs &attrs) {
    const Graph &g = s.g;
    NodeId x = g.node(id).operands.at(0);
    Ints starts = attrs.getInts("starts"), ends = attrs.getInts("ends");
    const Ints &strides = attrs.getInts("strides");
    if (g.node(x).kind == OpKind::Scan && starts.size() == 1 && ends.size() == 1) {
      ir::ScanLayout before = ir::scanLayout(g, x);
      ir::ScanLayout after = ir::scanLayout(s.out, *s.map[x]);
      for (size_t i = 0; i < before.offsets.size(); ++i) {
        int64_t size = ir::numElements(before.shapes[i]);
        if (before.offsets[i] == starts[0] && before.offsets[i] + size == ends[0]) {
          starts[0] = after.offsets[i];
          ends[0] = after.offsets[i] + ir::numElements(after.shapes[i]);
          attrs.set("starts", starts);
          attrs.set("ends", ends);
          s.pieceOf[id] = {x, i};
          return;
        }
      }
      if (before.totalSize == after.totalSize)
        return;
      throw Error(s.where + ": " + opLabel(g, id) + " takes [" + std::to_string(starts[0]) +
                      ", " + std::to_string(ends[0]) + ") of scan " + g.node(x).label(x) +
                      "'s result, which is not one of its pieces (final carries, stacked "
                      "results), so it cannot follow the batch size",
                  g.node(id).loc);
    }
    const TensorType &before = g.type(x);
    const TensorType &after = newType(s, x);
    for (size_t d = 0; d < before.shape.size() && d < starts.size() && d < ends.size(); ++d) {
      if (before.shape[d] == after.shape[d])
        continue;
      bool whole = starts[d] == 0 && ends[d] == before.shape[d] &&
                   (strides.size() <= d || strides[d] == 1);
      if (!whole)
        throw Error(s.where + ": " + opLabel(g, id) + " takes part of axis " +
                        std::to_string(d) + " of " + g.node(x).label(x) + " : " +
                        before.str() + ", which holds the batch; a model may slice only the "
                                       "whole of a batch axis",
                    g.node(id).loc);
      ends[d] = after.shape[d];
    }
    attrs.set("starts", starts);
    attrs.set("ends", ends);
  }

  // The shape of a broadcast_to: the operand's batch axes (aligned from the
  // right) keep their new sizes; with an operand that holds no batch, a
  // shape that starts with the batch size, or the axes a scan carry needs
  // (`demand`), get the probe size.
  Ints broadcastShape(const State &s, NodeId id, const std::vector<int> *demand) {
    const Graph &g = s.g;
    const Node &n = g.node(id);
    Ints shape = n.attrs.getInts("shape");
    NodeId x = n.operands.at(0);
    const TensorType &before = g.type(x), &after = newType(s, x);
    size_t lead = shape.size() >= before.shape.size() ? shape.size() - before.shape.size() : 0;
    bool batched = before != after;
    for (size_t d = 0; d < before.shape.size() && lead + d < shape.size(); ++d)
      if (before.shape[d] != after.shape[d])
        shape[lead + d] = after.shape[d];
    if (demand) {
      for (int d : *demand)
        shape.at(d) = probe_;
    } else if (!batched && !shape.empty() && shape[0] == from_) {
      shape[0] = probe_;
    }
    return shape;
  }

  // A reshape's new shape. The operand's axes and the shape's are grouped
  // into blocks of equal size ([T, B, H] -> [T * B, H]: {T, B} -> {T * B},
  // {H} -> {H}); a block that holds the batch axis changes the one axis of
  // the shape where that batch lies (known from where it was merged), or
  // the -1 in it. `resultAxes` gets the batch axes of the result.
  Ints reshapeShape(const State &s, NodeId id, Axes &resultAxes) {
    const Graph &g = s.g;
    const Node &n = g.node(id);
    Ints attr = n.attrs.getInts("shape");
    NodeId x = n.operands.at(0);
    const Shape &in = g.type(x).shape;
    const Shape &inNew = newType(s, x).shape;
    const Shape &out = n.type.shape;
    if (in == inNew)
      return attr;

    // A piece of a scan's result: the piece's new shape.
    std::optional<std::pair<NodeId, size_t>> piece;
    if (auto it = s.pieceOf.find(x); it != s.pieceOf.end())
      piece = it->second;
    else if (g.node(x).kind == OpKind::Scan && ir::scanLayout(g, x).shapes.size() == 1)
      piece = std::make_pair(x, size_t{0});
    if (piece) {
      ir::ScanLayout before = ir::scanLayout(g, piece->first);
      ir::ScanLayout after = ir::scanLayout(s.out, *s.map[piece->first]);
      if (before.shapes[piece->second] == out)
        return after.shapes[piece->second];
    }

    resultAxes.assign(out.size(), std::nullopt);
    auto fail = [&](const std::string &why) {
      std::string shape;
      for (int64_t v : attr)
        shape += (shape.empty() ? "" : ", ") + std::to_string(v);
      return Error(s.where + ": " + opLabel(g, id) + " {shape = [" + shape + "]} of " +
                       g.node(x).label(x) + " : " + g.type(x).str() + ": " + why,
                   n.loc);
    };
    Ints result = attr;
    size_t i = 0, j = 0;
    while (i < in.size() || j < out.size()) {
      size_t ia = i, ja = j;
      int64_t pa = 1, pb = 1;
      if (i < in.size())
        pa *= in[i++];
      if (j < out.size())
        pb *= out[j++];
      while (pa != pb) {
        if (pa < pb && i < in.size())
          pa *= in[i++];
        else if (j < out.size())
          pb *= out[j++];
        else if (i < in.size())
          pa *= in[i++];
        else
          throw fail("the sizes do not match");
      }
      // The batch axes of the operand in this block.
      std::vector<size_t> batch;
      for (size_t a = ia; a < i; ++a)
        if (in[a] != inNew[a])
          batch.push_back(a);
      if (batch.empty())
        continue;
      if (batch.size() > 1)
        throw fail("it merges two axes that hold the batch");
      size_t a = batch[0];
      std::optional<BatchAxis> info = s.axes[x].size() > a ? s.axes[x][a] : std::nullopt;
      if (!info)
        info = BatchAxis{1, 1, false};
      int64_t newBlock = product(inNew, ia, i);
      bool hasFree = false;
      for (size_t b = ja; b < j; ++b)
        hasFree = hasFree || attr[b] == -1;
      if (j - ja == 1) {
        if (attr[ja] != -1)
          result[ja] = newBlock;
        if (info->known)
          resultAxes[ja] =
              BatchAxis{product(in, ia, a) * info->outer, info->inner * product(in, a + 1, i), true};
        else
          resultAxes[ja] = BatchAxis{1, 1, false};
        continue;
      }
      if (hasFree)
        continue; // the -1 takes the change
      std::optional<size_t> at;
      if (info->known) {
        int64_t outer = product(in, ia, a) * info->outer;
        int64_t inner = info->inner * product(in, a + 1, i);
        for (size_t b = ja; b < j && !at; ++b) {
          int64_t before = product(out, ja, b), after = product(out, b + 1, j);
          if (outer % before == 0 && inner % after == 0 &&
              out[b] == outer / before * from_ * (inner / after)) {
            at = b;
            result[b] = outer / before * probe_ * (inner / after);
            resultAxes[b] = BatchAxis{outer / before, inner / after, true};
          }
        }
      } else {
        int64_t oldBlock = product(in, ia, i);
        std::vector<size_t> candidates;
        for (size_t b = ja; b < j; ++b)
          if ((out[b] * newBlock) % oldBlock == 0)
            candidates.push_back(b);
        if (candidates.size() == 1) {
          at = candidates[0];
          result[*at] = out[*at] * newBlock / oldBlock;
          resultAxes[*at] = BatchAxis{1, 1, false};
        }
      }
      if (!at)
        throw fail("cannot tell which of its axes holds the batch (write -1 there)");
    }
    return result;
  }

  // A scan: the body rebuilt for the operands' new types. A carry that does
  // not hold the batch on entry (a constant) is tried with the batch on each
  // set of its axes of the batch's size; the fewest that keep every carry's
  // type win. When the chosen carry is not what the operand is, the constant
  // it comes from is demanded so (the graph is decided again).
  std::optional<Demand> decideScan(State &s, NodeId id,
                                   const std::map<NodeId, std::vector<int>> &demands) {
    const Graph &g = s.g;
    const Node &n = g.node(id);
    const ir::Function &f = bodyOf(g, id, s.where);
    std::string bodyWhere = bodyLabel(f, g, id, s.where);
    int64_t carries = n.attrs.getInt("carries"), sequences = n.attrs.getInt("sequences");
    std::vector<TensorType> types;
    for (NodeId o : n.operands)
      types.push_back(newType(s, o));

    // Each carry's candidate types.
    std::vector<std::vector<TensorType>> options(static_cast<size_t>(carries));
    size_t combos = 1;
    for (int64_t c = 0; c < carries; ++c) {
      const TensorType &before = g.type(n.operands[c]);
      if (types[c] != before) {
        options[c] = {types[c]};
        continue;
      }
      std::vector<size_t> axes;
      for (size_t d = 0; d < before.shape.size(); ++d)
        if (before.shape[d] == from_)
          axes.push_back(d);
      if (axes.size() > 8)
        throw Error(s.where + ": " + scanLabel(g, id) + ": carry #" + std::to_string(c) +
                        " has too many axes of the batch's size to tell which hold it",
                    n.loc);
      for (size_t mask = 0; mask < (size_t{1} << axes.size()); ++mask) {
        TensorType t = before;
        for (size_t k = 0; k < axes.size(); ++k)
          if (mask & (size_t{1} << k))
            t.shape[axes[k]] = probe_;
        options[c].push_back(t);
      }
      // Fewest batched axes first (the type as it is comes first).
      std::stable_sort(options[c].begin(), options[c].end(),
                       [&](const TensorType &a, const TensorType &b) {
                         return moved(before, a) < moved(before, b);
                       });
      combos *= options[c].size();
      if (combos > 256)
        throw Error(s.where + ": " + scanLabel(g, id) +
                        ": too many ways to put the batch into its carries",
                    n.loc);
    }

    struct Trial {
      std::vector<TensorType> params;
      Decided body;
      int moved;
    };
    std::vector<Trial> ok;
    std::optional<std::string> firstError;
    for (size_t k = 0; k < combos; ++k) {
      std::vector<TensorType> ops = types;
      size_t rest = k;
      int movedAxes = 0;
      for (int64_t c = 0; c < carries; ++c) {
        ops[c] = options[c][rest % options[c].size()];
        rest /= options[c].size();
        movedAxes += moved(g.type(n.operands[c]), ops[c]);
      }
      if (!ok.empty() && movedAxes > ok.front().moved)
        continue;
      std::vector<TensorType> params = bodyParamTypes(ops, carries, sequences);
      try {
        Decided body = decide(f.body(), &params, bodyWhere);
        bool keeps = true;
        for (int64_t c = 0; c < carries; ++c)
          keeps = keeps && body.graph.type(body.graph.outputs().at(c)) == params[c];
        if (!keeps) {
          if (!firstError)
            firstError = bodyWhere + " changes the type of a carry " + atProbe();
          continue;
        }
        if (!ok.empty() && movedAxes < ok.front().moved)
          ok.clear();
        ok.push_back({ops, std::move(body), movedAxes});
      } catch (const Error &e) {
        if (!firstError)
          firstError = firstMessage(e);
      }
    }
    if (ok.empty())
      throw Error(s.where + ": " + scanLabel(g, id) + " cannot run at another batch size: " +
                      firstError.value_or("no way to put the batch into its carries"),
                  n.loc);
    if (ok.size() > 1)
      throw Error(s.where + ": " + scanLabel(g, id) +
                      ": cannot tell which axes of its carries hold the batch (several fit)",
                  n.loc);
    Trial &chosen = ok.front();

    for (int64_t c = 0; c < carries; ++c)
      if (chosen.params[c] != types[c])
        return demandFor(s, n.operands[c], chosen.params[c], id, c, demands);

    std::vector<NodeId> operands;
    for (NodeId o : n.operands)
      operands.push_back(*s.map[o]);
    Attrs attrs = n.attrs;
    attrs.set("body", addFunction(s.out, f.name(), chosen.body.graph, f.loc()));
    try {
      s.map[id] = s.out.addOp(n.kind, operands, attrs, n.name, n.loc);
    } catch (const Error &e) {
      throw Error(s.where + " " + atProbe() + ": " + opLabel(g, id) + ": " + firstMessage(e),
                  n.loc);
    }
    record(s, id, nullptr);
    s.probe.bodies[id] = std::move(chosen.body.probe);
    return std::nullopt;
  }

  // Where errors found at the probe size happened.
  std::string atProbe() const {
    return probe_ == to_ ? "at batch size " + std::to_string(to_)
                         : "at batch size " + std::to_string(to_) + " (probed at " +
                               std::to_string(probe_) + ", a size no other dimension has)";
  }

  // "scan node #7 (%hT, %cT, %hs)": a scan's results are named, not the scan.
  static std::string scanLabel(const Graph &g, NodeId id) {
    std::string names;
    for (NodeId u = id + 1; u < g.size(); ++u) {
      const Node &n = g.node(u);
      if (n.operands.empty() || n.name.empty() || n.kind != OpKind::Reshape)
        continue;
      NodeId x = n.operands[0];
      if (x == id || (g.node(x).kind == OpKind::Slice && g.node(x).operands.at(0) == id))
        names += (names.empty() ? "%" : ", %") + n.name;
    }
    std::string label = "scan " + g.node(id).label(id);
    return names.empty() || !g.node(id).name.empty() ? label : label + " (" + names + ")";
  }

  static std::string axesText(const TensorType &before, const TensorType &after) {
    std::string out;
    for (size_t d = 0; d < before.shape.size() && d < after.shape.size(); ++d)
      if (before.shape[d] != after.shape[d])
        out += (out.empty() ? "" : ", ") + std::to_string(d);
    return out;
  }

  int moved(const TensorType &a, const TensorType &b) const {
    int k = 0;
    for (size_t d = 0; d < a.shape.size() && d < b.shape.size(); ++d)
      k += a.shape[d] != b.shape[d];
    return k;
  }

  // Carry #c of scan `scanId` must be `want`: follow its operand back
  // through reshapes, slices, transposes and casts to a constant or a
  // broadcast_to, and find the one set of that node's axes of the batch's
  // size that gives `want`.
  std::optional<Demand> demandFor(State &s, NodeId operand, const TensorType &want,
                                  NodeId scanId, int64_t c,
                                  const std::map<NodeId, std::vector<int>> &demands) {
    const Graph &g = s.g;
    std::vector<NodeId> chain;
    NodeId cur = operand;
    while (true) {
      OpKind k = g.node(cur).kind;
      if (k == OpKind::Const || k == OpKind::BroadcastTo)
        break;
      bool through = k == OpKind::Reshape || k == OpKind::Slice || k == OpKind::Transpose ||
                     k == OpKind::Cast || k == OpKind::Neg;
      if (!through)
        throw Error(s.where + ": " + scanLabel(g, scanId) + ": carry #" +
                        std::to_string(c) + " " + g.node(operand).label(operand) + " : " +
                        g.type(operand).str() + " must hold the batch (on axis " +
                        axesText(g.type(operand), want) +
                        "), but it comes neither from the batch inputs nor from a constant "
                        "of one value that could be given it",
                    g.node(scanId).loc);
      chain.insert(chain.begin(), cur);
      cur = g.node(cur).operands.at(0);
    }
    if (demands.count(cur))
      throw Error(s.where + ": " + scanLabel(g, scanId) + ": carry #" +
                      std::to_string(c) + " cannot be given the batch",
                  g.node(scanId).loc);
    const TensorType &t = g.type(cur);
    std::vector<int> axes;
    for (size_t d = 0; d < t.shape.size(); ++d)
      if (t.shape[d] == from_)
        axes.push_back(static_cast<int>(d));
    std::vector<Demand> found;
    for (size_t mask = 1; mask < (size_t{1} << axes.size()) && axes.size() < 16; ++mask) {
      Demand d{cur, {}};
      for (size_t k = 0; k < axes.size(); ++k)
        if (mask & (size_t{1} << k))
          d.axes.push_back(axes[k]);
      // Replay the chain from the terminal with those axes.
      State scratch(g, s.where);
      TensorType start = t;
      for (int a : d.axes)
        start.shape[a] = probe_;
      scratch.map[cur] = scratch.out.addInput("start", start);
      Axes startAxes(t.rank());
      for (int a : d.axes)
        startAxes[a] = BatchAxis{};
      scratch.axes[cur] = startAxes;
      try {
        for (NodeId step : chain)
          decideOp(scratch, step, nullptr);
        if (scratch.out.type(*scratch.map[operand]) == want)
          found.push_back(d);
      } catch (const Error &) {
      }
    }
    if (found.size() != 1)
      throw Error(s.where + ": " + scanLabel(g, scanId) + ": carry #" +
                      std::to_string(c) + " must hold the batch, but " + opLabel(g, cur) +
                      " : " + t.str() + (found.empty() ? " has no axes that give it"
                                                       : " could hold it on several axes"),
                  g.node(scanId).loc);
    return found[0];
  }

  static constexpr int kMaxRebuilds = 10000;
  int64_t from_, probe_, to_;
  std::string model_;
  int rebuilds_ = 0;
};

// Every size and integer attribute of `g` and of its functions' bodies.
void collectSizes(const Graph &g, std::set<int64_t> &out) {
  for (const Node &n : g.nodes()) {
    for (int64_t d : n.type.shape)
      out.insert(d);
    for (const auto &[name, value] : n.attrs) {
      if (auto *i = std::get_if<int64_t>(&value))
        out.insert(*i);
      if (auto *is = std::get_if<Ints>(&value))
        out.insert(is->begin(), is->end());
    }
  }
  for (const auto &f : g.functions())
    collectSizes(f->body(), out);
}

} // namespace

int64_t graphBatchSize(const ir::Graph &g) {
  for (ir::NodeId id : g.inputs())
    if (g.type(id).rank() >= 1)
      return g.type(id).shape[0];
  return 0;
}

ir::Graph withBatchSize(const ir::Graph &model, const ModelSignature &sig, int64_t batch) {
  return withBatchSize(model, sig.batch, batch);
}

ir::Graph withBatchSize(const ir::Graph &model, int64_t from, int64_t to) {
  if (to < 1)
    throw Error("batch size must be at least 1, got " + std::to_string(to));
  if (to == from)
    return model;
  // The probe size: `to` when no size of the graph equals it, else the
  // first size above both that none does.
  std::set<int64_t> sizes;
  collectSizes(model, sizes);
  int64_t probe = to;
  if (probe < 2 || sizes.count(probe)) {
    probe = std::max(from, to) + 1;
    while (sizes.count(probe))
      ++probe;
  }
  std::string where = "model '" + model.name() + "'";
  Rebatcher r(from, probe, to, where);
  auto decided = r.decide(model, nullptr, where);
  ir::Graph g = probe == to ? std::move(decided.graph) : r.apply(model, decided.probe, nullptr, where);
  try {
    ir::verifyOrThrow(g);
  } catch (const Error &e) {
    throw Error(where + " at batch size " + std::to_string(to) + ": " + firstMessage(e));
  }
  return g;
}

} // namespace chainjit::runtime::train
