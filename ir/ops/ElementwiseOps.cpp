// Elementwise ops: unary maps, binary arithmetic and comparisons with NumPy
// broadcasting, and where(cond, a, b).
#include "OpFamilies.h"

namespace chainjit::ir::ops {

static TensorType floatUnary(std::span<const TensorType> in, const Attrs &) {
  requireFloat(in[0], "operand");
  return in[0];
}

static TensorType numericUnary(std::span<const TensorType> in, const Attrs &) {
  requireNumeric(in[0], "operand");
  return in[0];
}

static TensorType geluRule(std::span<const TensorType> in, const Attrs &a) {
  const std::string &approx = a.getString("approximate");
  if (approx != "none" && approx != "tanh")
    throw Error("approximate must be \"none\" or \"tanh\", got \"" + approx + "\"");
  return floatUnary(in, a);
}

static TensorType castRule(std::span<const TensorType> in, const Attrs &a) {
  return {a.getDType("dtype"), in[0].shape};
}

static TensorType arithmetic(std::span<const TensorType> in, const Attrs &) {
  requireNumeric(in[0], "lhs");
  requireSameDType(in[0], in[1]);
  return {in[0].dtype, broadcastOrThrow(in[0].shape, in[1].shape)};
}

static TensorType floatArithmetic(std::span<const TensorType> in,
                                  const Attrs &a) {
  requireFloat(in[0], "lhs");
  return arithmetic(in, a);
}

static TensorType comparison(std::span<const TensorType> in, const Attrs &) {
  requireSameDType(in[0], in[1]);
  return {DType::boolean, broadcastOrThrow(in[0].shape, in[1].shape)};
}

static TensorType whereRule(std::span<const TensorType> in, const Attrs &) {
  if (in[0].dtype != DType::boolean)
    throw Error("condition must be bool, got " + in[0].str() +
                " (compare with a comparison op)");
  requireSameDType(in[1], in[2]);
  Shape s = broadcastOrThrow(in[0].shape, in[1].shape);
  return {in[1].dtype, broadcastOrThrow(s, in[2].shape)};
}

std::vector<OpDef> elementwiseOps() {
  using F = OpFamily;
  auto unary = [](OpKind k, TypeRule rule, std::string_view summary) {
    return OpDef{k, F::Elementwise, 1, 1, {"x"}, {}, rule, summary};
  };
  auto binary = [](OpKind k, TypeRule rule, std::string_view summary) {
    return OpDef{k, F::Elementwise, 2, 2, {"lhs", "rhs"}, {}, rule, summary};
  };
  return {
      unary(OpKind::Neg, numericUnary, "-x"),
      unary(OpKind::Exp, floatUnary, "e^x"),
      unary(OpKind::Log, floatUnary, "natural logarithm"),
      unary(OpKind::Sqrt, floatUnary, "square root"),
      unary(OpKind::Abs, numericUnary, "|x|"),
      unary(OpKind::Sign, numericUnary, "-1, 0 or 1"),
      {OpKind::Pow, F::Elementwise, 1, 1, {"x"},
       {{"exponent", AttrKind::Float, std::nullopt}}, floatUnary,
       "x ^ exponent, for a constant exponent"},
      unary(OpKind::Relu, floatUnary, "max(x, 0)"),
      unary(OpKind::Sigmoid, floatUnary, "1 / (1 + e^-x), evaluated stably"),
      unary(OpKind::Tanh, floatUnary, "hyperbolic tangent"),
      unary(OpKind::Softplus, floatUnary, "log(1 + e^x), evaluated stably"),
      unary(OpKind::Erf, floatUnary, "the error function 2/sqrt(pi) * integral of e^-t^2 from 0 to x"),
      {OpKind::Gelu, F::Elementwise, 1, 1, {"x"},
       {{"approximate", AttrKind::String, std::string("none")}}, geluRule,
       "x * Phi(x), Phi the normal CDF; approximate = \"tanh\": 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))"},
      {OpKind::Cast, F::Elementwise, 1, 1, {"x"},
       {{"dtype", AttrKind::DType, std::nullopt}}, castRule,
       "convert to another dtype (to i32 truncates toward zero)"},
      binary(OpKind::Add, arithmetic, "lhs + rhs"),
      binary(OpKind::Sub, arithmetic, "lhs - rhs"),
      binary(OpKind::Mul, arithmetic, "lhs * rhs"),
      binary(OpKind::Div, floatArithmetic, "lhs / rhs"),
      binary(OpKind::Maximum, arithmetic, "elementwise max"),
      binary(OpKind::Minimum, arithmetic, "elementwise min"),
      binary(OpKind::Less, comparison, "lhs < rhs, a bool mask"),
      binary(OpKind::LessEqual, comparison, "lhs <= rhs, a bool mask"),
      binary(OpKind::Greater, comparison, "lhs > rhs, a bool mask"),
      binary(OpKind::GreaterEqual, comparison, "lhs >= rhs, a bool mask"),
      binary(OpKind::Equal, comparison, "lhs == rhs, a bool mask"),
      binary(OpKind::NotEqual, comparison, "lhs != rhs, a bool mask"),
      {OpKind::Where, F::Elementwise, 3, 3, {"cond", "a", "b"}, {}, whereRule,
       "a where cond is true, else b"},
  };
}

} // namespace chainjit::ir::ops
