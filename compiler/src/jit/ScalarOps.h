// The element-level lowering of every fusible elementwise op: given the
// already computed operand scalars, the LLVM value of one result element.
// The meaning follows ir/ElementSemantics.h (NaN propagation, stable sigmoid
// and softplus, saturating casts) so the JIT agrees with the interpreter.
#pragma once

#include "chainjit/ir/Graph.h"

#include <llvm/IR/IRBuilder.h>

#include <span>

namespace chainjit::compiler::jit {

// The LLVM type of one element: float, double, i32, or i8 for boolean.
llvm::Type *elementType(llvm::LLVMContext &ctx, ir::DType t);

// One element of node `n` from its operands' elements (of dtypes `in`).
llvm::Value *emitScalarOp(llvm::IRBuilder<> &b, const ir::Node &n,
                          std::span<const ir::DType> in,
                          std::span<llvm::Value *const> x);

// The identity and combination of the sum/max reductions.
llvm::Value *reductionIdentity(llvm::IRBuilder<> &b, ir::OpKind kind, ir::DType t);
llvm::Value *reductionCombine(llvm::IRBuilder<> &b, ir::OpKind kind, ir::DType t,
                              llvm::Value *acc, llvm::Value *v);

} // namespace chainjit::compiler::jit
