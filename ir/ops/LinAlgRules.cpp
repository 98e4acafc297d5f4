// Derivative rules of matmul and solve. matmul is written once for matrices:
// vector operands are viewed as [1, p] and [p, 1] matrices. solve's rules
// solve with A (tangent) or A^T (adjoint, the adjoint method): no inverse is
// ever formed.
#include "RuleFamilies.h"

namespace chainjit::ir::rules {

namespace {

// The matrix view of a matmul operand (vectors become one-row or
// one-column matrices).
Shape matrixShape(const Shape &s, bool lhs) {
  if (s.size() >= 2)
    return s;
  return lhs ? Shape{1, s[0]} : Shape{s[0], 1};
}

Value asMatrix(Value v, const Shape &shape) { return v.shape() == shape ? v : reshape(v, shape); }

Value swapLast2(Value v) {
  Ints perm;
  int64_t r = v.type().rank();
  for (int64_t i = 0; i < r; ++i)
    perm.push_back(i);
  std::swap(perm[r - 1], perm[r - 2]);
  return transpose(v, perm);
}

struct MatmulView {
  Shape a, b, y; // matrix shapes of the operands and of the result
};
MatmulView viewOf(const RuleContext &c) {
  MatmulView v{matrixShape(c.operands[0].shape(), true),
               matrixShape(c.operands[1].shape(), false), {}};
  Shape batchA(v.a.begin(), v.a.end() - 2), batchB(v.b.begin(), v.b.end() - 2);
  v.y = *broadcastShapes(batchA, batchB);
  v.y.push_back(v.a[v.a.size() - 2]);
  v.y.push_back(v.b.back());
  return v;
}

MaybeValue matmulJvp(const RuleContext &c, Tangents t) {
  MatmulView v = viewOf(c);
  int64_t k = c.directions, r = static_cast<int64_t>(v.y.size());
  Value A = asMatrix(c.operands[0], v.a), B = asMatrix(c.operands[1], v.b);
  MaybeValue dy;
  if (t[0])
    dy = matmul(alignDirections(asMatrix(*t[0], directionShape(k, v.a)), r), B);
  if (t[1])
    dy = addMaybe(dy, matmul(A, alignDirections(asMatrix(*t[1], directionShape(k, v.b)), r)));
  if (!dy)
    return std::nullopt;
  return reshape(*dy, directionShape(k, c.node.type.shape));
}

std::vector<MaybeValue> matmulVjp(const RuleContext &c, Value adj, Wanted w) {
  MatmulView v = viewOf(c);
  int64_t k = c.directions;
  Value A = asMatrix(c.operands[0], v.a), B = asMatrix(c.operands[1], v.b);
  Value Y = asMatrix(adj, directionShape(k, v.y));
  std::vector<MaybeValue> r(2);
  if (w[0]) // dA = dY B^T, summed over broadcast batch axes
    r[0] = reshape(unbroadcastDirections(matmul(Y, swapLast2(B)), v.a),
                   directionShape(k, c.operands[0].shape()));
  if (w[1]) // dB = A^T dY
    r[1] = reshape(unbroadcastDirections(matmul(swapLast2(A), Y), v.b),
                   directionShape(k, c.operands[1].shape()));
  return r;
}

// solve takes one or many right-hand sides but no direction axis: fold the
// k directions into extra right-hand sides, solve once, unfold.
Value solveDirections(Value M, Value dirs) {
  const Shape s = dirs.shape(); // [k, n] or [k, n, r]
  int64_t k = s[0], n = s[1];
  if (s.size() == 2)
    return transpose(solve(M, transpose(dirs)));
  int64_t r = s[2];
  Value folded = reshape(transpose(dirs, {1, 0, 2}), {n, k * r});
  return transpose(reshape(solve(M, folded), {n, k, r}), {1, 0, 2});
}

// y = A^-1 b: dy = A^-1 (db - dA y).
MaybeValue solveJvp(const RuleContext &c, Tangents t) {
  MaybeValue rhs = t[1];
  if (t[0])
    rhs = addMaybe(rhs, -matmul(*t[0], c.result));
  if (!rhs)
    return std::nullopt;
  return solveDirections(c.operands[0], *rhs);
}

// lambda = A^-T y_bar; b_bar = lambda; A_bar = -lambda y^T.
std::vector<MaybeValue> solveVjp(const RuleContext &c, Value adj, Wanted w) {
  Value lambda = solveDirections(transpose(c.operands[0]), adj);
  std::vector<MaybeValue> r(2);
  if (w[0]) {
    Value y = c.result;
    if (y.type().rank() == 1) {
      int64_t n = y.shape()[0];
      r[0] = -matmul(reshape(lambda, {c.directions, n, 1}), reshape(y, {1, n}));
    } else {
      r[0] = -matmul(lambda, transpose(y));
    }
  }
  if (w[1])
    r[1] = lambda;
  return r;
}

} // namespace

std::vector<DerivativeRules> linalgRules() {
  return {
      {OpKind::MatMul, matmulJvp, matmulVjp},
      {OpKind::Solve, solveJvp, solveVjp, {}, false,
       "a singular A has no derivative (the solve fails)"},
  };
}

} // namespace chainjit::ir::rules
