// Emits the entry function: argument pointers loaded once, then each kernel
// of the plan in order (fused loop nests, reductions, GEMM / solve / library
// calls with their status checked), the NaN/Inf checks of --check-numerics,
// and the final copies of outputs and param updates.
#include "ModuleBuilder.h"

#include "CountedLoop.h"
#include "KernelChoice.h"
#include "RuntimeSupport.h"
#include "ScalarOps.h"
#include "ScanLowering.h"
#include "chainjit/ir/Error.h"
#include "jit/kernels/gen/MatMulMicroKernel.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/MDBuilder.h>

#include <algorithm>

#include <functional>
#include <map>

namespace chainjit::compiler::jit {

using ir::NodeId;
using ir::OpKind;
using llvm::Value;

namespace {

// A loop nest over `dims` in row-major order, and for each access (the
// result and every buffer read) its element stride along each dim. Built
// from the full shape, then simplified: unit dims dropped and neighbouring
// dims merged where every access walks them contiguously, so an elementwise
// chain over a contiguous tensor becomes one flat loop.
struct LoopNest {
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides; // [access][dim]

  void simplify() {
    std::vector<int64_t> d;
    std::vector<std::vector<int64_t>> s(strides.size());
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] == 1)
        continue;
      bool merge = !d.empty();
      for (size_t a = 0; merge && a < strides.size(); ++a)
        merge = s[a].back() == strides[a][i] * dims[i];
      if (merge) {
        d.back() *= dims[i];
        for (size_t a = 0; a < strides.size(); ++a)
          s[a].back() = strides[a][i];
      } else {
        d.push_back(dims[i]);
        for (size_t a = 0; a < strides.size(); ++a)
          s[a].push_back(strides[a][i]);
      }
    }
    dims = std::move(d);
    strides = std::move(s);
  }
};

// The strides with which a tensor of shape `from` is read while iterating
// over the (broadcast) shape `to`: 0 along broadcast axes.
std::vector<int64_t> broadcastStrides(const ir::Shape &from, const ir::Shape &to) {
  std::vector<int64_t> fs = ir::stridesOf(from), out(to.size(), 0);
  size_t shift = to.size() - from.size();
  for (size_t d = shift; d < to.size(); ++d)
    if (from[d - shift] != 1)
      out[d] = fs[d - shift];
  return out;
}

bool isSplatConst(const ir::Node &n) {
  return n.kind == OpKind::Const && n.value && n.value->numel() > 0 && n.value->isSplat();
}

// Builds one function with the entry's ABI for one graph and its plan: the
// entry itself, or (for a scan) the body's function, which the scan's loop
// calls once per step.
class Builder {
public:
  Builder(const ir::Graph &g, const LoweringPlan &p, const JitOptions &o, llvm::Module &m)
      : g_(g), p_(p), o_(o), ctx_(m.getContext()), m_(&m), b_(ctx_) {}

  // A scan body's function is internal and never inlined: its alias scopes
  // hold within one step only (a step's output carries are the next step's
  // inputs), and one call per step keeps the code independent of T.
  llvm::Function *run(const std::string &name, bool isBody) {
    llvm::Type *ptr = b_.getPtrTy();
    auto *type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, ptr, ptr}, false);
    fn_ = llvm::Function::Create(type,
                                 isBody ? llvm::Function::InternalLinkage
                                        : llvm::Function::ExternalLinkage,
                                 name, *m_);
    if (isBody)
      fn_->addFnAttr(llvm::Attribute::NoInline);
    for (auto &arg : fn_->args())
      arg.addAttr(llvm::Attribute::NoAlias);
    buffers_ = fn_->getArg(0);
    arena_ = fn_->getArg(1);
    failed_ = fn_->getArg(2);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn_));
    createAliasScopes();
    for (size_t i = 0; i < p_.arguments.size(); ++i)
      args_.push_back(b_.CreateLoad(ptr, b_.CreateConstGEP1_64(ptr, buffers_, i),
                                    "arg." + p_.arguments[i].name));
    // A body's inputs are the scan's operands (checked where they were
    // made) or the carries its previous step made (checked there).
    if (o_.checkNumerics && !isBody)
      for (size_t i = 0; i < p_.arguments.size(); ++i)
        if (p_.arguments[i].role == ArgumentRole::Input ||
            p_.arguments[i].role == ArgumentRole::Param)
          checkFinite(p_.arguments[i].node, args_[i], p_.arguments[i].type);
    // A scan's body runs inside its scan's kernel, which is timed as one.
    llvm::GlobalVariable *profile =
        o_.profile && !isBody && !p_.kernels.empty() ? profileCounters() : nullptr;
    for (size_t i = 0; i < p_.kernels.size(); ++i) {
      const Kernel &k = p_.kernels[i];
      Value *start =
          profile ? b_.CreateCall(declared("cj_profile_now", b_.getInt64Ty(), {})) : nullptr;
      switch (k.kind) {
      case KernelKind::Elementwise: emitElementwise(k); break;
      case KernelKind::Reduction: emitReduction(k); break;
      case KernelKind::Scan: emitScan(k); break;
      default: emitCall(k); break;
      }
      if (o_.checkNumerics)
        checkFinite(k.node, pointerOf(k.node), g_.type(k.node));
      if (profile)
        b_.CreateCall(declared("cj_profile_add", b_.getVoidTy(), {ptr, b_.getInt64Ty()}),
                      {b_.CreateConstGEP2_64(profile->getValueType(), profile, 0, 2 * i), start});
    }
    for (const FinalCopy &c : p_.copies) {
      const ir::TensorType &t = g_.type(c.from);
      int64_t bytes = t.numel() * static_cast<int64_t>(ir::dtypeSize(t.dtype));
      if (bytes > 0)
        b_.CreateMemCpy(args_[c.argument], llvm::MaybeAlign(), pointerOf(c.from),
                        llvm::MaybeAlign(), bytes);
    }
    b_.CreateRet(b_.getInt32(kJitOk));
    return fn_;
  }

private:
  const ir::Graph &g_;
  const LoweringPlan &p_;
  const JitOptions &o_;
  llvm::LLVMContext &ctx_;
  llvm::Module *m_;
  llvm::IRBuilder<> b_;
  llvm::Function *fn_ = nullptr;
  Value *buffers_ = nullptr, *arena_ = nullptr, *failed_ = nullptr;
  std::vector<Value *> args_;
  std::map<NodeId, llvm::GlobalVariable *> constants_;

  std::vector<llvm::MDNode *> scopes_; // per argument, then the arena, then constants

  llvm::Type *elemTy(NodeId id) { return elementType(ctx_, g_.type(id).dtype); }

  // The profile's counters (RuntimeSupport.h): zeroed, two per kernel, with
  // external linkage so that the loaded graph can find them by name.
  llvm::GlobalVariable *profileCounters() {
    auto *type = llvm::ArrayType::get(b_.getInt64Ty(), 2 * p_.kernels.size());
    auto *counters = new llvm::GlobalVariable(*m_, type, false, llvm::GlobalValue::ExternalLinkage,
                                              llvm::ConstantAggregateZero::get(type), kProfileName);
    counters->setAlignment(llvm::Align(8));
    return counters;
  }

  // The module's declaration of a function the JIT resolves (a library
  // kernel, a runtime helper of RuntimeSupport.h).
  llvm::FunctionCallee declared(llvm::StringRef name, llvm::Type *result,
                                llvm::ArrayRef<llvm::Type *> params) {
    return m_->getOrInsertFunction(name, llvm::FunctionType::get(result, params, false));
  }

  // Alias scopes: the caller's buffers do not overlap each other (an update
  // may be its param's buffer, but updates are only written by the final
  // copies, which carry no scope), nor the arena or the constants. Telling
  // LLVM so spares every loop its run-time overlap checks and scalar copy.
  void createAliasScopes() {
    llvm::MDBuilder md(ctx_);
    llvm::MDNode *domain = md.createAnonymousAliasScopeDomain("chainjit");
    for (size_t i = 0; i < p_.arguments.size() + 2; ++i)
      scopes_.push_back(md.createAnonymousAliasScope(domain));
  }

  size_t scopeOf(NodeId id) const {
    const Storage &s = p_.storage[id];
    if (s.kind == Storage::Argument)
      return static_cast<size_t>(s.index);
    return p_.arguments.size() + (s.kind == Storage::Arena ? 0 : 1);
  }

  // Marks a load or store of `id`'s storage with its scope.
  template <typename I> I *tagged(I *access, NodeId id) {
    size_t own = scopeOf(id);
    std::vector<llvm::Metadata *> others;
    for (size_t i = 0; i < scopes_.size(); ++i)
      if (i != own)
        others.push_back(scopes_[i]);
    access->setMetadata(llvm::LLVMContext::MD_alias_scope, llvm::MDNode::get(ctx_, {scopes_[own]}));
    access->setMetadata(llvm::LLVMContext::MD_noalias, llvm::MDNode::get(ctx_, others));
    return access;
  }
  llvm::LoadInst *load(NodeId id, Value *ptr) {
    return tagged(b_.CreateLoad(elemTy(id), ptr), id);
  }
  void store(NodeId id, Value *v, Value *ptr) { tagged(b_.CreateStore(v, ptr), id); }

  Value *pointerOf(NodeId id) {
    const Storage &s = p_.storage[id];
    switch (s.kind) {
    case Storage::Argument: return args_[s.index];
    case Storage::Arena: return b_.CreateConstGEP1_64(b_.getInt8Ty(), arena_, s.index);
    case Storage::Constant: return constantGlobal(static_cast<NodeId>(s.index));
    default:
      throw Error("internal: jit: " + g_.node(id).label(id) + " has no storage");
    }
  }

  llvm::GlobalVariable *constantGlobal(NodeId id) {
    auto it = constants_.find(id);
    if (it != constants_.end())
      return it->second;
    const ir::Tensor &t = *g_.node(id).value;
    auto *data = llvm::ConstantDataArray::getRaw(
        llvm::StringRef(static_cast<const char *>(t.data()), t.byteSize()), t.numel(),
        elemTy(id));
    auto *gv = new llvm::GlobalVariable(*m_, data->getType(), true,
                                        llvm::GlobalValue::PrivateLinkage, data,
                                        "const." + std::to_string(id));
    gv->setAlignment(llvm::Align(64));
    gv->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    return constants_[id] = gv;
  }

  // Branches to a block that reports `node` with status `code` when `bad`.
  void failIf(Value *bad, NodeId node, Value *code) {
    auto *fail = llvm::BasicBlock::Create(ctx_, "fail", fn_);
    auto *ok = llvm::BasicBlock::Create(ctx_, "ok", fn_);
    b_.CreateCondBr(bad, fail, ok, llvm::MDBuilder(ctx_).createUnlikelyBranchWeights());
    b_.SetInsertPoint(fail);
    if (node != kNoNode) // ids are module-wide (ScanLowering.h)
      b_.CreateStore(b_.getInt64(p_.nodeBase + static_cast<int64_t>(node)), failed_);
    b_.CreateRet(code);
    b_.SetInsertPoint(ok);
  }
  // failIf's node for a failure whose node a scan body has stored already.
  static constexpr NodeId kNoNode = ~NodeId{0};

  void checkFinite(NodeId node, Value *data, const ir::TensorType &t) {
    if ((t.dtype != ir::DType::f32 && t.dtype != ir::DType::f64) || t.numel() == 0)
      return;
    const char *fn = t.dtype == ir::DType::f32 ? "cj_has_nonfinite_f32" : "cj_has_nonfinite_f64";
    auto callee = declared(fn, b_.getInt32Ty(), {b_.getPtrTy(), b_.getInt64Ty()});
    Value *bad = b_.CreateCall(callee, {data, b_.getInt64(t.numel())});
    failIf(b_.CreateICmpNE(bad, b_.getInt32(0)), node, b_.getInt32(kJitNonFinite));
  }

  // --- loops ---

  // Emits the nest and calls body(offsets) in the innermost block, with one
  // element offset per access.
  void emitLoops(const LoopNest &nest, const std::function<void(std::vector<Value *> &)> &body) {
    for (int64_t d : nest.dims)
      if (d == 0)
        return; // no elements
    std::vector<Value *> ivs;
    emitLoop(nest, 0, ivs, body);
  }

  // Dim 0 runs [first, last) when they are given (an outlined part of a
  // split loop), else [0, dims[0]); the caller guarantees first < last.
  void emitLoop(const LoopNest &nest, size_t d, std::vector<Value *> &ivs,
                const std::function<void(std::vector<Value *> &)> &body,
                Value *first = nullptr, Value *last = nullptr) {
    if (d == nest.dims.size()) {
      std::vector<Value *> offsets;
      for (const auto &s : nest.strides) {
        Value *off = b_.getInt64(0);
        for (size_t i = 0; i < ivs.size(); ++i)
          if (s[i] != 0)
            off = b_.CreateAdd(off, b_.CreateMul(ivs[i], b_.getInt64(s[i])), "", true, true);
        offsets.push_back(off);
      }
      body(offsets);
      return;
    }
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *loop = llvm::BasicBlock::Create(ctx_, "loop", fn_);
    auto *exit = llvm::BasicBlock::Create(ctx_, "loop.end", fn_);
    b_.CreateBr(loop);
    b_.SetInsertPoint(loop);
    llvm::PHINode *iv = b_.CreatePHI(b_.getInt64Ty(), 2, "i" + std::to_string(d));
    iv->addIncoming(first ? first : b_.getInt64(0), pre);
    ivs.push_back(iv);
    emitLoop(nest, d + 1, ivs, body);
    ivs.pop_back();
    Value *next = b_.CreateAdd(iv, b_.getInt64(1), "", true, true);
    iv->addIncoming(next, b_.GetInsertBlock());
    Value *end = last ? last : b_.getInt64(nest.dims[d]);
    auto *latch = b_.CreateCondBr(b_.CreateICmpEQ(next, end), exit, loop);
    annotateLoop(latch, nest.dims[d], d + 1 == nest.dims.size());
    b_.SetInsertPoint(exit);
  }

  // Loop hints. An inner loop shorter than the vectorizer's favourite chunk
  // (16 lanes x 4 interleaved on AVX-512) would run entirely in its scalar
  // remainder, so short inner loops are not interleaved. No loop is
  // unrolled by the unroller: in a matrix product, fully unrolling the short
  // inner loop before vectorization turns an axpy over a row of C into one
  // scalar reduction per element (measured 10x slower), and elsewhere
  // unrolling measured no faster while it quadrupled compile time of the
  // batch-1 training step (bench/jit_train_step_bench).
  void annotateLoop(llvm::Instruction *latch, int64_t tripCount, bool innermost) {
    std::vector<llvm::Metadata *> hints;
    auto hint = [&](const char *name, int value) {
      hints.push_back(llvm::MDNode::get(
          ctx_, {llvm::MDString::get(ctx_, name),
                 llvm::ConstantAsMetadata::get(b_.getInt32(value))}));
    };
    if (innermost && tripCount < 256)
      hint("llvm.loop.interleave.count", 1);
    hints.push_back(llvm::MDNode::get(ctx_, {llvm::MDString::get(ctx_, "llvm.loop.unroll.disable")}));
    hints.insert(hints.begin(), nullptr); // the self reference LLVM expects first
    llvm::MDNode *loopId = llvm::MDNode::getDistinct(ctx_, hints);
    loopId->replaceOperandWith(0, loopId);
    latch->setMetadata(llvm::LLVMContext::MD_loop, loopId);
  }

  // --- loops split over threads ---

  // A loop nest of at least this many elements is outlined so that the
  // runtime may split its outermost dim over threads (cj_parallel_loop, which
  // decides by timing its first part on this machine). Below it a nest takes
  // about a microsecond, less than handing work to a thread costs anywhere;
  // outlining it would only add calls.
  static constexpr int64_t kOutlineElements = 4096;
  static constexpr int64_t kMinSplitRows = 8;

  // Emits `nest`, whose body reads and writes through `pointers` (computed
  // here; the body gets them as values of the function it is emitted into):
  // inline when it is small, else as an outlined function
  // void(ptr pointers, i64 first, i64 last) over [first, last) of its dim 0,
  // called through cj_parallel_loop.
  void emitSplittableLoops(
      const LoopNest &nest, const std::vector<Value *> &pointers, const std::string &name,
      const std::function<void(const std::vector<Value *> &, std::vector<Value *> &)> &body) {
    int64_t elements = 1;
    for (int64_t d : nest.dims)
      elements *= d;
    // A split needs parts: an outermost dim of a few rows over large inner
    // dims stays inline (LoopNest::simplify has merged what it could).
    if (nest.dims.empty() || elements < kOutlineElements || nest.dims[0] < kMinSplitRows) {
      emitLoops(nest, [&](std::vector<Value *> &offsets) { body(pointers, offsets); });
      return;
    }
    llvm::Type *ptr = b_.getPtrTy(), *i64 = b_.getInt64Ty();
    auto *type = llvm::FunctionType::get(b_.getVoidTy(), {ptr, i64, i64}, false);
    auto *part = llvm::Function::Create(type, llvm::Function::InternalLinkage,
                                        fn_->getName() + ".part." + name, *m_);
    part->getArg(0)->addAttr(llvm::Attribute::NoAlias);
    // The part's own function, then back to the caller's.
    llvm::Function *caller = fn_;
    llvm::BasicBlock *callerBlock = b_.GetInsertBlock();
    fn_ = part;
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", part));
    std::vector<Value *> inside;
    for (size_t i = 0; i < pointers.size(); ++i)
      inside.push_back(b_.CreateLoad(ptr, b_.CreateConstGEP1_64(ptr, part->getArg(0), i)));
    std::vector<Value *> ivs;
    emitLoop(nest, 0, ivs, [&](std::vector<Value *> &offsets) { body(inside, offsets); },
             part->getArg(1), part->getArg(2));
    b_.CreateRetVoid();
    fn_ = caller;
    b_.SetInsertPoint(callerBlock);
    llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
    auto *array = entry.CreateAlloca(ptr, b_.getInt32(static_cast<uint32_t>(pointers.size())));
    for (size_t i = 0; i < pointers.size(); ++i)
      b_.CreateStore(pointers[i], b_.CreateConstGEP1_64(ptr, array, i));
    // The loop's split history (RuntimeSupport.h): zeroed, its own.
    auto *historyType = llvm::ArrayType::get(i64, kSplitHistoryBytes / 8);
    auto *history = new llvm::GlobalVariable(*m_, historyType, false,
                                             llvm::GlobalValue::InternalLinkage,
                                             llvm::ConstantAggregateZero::get(historyType),
                                             part->getName() + ".history");
    history->setAlignment(llvm::Align(8));
    auto helper = declared("cj_parallel_loop", b_.getVoidTy(), {i64, ptr, ptr, ptr});
    b_.CreateCall(helper, {b_.getInt64(nest.dims[0]), part, array, history});
  }

  // --- fused elementwise expressions ---

  // The materialized values read by the expression of `root` (through the
  // inlined nodes), each once, in a fixed order.
  std::vector<NodeId> leavesOf(NodeId root) {
    std::vector<NodeId> leaves;
    std::function<void(NodeId)> visit = [&](NodeId id) {
      for (NodeId o : g_.node(id).operands) {
        if (p_.inlined[o])
          visit(o);
        else if (!isSplatConst(g_.node(o)) &&
                 std::find(leaves.begin(), leaves.end(), o) == leaves.end())
          leaves.push_back(o);
      }
    };
    visit(root);
    return leaves;
  }

  // The value of `id` at the current element: computed when it is the loop's
  // own node or inlined, loaded when it is a leaf.
  Value *expression(NodeId id, NodeId root, const std::map<NodeId, Value *> &leafPtrs,
                    std::map<NodeId, Value *> &memo) {
    if (auto it = memo.find(id); it != memo.end())
      return it->second;
    const ir::Node &n = g_.node(id);
    Value *v;
    if (id == root || p_.inlined[id]) {
      std::vector<Value *> xs;
      std::vector<ir::DType> ts;
      for (NodeId o : n.operands) {
        xs.push_back(expression(o, root, leafPtrs, memo));
        ts.push_back(g_.type(o).dtype);
      }
      v = emitScalarOp(b_, n, ts, xs);
    } else if (isSplatConst(n)) {
      v = splat(n);
    } else {
      v = load(id, leafPtrs.at(id));
    }
    return memo[id] = v;
  }

  Value *splat(const ir::Node &n) {
    llvm::Type *ty = elementType(ctx_, n.type.dtype);
    double x = n.value->at(0);
    if (ty->isFloatingPointTy())
      return llvm::ConstantFP::get(ty, x);
    return llvm::ConstantInt::get(ty, static_cast<uint64_t>(static_cast<int64_t>(x)), true);
  }

  // Element pointers of the leaves at the given offsets (offsets[1..]).
  std::map<NodeId, Value *> leafPointers(const std::vector<NodeId> &leaves,
                                         const std::vector<Value *> &bases,
                                         const std::vector<Value *> &offsets) {
    std::map<NodeId, Value *> ptrs;
    for (size_t i = 0; i < leaves.size(); ++i)
      ptrs[leaves[i]] = b_.CreateInBoundsGEP(elemTy(leaves[i]), bases[i], offsets[i + 1]);
    return ptrs;
  }

  // The loop nest over `shape` for a fused expression: the result walked
  // with `resultStrides`, each leaf with its broadcast strides; and the
  // leaves' base pointers.
  std::pair<LoopNest, std::vector<Value *>> fusedNest(const ir::Shape &shape,
                                                      std::vector<int64_t> resultStrides,
                                                      const std::vector<NodeId> &leaves) {
    LoopNest nest{shape, {std::move(resultStrides)}};
    std::vector<Value *> bases;
    for (NodeId leaf : leaves) {
      nest.strides.push_back(broadcastStrides(g_.type(leaf).shape, shape));
      bases.push_back(pointerOf(leaf));
    }
    nest.simplify();
    return {nest, bases};
  }

  void emitElementwise(const Kernel &k) {
    const ir::Shape &shape = g_.type(k.node).shape;
    std::vector<NodeId> leaves = leavesOf(k.node);
    auto [nest, bases] = fusedNest(shape, ir::stridesOf(shape), leaves);
    std::vector<Value *> pointers = {pointerOf(k.node)}; // the result, then the leaves
    pointers.insert(pointers.end(), bases.begin(), bases.end());
    emitSplittableLoops(nest, pointers, std::to_string(k.node),
                        [&](const std::vector<Value *> &p, std::vector<Value *> &offsets) {
                          std::map<NodeId, Value *> memo;
                          auto ptrs = leafPointers(
                              leaves, std::vector<Value *>(p.begin() + 1, p.end()), offsets);
                          Value *v = expression(k.node, k.node, ptrs, memo);
                          store(k.node, v, b_.CreateInBoundsGEP(elemTy(k.node), p[0], offsets[0]));
                        });
  }

  // sum / mean / max: the result initialized to the identity, then one pass
  // over the input's shape (its producers fused) accumulating into the
  // result element the input element maps to; mean scales at the end.
  void emitReduction(const Kernel &k) {
    const ir::Node &n = g_.node(k.node);
    NodeId input = n.operands[0];
    const ir::Shape &shape = g_.type(input).shape;
    ir::DType t = n.type.dtype;
    int64_t rank = static_cast<int64_t>(shape.size());
    std::vector<bool> reduced(rank, n.attrs.getInts("axes").empty());
    for (int64_t a : n.attrs.getInts("axes"))
      reduced[a < 0 ? a + rank : a] = true;
    // Result strides over the input's axes: 0 along reduced ones.
    std::vector<int64_t> outStrides(rank, 0);
    int64_t stride = 1, count = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (reduced[d]) {
        count *= shape[d];
        continue;
      }
      outStrides[d] = stride;
      stride *= shape[d];
    }
    Value *out = pointerOf(k.node);
    llvm::Type *ty = elemTy(k.node);
    int64_t outCount = n.type.numel();
    LoopNest init{{outCount}, {{1}}};
    init.simplify();
    emitLoops(init, [&](std::vector<Value *> &off) {
      store(k.node, reductionIdentity(b_, n.kind, t), b_.CreateInBoundsGEP(ty, out, off[0]));
    });

    bool inlinedInput = p_.inlined[input];
    std::vector<NodeId> leaves;
    if (inlinedInput)
      leaves = leavesOf(input);
    else if (!isSplatConst(g_.node(input)))
      leaves = {input};
    auto [nest, bases] = fusedNest(shape, outStrides, leaves);
    auto element = [&](const std::vector<Value *> &offsets) {
      std::map<NodeId, Value *> memo;
      auto ptrs = leafPointers(leaves, bases, offsets);
      return inlinedInput ? expression(input, input, ptrs, memo)
                          : expression(input, k.node, ptrs, memo);
    };
    if (!nest.dims.empty() && nest.strides[0].back() == 0 && nest.dims.back() > 1) {
      // The innermost dim is reduced: its elements are combined in a
      // register and added to the result once per run. Accumulated in the
      // result's memory instead, each element waited for the previous one's
      // store: the result may share the arena with the input, so LLVM could
      // not keep it in a register, and the loop ran one scalar add at a time
      // (the Fashion CNN's bias gradients, a sum over 64 x 28 x 28 per
      // channel: 326 us of a 3.1 ms step; docs/performance.md).
      LoopNest outer = nest;
      outer.dims.pop_back();
      for (auto &strides : outer.strides)
        strides.pop_back();
      emitLoops(outer, [&](std::vector<Value *> &offsets) {
        Value *sum = reduceInnermost(nest, n.kind, t, offsets, element);
        Value *at = b_.CreateInBoundsGEP(ty, out, offsets[0]);
        store(k.node, reductionCombine(b_, n.kind, t, load(k.node, at), sum), at);
      });
    } else {
      emitLoops(nest, [&](std::vector<Value *> &offsets) {
        Value *at = b_.CreateInBoundsGEP(ty, out, offsets[0]);
        store(k.node, reductionCombine(b_, n.kind, t, load(k.node, at), element(offsets)), at);
      });
    }
    if (n.kind == OpKind::Mean && count != 1) {
      Value *scale = llvm::ConstantFP::get(ty, 1.0 / static_cast<double>(count));
      emitLoops(init, [&](std::vector<Value *> &off) {
        Value *at = b_.CreateInBoundsGEP(ty, out, off[0]);
        store(k.node, b_.CreateFMul(load(k.node, at), scale), at);
      });
    }
  }

  // The innermost dim of `nest` combined from the identity in a register
  // (a phi the vectorizer can split into partial sums: the combine allows
  // reassociation), at the outer dims' `offsets`; returns the combined value.
  Value *reduceInnermost(const LoopNest &nest, OpKind kind, ir::DType t,
                         const std::vector<Value *> &offsets,
                         const std::function<Value *(const std::vector<Value *> &)> &element) {
    const int64_t length = nest.dims.back();
    llvm::BranchInst *latch = nullptr;
    std::vector<Value *> sum = emitCountedLoop(
        b_, fn_, length, {reductionIdentity(b_, kind, t)},
        [&](Value *iv, std::vector<Value *> &acc) -> std::vector<Value *> {
          std::vector<Value *> at;
          for (size_t a = 0; a < nest.strides.size(); ++a)
            at.push_back(b_.CreateAdd(
                offsets[a], b_.CreateMul(iv, b_.getInt64(nest.strides[a].back())), "", true, true));
          return {reductionCombine(b_, kind, t, acc[0], element(at))};
        },
        "reduce", latch);
    annotateLoop(latch, length, true);
    return sum[0];
  }

  // --- small matmuls: generated loops ---

  // A batched product whose products are each below the BLAS threshold (the
  // per-image products of a convolution's adjoints): the micro-kernel once
  // per batch, A's and B's offsets read from the call's tables, C's batches
  // contiguous. The library's plain loops would run these far slower than
  // the micro-kernels that the kernel choice measured against BLAS.
  void emitBatchedMicroKernelMatMul(const Kernel &k, llvm::Type *ty, Value *out, Value *a,
                                    Value *bm, const MatMulDims &dims, const AccessTagger &tag) {
    const std::vector<int64_t> &p = k.call.params; // [P, m, n, k, tA, tB, thr, offA[P], offB[P]]
    const int64_t batches = p[0];
    std::vector<uint64_t> offsets(p.begin() + 7, p.begin() + 7 + 2 * batches);
    auto *init = llvm::ConstantDataArray::get(ctx_, llvm::ArrayRef<uint64_t>(offsets));
    auto *table = new llvm::GlobalVariable(*m_, init->getType(), true,
                                           llvm::GlobalValue::PrivateLinkage, init,
                                           "batch.offsets." + std::to_string(k.node));
    llvm::Type *i64 = b_.getInt64Ty();
    emitLoops(LoopNest{{batches}, {{1}}}, [&](std::vector<Value *> &off) {
      Value *q = off[0];
      Value *offA = b_.CreateLoad(i64, b_.CreateInBoundsGEP(i64, table, q));
      Value *offB = b_.CreateLoad(
          i64, b_.CreateInBoundsGEP(i64, table, b_.CreateAdd(q, b_.getInt64(batches))));
      Value *offC = b_.CreateMul(q, b_.getInt64(dims.m * dims.n), "", true, true);
      emitMicroKernelMatMul(b_, fn_, ty, b_.CreateInBoundsGEP(ty, out, offC),
                            b_.CreateInBoundsGEP(ty, a, offA),
                            b_.CreateInBoundsGEP(ty, bm, offB), dims, hostVectors(), tag);
    });
  }

  // One matrix product below the BLAS threshold, as a loop nest with
  // constant trip counts that LLVM unrolls and vectorizes (a library call
  // costs more than the work here). C = op(A) op(B) with C [m, n]; A(i, q)
  // at i*K + q (or q*M + i transposed), B(q, j) at q*N + j (or j*K + q).
  // Loop order i, q, j (an axpy over C's row) when B's rows are contiguous,
  // else i, j, q (a dot product) so the inner loop stays contiguous.
  void emitSmallMatMul(const Kernel &k) {
    const std::vector<int64_t> &p = k.call.params;
    int64_t m = p[1], n = p[2], kk = p[3];
    ir::DType t = g_.type(k.node).dtype;
    llvm::Type *ty = elemTy(k.node);
    Value *out = pointerOf(k.node), *a = pointerOf(k.lhs), *bm = pointerOf(k.rhs);
    const MatMulDims dims{m, n, kk, k.transA, k.transB};
    auto tagger = [&](llvm::Instruction *access, int operand) {
      tagged(access, operand == 0 ? k.node : operand == 1 ? k.lhs : k.rhs);
    };
    if (p[0] > 1 || p[7] != 0 || p[8] != 0)
      return emitBatchedMicroKernelMatMul(k, ty, out, a, bm, dims, tagger);
    if (ty->isFloatingPointTy() && microKernelSupports(dims))
      return emitMicroKernelMatMul(b_, fn_, ty, out, a, bm, dims, hostVectors(), tagger);
    LoopNest zero{{m * n}, {{1}}};
    emitLoops(zero, [&](std::vector<Value *> &off) {
      store(k.node, reductionIdentity(b_, OpKind::Sum, t), b_.CreateInBoundsGEP(ty, out, off[0]));
    });
    std::vector<int64_t> aStride = k.transA ? std::vector<int64_t>{1, m} : std::vector<int64_t>{kk, 1};
    std::vector<int64_t> bStride = k.transB ? std::vector<int64_t>{1, kk} : std::vector<int64_t>{n, 1};
    // aStride = {along i, along q}; bStride = {along q, along j}.
    LoopNest nest;
    if (!k.transB)
      nest = {{m, kk, n}, {{n, 0, 1}, {aStride[0], aStride[1], 0}, {0, bStride[0], bStride[1]}}};
    else
      nest = {{m, n, kk}, {{n, 1, 0}, {aStride[0], 0, aStride[1]}, {0, bStride[1], bStride[0]}}};
    emitLoops(nest, [&](std::vector<Value *> &off) {
      Value *at = b_.CreateInBoundsGEP(ty, out, off[0]);
      Value *x = load(k.lhs, b_.CreateInBoundsGEP(ty, a, off[1]));
      Value *y = load(k.rhs, b_.CreateInBoundsGEP(ty, bm, off[2]));
      Value *prod = ty->isFloatingPointTy() ? b_.CreateFMul(x, y) : b_.CreateMul(x, y);
      if (auto *inst = llvm::dyn_cast<llvm::Instruction>(prod); inst && ty->isFloatingPointTy())
        inst->setHasAllowContract(true); // fused multiply-add
      Value *sum = reductionCombine(b_, OpKind::Sum, t, load(k.node, at), prod);
      if (auto *inst = llvm::dyn_cast<llvm::Instruction>(sum); inst && ty->isFloatingPointTy())
        inst->setHasAllowContract(true);
      store(k.node, sum, at);
    });
  }

  // --- calls ---

  void emitCall(const Kernel &k) {
    if (k.generatedLoops)
      return emitSmallMatMul(k);
    std::vector<std::optional<NodeId>> operands(g_.node(k.node).operands.begin(),
                                                g_.node(k.node).operands.end());
    if (k.kind == KernelKind::MatMul || k.kind == KernelKind::Solve)
      operands = {k.lhs, k.rhs};
    if (!k.operands.empty()) // cj_matmul_acc, a convolution's epilogue
      operands = k.operands;
    llvm::Type *ptr = b_.getPtrTy();
    llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
    auto *array = entry.CreateAlloca(ptr, b_.getInt32(std::max<size_t>(operands.size(), 1)));
    for (size_t i = 0; i < operands.size(); ++i)
      b_.CreateStore(operands[i] ? pointerOf(*operands[i])
                                 : llvm::ConstantPointerNull::get(b_.getPtrTy()),
                     b_.CreateConstGEP1_64(ptr, array, i));
    auto *paramsInit = llvm::ConstantDataArray::get(ctx_, llvm::ArrayRef<uint64_t>(
        reinterpret_cast<const uint64_t *>(k.call.params.data()), k.call.params.size()));
    auto *params = new llvm::GlobalVariable(*m_, paramsInit->getType(), true,
                                            llvm::GlobalValue::PrivateLinkage, paramsInit,
                                            "params." + std::to_string(k.node));
    Value *scratch = k.scratchBuffer >= 0
                         ? b_.CreateConstGEP1_64(b_.getInt8Ty(), arena_,
                                                 p_.buffers[k.scratchBuffer].offset)
                         : llvm::ConstantPointerNull::get(b_.getPtrTy());
    auto callee = declared(k.call.symbol, b_.getInt32Ty(), {ptr, ptr, ptr, ptr});
    Value *status = b_.CreateCall(callee, {array, pointerOf(k.node), params, scratch});
    // A kernel's failure (a singular matrix, a bad label) returns its code.
    failIf(b_.CreateICmpNE(status, b_.getInt32(kJitOk)), k.node, status);
  }

  // --- scan: one loop over the steps around the body's function ---

  void emitScan(const Kernel &k) {
    const ScanBody &body = *p_.bodies.at(k.body);
    const ir::ScanLayout &l = body.layout;
    const std::vector<NodeId> &operands = g_.node(k.node).operands;
    llvm::Function *step =
        Builder(*body.graph, body.plan, o_, *m_).run("cj_scan." + body.function, true);
    llvm::Type *i8 = b_.getInt8Ty(), *ptr = b_.getPtrTy(), *i64 = b_.getInt64Ty();
    const int64_t width = static_cast<int64_t>(ir::dtypeSize(l.dtype));
    const int64_t C = l.carries, S = l.sequences, T = l.length;
    const size_t arity = static_cast<size_t>(l.carries + l.sequences + l.invariants);
    auto bytesOf = [&](const ir::TensorType &t) {
      return t.numel() * static_cast<int64_t>(ir::dtypeSize(t.dtype));
    };
    Value *scratch = k.scratchBuffer >= 0
                         ? b_.CreateConstGEP1_64(i8, arena_, p_.buffers[k.scratchBuffer].offset)
                         : llvm::ConstantPointerNull::get(b_.getPtrTy());
    Value *result = pointerOf(k.node);
    std::vector<Value *> carryA, carryB;
    for (int64_t i = 0; i < C; ++i) {
      carryA.push_back(b_.CreateConstGEP1_64(i8, scratch, body.carryA[i]));
      carryB.push_back(b_.CreateConstGEP1_64(i8, scratch, body.carryB[i]));
      if (int64_t bytes = bytesOf(l.carryTypes[i]); bytes > 0)
        b_.CreateMemCpy(carryA[i], llvm::MaybeAlign(), pointerOf(operands[i]),
                        llvm::MaybeAlign(), bytes);
    }
    // The body's buffer array (Jit.h's ABI: its inputs, then its results);
    // the invariants' pointers are the same at every step.
    llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
    auto *array = entry.CreateAlloca(ptr, b_.getInt32(static_cast<uint32_t>(
                                              std::max<size_t>(body.plan.arguments.size(), 1))));
    auto slot = [&](size_t i) { return b_.CreateConstGEP1_64(ptr, array, i); };
    for (size_t i = C + S; i < arity; ++i)
      b_.CreateStore(pointerOf(operands[i]), slot(i));

    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *loop = llvm::BasicBlock::Create(ctx_, "scan", fn_);
    auto *exit = llvm::BasicBlock::Create(ctx_, "scan.end", fn_);
    b_.CreateBr(loop);
    b_.SetInsertPoint(loop);
    llvm::PHINode *s = b_.CreatePHI(i64, 2, "step");
    s->addIncoming(b_.getInt64(0), pre);
    Value *t = l.reverse ? b_.CreateSub(b_.getInt64(T - 1), s, "t") : static_cast<Value *>(s);
    Value *odd = b_.CreateTrunc(s, b_.getInt1Ty(), "odd");
    for (int64_t i = 0; i < C; ++i) {
      b_.CreateStore(b_.CreateSelect(odd, carryB[i], carryA[i]), slot(i));
      b_.CreateStore(b_.CreateSelect(odd, carryA[i], carryB[i]), slot(arity + i));
    }
    for (int64_t j = 0; j < S; ++j) {
      int64_t stepBytes = bytesOf(body.graph->type(body.graph->inputs()[C + j]));
      Value *at = b_.CreateMul(t, b_.getInt64(stepBytes), "", true, true);
      b_.CreateStore(b_.CreateInBoundsGEP(i8, pointerOf(operands[C + j]), at), slot(C + j));
    }
    for (size_t y = 0; y < l.numYs(); ++y) {
      int64_t stepBytes = l.yTypes[y].numel() * width;
      Value *at = b_.CreateAdd(b_.getInt64(l.offsets[C + y] * width),
                               b_.CreateMul(t, b_.getInt64(stepBytes), "", true, true), "",
                               true, true);
      b_.CreateStore(b_.CreateInBoundsGEP(i8, result, at), slot(arity + C + y));
    }
    Value *status = b_.CreateCall(step, {array, scratch, failed_});
    // The body stored its failing node's (module-wide) id itself.
    failIf(b_.CreateICmpNE(status, b_.getInt32(kJitOk)), kNoNode, status);
    Value *next = b_.CreateAdd(s, b_.getInt64(1), "", true, true);
    s->addIncoming(next, b_.GetInsertBlock());
    auto *latch = b_.CreateCondBr(b_.CreateICmpEQ(next, b_.getInt64(T)), exit, loop);
    annotateLoop(latch, T, false);
    b_.SetInsertPoint(exit);
    // Step T-1 wrote the final carries into B when T is odd, else into A.
    for (int64_t i = 0; i < C; ++i)
      if (int64_t bytes = bytesOf(l.carryTypes[i]); bytes > 0)
        b_.CreateMemCpy(b_.CreateConstGEP1_64(i8, result, l.offsets[i] * width),
                        llvm::MaybeAlign(), T % 2 == 1 ? carryB[i] : carryA[i],
                        llvm::MaybeAlign(), bytes);
  }
};

} // namespace

std::unique_ptr<llvm::Module> buildModule(const ir::Graph &g, const LoweringPlan &plan,
                                          const JitOptions &options, llvm::LLVMContext &ctx) {
  auto m = std::make_unique<llvm::Module>("chainjit", ctx);
  Builder(g, plan, options, *m).run(kEntryName, /*isBody=*/false);
  return m;
}

} // namespace chainjit::compiler::jit
