// Emits a Jacobian exactly as a bracketing plan says: each leaf, TAN and ADJ
// step of the plan becomes one tangent or adjoint sweep over its segments
// (with as many directions as the plan's step has), each MUL one product.
// Seeds are named "seed.tangent.N" / "seed.adjoint.N" and products
// "product.N" so that tests can count them in the emitted graph.
#include "PlannedJacobian.h"

#include "../chain/RecomputationSegment.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/ir/Builder.h"

namespace chainjit::compiler {

using namespace ir;
using S = JacobianStructure;

namespace {

// An accumulated part of the chain: a dense [rows, cols] matrix, a diagonal
// (a vector), block-diagonal blocks [blocks, rows/blocks, cols/blocks], or
// the identity (no value).
struct Part {
  S structure = S::Dense;
  std::optional<Value> value;
  int64_t rows = 0, cols = 0;
  int64_t blocks = 1;
};

class PlanEmitter {
public:
  PlanEmitter(const Graph &src, Graph &out, const std::vector<NodeId> &primal,
              const GraphChain &gc, const ReversalTable *table)
      : src_(src), out_(out), primal_(primal), gc_(gc), table_(table),
        runs_(gc.cuts.size(), 0) {}

  Part emit(const BracketingPlan &p, int idx) {
    const PlanNode &n = p.nodes[idx];
    const ChainFactor &first = gc_.chain.factors[n.first];
    const ChainFactor &last = gc_.chain.factors[n.last];
    switch (n.step) {
    case PlanStep::TangentLeaf:
    case PlanStep::AdjointLeaf:
      if (n.step == PlanStep::AdjointLeaf && scheduled(n.first, n.last))
        return {S::Dense, scheduledPullBack(n.first, n.last, eye(last.m, dtype())), last.m,
                first.n};
      if (n.first != n.last) // one adjoint sweep over a range (recomputation plans)
        return {S::Dense, pullBack(n.first, n.last, eye(last.m, dtype())), last.m, first.n};
      return leaf(n.first, n.step == PlanStep::TangentLeaf);
    case PlanStep::Multiply:
      return multiply(emit(p, n.left), emit(p, n.right));
    case PlanStep::Tangent: {
      Part x = emit(p, n.right); // [m_k, n_i]
      Value pushed = pushForward(n.split + 1, n.last, dense(x));
      return {S::Dense, pushed, last.m, first.n};
    }
    case PlanStep::Adjoint: {
      Part y = emit(p, n.left); // [m_j, m_k]
      Value pulled = scheduled(n.first, n.split) ? scheduledPullBack(n.first, n.split, dense(y))
                                               : pullBack(n.first, n.split, dense(y));
      return {S::Dense, pulled, last.m, first.n};
    }
    case PlanStep::Given:
      break;
    }
    throw Error("internal: a Jacobian plan step without a graph to sweep");
  }

  Value dense(const Part &p) {
    const int64_t cols = p.cols;
    switch (p.structure) {
    case S::Identity:
      return eye(cols, dtype());
    case S::Diagonal:
      return eye(cols, dtype()) * reshape(*p.value, {1, cols});
    case S::BlockDiagonal: { // [B, mb, nb] -> [B, mb, B, nb] with zeros off the blocks
      int64_t B = p.blocks, mb = p.rows / B, nb = cols / B;
      Value spread = reshape(*p.value, {B, mb, 1, nb}) * reshape(eye(B, dtype()), {B, 1, B, 1});
      return reshape(spread, {p.rows, cols});
    }
    default:
      return *p.value;
    }
  }

private:
  DType dtype() const { return src_.type(gc_.cuts.back()).dtype; }

  // The values at the start of segment `l`: the wrt values, or a cut.
  std::vector<NodeId> startOf(int l) const {
    return l == 0 ? gc_.wrt : std::vector<NodeId>{gc_.cuts[l - 1]};
  }

  Value eye(int64_t n, DType dt) { return identityMatrix(out_, n, dt); }

  Value named(Value v, const std::string &prefix) {
    std::string name;
    do
      name = prefix + "." + std::to_string(counter_++);
    while (out_.find(name));
    // A seed may be a value that already has a name; name a copy then.
    if (!out_.node(v.id()).name.empty() || isSource(out_.node(v.id()).kind))
      v = reshape(v, v.shape());
    return v.named(name);
  }

  // Directions [c, ...] for the start of segment `l` from a matrix X
  // [n_l, c]; the columns of X are split among several wrt values.
  std::map<NodeId, Value> tangentSeeds(int l, Value X) {
    Value Xt = named(transpose(X), "seed.tangent"); // [c, n_l]
    int64_t c = Xt.shape()[0];
    std::map<NodeId, Value> seeds;
    int64_t offset = 0;
    for (NodeId s : startOf(l)) {
      TensorType t = src_.type(s);
      Value part = startOf(l).size() == 1
                       ? Xt
                       : slice(Xt, {0, offset}, {c, offset + t.numel()});
      Shape shape{c};
      shape.insert(shape.end(), t.shape.begin(), t.shape.end());
      seeds.emplace(s, reshape(part, shape));
      offset += t.numel();
    }
    return seeds;
  }

  // X [n_a, c] pushed through segments a..b: [m_b, c].
  Value pushForward(int a, int b, Value X) {
    auto seeds = tangentSeeds(a, X);
    int64_t c = X.shape()[1];
    auto tan = tangentSweep(src_, out_, primal_, seeds, c);
    NodeId cut = gc_.cuts[b];
    int64_t m = src_.type(cut).numel();
    Value t = tan[cut] ? *tan[cut]
                       : broadcastTo(scalar(out_, 0.0, dtype()), directionShape(c, src_.type(cut).shape));
    return transpose(reshape(t, {c, m}));
  }

  // Y [r, m_b] pulled back through segments a..b: [r, n_a].
  Value pullBack(int a, int b, Value Y) {
    NodeId cut = gc_.cuts[b];
    int64_t r = Y.shape()[0];
    Value seed = reshape(named(Y, "seed.adjoint"), directionShape(r, src_.type(cut).shape));
    std::vector<NodeId> starts = startOf(a);
    std::vector<bool> relevant = dependsOn(src_, starts), onPath = dependedOnBy(src_, {cut});
    for (size_t i = 0; i < relevant.size(); ++i)
      relevant[i] = relevant[i] && onPath[i];
    auto adj = adjointSweep(src_, out_, primal_, {{cut, seed}}, r, &relevant);
    std::vector<Value> parts;
    for (NodeId s : starts) {
      TensorType t = src_.type(s);
      Value v = adj[s] ? *adj[s] : broadcastTo(scalar(out_, 0.0, dtype()), directionShape(r, t.shape));
      parts.push_back(reshape(v, {r, t.numel()}));
    }
    return parts.size() == 1 ? parts.front() : concat(parts, 1);
  }

  // Under a limit every adjoint sweep over a range with tape runs its own
  // schedule from the chain input (the plan's model); one without tape reads
  // no forward value.
  bool scheduled(int a, int b) const {
    if (!table_)
      return false;
    for (int l = a; l <= b; ++l)
      if (gc_.chain.factors[l].tapeBytes > 0)
        return true;
    return false;
  }

  // Y [r, m_b] pulled back through segments a..b by the sweep's schedule
  // (ReversalTable::sweepActions): each run of a segment after its first in
  // the graph is emitted again as recompute.N nodes from the value in hand,
  // and each segment's adjoint reads the values of its latest taping run.
  // The first run of a segment is the forward pass's when it starts from
  // the forward pass's value. Result [r, n_a].
  Value scheduledPullBack(int a, int b, Value Y) {
    const int64_t r = Y.shape()[0];
    const size_t q = gc_.cuts.size();
    Value seed = reshape(named(Y, "seed.adjoint"), directionShape(r, src_.type(gc_.cuts[b]).shape));
    std::vector<NodeId> current(q, 0), tapeInput(q, 0);
    std::vector<std::vector<NodeId>> tape(q);
    MaybeValue pulled = seed;
    std::vector<std::pair<NodeId, Value>> atStart; // a == 0: the wrt values' rows
    for (const ReversalAction &act : table_->sweepActions(a, b)) {
      const int l = act.factor;
      const std::vector<NodeId> &seg = gc_.segments[l];
      if (act.kind != ReversalAction::Reverse) {
        const NodeId in = l > 0 ? current[l - 1] : 0;
        std::vector<NodeId> copies(seg.size());
        if (runs_[l] == 0 && (l == 0 || in == primal_[gc_.cuts[l - 1]])) {
          for (size_t i = 0; i < seg.size(); ++i)
            copies[i] = primal_[seg[i]];
        } else {
          std::vector<NodeId> local(src_.size(), 0);
          std::vector<bool> isLocal(src_.size(), false);
          for (size_t i = 0; i < seg.size(); ++i) {
            Node n = src_.node(seg[i]);
            for (NodeId &o : n.operands)
              o = isLocal[o] ? local[o] : (l > 0 && o == gc_.cuts[l - 1] ? in : primal_[o]);
            std::string name;
            do
              name = "recompute." + std::to_string(recomputeCounter_++);
            while (out_.find(name));
            n.name = name;
            copies[i] = local[seg[i]] = out_.appendUnchecked(std::move(n));
            isLocal[seg[i]] = true;
          }
        }
        ++runs_[l];
        current[l] = seg.empty() ? in : copies.back();
        if (act.kind == ReversalAction::Tape) {
          tape[l] = std::move(copies);
          tapeInput[l] = in;
        }
        continue;
      }
      if (tape[l].size() != seg.size())
        throw Error("internal: a planned Jacobian's reversal without a tape");
      std::vector<NodeId> map = primal_;
      std::vector<bool> wanted(src_.size(), false);
      for (size_t i = 0; i < seg.size(); ++i)
        map[seg[i]] = tape[l][i];
      for (NodeId s : startOf(l))
        wanted[s] = true;
      if (l > 0)
        map[gc_.cuts[l - 1]] = tapeInput[l];
      MaybeValue before;
      atStart.clear();
      if (!seg.empty() && pulled)
        for (auto &[id, v] : segmentAdjoint(segmentGraph(src_, seg), out_, map, *pulled, wanted, r)) {
          if (l > 0)
            before = addMaybe(before, v);
          else
            atStart.emplace_back(id, v);
        }
      else if (seg.empty())
        before = pulled;
      pulled = before;
    }
    std::vector<Value> parts;
    for (NodeId s : startOf(a)) {
      TensorType t = src_.type(s);
      MaybeValue v = a > 0 ? pulled : MaybeValue{};
      if (a == 0)
        for (auto &[id, x] : atStart)
          if (id == s)
            v = addMaybe(v, x);
      Value dense = v ? *v : broadcastTo(scalar(out_, 0.0, dtype()), directionShape(r, t.shape));
      parts.push_back(reshape(dense, {r, t.numel()}));
    }
    return parts.size() == 1 ? parts.front() : concat(parts, 1);
  }

  // The dense Jacobian of one segment, or its diagonal / identity when the
  // plan charged it as such (one sweep seeded with ones, or none).
  Part leaf(int l, bool tangent) {
    const ChainFactor &f = gc_.chain.factors[l];
    if (f.structure == S::Identity)
      return {S::Identity, std::nullopt, f.m, f.n};
    if (f.structure == S::BlockDiagonal) {
      // Compressed seeds: direction c is column c of every block at once,
      // so n/B tangent (or m/B adjoint) directions recover all blocks.
      int64_t B = f.blocks, mb = f.m / B, nb = f.n / B;
      if (tangent) {
        Value seeds = reshape(broadcastTo(reshape(eye(nb, dtype()), {1, nb, nb}), {B, nb, nb}),
                              {f.n, nb});
        Value cols = pushForward(l, l, seeds); // [m, nb], row block b = block b
        return {S::BlockDiagonal, reshape(cols, {B, mb, nb}), f.m, f.n, B};
      }
      Value seeds = reshape(broadcastTo(reshape(eye(mb, dtype()), {mb, 1, mb}), {mb, B, mb}),
                            {mb, f.m});
      Value rows = pullBack(l, l, seeds); // [mb, n]
      return {S::BlockDiagonal, transpose(reshape(rows, {mb, B, nb}), {1, 0, 2}), f.m, f.n, B};
    }
    if (f.structure == S::Diagonal) {
      Value ones = broadcastTo(scalar(out_, 1.0, dtype()), {tangent ? f.n : f.m, 1});
      Value d = tangent ? pushForward(l, l, ones) : transpose(pullBack(l, l, transpose(ones)));
      return {S::Diagonal, reshape(d, {f.m}), f.m, f.n};
    }
    if (tangent)
      return {S::Dense, pushForward(l, l, eye(f.n, dtype())), f.m, f.n};
    return {S::Dense, pullBack(l, l, eye(f.m, dtype())), f.m, f.n};
  }

  // A diagonal part as B blocks: [B, n/B, n/B].
  Value diagonalBlocks(const Part &d, int64_t B) {
    int64_t nb = d.rows / B;
    return reshape(*d.value, {B, nb, 1}) * reshape(eye(nb, dtype()), {1, nb, nb});
  }

  Part multiply(Part L, Part R) {
    if (L.structure == S::Identity)
      return {R.structure, R.value, L.rows, R.cols, R.blocks};
    if (R.structure == S::Identity)
      return {L.structure, L.value, L.rows, R.cols, L.blocks};
    // A diagonal next to a block-diagonal part takes its blocks.
    if (L.structure == S::Diagonal && R.structure == S::BlockDiagonal)
      L = {S::BlockDiagonal, diagonalBlocks(L, R.blocks), L.rows, L.cols, R.blocks};
    if (R.structure == S::Diagonal && L.structure == S::BlockDiagonal)
      R = {S::BlockDiagonal, diagonalBlocks(R, L.blocks), R.rows, R.cols, L.blocks};
    bool lb = L.structure == S::BlockDiagonal, rb = R.structure == S::BlockDiagonal;
    if (lb && rb && L.blocks != R.blocks) { // blocks that do not line up
      L = {S::Dense, dense(L), L.rows, L.cols, 1};
      R = {S::Dense, dense(R), R.rows, R.cols, 1};
      lb = rb = false;
    }
    S s = S::Dense;
    int64_t blocks = 1;
    Value v = [&] {
      if (lb && rb) { // block by block
        s = S::BlockDiagonal;
        blocks = L.blocks;
        return matmul(*L.value, *R.value);
      }
      if (lb) { // each row block of L meets its own k/B rows of R
        int64_t B = L.blocks, kb = L.cols / B;
        return reshape(matmul(*L.value, reshape(*R.value, {B, kb, R.cols})), {L.rows, R.cols});
      }
      if (rb) { // each column block of R meets its own k/B columns of L
        int64_t B = R.blocks, kb = R.rows / B;
        Value Lb = transpose(reshape(*L.value, {L.rows, B, kb}), {1, 0, 2});
        return reshape(transpose(matmul(Lb, *R.value), {1, 0, 2}), {L.rows, R.cols});
      }
      if (L.structure == S::Diagonal && R.structure == S::Diagonal) {
        s = S::Diagonal;
        return *L.value * *R.value;
      }
      if (L.structure == S::Diagonal)
        return reshape(*L.value, {L.rows, 1}) * *R.value;
      if (R.structure == S::Diagonal)
        return *L.value * reshape(*R.value, {1, R.cols});
      return matmul(*L.value, *R.value);
    }();
    return {s, named(v, "product"), L.rows, R.cols, blocks};
  }


  const Graph &src_;
  Graph &out_;
  const std::vector<NodeId> &primal_;
  const GraphChain &gc_;
  const ReversalTable *table_;
  std::vector<int> runs_; // per segment: runs emitted so far (the first is the forward pass)
  int counter_ = 0, recomputeCounter_ = 0;
};

} // namespace

Value emitPlannedJacobian(const Graph &src, Graph &out, const std::vector<NodeId> &primal,
                          const GraphChain &gc, const BracketingPlan &plan,
                          const ReversalTable *recompute) {
  PlanEmitter e(src, out, primal, gc, recompute);
  Part root = e.emit(plan, static_cast<int>(plan.nodes.size()) - 1);
  return e.dense(root);
}

} // namespace chainjit::compiler
