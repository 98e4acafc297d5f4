#include "jit/kernels/gen/GenericMicroKernel.h"

#include <llvm/IR/Intrinsics.h>

#include <functional>

namespace chainjit::compiler::jit {

using llvm::Value;

namespace {

constexpr const char *kPrefix = "cj_mk1_";

// The largest power of two below `x` (x >= 2), the first row count of the
// remainder's binary digits.
unsigned highestRemainderRows(unsigned rows) {
  unsigned p = 1;
  while (p * 2 < rows)
    p *= 2;
  return p;
}

class GenericEmitter {
public:
  GenericEmitter(llvm::Function *fn, llvm::Type *et, const MicroTile &t)
      : fn_(fn), ctx_(fn->getContext()), b_(llvm::BasicBlock::Create(ctx_, "entry", fn)),
        et_(et), t_(t), vt_(llvm::FixedVectorType::get(et, t.lanes)),
        align_(et->getPrimitiveSizeInBits() / 8) {
    c_ = fn->getArg(0), a_ = fn->getArg(1), bm_ = fn->getArg(2);
    m_ = fn->getArg(3), n_ = fn->getArg(4), k_ = fn->getArg(5);
  }

  void axpy() {
    sI_ = fn_->getArg(6), sQ_ = fn_->getArg(7);
    // k = 1 (a batch of one's weight gradients are outer products): the
    // same tiles without their q loop, which would be pure overhead there.
    auto *one = llvm::BasicBlock::Create(ctx_, "g.k1", fn_);
    auto *more = llvm::BasicBlock::Create(ctx_, "g.kmore", fn_);
    b_.CreateCondBr(b_.CreateICmpEQ(k_, i64(1)), one, more);
    b_.SetInsertPoint(one);
    kIsOne_ = true;
    body([&](Value *i0, unsigned mr) { axpyRows(i0, mr); });
    b_.SetInsertPoint(more);
    kIsOne_ = false;
    body([&](Value *i0, unsigned mr) { axpyRows(i0, mr); });
  }
  void dot() {
    body([&](Value *i0, unsigned mr) { dotRows(i0, mr); });
  }

private:
  llvm::Function *fn_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  llvm::Type *et_;
  MicroTile t_;
  llvm::FixedVectorType *vt_;
  llvm::Align align_;
  Value *c_, *a_, *bm_, *m_, *n_, *k_, *sI_ = nullptr, *sQ_ = nullptr;
  bool kIsOne_ = false; // emitting the axpy body for k = 1

  Value *i64(int64_t x) { return b_.getInt64(x); }
  Value *mul(Value *x, Value *y) { return b_.CreateMul(x, y, "", true, true); }
  Value *mul(Value *x, int64_t y) { return y == 1 ? x : mul(x, i64(y)); }
  Value *add(Value *x, Value *y) { return b_.CreateAdd(x, y, "", true, true); }
  Value *add(Value *x, int64_t y) { return y == 0 ? x : add(x, i64(y)); }
  Value *at(Value *base, Value *index) { return b_.CreateInBoundsGEP(et_, base, index); }
  Value *at(Value *base, int64_t index) {
    return index == 0 ? base : b_.CreateConstInBoundsGEP1_64(et_, base, index);
  }

  // The first `active` lanes on (active is an i64 in 1..lanes).
  Value *mask(Value *active) {
    std::vector<llvm::Constant *> lanes;
    for (unsigned l = 0; l < t_.lanes; ++l)
      lanes.push_back(b_.getInt32(l));
    Value *limit = b_.CreateVectorSplat(t_.lanes, b_.CreateTrunc(active, b_.getInt32Ty()));
    return b_.CreateICmpULT(llvm::ConstantVector::get(lanes), limit);
  }
  Value *loadVector(Value *ptr, Value *maskOrNull) {
    if (!maskOrNull)
      return b_.CreateAlignedLoad(vt_, ptr, align_);
    return b_.CreateMaskedLoad(vt_, ptr, align_, maskOrNull, llvm::Constant::getNullValue(vt_));
  }
  void storeVector(Value *v, Value *ptr, Value *maskOrNull) {
    if (!maskOrNull)
      b_.CreateAlignedStore(v, ptr, align_);
    else
      b_.CreateMaskedStore(v, ptr, align_, maskOrNull);
  }
  Value *fma(Value *x, Value *y, Value *acc) {
    return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vt_}, {x, y, acc});
  }

  using Body = std::function<std::vector<Value *>(Value *, std::vector<Value *> &)>;

  // for (iv = 0; iv < count; ++iv) carried = body(iv, carried), for a
  // run-time count (none when count <= 0). Not unrolled or re-vectorized:
  // the body already is the vector code.
  std::vector<Value *> loop(Value *count, std::vector<Value *> init, const Body &body) {
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *head = llvm::BasicBlock::Create(ctx_, "g.loop", fn_);
    auto *exit = llvm::BasicBlock::Create(ctx_, "g.end", fn_);
    b_.CreateCondBr(b_.CreateICmpSGT(count, i64(0)), head, exit);
    b_.SetInsertPoint(head);
    llvm::PHINode *iv = b_.CreatePHI(b_.getInt64Ty(), 2, "g.i");
    iv->addIncoming(i64(0), pre);
    std::vector<llvm::PHINode *> phis;
    std::vector<Value *> carried;
    for (Value *v : init) {
      phis.push_back(b_.CreatePHI(v->getType(), 2));
      phis.back()->addIncoming(v, pre);
      carried.push_back(phis.back());
    }
    std::vector<Value *> next = body(iv, carried);
    Value *ivNext = add(iv, 1);
    llvm::BasicBlock *latch = b_.GetInsertBlock();
    iv->addIncoming(ivNext, latch);
    for (size_t i = 0; i < phis.size(); ++i)
      phis[i]->addIncoming(next[i], latch);
    auto *br = b_.CreateCondBr(b_.CreateICmpEQ(ivNext, count), exit, head);
    llvm::MDNode *id = llvm::MDNode::getDistinct(
        ctx_, {nullptr,
               llvm::MDNode::get(ctx_, {llvm::MDString::get(ctx_, "llvm.loop.unroll.disable")}),
               llvm::MDNode::get(ctx_, {llvm::MDString::get(ctx_, "llvm.loop.vectorize.enable"),
                                        llvm::ConstantAsMetadata::get(b_.getFalse())})});
    id->replaceOperandWith(0, id);
    br->setMetadata(llvm::LLVMContext::MD_loop, id);
    b_.SetInsertPoint(exit);
    std::vector<Value *> out;
    for (size_t i = 0; i < phis.size(); ++i) {
      llvm::PHINode *p = b_.CreatePHI(next[i]->getType(), 2);
      p->addIncoming(init[i], pre);
      p->addIncoming(next[i], latch);
      out.push_back(p);
    }
    return out;
  }

  // if (cond) body(); with nothing carried out.
  void when(Value *cond, const std::function<void()> &body) {
    auto *then = llvm::BasicBlock::Create(ctx_, "g.then", fn_);
    auto *done = llvm::BasicBlock::Create(ctx_, "g.done", fn_);
    b_.CreateCondBr(cond, then, done);
    b_.SetInsertPoint(then);
    body();
    b_.CreateBr(done);
    b_.SetInsertPoint(done);
  }

  // switch (value) { case v in [1, cases]: body(v) } for v the constant.
  void cases(Value *value, unsigned count, const std::function<void(unsigned)> &body) {
    auto *done = llvm::BasicBlock::Create(ctx_, "g.sw.done", fn_);
    llvm::SwitchInst *sw = b_.CreateSwitch(value, done, count);
    for (unsigned v = 1; v <= count; ++v) {
      auto *block = llvm::BasicBlock::Create(ctx_, "g.case", fn_);
      sw->addCase(b_.getInt64(v), block);
      b_.SetInsertPoint(block);
      body(v);
      b_.CreateBr(done);
    }
    b_.SetInsertPoint(done);
  }

  // The common frame: nothing for an empty C, zeros for k = 0, else full
  // row blocks of MR and the remainder's binary digits.
  void body(const std::function<void(Value *, unsigned)> &rows) {
    auto *ret = llvm::BasicBlock::Create(ctx_, "g.ret", fn_);
    auto *work = llvm::BasicBlock::Create(ctx_, "g.work", fn_);
    auto *zero = llvm::BasicBlock::Create(ctx_, "g.zero", fn_);
    auto *nonEmpty = llvm::BasicBlock::Create(ctx_, "g.nonempty", fn_);
    b_.CreateCondBr(b_.CreateOr(b_.CreateICmpSLE(m_, i64(0)), b_.CreateICmpSLE(n_, i64(0))), ret,
                    nonEmpty);
    b_.SetInsertPoint(nonEmpty);
    b_.CreateCondBr(b_.CreateICmpSLE(k_, i64(0)), zero, work);
    b_.SetInsertPoint(zero); // a sum of nothing
    b_.CreateMemSet(c_, b_.getInt8(0), mul(mul(m_, n_), int64_t(align_.value())), align_);
    b_.CreateBr(ret);

    b_.SetInsertPoint(work);
    Value *full = b_.CreateSDiv(m_, i64(t_.rows));
    loop(full, {}, [&](Value *ib, std::vector<Value *> &) {
      rows(mul(ib, int64_t(t_.rows)), t_.rows);
      return std::vector<Value *>{};
    });
    if (t_.rows > 1) {
      Value *base = mul(full, int64_t(t_.rows));
      Value *rem = b_.CreateSub(m_, base);
      for (unsigned p = highestRemainderRows(t_.rows); p >= 1; p /= 2) {
        // Rows above this digit were done by the larger digits.
        Value *i0 = add(base, b_.CreateAnd(rem, i64(~int64_t(2 * p - 1))));
        when(b_.CreateICmpNE(b_.CreateAnd(rem, i64(p)), i64(0)), [&] { rows(i0, p); });
      }
    }
    b_.CreateBr(ret);
    b_.SetInsertPoint(ret);
    b_.CreateRetVoid();
  }

  // --- axpy form ---

  void axpyRows(Value *i0, unsigned mr) {
    const int64_t span = int64_t(t_.cols) * t_.lanes;
    Value *full = b_.CreateSDiv(n_, i64(span));
    loop(full, {}, [&](Value *jb, std::vector<Value *> &) {
      axpyTile(i0, mr, mul(jb, span), t_.cols, nullptr);
      return std::vector<Value *>{};
    });
    Value *j0 = mul(full, span);
    Value *rem = b_.CreateSub(n_, j0);
    when(b_.CreateICmpSGT(rem, i64(0)), [&] {
      Value *vectors = b_.CreateSDiv(add(rem, int64_t(t_.lanes - 1)), i64(t_.lanes));
      Value *active = b_.CreateSub(rem, mul(b_.CreateSub(vectors, i64(1)), int64_t(t_.lanes)));
      Value *lastMask = mask(active);
      cases(vectors, t_.cols, [&](unsigned nv) { axpyTile(i0, mr, j0, nv, lastMask); });
    });
  }

  // C[i0 .. i0+mr, j0 .. +nv vectors] = sum over q of A(i, q) B(q, :); the
  // last vector masked by lastMask (null: all full).
  void axpyTile(Value *i0, unsigned mr, Value *j0, unsigned nv, Value *lastMask) {
    std::vector<Value *> aRow(mr), cRow(mr);
    for (unsigned r = 0; r < mr; ++r) {
      Value *i = add(i0, int64_t(r));
      aRow[r] = at(a_, mul(i, sI_));
      cRow[r] = at(c_, add(mul(i, n_), j0));
    }
    Value *bCol = at(bm_, j0);
    auto maskOf = [&](unsigned v) { return v + 1 == nv ? lastMask : nullptr; };
    std::vector<Value *> zero(size_t(mr) * nv, llvm::Constant::getNullValue(vt_));
    auto stepQ = [&](Value *q, std::vector<Value *> &acc) {
      Value *rowB = at(bCol, mul(q, n_));
      Value *aq = mul(q, sQ_);
      std::vector<Value *> bv;
      for (unsigned v = 0; v < nv; ++v)
        bv.push_back(loadVector(at(rowB, int64_t(v) * t_.lanes), maskOf(v)));
      std::vector<Value *> next(acc.size());
      for (unsigned r = 0; r < mr; ++r) {
        Value *x = b_.CreateAlignedLoad(et_, at(aRow[r], aq), align_);
        Value *splat = b_.CreateVectorSplat(t_.lanes, x);
        for (unsigned v = 0; v < nv; ++v)
          next[r * nv + v] = fma(splat, bv[v], acc[r * nv + v]);
      }
      return next;
    };
    std::vector<Value *> acc = kIsOne_ ? stepQ(i64(0), zero) : loop(k_, zero, stepQ);
    for (unsigned r = 0; r < mr; ++r)
      for (unsigned v = 0; v < nv; ++v)
        storeVector(acc[r * nv + v], at(cRow[r], int64_t(v) * t_.lanes), maskOf(v));
  }

  // --- dot form ---

  void dotRows(Value *i0, unsigned mr) {
    Value *full = b_.CreateSDiv(n_, i64(t_.cols));
    loop(full, {}, [&](Value *jb, std::vector<Value *> &) {
      dotTile(i0, mr, mul(jb, int64_t(t_.cols)), t_.cols);
      return std::vector<Value *>{};
    });
    if (t_.cols > 1) {
      Value *j0 = mul(full, int64_t(t_.cols));
      cases(b_.CreateSub(n_, j0), t_.cols - 1, [&](unsigned nj) { dotTile(i0, mr, j0, nj); });
    }
  }

  void dotTile(Value *i0, unsigned mr, Value *j0, unsigned nj) {
    std::vector<Value *> aRow(mr), bRow(nj);
    for (unsigned r = 0; r < mr; ++r)
      aRow[r] = at(a_, mul(add(i0, int64_t(r)), k_));
    for (unsigned j = 0; j < nj; ++j)
      bRow[j] = at(bm_, mul(add(j0, int64_t(j)), k_));
    auto step = [&](Value *q0, Value *maskOrNull, std::vector<Value *> &in) {
      std::vector<Value *> av, bv, out(in.size());
      for (unsigned r = 0; r < mr; ++r)
        av.push_back(loadVector(at(aRow[r], q0), maskOrNull));
      for (unsigned j = 0; j < nj; ++j)
        bv.push_back(loadVector(at(bRow[j], q0), maskOrNull));
      for (unsigned r = 0; r < mr; ++r)
        for (unsigned j = 0; j < nj; ++j)
          out[r * nj + j] = fma(av[r], bv[j], in[r * nj + j]);
      return out;
    };
    std::vector<Value *> zero(size_t(mr) * nj, llvm::Constant::getNullValue(vt_));
    Value *chunks = b_.CreateSDiv(k_, i64(t_.lanes));
    std::vector<Value *> acc = loop(chunks, zero, [&](Value *ch, std::vector<Value *> &in) {
      return step(mul(ch, int64_t(t_.lanes)), nullptr, in);
    });
    // The masked last chunk, when k is not a multiple of the lanes.
    Value *q0 = mul(chunks, int64_t(t_.lanes));
    Value *rem = b_.CreateSub(k_, q0);
    llvm::BasicBlock *before = b_.GetInsertBlock();
    auto *tail = llvm::BasicBlock::Create(ctx_, "g.tail", fn_);
    auto *merged = llvm::BasicBlock::Create(ctx_, "g.merged", fn_);
    b_.CreateCondBr(b_.CreateICmpSGT(rem, i64(0)), tail, merged);
    b_.SetInsertPoint(tail);
    std::vector<Value *> tailAcc = step(q0, mask(rem), acc);
    llvm::BasicBlock *tailEnd = b_.GetInsertBlock();
    b_.CreateBr(merged);
    b_.SetInsertPoint(merged);
    for (size_t i = 0; i < acc.size(); ++i) {
      llvm::PHINode *p = b_.CreatePHI(vt_, 2);
      p->addIncoming(acc[i], before);
      p->addIncoming(tailAcc[i], tailEnd);
      acc[i] = p;
    }
    for (unsigned r = 0; r < mr; ++r) {
      Value *cRow = at(c_, add(mul(add(i0, int64_t(r)), n_), j0));
      for (unsigned j = 0; j < nj; ++j) {
        auto *sum = llvm::cast<llvm::Instruction>(
            b_.CreateFAddReduce(llvm::ConstantFP::get(et_, -0.0), acc[r * nj + j]));
        sum->setHasAllowReassoc(true); // a tree of shuffles, not a lane-by-lane chain
        b_.CreateAlignedStore(sum, at(cRow, int64_t(j)), align_);
      }
    }
  }
};

llvm::FunctionType *kernelType(llvm::LLVMContext &ctx, bool dotForm) {
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type *i64 = llvm::Type::getInt64Ty(ctx);
  std::vector<llvm::Type *> params = {ptr, ptr, ptr, i64, i64, i64};
  if (!dotForm)
    params.insert(params.end(), {i64, i64});
  return llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), params, false);
}

// What a caller may assume: C is written, A and B only read, none overlap
// (the memory plan never gives a product's result its operands' memory),
// and nothing else is touched.
void addKernelAttributes(llvm::Function *f) {
  f->addFnAttr(llvm::Attribute::NoUnwind);
  f->addFnAttr(llvm::Attribute::WillReturn);
  f->addFnAttr(llvm::Attribute::NoSync);
  f->setMemoryEffects(llvm::MemoryEffects::argMemOnly());
  for (unsigned i = 0; i < 3; ++i) {
    f->getArg(i)->addAttr(llvm::Attribute::NoAlias);
    f->getArg(i)->addAttr(llvm::Attribute::NoCapture);
  }
  f->getArg(1)->addAttr(llvm::Attribute::ReadOnly);
  f->getArg(2)->addAttr(llvm::Attribute::ReadOnly);
}

llvm::Function *declare(llvm::Module &m, bool isF64, bool dotForm) {
  std::string name = genericMicroKernelName(isF64, dotForm);
  if (llvm::Function *f = m.getFunction(name))
    return f;
  auto *f = llvm::Function::Create(kernelType(m.getContext(), dotForm),
                                   llvm::Function::ExternalLinkage, name, m);
  addKernelAttributes(f);
  return f;
}

void define(llvm::Function *f, bool isF64, bool dotForm, const HostVectors &v) {
  llvm::LLVMContext &ctx = f->getContext();
  llvm::Type *et = isF64 ? llvm::Type::getDoubleTy(ctx) : llvm::Type::getFloatTy(ctx);
  GenericEmitter e(f, et, genericMicroTile(dotForm, isF64 ? 8 : 4, v));
  dotForm ? e.dot() : e.axpy();
}

} // namespace

std::string genericMicroKernelName(bool isF64, bool dotForm) {
  return std::string(kPrefix) + (dotForm ? "dot_" : "axpy_") + (isF64 ? "f64" : "f32");
}

std::vector<std::string> genericMicroKernelNames() {
  std::vector<std::string> names;
  for (bool isF64 : {false, true})
    for (bool dotForm : {false, true})
      names.push_back(genericMicroKernelName(isF64, dotForm));
  return names;
}

void defineGenericMicroKernels(llvm::Module &m, const HostVectors &v,
                               llvm::GlobalValue::LinkageTypes linkage) {
  for (bool isF64 : {false, true})
    for (bool dotForm : {false, true}) {
      llvm::Function *f = declare(m, isF64, dotForm);
      if (!f->isDeclaration())
        continue;
      f->setLinkage(linkage);
      define(f, isF64, dotForm, v);
    }
}

bool defineDeclaredMicroKernels(llvm::Module &m, const HostVectors &v) {
  bool any = false;
  for (bool isF64 : {false, true})
    for (bool dotForm : {false, true}) {
      llvm::Function *f = m.getFunction(genericMicroKernelName(isF64, dotForm));
      if (!f || !f->isDeclaration())
        continue;
      f->setLinkage(llvm::GlobalValue::InternalLinkage);
      f->addFnAttr(llvm::Attribute::NoInline); // as in the JIT: one body, many calls
      define(f, isF64, dotForm, v);
      any = true;
    }
  return any;
}

bool declaresGenericMicroKernels(const llvm::Module &m) {
  for (const std::string &name : genericMicroKernelNames())
    if (const llvm::Function *f = m.getFunction(name); f && f->isDeclaration())
      return true;
  return false;
}

void emitGenericMicroKernelCall(llvm::IRBuilder<> &b, llvm::Function *fn, llvm::Type *elemTy,
                                Value *c, Value *a, Value *bm, const MatMulDims &d) {
  const bool isF64 = elemTy->isDoubleTy();
  llvm::Function *kernel = declare(*fn->getParent(), isF64, d.transB);
  std::vector<Value *> args = {c, a, bm, b.getInt64(d.m), b.getInt64(d.n), b.getInt64(d.k)};
  if (!d.transB) { // A(i, q) at i*sI + q*sQ
    args.push_back(b.getInt64(d.transA ? 1 : d.k));
    args.push_back(b.getInt64(d.transA ? d.m : 1));
  }
  b.CreateCall(kernel, args);
}

} // namespace chainjit::compiler::jit
