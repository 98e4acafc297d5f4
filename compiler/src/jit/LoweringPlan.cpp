// Planning the lowering: effective operands (transposes folded into GEMM
// flags and into shared LU factorizations), which elementwise nodes are
// computed inside their consumer's loop, one kernel per remaining node, the
// storage of every value and the arena layout by liveness.
#include "LoweringPlan.h"

#include "KernelChoice.h"

#include "MemoryPlan.h"
#include "ScanLowering.h"
#include "chainjit/ir/Error.h"
#include "jit/kernels/ConvPlan.h"
#include "jit/kernels/gen/MicroTile.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace chainjit::compiler::jit {

using ir::NodeId;
using ir::OpKind;

namespace {

// Whether ops of kind `k` are computed by the fused elementwise emitter.
bool isFusibleElementwise(OpKind k) {
  switch (k) {
  case OpKind::Neg: case OpKind::Exp: case OpKind::Log: case OpKind::Sqrt:
  case OpKind::Abs: case OpKind::Sign: case OpKind::Pow: case OpKind::Relu:
  case OpKind::Sigmoid: case OpKind::Tanh: case OpKind::Softplus:
  case OpKind::Erf: case OpKind::Gelu:
  case OpKind::Cast: case OpKind::Add: case OpKind::Sub: case OpKind::Mul:
  case OpKind::Div: case OpKind::Maximum: case OpKind::Minimum:
  case OpKind::Less: case OpKind::LessEqual: case OpKind::Greater:
  case OpKind::GreaterEqual: case OpKind::Equal: case OpKind::NotEqual:
  case OpKind::Where: case OpKind::BroadcastTo:
    return true;
  default:
    return false;
  }
}

bool isReduction(OpKind k) {
  return k == OpKind::Sum || k == OpKind::Mean || k == OpKind::Max;
}

// The node whose storage `id` shares (through reshapes), or `id` itself.
NodeId aliasRoot(const ir::Graph &g, NodeId id) {
  while (g.node(id).kind == OpKind::Reshape)
    id = g.node(id).operands[0];
  return id;
}


// If `id` is a transpose that swaps the last two axes (and keeps the rest),
// the transposed node: GEMM and LU solves read it with a transpose flag.
std::optional<NodeId> swappedLastTwo(const ir::Graph &g, NodeId id) {
  const ir::Node &n = g.node(id);
  if (n.kind != OpKind::Transpose || n.type.rank() < 2)
    return std::nullopt;
  ir::Ints perm = n.attrs.getInts("perm");
  int64_t r = n.type.rank();
  if (perm.empty())
    for (int64_t i = r - 1; i >= 0; --i)
      perm.push_back(i);
  for (int64_t i = 0; i < r - 2; ++i)
    if (perm[i] != i)
      return std::nullopt;
  if (perm[r - 2] != r - 1 || perm[r - 1] != r - 2)
    return std::nullopt;
  return n.operands[0];
}

const char *dtypeSuffix(ir::DType t) {
  switch (t) {
  case ir::DType::f32: return "f32";
  case ir::DType::f64: return "f64";
  case ir::DType::i32: return "i32";
  default: return "bool";
  }
}

int64_t bytesOf(const ir::TensorType &t) {
  return t.numel() * static_cast<int64_t>(ir::dtypeSize(t.dtype));
}

class Planner {
public:
  Planner(const ir::Graph &g, const JitOptions &o, int64_t nodeBase) : g_(g), o_(o) {
    p_.nodeBase = nodeBase;
  }

  LoweringPlan run() {
    declareArguments();
    effectiveOperands();
    markNeeded();
    decideInlining();
    fuseAccumulations();
    chainUpdates();
    chainSoftmax();
    fuseConvEpilogues();
    createKernels();
    assignStorage();
    planArena();
    return std::move(p_);
  }

private:
  const ir::Graph &g_;
  const JitOptions &o_;
  LoweringPlan p_;
  std::vector<std::vector<NodeId>> reads_; // per node: what its kernel reads
  std::vector<bool> needed_;
  std::vector<std::vector<NodeId>> users_; // per node: the needed nodes reading it
  std::vector<bool> escapes_;              // outputs and new param values
  std::vector<bool> transA_, transB_;      // matmul / solve flags per node
  std::vector<int> argOf_;                 // input/param node -> argument
  std::vector<int> outputArg_;             // node -> its direct output argument, or -1
  // Elementwise nodes computed by their product's GEMM (fuseAccumulations).
  struct Accumulation {
    NodeId product; // the matmul
    std::optional<NodeId> addend, addendScale, productScale;
    bool negate = false;
    // A second update written from this one's elements (chainUpdates):
    // `node` = base +- [scale *] this.
    struct Chained {
      NodeId node, base;
      std::optional<NodeId> scale;
      bool negate;
    };
    std::optional<Chained> then;
  };
  std::map<NodeId, Accumulation> accumulations_;
  std::vector<bool> chained_; // nodes written by another node's kernel
  std::map<NodeId, NodeId> softmaxOf_; // cross_entropy -> the softmax it writes
  // relu nodes computed by their convolution (fuseConvEpilogues): the
  // conv2d and the per-channel bias.
  std::map<NodeId, std::pair<NodeId, NodeId>> convEpilogues_;

  bool fuse() const { return o_.fuse && !o_.checkNumerics; }

  void declareArguments() {
    argOf_.assign(g_.size(), -1);
    auto add = [&](ArgumentRole role, std::string name, NodeId node) {
      p_.arguments.push_back({role, std::move(name), node, g_.type(node)});
      return static_cast<int>(p_.arguments.size() - 1);
    };
    for (NodeId id : g_.inputs())
      argOf_[id] = add(ArgumentRole::Input, g_.node(id).name, id);
    for (NodeId id : g_.params())
      argOf_[id] = add(ArgumentRole::Param, g_.node(id).name, id);
    for (NodeId id : g_.outputs()) // unnamed outputs: "node #7"
      add(ArgumentRole::Output,
          g_.node(id).name.empty() ? g_.node(id).label(id) : g_.node(id).name, id);
    for (const ir::ParamUpdate &u : g_.updates()) {
      int a = add(ArgumentRole::Update, g_.node(u.param).name, u.value);
      p_.arguments[a].type = g_.type(u.param);
    }
  }

  void effectiveOperands() {
    reads_.resize(g_.size());
    transA_.assign(g_.size(), false);
    transB_.assign(g_.size(), false);
    for (NodeId id = 0; id < g_.size(); ++id) {
      const ir::Node &n = g_.node(id);
      reads_[id] = n.operands;
      if (n.kind == OpKind::MatMul) {
        for (int i = 0; i < 2; ++i)
          if (auto src = swappedLastTwo(g_, n.operands[i])) {
            reads_[id][i] = *src;
            (i == 0 ? transA_ : transB_)[id] = true;
          }
      } else if (n.kind == OpKind::Solve) {
        if (auto src = swappedLastTwo(g_, n.operands[0])) {
          reads_[id][0] = *src;
          transA_[id] = true;
        }
      }
    }
  }

  void markNeeded() {
    needed_.assign(g_.size(), false);
    for (NodeId id : g_.outputs())
      needed_[id] = true;
    for (const ir::ParamUpdate &u : g_.updates())
      needed_[u.value] = true;
    for (NodeId id = g_.size(); id-- > 0;)
      if (needed_[id])
        for (NodeId r : reads_[id])
          needed_[r] = true;
    users_.assign(g_.size(), {});
    for (NodeId id = 0; id < g_.size(); ++id)
      if (needed_[id])
        for (NodeId r : reads_[id])
          users_[r].push_back(id);
    escapes_.assign(g_.size(), false);
    for (NodeId id : g_.outputs())
      escapes_[id] = true;
    for (const ir::ParamUpdate &u : g_.updates())
      escapes_[u.value] = true;
  }

  // Same elements in the same order: shapes equal up to leading unit axes
  // (derivative graphs add a leading direction axis of 1).
  static bool sameElements(const ir::Shape &a, const ir::Shape &b) {
    auto strip = [](const ir::Shape &s) {
      size_t i = 0;
      while (i < s.size() && s[i] == 1)
        ++i;
      return ir::Shape(s.begin() + i, s.end());
    };
    return strip(a) == strip(b);
  }

  // Ops cheap enough to recompute in each of several consumers instead of
  // storing them once (a bias add read by relu and by relu's derivative).
  static bool cheapToRecompute(OpKind k) {
    switch (k) {
    case OpKind::Neg: case OpKind::Abs: case OpKind::Relu: case OpKind::Cast:
    case OpKind::Add: case OpKind::Sub: case OpKind::Mul: case OpKind::Maximum:
    case OpKind::Minimum: case OpKind::Less: case OpKind::LessEqual:
    case OpKind::Greater: case OpKind::GreaterEqual: case OpKind::Equal:
    case OpKind::NotEqual: case OpKind::Where: case OpKind::BroadcastTo:
      return true;
    default:
      return false;
    }
  }

  void decideInlining() {
    p_.inlined.assign(g_.size(), false);
    if (!fuse())
      return;
    for (NodeId id = 0; id < g_.size(); ++id) {
      const ir::Node &n = g_.node(id);
      if (!needed_[id] || escapes_[id] || users_[id].empty() || !isFusibleElementwise(n.kind))
        continue;
      if (users_[id].size() > 1 && !cheapToRecompute(n.kind))
        continue;
      // Inlined nodes share the loop nest of their consumer, so they must
      // have its elements: a broadcast would recompute them.
      bool sameLoop = true;
      for (NodeId u : users_[id]) {
        const ir::Node &user = g_.node(u);
        sameLoop = sameLoop && (isFusibleElementwise(user.kind)
                                    ? sameElements(user.type.shape, n.type.shape)
                                    : isReduction(user.kind));
      }
      p_.inlined[id] = sameLoop;
    }
  }

  void createKernels() {
    std::map<NodeId, std::vector<size_t>> solvesOf; // LU groups by matrix
    // Module-wide number of the next scan body's node 0 (ScanLowering.h):
    // every scan of g counts, lowered or not, so the numbering depends on
    // the graph alone.
    int64_t nextBody = p_.nodeBase + static_cast<int64_t>(g_.size());
    for (NodeId id = 0; id < g_.size(); ++id) {
      const ir::Node &n = g_.node(id);
      int64_t bodyBase = nextBody;
      if (n.kind == OpKind::Scan)
        nextBody += flatNodeCount(scanBodyGraph(g_, id));
      if (!needed_[id] || p_.inlined[id] || chained_[id] || ir::isSource(n.kind) ||
          n.kind == OpKind::Reshape)
        continue;
      Kernel k{KernelKind::Library, id};
      if (auto acc = accumulations_.find(id); acc != accumulations_.end()) {
        const Accumulation &a = acc->second;
        k = productKernel(a.product);
        k.node = id;
        k.addend = a.addend;
        k.operands = {k.lhs, k.rhs, a.addend, a.addendScale, a.productScale};
        k.call.symbol = std::string("cj_matmul_acc_") + dtypeSuffix(n.type.dtype);
        k.call.params.push_back(a.negate ? 1 : 0);
        k.call.params.push_back(a.then ? int64_t(a.then->negate) : -1);
        if (a.then) {
          k.chained = a.then->node;
          k.operands.insert(k.operands.end(), {a.then->base, a.then->scale, a.then->node});
        }
        k.call.scratchBytes = bytesOf(n.type); // the product, where BLAS cannot scale it
      } else if (auto ep = convEpilogues_.find(id); ep != convEpilogues_.end()) {
        const auto [conv, bias] = ep->second;
        k.call = libraryCall(conv);
        k.call.params.at(kernels::kConvEpilogueParam) = int64_t(kernels::ConvEpilogue::BiasRelu);
        k.operands = {reads_[conv][0], reads_[conv][1], bias};
      } else if (isFusibleElementwise(n.kind)) {
        k.kind = KernelKind::Elementwise;
      } else if (isReduction(n.kind)) {
        k.kind = KernelKind::Reduction;
      } else if (n.kind == OpKind::MatMul) {
        k = productKernel(id);
      } else if (n.kind == OpKind::Scan) {
        k.kind = KernelKind::Scan;
        auto body = std::make_shared<const ScanBody>(planScanBody(g_, id, o_, bodyBase));
        k.call.scratchBytes = body->scratchBytes; // the body's arena and the carries
        k.body = static_cast<int>(p_.bodies.size());
        p_.bodies.push_back(std::move(body));
      } else if (n.kind == OpKind::Solve) {
        k.kind = KernelKind::Solve;
        k.lhs = reads_[id][0];
        k.rhs = reads_[id][1];
        k.transposed = transA_[id];
        solvesOf[k.lhs].push_back(p_.kernels.size());
      } else {
        k.call = libraryCall(id);
        if (auto sm = softmaxOf_.find(id); sm != softmaxOf_.end()) {
          k.chained = sm->second;
          k.operands = {reads_[id][0], reads_[id][1], sm->second};
          k.call.params.at(3) = 1; // cj_cross_entropy writes the softmax
        }
      }
      p_.kernels.push_back(std::move(k));
    }
    // A matrix solved against more than once is factorized once; its LU
    // (in the first solve's scratch) serves every later solve, transposed or not.
    for (auto &[matrix, group] : solvesOf) {
      const ir::TensorType &a = g_.type(matrix);
      int64_t nn = a.shape[0];
      Buffer lu{nn * nn * static_cast<int64_t>(ir::dtypeSize(a.dtype)) + nn * 4,
                static_cast<int>(group.front()), static_cast<int>(group.back())};
      p_.buffers.push_back(lu);
      for (size_t i = 0; i < group.size(); ++i) {
        Kernel &k = p_.kernels[group[i]];
        k.factorized = i > 0;
        k.scratchBuffer = static_cast<int>(p_.buffers.size() - 1);
        const ir::TensorType &b = g_.type(k.rhs);
        k.call = {std::string("cj_solve_") + dtypeSuffix(a.dtype),
                  {nn, b.rank() == 1 ? 1 : b.shape[1], k.transposed ? 1 : 0,
                   k.factorized ? 1 : 0},
                  lu.bytes};
      }
    }
  }

  // The GEMM kernel of matmul `id`: its operands with transposes folded, its
  // call, and generated loops or BLAS.
  Kernel productKernel(NodeId id) {
    const ir::Node &n = g_.node(id);
    Kernel k{KernelKind::MatMul, id};
    k.lhs = reads_[id][0];
    k.rhs = reads_[id][1];
    k.transA = transA_[id];
    k.transB = transB_[id];
    k.call = matmulCall(k);
    collapseBatch(k);
    const auto &mp = k.call.params; // [P, m, n, k, ...]
    int64_t work = mp[1] * mp[2] * mp[3];
    // Generated loops or BLAS: measured on this machine (KernelChoice.h).
    // A batch of them runs the micro-kernel per product (floats only:
    // other dtypes have no micro-kernel, and their library loops are
    // what the choice measured for them).
    const MatMulDims dims{mp[1], mp[2], mp[3], k.transA, k.transB};
    bool single = mp[0] == 1 && mp[7] == 0 && mp[8] == 0;
    bool batchedMicro = ir::isFloat(n.type.dtype) &&
                        microKernelSupports(dims);
    k.generatedLoops = (single || batchedMicro) && work > 0 &&
                       matmulKernel(n.type.dtype, mp[1], mp[2], mp[3], k.transA, k.transB) ==
                           MatMulKernel::GeneratedLoops;
    return k;
  }

  // How many needed nodes read `id`.
  size_t readers(NodeId id) const { return users_[id].size(); }

  // A term of an update, [scale *] base: a mul by a scalar of type t that
  // is inlined into its one reader, or the value itself.
  struct Term {
    NodeId base;
    std::optional<NodeId> scale;
  };
  Term scaledTerm(NodeId id, ir::DType t) const {
    auto isScalar = [&](NodeId v) { return g_.type(v).rank() == 0 && g_.type(v).dtype == t; };
    const ir::Node &n = g_.node(id);
    if (n.kind == OpKind::Mul && p_.inlined[id] && users_[id].size() == 1)
      for (int s = 0; s < 2; ++s)
        if (isScalar(n.operands[s]) && !isScalar(n.operands[1 - s]))
          return Term{n.operands[1 - s], n.operands[s]};
    return Term{id, std::nullopt};
  }

  // A training step's update of a weight, `w - lr * g` (SGD) or
  // `mu * v + g` (momentum's velocity), where g is a GEMM's product read by
  // nothing else, is computed by that GEMM: C = beta C0 + alpha op(A) op(B)
  // (cj_matmul_acc; BLAS's own alpha and beta, or the rank-k kernel's).
  // The product is then never stored and read back, nor the update's loop
  // run (about 2.4 MB per step of a 784 x 256 layer; perf on the Fashion
  // MLP, issue 14). Matched: an add or sub of two terms, each a value or a
  // scalar times one; the product's term reaches the matmul through
  // reshapes alone; the matmul is one product through BLAS's ways (not the
  // generated micro-kernel), with the update's elements in its order; the
  // other term has the update's shape (no broadcast).
  void fuseAccumulations() {
    if (!fuse())
      return;
    for (NodeId id = 0; id < g_.size(); ++id) {
      const ir::Node &n = g_.node(id);
      const ir::DType t = n.type.dtype;
      if (!needed_[id] || p_.inlined[id] || (n.kind != OpKind::Add && n.kind != OpKind::Sub) ||
          !ir::isFloat(t))
        continue;
      for (int side = 0; side < (n.kind == OpKind::Add ? 2 : 1); ++side) {
        // The product's term: sub's second operand, either of add's.
        NodeId productTerm = n.operands[1 - side], other = n.operands[side];
        Term p = scaledTerm(productTerm, t), c = scaledTerm(other, t);
        std::vector<NodeId> chain; // reshapes down to the matmul
        NodeId m = p.base;
        bool single = readers(productTerm) == 1 && !escapes_[productTerm];
        while (single && g_.node(m).kind == OpKind::Reshape) {
          single = readers(m) == 1 && !escapes_[m];
          chain.push_back(m);
          m = g_.node(m).operands[0];
        }
        // The kernel reads the addend and the scales from memory: values of
        // their own, not expressions inlined into a loop.
        auto stored = [&](std::optional<NodeId> v) { return !v || !p_.inlined[aliasRoot(g_, *v)]; };
        if (!single || g_.node(m).kind != OpKind::MatMul || readers(m) != 1 || escapes_[m] ||
            g_.type(m).dtype != t || !sameElements(g_.type(m).shape, n.type.shape) ||
            g_.type(c.base).shape != n.type.shape || !stored(c.base) || !stored(c.scale) ||
            !stored(p.scale))
          continue;
        Kernel k = productKernel(m);
        if (k.generatedLoops || k.call.params[0] != 1 || k.call.params[6] != 0)
          continue; // the micro-kernel or plain loops: no alpha or beta there
        accumulations_[id] = {m, c.base, c.scale, p.scale, n.kind == OpKind::Sub};
        p_.inlined[m] = true; // read through the accumulating kernel (kernelReads)
        for (NodeId r : chain)
          p_.inlined[r] = true;
        break;
      }
    }
  }

  // Momentum's weight step `w - lr * v'` from the velocity v' that a GEMM
  // accumulates (fuseAccumulations) is written by that GEMM too, from each
  // element of v' as it is finished (ChainedUpdate.h): v' is not read back
  // by a loop of its own, and the step is split over threads as the GEMM
  // is. Matched: an add or sub of w and v' or a scalar times v' (inlined),
  // w and v' of one shape, read by nothing but the final copies; w and the
  // scalar stored values computed before the GEMM runs (sources, or nodes
  // before it), so that its kernel can read them where it stands, and w
  // not the param that v' updates.
  void chainUpdates() {
    chained_.assign(g_.size(), false);
    if (!fuse())
      return;
    auto before = [&](std::optional<NodeId> v, NodeId at) {
      if (!v)
        return true;
      const NodeId root = aliasRoot(g_, *v);
      return !p_.inlined[root] && root < at;
    };
    std::vector<bool> isOutput(g_.size(), false);
    for (NodeId id : g_.outputs())
      isOutput[id] = true;
    for (auto &[vNew, acc] : accumulations_) {
      // Not from a param that v' updates: written in place, v' would be in
      // its buffer by the time the step reads it.
      auto overwritten = [&](NodeId base) {
        return std::any_of(g_.updates().begin(), g_.updates().end(), [&](const auto &up) {
          return up.value == vNew && up.param == aliasRoot(g_, base);
        });
      };
      const ir::DType t = g_.type(vNew).dtype;
      for (NodeId u : users_[vNew]) {
        // u is the step or, inlined into it, the scalar times v'.
        const bool scaled = g_.node(u).kind == OpKind::Mul && p_.inlined[u] && users_[u].size() == 1;
        const NodeId f = scaled ? users_[u][0] : u;
        const ir::Node &n = g_.node(f);
        if (p_.inlined[f] || !users_[f].empty() || isOutput[f] || accumulations_.count(f) ||
            (n.kind != OpKind::Add && n.kind != OpKind::Sub) || n.type != g_.type(vNew))
          continue;
        for (int side = 0; side < (n.kind == OpKind::Add ? 2 : 1) && !acc.then; ++side) {
          const NodeId base = n.operands[side];
          const Term v = scaledTerm(n.operands[1 - side], t);
          if (v.base == vNew && base != n.operands[1 - side] && g_.type(base) == n.type &&
              before(base, vNew) && before(v.scale, vNew) && !overwritten(base))
            acc.then = Accumulation::Chained{f, base, v.scale, n.kind == OpKind::Sub};
        }
        if (acc.then) {
          chained_[f] = true;
          break;
        }
      }
    }
  }

  // A cross_entropy and a softmax of the same logits along their classes
  // (the loss and its gradient's probabilities) are one kernel: it
  // computes each row's e^(x - m) and their sum for the loss anyway, and
  // writes the softmax from them (cj_cross_entropy, Loss.cpp), the values
  // of the softmax kernel bit for bit. The logits are exponentiated once,
  // not twice (about 3% of the 64-128-10 step at batch 32, perf). The
  // softmax must come after the loss in the graph, so that everything
  // reading it runs after the loss's kernel.
  void chainSoftmax() {
    if (!fuse())
      return;
    for (NodeId ce = 0; ce < g_.size(); ++ce) {
      const ir::Node &n = g_.node(ce);
      if (!needed_[ce] || p_.inlined[ce] || n.kind != OpKind::CrossEntropy)
        continue;
      const NodeId logits = reads_[ce][0];
      const ir::TensorType &lt = g_.type(logits);
      if (lt.rank() != 2 || !ir::isFloat(lt.dtype))
        continue;
      for (NodeId sm : users_[logits]) {
        if (sm <= ce || p_.inlined[sm] || chained_[sm] || g_.node(sm).kind != OpKind::Softmax ||
            reads_[sm][0] != logits)
          continue;
        const std::vector<int64_t> &split = libraryCall(sm).params; // {outer, len, inner}
        if (split != std::vector<int64_t>{lt.shape[0], lt.shape[1], 1})
          continue; // not along the classes
        softmaxOf_[ce] = sm;
        chained_[sm] = true;
        break;
      }
    }
  }

  // A convolution's bias add and relu, relu(conv2d(x, w) + b) with b one
  // value per output channel ([1, O, 1, 1] or [O, 1, 1]), are done by the
  // convolution as it writes each output (ConvEpilogue::BiasRelu,
  // ConvPlan.h): the conv2d's result is never stored and read back by a
  // loop (3.2 MB per step of 64 images for the Fashion CNN's first layer).
  // Only where the conv2d and the add are read by nothing else: a relu's
  // derivative that reads the add (greater(add, 0)) keeps them apart.
  void fuseConvEpilogues() {
    if (!fuse())
      return;
    for (NodeId id = 0; id < g_.size(); ++id) {
      const ir::Node &n = g_.node(id);
      if (!needed_[id] || p_.inlined[id] || n.kind != OpKind::Relu ||
          !ir::isFloat(n.type.dtype))
        continue;
      const NodeId add = n.operands[0];
      if (g_.node(add).kind != OpKind::Add || !p_.inlined[add] || readers(add) != 1)
        continue;
      for (int side = 0; side < 2; ++side) {
        const NodeId conv = g_.node(add).operands[side], bias = g_.node(add).operands[1 - side];
        if (g_.node(conv).kind != OpKind::Conv2d || readers(conv) != 1 || escapes_[conv] ||
            p_.inlined[aliasRoot(g_, bias)] || g_.type(conv).shape != n.type.shape ||
            g_.type(bias).dtype != n.type.dtype)
          continue;
        ir::Shape b = g_.type(bias).shape; // one value per channel, axis 1 of [N, O, OH, OW]
        if (b.size() > 4)
          continue;
        b.insert(b.begin(), 4 - b.size(), 1);
        if (b != ir::Shape{1, n.type.shape[1], 1, 1})
          continue;
        convEpilogues_[id] = {conv, bias};
        p_.inlined[conv] = true; // read through the relu's kernel (kernelReads)
        break;
      }
    }
  }

  LibraryCall libraryCall(NodeId id) {
    static const std::vector<LibraryKernel> table = libraryKernels();
    OpKind kind = g_.node(id).kind;
    for (const LibraryKernel &lk : table)
      if (lk.kind == kind)
        return lk.lower(g_, id);
    throw Error("jit: no lowering for op '" + std::string(ir::opName(kind)) + "' (" +
                    g_.node(id).label(id) + ")",
                g_.node(id).loc);
  }

  // Which kernel one product runs (its per-batch threshold param follows it).
  MatMulKernel matmulKernel(ir::DType t, int64_t m, int64_t n, int64_t kk, bool tA, bool tB) {
    if (!ir::isFloat(t)) { // plain loops either way
      int64_t fixed = fixedBlasThreshold(o_);
      return m * n * kk < (fixed >= 0 ? fixed : 8192) ? MatMulKernel::GeneratedLoops
                                                      : MatMulKernel::Blas;
    }
    return chooseMatMulKernel({m, n, kk, tA, tB}, static_cast<unsigned>(ir::dtypeSize(t)), o_);
  }

  // The GEMM call of a matmul, per the contract in LibraryKernels.h.
  LibraryCall matmulCall(const Kernel &k) {
    const ir::Node &n = g_.node(k.node);
    ir::Shape a = g_.type(k.lhs).shape, b = g_.type(k.rhs).shape;
    // Vectors are one-row / one-column matrices (never transposed: a
    // transpose of rank >= 2 was folded).
    if (a.size() == 1)
      a.insert(a.begin(), 1);
    if (b.size() == 1)
      b.push_back(1);
    int64_t m = k.transA ? a.back() : a[a.size() - 2];
    int64_t kk = k.transA ? a[a.size() - 2] : a.back();
    int64_t nn = k.transB ? b[b.size() - 2] : b.back();
    ir::Shape batchA(a.begin(), a.end() - 2), batchB(b.begin(), b.end() - 2);
    ir::Shape batch = *ir::broadcastShapes(batchA, batchB);
    std::vector<int64_t> offA = batchOffsets(batchA, batch, m * kk);
    std::vector<int64_t> offB = batchOffsets(batchB, batch, kk * nn);
    LibraryCall c{std::string("cj_matmul_") + dtypeSuffix(n.type.dtype),
                  {static_cast<int64_t>(offA.size()), m, nn, kk, k.transA ? 1 : 0,
                   k.transB ? 1 : 0,
                   matmulKernel(n.type.dtype, m, nn, kk, k.transA, k.transB) ==
                           MatMulKernel::GeneratedLoops
                       ? m * nn * kk + 1
                       : 0},
                  0};
    c.params.insert(c.params.end(), offA.begin(), offA.end());
    c.params.insert(c.params.end(), offB.begin(), offB.end());
    return c;
  }

  // A batched product that is one GEMM in disguise becomes that GEMM (one
  // BLAS call instead of one per batch, each repacking the shared matrix):
  //  - B shared, A stacked ([P, m, k] contiguous, not transposed):
  //    C [P*m, n] = A [P*m, k] op(B);
  //  - A shared, B a stack of vectors (n = 1, B_p contiguous): C_p = op(A) B_p
  //    for all p is C [P, m] = Bstack [P, k] op(A)^T, so the operands swap.
  // The second is how a Jacobian's tangent directions meet a layer's matrix.
  void collapseBatch(Kernel &k) {
    std::vector<int64_t> &p = k.call.params; // [P, m, n, k, tA, tB, thr, offA[P], offB[P]]
    int64_t batches = p[0], m = p[1], n = p[2], kk = p[3];
    if (batches <= 1)
      return;
    auto offA = [&](int64_t i) { return p[7 + i]; };
    auto offB = [&](int64_t i) { return p[7 + batches + i]; };
    bool aShared = true, bShared = true, aStacked = true, bStacked = true;
    for (int64_t i = 0; i < batches; ++i) {
      aShared = aShared && offA(i) == offA(0);
      bShared = bShared && offB(i) == offB(0);
      aStacked = aStacked && offA(i) == i * m * kk;
      bStacked = bStacked && offB(i) == i * kk * n;
    }
    std::vector<int64_t> head(p.begin(), p.begin() + 7);
    if (bShared && aStacked && !k.transA) {
      head[0] = 1;
      head[1] = batches * m;
      p = head;
      p.insert(p.end(), {0, offB(0)});
    } else if (aShared && bStacked && n == 1) {
      int64_t sharedOffset = offA(0);
      std::swap(k.lhs, k.rhs);
      head[0] = 1;
      head[1] = batches; // rows of the stack of vectors
      head[2] = m;       // columns: op(A)^T has A's m as its columns
      head[4] = 0;       // the stack [P, k] is read as is
      head[5] = k.transA ? 0 : 1;
      k.transA = false;
      k.transB = head[5] != 0;
      p = head;
      p.insert(p.end(), {0, sharedOffset});
    }
  }

  // The element offset of the matrix that each batch of `to` reads from a
  // stack of matrices with batch shape `from` (NumPy broadcasting).
  static std::vector<int64_t> batchOffsets(const ir::Shape &from, const ir::Shape &to,
                                           int64_t matrixSize) {
    int64_t count = 1;
    for (int64_t d : to)
      count *= d;
    std::vector<int64_t> fromStrides = ir::stridesOf(from);
    std::vector<int64_t> offsets(count, 0);
    size_t shift = to.size() - from.size();
    for (int64_t i = 0; i < count; ++i) {
      int64_t rest = i, off = 0;
      for (size_t d = to.size(); d-- > 0;) {
        int64_t idx = rest % to[d];
        rest /= to[d];
        if (d >= shift && from[d - shift] != 1)
          off += idx * fromStrides[d - shift];
      }
      offsets[i] = off * matrixSize;
    }
    return offsets;
  }

  void assignStorage() {
    p_.storage.assign(g_.size(), Storage{});
    p_.bufferOf.assign(g_.size(), -1);
    outputArg_.assign(g_.size(), -1);
    int firstOutput = static_cast<int>(g_.inputs().size() + g_.params().size());
    for (size_t i = 0; i < g_.outputs().size(); ++i) {
      NodeId id = g_.outputs()[i];
      if (outputArg_[id] < 0)
        outputArg_[id] = firstOutput + static_cast<int>(i);
    }
    for (NodeId id = 0; id < g_.size(); ++id) {
      OpKind k = g_.node(id).kind;
      if (k == OpKind::Input || k == OpKind::Param)
        p_.storage[id] = {Storage::Argument, argOf_[id]};
      else if (k == OpKind::Const)
        p_.storage[id] = {Storage::Constant, static_cast<int64_t>(id)};
    }
    std::vector<int> position(g_.size(), -1);
    for (size_t i = 0; i < p_.kernels.size(); ++i)
      for (NodeId id : written(p_.kernels[i]))
        position[id] = static_cast<int>(i);
    // An output that reshapes a kernel's result (a gradient named by a
    // reshape): the kernel writes the caller's buffer, so the result does not
    // hold arena bytes until the final copies.
    for (size_t i = 0; i < g_.outputs().size(); ++i) {
      NodeId id = g_.outputs()[i], root = aliasRoot(g_, id);
      if (root != id && position[root] >= 0 && outputArg_[root] < 0)
        outputArg_[root] = firstOutput + static_cast<int>(i);
    }
    std::vector<int> updateArg = directUpdates(position);
    // Kernel results: in the caller's output or update buffer when the node
    // is an output or a param's new value that can be written in place,
    // else in the arena.
    for (size_t i = 0; i < p_.kernels.size(); ++i) {
      Kernel &k = p_.kernels[i];
      for (NodeId id : written(k)) {
        if (outputArg_[id] >= 0) {
          p_.storage[id] = {Storage::Argument, outputArg_[id]};
        } else if (updateArg[id] >= 0) {
          p_.storage[id] = {Storage::Argument, updateArg[id]};
        } else {
          p_.bufferOf[id] = static_cast<int>(p_.buffers.size());
          p_.buffers.push_back({bytesOf(g_.type(id)), static_cast<int>(i), static_cast<int>(i)});
        }
      }
      if (k.call.scratchBytes > 0 && k.scratchBuffer < 0) {
        k.scratchBuffer = static_cast<int>(p_.buffers.size());
        p_.buffers.push_back({k.call.scratchBytes, static_cast<int>(i), static_cast<int>(i)});
      }
    }
    // Liveness: a buffer lives until the last kernel reading it (through
    // inlined expressions and reshape aliases) or the final copies.
    int end = static_cast<int>(p_.kernels.size());
    auto touch = [&](NodeId id, int at) {
      int b = p_.bufferOf[aliasRoot(g_, id)];
      if (b >= 0)
        p_.buffers[b].last = std::max(p_.buffers[b].last, at);
    };
    for (size_t i = 0; i < p_.kernels.size(); ++i)
      for (NodeId r : kernelReads(p_.kernels[i]))
        touch(r, static_cast<int>(i));
    for (size_t i = 0; i < g_.outputs().size(); ++i) {
      NodeId id = g_.outputs()[i];
      int dest = firstOutput + static_cast<int>(i);
      if (p_.storage[id].kind != Storage::Argument || p_.storage[id].index != dest) {
        p_.copies.push_back({id, dest});
        touch(id, end);
      }
    }
    int firstUpdate = firstOutput + static_cast<int>(g_.outputs().size());
    for (size_t i = 0; i < g_.updates().size(); ++i) {
      NodeId v = g_.updates()[i].value;
      if (updateArg[v] == firstUpdate + static_cast<int>(i))
        continue; // written in place by its kernel
      p_.copies.push_back({v, firstUpdate + static_cast<int>(i)});
      touch(v, end);
    }
    // Reshapes share their root's storage.
    for (NodeId id = 0; id < g_.size(); ++id)
      if (g_.node(id).kind == OpKind::Reshape) {
        NodeId root = aliasRoot(g_, id);
        p_.storage[id] = p_.storage[root];
        p_.bufferOf[id] = p_.bufferOf[root];
      }
  }

  // For each node, the update buffer its kernel may write directly (or -1),
  // sparing the final copy: the new value of a param computed by an
  // elementwise kernel (an SGD step `w - lr * g`) or an accumulating GEMM
  // (the same step fused into the gradient's product) that runs after every
  // other reader of the param and reads the param only at the element it
  // writes. Then even when the caller passes the param's own buffer as the
  // update buffer (in-place training), no reader sees the new value early.
  std::vector<int> directUpdates(const std::vector<int> &position) const {
    std::vector<int> result(g_.size(), -1);
    if (!fuse()) // --check-numerics keeps the plain form
      return result;
    int firstUpdate = static_cast<int>(g_.inputs().size() + g_.params().size() +
                                       g_.outputs().size());
    std::vector<int> uses(g_.size(), 0);
    for (const ir::ParamUpdate &u : g_.updates())
      ++uses[u.value];
    std::vector<NodeId> copied = g_.outputs(); // read by the final copies
    for (const ir::ParamUpdate &u : g_.updates())
      copied.push_back(u.value);
    for (size_t i = 0; i < g_.updates().size(); ++i) {
      auto [param, v] = g_.updates()[i];
      int at = position[v];
      if (uses[v] != 1 || outputArg_[v] >= 0 || at < 0)
        continue;
      const Kernel &k = p_.kernels[at];
      // An accumulating GEMM reads its addend at the element it writes, and
      // its factors anywhere.
      const bool accumulates = k.kind == KernelKind::MatMul && k.addend;
      if (k.kind != KernelKind::Elementwise &&
          !(accumulates && aliasRoot(g_, k.lhs) != param && aliasRoot(g_, k.rhs) != param))
        continue;
      bool safe = std::none_of(copied.begin(), copied.end(),
                               [&](NodeId c) { return aliasRoot(g_, c) == param; });
      for (size_t j = 0; safe && j < p_.kernels.size(); ++j)
        for (NodeId r : kernelReads(p_.kernels[j])) {
          if (aliasRoot(g_, r) != param)
            continue;
          if (static_cast<int>(j) == at)
            safe = safe && g_.type(r).shape == g_.type(v).shape; // same element
          else
            safe = safe && static_cast<int>(j) < at;
        }
      if (safe)
        result[v] = firstUpdate + static_cast<int>(i);
    }
    return result;
  }

  // The nodes a kernel writes: its own and the one it chains.
  static std::vector<NodeId> written(const Kernel &k) {
    std::vector<NodeId> nodes{k.node};
    if (k.chained)
      nodes.push_back(*k.chained);
    return nodes;
  }

  // The materialized values a kernel reads: the effective operands of the
  // nodes it writes, looking through the nodes inlined into its loop.
  std::vector<NodeId> kernelReads(const Kernel &k) const {
    std::vector<NodeId> out;
    std::vector<NodeId> work;
    for (NodeId id : written(k))
      work.insert(work.end(), reads_[id].begin(), reads_[id].end());
    while (!work.empty()) {
      NodeId r = work.back();
      work.pop_back();
      if (p_.inlined[r])
        work.insert(work.end(), reads_[r].begin(), reads_[r].end());
      else
        out.push_back(r);
    }
    return out;
  }

  void planArena() {
    p_.arenaBytes = assignOffsets(p_.buffers);
    for (NodeId id = 0; id < g_.size(); ++id)
      if (p_.bufferOf[id] >= 0)
        p_.storage[id] = {Storage::Arena, p_.buffers[p_.bufferOf[id]].offset};
  }
};

} // namespace

LoweringPlan planLowering(const ir::Graph &g, const JitOptions &options, int64_t nodeBase) {
  return Planner(g, options, nodeBase).run();
}

std::string describeKernel(const ir::Graph &g, const LoweringPlan &plan, size_t i) {
  static const char *kinds[] = {"loop", "reduce", "gemm", "solve", "call", "scan"};
  std::ostringstream os;
  const Kernel &k = plan.kernels[i];
  os << "#" << i << " " << kinds[static_cast<int>(k.kind)] << " " << g.node(k.node).label(k.node)
     << " = " << ir::opName(g.node(k.node).kind);
  // The inlined nodes fused into this loop.
  std::vector<NodeId> fused;
  std::vector<NodeId> work = g.node(k.node).operands;
  while (!work.empty()) {
    NodeId r = work.back();
    work.pop_back();
    if (plan.inlined[r]) {
      fused.push_back(r);
      work.insert(work.end(), g.node(r).operands.begin(), g.node(r).operands.end());
    }
  }
  if (!fused.empty()) {
    os << " fusing";
    for (NodeId f : fused)
      os << " " << ir::opName(g.node(f).kind);
  }
  if (k.generatedLoops)
    os << " -> generated loops";
  else if (!k.call.symbol.empty())
    os << " -> " << k.call.symbol;
  if (k.addend)
    os << " (accumulating into " << g.node(*k.addend).label(*k.addend) << ")";
  auto where = [&](NodeId id) {
    const Storage &s = plan.storage[id];
    return s.kind == Storage::Arena      ? " @arena+" + std::to_string(s.index)
           : s.kind == Storage::Argument ? " @arg" + std::to_string(s.index)
                                         : std::string();
  };
  if (k.chained)
    os << " (then " << g.node(*k.chained).label(*k.chained) << " = "
       << ir::opName(g.node(*k.chained).kind) << " from it" << where(*k.chained) << ")";
  if (k.kind == KernelKind::Library && g.node(k.node).kind == OpKind::Relu) // fuseConvEpilogues
    os << " (bias " << g.node(*k.operands.back()).label(*k.operands.back()) << " and relu)";
  if (k.kind == KernelKind::MatMul && k.call.params[0] > 1)
    os << " (" << k.call.params[0] << " batched products)";
  if (k.transA || k.transB || k.transposed)
    os << " (transposed operand)";
  if (k.factorized)
    os << " (reusing LU)";
  os << where(k.node);
  if (k.kind == KernelKind::Scan) {
    const ScanBody &b = *plan.bodies[k.body];
    os << " -> " << b.layout.length << (b.layout.length == 1 ? " step" : " steps")
       << (b.layout.reverse ? " (reverse)" : "") << " of @" << b.function;
  }
  return os.str();
}

namespace {

// One line per kernel, each prefixed by `indent`; a scan's body plan follows
// its line, indented by two more spaces.
void describeInto(std::ostringstream &os, const ir::Graph &g, const LoweringPlan &plan,
                  const std::string &indent) {
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    os << indent << describeKernel(g, plan, i);
    const Kernel &k = plan.kernels[i];
    if (k.kind == KernelKind::Scan) {
      os << ":\n";
      describeInto(os, *plan.bodies[k.body]->graph, plan.bodies[k.body]->plan, indent + "  ");
      continue;
    }
    os << "\n";
  }
  os << indent << "arena: " << plan.arenaBytes << " bytes in " << plan.buffers.size()
     << " buffers\n";
}

} // namespace

std::string describePlan(const ir::Graph &g, const LoweringPlan &plan) {
  std::ostringstream os;
  describeInto(os, g, plan, "");
  return os.str();
}

} // namespace chainjit::compiler::jit
