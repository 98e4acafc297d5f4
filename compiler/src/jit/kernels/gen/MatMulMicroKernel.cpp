#include "jit/kernels/gen/MatMulMicroKernel.h"

#include "chainjit/ir/Error.h"
#include "jit/CountedLoop.h"
#include "jit/kernels/gen/GenericMicroKernel.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace chainjit::compiler::jit {

using llvm::Value;

namespace {

unsigned pow2Ceil(int64_t x) {
  unsigned p = 1;
  while (p < x && p < (1u << 20))
    p <<= 1;
  return p;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

class Emitter {
public:
  Emitter(llvm::IRBuilder<> &b, llvm::Function *fn, llvm::Type *et, Value *c, Value *a,
          Value *bm, const MatMulDims &d, const MicroTile &t, const AccessTagger &tag)
      : b_(b), fn_(fn), et_(et), c_(c), a_(a), bm_(bm), d_(d), t_(t), tag_(tag),
        vt_(llvm::FixedVectorType::get(et, t.lanes)),
        align_(et->getPrimitiveSizeInBits() / 8) {}

  void run() {
    if (d_.m == 0 || d_.n == 0)
      return;
    if (d_.k == 0) { // a sum of nothing
      b_.CreateMemSet(c_, b_.getInt8(0), d_.m * d_.n * int64_t(align_.value()), align_);
      return;
    }
    const int64_t rowBlocks = d_.m / t_.rows, remRows = d_.m % t_.rows;
    if (rowBlocks > 0)
      loop(rowBlocks, {}, [&](Value *ib, std::vector<Value *> &) {
        rows(mul(ib, t_.rows), t_.rows);
        return std::vector<Value *>{};
      });
    if (remRows > 0)
      rows(b_.getInt64(rowBlocks * t_.rows), static_cast<unsigned>(remRows));
  }

private:
  llvm::IRBuilder<> &b_;
  llvm::Function *fn_;
  llvm::Type *et_;
  Value *c_, *a_, *bm_;
  MatMulDims d_;
  MicroTile t_;
  const AccessTagger &tag_;
  llvm::FixedVectorType *vt_;
  llvm::Align align_;

  Value *mul(Value *x, int64_t s) { return b_.CreateMul(x, b_.getInt64(s), "", true, true); }
  Value *add(Value *x, Value *y) { return b_.CreateAdd(x, y, "", true, true); }
  Value *add(Value *x, int64_t y) { return y == 0 ? x : add(x, b_.getInt64(y)); }
  Value *at(Value *base, Value *index) { return b_.CreateInBoundsGEP(et_, base, index); }
  template <typename I> I *tagged(I *inst, int operand) {
    if (tag_)
      tag_(inst, operand);
    return inst;
  }

  Value *mask(unsigned active) {
    std::vector<llvm::Constant *> bits;
    for (unsigned l = 0; l < t_.lanes; ++l)
      bits.push_back(b_.getInt1(l < active));
    return llvm::ConstantVector::get(bits);
  }
  // A vector at `ptr`; with `active` < lanes only the first `active`
  // elements are read (the others are zero).
  Value *loadVector(Value *ptr, unsigned active, int operand) {
    if (active >= t_.lanes)
      return tagged(b_.CreateAlignedLoad(vt_, ptr, align_), operand);
    return tagged(b_.CreateMaskedLoad(vt_, ptr, align_, mask(active),
                                      llvm::Constant::getNullValue(vt_)),
                  operand);
  }
  void storeVector(Value *v, Value *ptr, unsigned active) {
    if (active >= t_.lanes)
      tagged(b_.CreateAlignedStore(v, ptr, align_), 0);
    else
      tagged(b_.CreateMaskedStore(v, ptr, align_, mask(active)), 0);
  }
  Value *fma(Value *x, Value *y, Value *acc) {
    return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vt_}, {x, y, acc});
  }

  // for (iv = 0; iv < count; ++iv) carried = body(iv, carried); count >= 1.
  // Not unrolled or re-vectorized: the body already is the vector code.
  std::vector<Value *>
  loop(int64_t count, std::vector<Value *> init,
       const std::function<std::vector<Value *>(Value *, std::vector<Value *> &)> &body) {
    if (count == 1)
      return body(b_.getInt64(0), init);
    llvm::LLVMContext &ctx = b_.getContext();
    llvm::BranchInst *br = nullptr;
    std::vector<Value *> next = emitCountedLoop(b_, fn_, count, init, body, "mk.loop", br);
    auto hint = [&](const char *name, llvm::Constant *value) -> llvm::Metadata * {
      return llvm::MDNode::get(
          ctx, {llvm::MDString::get(ctx, name), llvm::ConstantAsMetadata::get(value)});
    };
    std::vector<llvm::Metadata *> md = {
        nullptr, llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.unroll.disable")}),
        hint("llvm.loop.vectorize.enable", b_.getFalse())};
    llvm::MDNode *id = llvm::MDNode::getDistinct(ctx, md);
    id->replaceOperandWith(0, id);
    br->setMetadata(llvm::LLVMContext::MD_loop, id);
    return next;
  }

  // Rows i0 .. i0+mr of C: full column tiles, then the remainder.
  void rows(Value *i0, unsigned mr) {
    const int64_t span = t_.dotForm ? t_.cols : int64_t(t_.cols) * t_.lanes;
    const int64_t full = d_.n / span, rem = d_.n % span;
    if (full > 0)
      loop(full, {}, [&](Value *jb, std::vector<Value *> &) {
        tile(i0, mr, mul(jb, span), t_.cols, t_.lanes);
        return std::vector<Value *>{};
      });
    if (rem > 0) {
      Value *j0 = b_.getInt64(full * span);
      if (t_.dotForm)
        tile(i0, mr, j0, static_cast<unsigned>(rem), t_.lanes);
      else
        tile(i0, mr, j0, static_cast<unsigned>(ceilDiv(rem, t_.lanes)),
             rem % t_.lanes ? static_cast<unsigned>(rem % t_.lanes) : t_.lanes);
    }
  }

  void tile(Value *i0, unsigned mr, Value *j0, unsigned nc, unsigned lastActive) {
    if (t_.dotForm)
      dotTile(i0, mr, j0, nc);
    else
      axpyTile(i0, mr, j0, nc, lastActive);
  }

  Value *at(Value *base, int64_t index) {
    return index == 0 ? base : b_.CreateConstInBoundsGEP1_64(et_, base, index);
  }

  // C[i0.., j0..] (mr rows, nv vectors, the last with lastActive lanes) =
  // sum over q of A(i, q) * B row q. Row pointers are formed before the q
  // loop, so its body is loads at constant offsets and multiply-adds (less
  // index arithmetic for the optimizer to fold, too).
  void axpyTile(Value *i0, unsigned mr, Value *j0, unsigned nv, unsigned lastActive) {
    std::vector<Value *> aRow(mr), cRow(mr);
    for (unsigned r = 0; r < mr; ++r) {
      Value *i = add(i0, int64_t(r));
      aRow[r] = at(a_, d_.transA ? i : mul(i, d_.k));      // A(i, 0)
      cRow[r] = at(c_, add(mul(i, d_.n), j0));             // C(i, j0)
    }
    Value *bCol = at(bm_, j0);                              // B(0, j0)
    std::vector<Value *> zero(size_t(mr) * nv, llvm::Constant::getNullValue(vt_));
    auto acc = loop(d_.k, zero, [&](Value *q, std::vector<Value *> &acc) {
      Value *rowB = at(bCol, mul(q, d_.n));
      Value *aq = d_.transA ? mul(q, d_.m) : q;             // A(i, q) - A(i, 0)
      std::vector<Value *> bv;
      for (unsigned v = 0; v < nv; ++v)
        bv.push_back(loadVector(at(rowB, int64_t(v) * t_.lanes),
                                v + 1 == nv ? lastActive : t_.lanes, 2));
      std::vector<Value *> next(acc.size());
      for (unsigned r = 0; r < mr; ++r) {
        Value *x = tagged(b_.CreateAlignedLoad(et_, at(aRow[r], aq), align_), 1);
        Value *splat = b_.CreateVectorSplat(t_.lanes, x);
        for (unsigned v = 0; v < nv; ++v)
          next[r * nv + v] = fma(splat, bv[v], acc[r * nv + v]);
      }
      return next;
    });
    for (unsigned r = 0; r < mr; ++r)
      for (unsigned v = 0; v < nv; ++v)
        storeVector(acc[r * nv + v], at(cRow[r], int64_t(v) * t_.lanes),
                    v + 1 == nv ? lastActive : t_.lanes);
  }

  // C[i, j] = A row i . B row j for mr rows x nj columns, vectors along q.
  void dotTile(Value *i0, unsigned mr, Value *j0, unsigned nj) {
    std::vector<Value *> aRow(mr), bRow(nj);
    for (unsigned r = 0; r < mr; ++r)
      aRow[r] = at(a_, mul(add(i0, int64_t(r)), d_.k));
    for (unsigned j = 0; j < nj; ++j)
      bRow[j] = at(bm_, mul(add(j0, int64_t(j)), d_.k));
    std::vector<Value *> acc(size_t(mr) * nj, llvm::Constant::getNullValue(vt_));
    auto step = [&](Value *q0, unsigned active, std::vector<Value *> &in) {
      std::vector<Value *> av, bv, out(in.size());
      for (unsigned r = 0; r < mr; ++r)
        av.push_back(loadVector(at(aRow[r], q0), active, 1));
      for (unsigned j = 0; j < nj; ++j)
        bv.push_back(loadVector(at(bRow[j], q0), active, 2));
      for (unsigned r = 0; r < mr; ++r)
        for (unsigned j = 0; j < nj; ++j)
          out[r * nj + j] = fma(av[r], bv[j], in[r * nj + j]);
      return out;
    };
    const int64_t chunks = d_.k / t_.lanes, rem = d_.k % t_.lanes;
    if (chunks > 0)
      acc = loop(chunks, acc, [&](Value *ch, std::vector<Value *> &in) {
        return step(mul(ch, t_.lanes), t_.lanes, in);
      });
    if (rem > 0)
      acc = step(b_.getInt64(chunks * t_.lanes), static_cast<unsigned>(rem), acc);
    for (unsigned r = 0; r < mr; ++r) {
      Value *cRow = at(c_, add(mul(add(i0, int64_t(r)), d_.n), j0));
      for (unsigned j = 0; j < nj; ++j) {
        auto *sum = llvm::cast<llvm::Instruction>(
            b_.CreateFAddReduce(llvm::ConstantFP::get(et_, -0.0), acc[r * nj + j]));
        sum->setHasAllowReassoc(true); // a tree of shuffles, not a lane-by-lane chain
        tagged(b_.CreateAlignedStore(sum, at(cRow, int64_t(j)), align_), 0);
      }
    }
  }
};

} // namespace

bool microKernelSupports(const MatMulDims &d) { return !(d.transA && d.transB); }

MicroTile microTile(const MatMulDims &d, unsigned elemBytes, const HostVectors &v) {
  MicroTile t;
  const unsigned maxLanes = std::max(2u, v.bits / 8 / std::max(1u, elemBytes));
  const unsigned regs = std::max(8u, v.registers);
  t.dotForm = d.transB;
  if (!t.dotForm) {
    t.lanes = std::clamp(pow2Ceil(d.n), 2u, maxLanes);
    t.cols = static_cast<unsigned>(std::clamp<int64_t>(ceilDiv(d.n, t.lanes), 1, regs >= 32 ? 3 : 2));
    // MR x NV accumulators, NV rows of B and one broadcast of A in registers.
    t.rows = std::clamp((regs - t.cols - 1) / t.cols, 1u, 8u);
  } else {
    t.lanes = std::clamp(pow2Ceil(d.k), 2u, maxLanes);
    t.rows = regs >= 32 ? 4 : 3;
    if (d.m < t.rows)
      t.rows = static_cast<unsigned>(std::max<int64_t>(d.m, 1));
    // MR x NJ accumulators plus MR vectors of A and NJ of B.
    t.cols = std::clamp((regs - 1 - t.rows) / (t.rows + 1), 1u, 8u);
  }
  if (d.m > 0 && t.rows > d.m)
    t.rows = static_cast<unsigned>(d.m);
  if (t.dotForm && d.n > 0 && t.cols > d.n)
    t.cols = static_cast<unsigned>(d.n);
  return t;
}

MicroTile genericMicroTile(bool dotForm, unsigned elemBytes, const HostVectors &v) {
  MicroTile t;
  const unsigned regs = std::max(8u, v.registers);
  t.dotForm = dotForm;
  t.lanes = std::max(2u, v.bits / 8 / std::max(1u, elemBytes));
  if (!dotForm) {
    t.cols = regs >= 32 ? 3 : 2;
    t.rows = std::clamp((regs - t.cols - 1) / t.cols, 1u, 8u);
  } else {
    t.rows = regs >= 32 ? 4 : 3;
    // At most 4 x 4 accumulators: with the run-time loop around them, the
    // 4 x 5 tile the registers would hold measured 1.2x slower (spills).
    t.cols = std::clamp((regs - 1 - t.rows) / (t.rows + 1), 1u, 4u);
  }
  return t;
}

int64_t microKernelVectorOps(const MatMulDims &d, unsigned elemBytes, const HostVectors &v) {
  MicroTile t = genericMicroTile(d.transB, elemBytes, v);
  if (!t.dotForm)
    return d.m * d.k * ceilDiv(d.n, t.lanes);
  int64_t log2Lanes = 0;
  while ((1u << log2Lanes) < t.lanes)
    ++log2Lanes;
  return d.m * d.n * (ceilDiv(d.k, t.lanes) + log2Lanes);
}

namespace {

// The product as a function of its own, void(C, A, B), one per shape in a
// module: the optimizer and code generator see small functions (their cost
// grows faster than linearly with a function's size) and a training step's
// repeated shapes share one body.
llvm::Function *microKernelFunction(llvm::Module &m, llvm::Type *elemTy, const MatMulDims &d,
                                    const HostVectors &v) {
  unsigned bytes = elemTy->getPrimitiveSizeInBits() / 8;
  std::string name = "cj.matmul." + std::string(bytes == 8 ? "f64." : "f32.") +
                     std::to_string(d.m) + "x" + std::to_string(d.n) + "x" +
                     std::to_string(d.k) + (d.transA ? ".tA" : "") + (d.transB ? ".tB" : "");
  if (llvm::Function *f = m.getFunction(name))
    return f;
  llvm::LLVMContext &ctx = m.getContext();
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, ptr, ptr}, false);
  auto *f = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, m);
  f->addFnAttr(llvm::Attribute::NoUnwind);
  f->addFnAttr(llvm::Attribute::NoInline); // stays small for the optimizer; a call is ~ns
  // C is written, A and B only read; C overlaps neither (the memory plan
  // never gives a product's result its operands' memory).
  for (unsigned i = 0; i < 3; ++i)
    f->getArg(i)->addAttr(llvm::Attribute::NoAlias);
  f->getArg(1)->addAttr(llvm::Attribute::ReadOnly);
  f->getArg(2)->addAttr(llvm::Attribute::ReadOnly);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", f));
  AccessTagger none;
  Emitter(b, f, elemTy, f->getArg(0), f->getArg(1), f->getArg(2), d, microTile(d, bytes, v), none)
      .run();
  b.CreateRetVoid();
  return f;
}

} // namespace

bool perShapeMicroKernels() {
  const char *env = std::getenv("CHAINJIT_MICROKERNELS");
  if (!env || !*env || std::string(env) == "generic")
    return false;
  if (std::string(env) == "per-shape")
    return true;
  throw Error(std::string("CHAINJIT_MICROKERNELS='") + env +
              "' is neither 'generic' (the default: one set of kernels per machine) nor "
              "'per-shape' (a kernel compiled for each product's shape)");
}

void emitMicroKernelMatMul(llvm::IRBuilder<> &b, llvm::Function *fn, llvm::Type *elemTy,
                           Value *c, Value *a, Value *bm, const MatMulDims &d,
                           const HostVectors &v, const AccessTagger &) {
  if (!perShapeMicroKernels())
    return emitGenericMicroKernelCall(b, fn, elemTy, c, a, bm, d);
  llvm::Function *kernel = microKernelFunction(*fn->getParent(), elemTy, d, v);
  b.CreateCall(kernel, {c, a, bm});
}

} // namespace chainjit::compiler::jit
