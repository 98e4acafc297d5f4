// One switch over the fusible elementwise ops: the single place where their
// element semantics become LLVM instructions (the interpreter's counterpart
// is runtime/src/interp/Elementwise.cpp, both following ElementSemantics.h).
#include "ScalarOps.h"

#include "chainjit/ir/Error.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <limits>
#include <numbers>

namespace chainjit::compiler::jit {

using ir::DType;
using ir::OpKind;
using llvm::Value;

llvm::Type *elementType(llvm::LLVMContext &ctx, DType t) {
  switch (t) {
  case DType::f32: return llvm::Type::getFloatTy(ctx);
  case DType::f64: return llvm::Type::getDoubleTy(ctx);
  case DType::i32: return llvm::Type::getInt32Ty(ctx);
  default: return llvm::Type::getInt8Ty(ctx);
  }
}

namespace {

Value *constant(llvm::IRBuilder<> &b, DType t, double v) {
  llvm::Type *ty = elementType(b.getContext(), t);
  return isFloat(t) ? llvm::ConstantFP::get(ty, v)
                    : llvm::ConstantInt::get(ty, static_cast<uint64_t>(static_cast<int64_t>(v)),
                                             /*isSigned=*/true);
}

Value *unaryIntrinsic(llvm::IRBuilder<> &b, llvm::Intrinsic::ID id, Value *x) {
  return b.CreateUnaryIntrinsic(id, x);
}

// A libm function of one argument (tanh, log1p, erf, erfc have no LLVM
// intrinsic). The JIT resolves them in the process (libm); erf/erfc are also
// registered explicitly (kernels/Normalization.cpp, normalizationSymbols).
Value *libm(llvm::IRBuilder<> &b, const char *name, DType t, Value *x) {
  llvm::Module *m = b.GetInsertBlock()->getModule();
  std::string fn = std::string(name) + (t == DType::f32 ? "f" : "");
  llvm::Type *ty = x->getType();
  auto callee = m->getOrInsertFunction(fn, llvm::FunctionType::get(ty, {ty}, false));
  llvm::CallInst *call = b.CreateCall(callee, {x});
  call->setDoesNotAccessMemory();
  call->setDoesNotThrow();
  return call;
}

Value *toBool(llvm::IRBuilder<> &b, Value *i1) {
  return b.CreateZExt(i1, b.getInt8Ty());
}

Value *compare(llvm::IRBuilder<> &b, OpKind k, DType t, Value *x, Value *y) {
  using P = llvm::CmpInst::Predicate;
  bool f = isFloat(t), s = t == DType::i32;
  P p;
  switch (k) {
  case OpKind::Less: p = f ? P::FCMP_OLT : s ? P::ICMP_SLT : P::ICMP_ULT; break;
  case OpKind::LessEqual: p = f ? P::FCMP_OLE : s ? P::ICMP_SLE : P::ICMP_ULE; break;
  case OpKind::Greater: p = f ? P::FCMP_OGT : s ? P::ICMP_SGT : P::ICMP_UGT; break;
  case OpKind::GreaterEqual: p = f ? P::FCMP_OGE : s ? P::ICMP_SGE : P::ICMP_UGE; break;
  case OpKind::Equal: p = f ? P::FCMP_OEQ : P::ICMP_EQ; break;
  default: p = f ? P::FCMP_UNE : P::ICMP_NE; break; // NaN != anything
  }
  return toBool(b, f ? b.CreateFCmp(p, x, y) : b.CreateICmp(p, x, y));
}

Value *cast(llvm::IRBuilder<> &b, DType from, DType to, Value *x) {
  llvm::Type *ty = elementType(b.getContext(), to);
  if (from == to)
    return x;
  if (to == DType::boolean)
    return toBool(b, isFloat(from) ? b.CreateFCmpUNE(x, llvm::ConstantFP::get(x->getType(), 0))
                                   : b.CreateICmpNE(x, llvm::ConstantInt::get(x->getType(), 0)));
  if (isFloat(from) && isFloat(to))
    return b.CreateFPCast(x, ty);
  if (isFloat(from)) // to i32: truncate, saturate, NaN -> 0 (ElementSemantics castTo)
    return b.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {ty, x->getType()}, {x});
  if (isFloat(to))
    return from == DType::boolean ? b.CreateUIToFP(x, ty) : b.CreateSIToFP(x, ty);
  return b.CreateZExt(x, ty); // boolean -> i32
}

Value *sign(llvm::IRBuilder<> &b, DType t, Value *x) {
  Value *zero = constant(b, t, 0), *one = constant(b, t, 1), *minus = constant(b, t, -1);
  if (!isFloat(t))
    return b.CreateSelect(b.CreateICmpSGT(x, zero), one,
                          b.CreateSelect(b.CreateICmpSLT(x, zero), minus, zero));
  Value *r = b.CreateSelect(b.CreateFCmpOGT(x, zero), one,
                            b.CreateSelect(b.CreateFCmpOLT(x, zero), minus, zero));
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, r); // NaN stays NaN
}

Value *sigmoid(llvm::IRBuilder<> &b, DType t, Value *x) {
  Value *one = constant(b, t, 1);
  Value *z = unaryIntrinsic(b, llvm::Intrinsic::exp,
                            b.CreateFNeg(unaryIntrinsic(b, llvm::Intrinsic::fabs, x)));
  Value *denominator = b.CreateFAdd(one, z);
  return b.CreateSelect(b.CreateFCmpOGE(x, constant(b, t, 0)), b.CreateFDiv(one, denominator),
                        b.CreateFDiv(z, denominator));
}

Value *softplus(llvm::IRBuilder<> &b, DType t, Value *x) {
  Value *z = unaryIntrinsic(b, llvm::Intrinsic::exp,
                            b.CreateFNeg(unaryIntrinsic(b, llvm::Intrinsic::fabs, x)));
  return b.CreateFAdd(b.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, x, constant(b, t, 0)),
                      libm(b, "log1p", t, z));
}

// gelu as the interpreter computes it (runtime/src/interp/Elementwise.cpp):
// exact 0.5 x erfc(-x/sqrt 2), tanh form x sigmoid(2 sqrt(2/pi)(x + 0.044715x^3)).
Value *gelu(llvm::IRBuilder<> &b, DType t, Value *x, bool tanhForm) {
  if (tanhForm) {
    Value *cube = b.CreateFMul(b.CreateFMul(x, x), x);
    Value *inner = b.CreateFAdd(x, b.CreateFMul(constant(b, t, 0.044715), cube));
    double twoK = 2.0 * std::sqrt(2.0 / std::numbers::pi);
    return b.CreateFMul(x, sigmoid(b, t, b.CreateFMul(constant(b, t, twoK), inner)));
  }
  Value *arg = b.CreateFMul(x, constant(b, t, -1.0 / std::numbers::sqrt2));
  return b.CreateFMul(b.CreateFMul(constant(b, t, 0.5), x), libm(b, "erfc", t, arg));
}

} // namespace

Value *emitScalarOp(llvm::IRBuilder<> &b, const ir::Node &n, std::span<const DType> in,
                    std::span<Value *const> x) {
  DType t = in.empty() ? n.type.dtype : in[0];
  bool f = isFloat(t);
  switch (n.kind) {
  case OpKind::Neg: return f ? b.CreateFNeg(x[0]) : b.CreateNeg(x[0]);
  case OpKind::Exp: return unaryIntrinsic(b, llvm::Intrinsic::exp, x[0]);
  case OpKind::Log: return unaryIntrinsic(b, llvm::Intrinsic::log, x[0]);
  case OpKind::Sqrt: return unaryIntrinsic(b, llvm::Intrinsic::sqrt, x[0]);
  case OpKind::Abs:
    return f ? unaryIntrinsic(b, llvm::Intrinsic::fabs, x[0])
             : b.CreateBinaryIntrinsic(llvm::Intrinsic::abs, x[0], b.getFalse());
  case OpKind::Sign: return sign(b, t, x[0]);
  case OpKind::Pow: {
    double e = n.attrs.getFloat("exponent");
    if (e == 2.0) // exact either way; the multiply vectorizes without a call
      return b.CreateFMul(x[0], x[0]);
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, x[0], constant(b, t, e));
  }
  case OpKind::Relu:
    if (!f)
      return b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x[0], constant(b, t, 0));
    // unordered-greater: NaN passes through, as ElementSemantics relu.
    return b.CreateSelect(b.CreateFCmpUGT(x[0], constant(b, t, 0)), x[0], constant(b, t, 0));
  case OpKind::Sigmoid: return sigmoid(b, t, x[0]);
  case OpKind::Tanh: return libm(b, "tanh", t, x[0]);
  case OpKind::Softplus: return softplus(b, t, x[0]);
  case OpKind::Erf: return libm(b, "erf", t, x[0]);
  case OpKind::Gelu: return gelu(b, t, x[0], n.attrs.getString("approximate") == "tanh");
  case OpKind::Cast: return cast(b, t, n.type.dtype, x[0]);
  case OpKind::Add: return f ? b.CreateFAdd(x[0], x[1]) : b.CreateAdd(x[0], x[1]);
  case OpKind::Sub: return f ? b.CreateFSub(x[0], x[1]) : b.CreateSub(x[0], x[1]);
  case OpKind::Mul: return f ? b.CreateFMul(x[0], x[1]) : b.CreateMul(x[0], x[1]);
  case OpKind::Div: return b.CreateFDiv(x[0], x[1]);
  case OpKind::Maximum:
  case OpKind::Minimum: {
    bool max = n.kind == OpKind::Maximum;
    llvm::Intrinsic::ID id = f ? (max ? llvm::Intrinsic::maximum : llvm::Intrinsic::minimum)
                             : t == DType::i32 ? (max ? llvm::Intrinsic::smax : llvm::Intrinsic::smin)
                                               : (max ? llvm::Intrinsic::umax : llvm::Intrinsic::umin);
    return b.CreateBinaryIntrinsic(id, x[0], x[1]);
  }
  case OpKind::Less: case OpKind::LessEqual: case OpKind::Greater:
  case OpKind::GreaterEqual: case OpKind::Equal: case OpKind::NotEqual:
    return compare(b, n.kind, t, x[0], x[1]);
  case OpKind::Where:
    return b.CreateSelect(b.CreateICmpNE(x[0], b.getInt8(0)), x[1], x[2]);
  case OpKind::BroadcastTo: return x[0];
  default:
    throw Error("internal: '" + std::string(ir::opName(n.kind)) +
                "' is not an elementwise op of the JIT");
  }
}

Value *reductionIdentity(llvm::IRBuilder<> &b, OpKind kind, DType t) {
  if (kind != OpKind::Max)
    return constant(b, t, 0);
  if (isFloat(t))
    return llvm::ConstantFP::getInfinity(elementType(b.getContext(), t), /*Negative=*/true);
  return b.getInt32(static_cast<uint32_t>(std::numeric_limits<int32_t>::min()));
}

Value *reductionCombine(llvm::IRBuilder<> &b, OpKind kind, DType t, Value *acc, Value *v) {
  bool f = isFloat(t);
  if (kind == OpKind::Max)
    return b.CreateBinaryIntrinsic(f ? llvm::Intrinsic::maximum : llvm::Intrinsic::smax, acc, v);
  if (!f)
    return b.CreateAdd(acc, v);
  // Reassociation lets the vectorizer keep several partial sums.
  auto *sum = llvm::cast<llvm::Instruction>(b.CreateFAdd(acc, v));
  sum->setHasAllowReassoc(true);
  return sum;
}

} // namespace chainjit::compiler::jit
