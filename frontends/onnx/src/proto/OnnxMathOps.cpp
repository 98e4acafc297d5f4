// Gemm, MatMul, the broadcasting arithmetic, the activations and other
// elementwise functions, Pow, Max/Min, Cast, the reductions, Softmax and
// LogSoftmax.
#include "OnnxNode.h"

namespace chainjit::frontends::detail {

namespace {

using ir::Value;

// Y = alpha · op(A) · op(B) + beta · C, op a transpose where transA/transB.
void gemm(NodeContext &ctx) {
  ctx.checkAttributes({"alpha", "beta", "transA", "transB"});
  ctx.checkInputCount(2, 3);
  double alpha = ctx.floatAttr("alpha", 1.0), beta = ctx.floatAttr("beta", 1.0);
  int64_t transA = ctx.intAttr("transA", 0), transB = ctx.intAttr("transB", 0);
  for (auto [name, v] : {std::pair{"transA", transA}, std::pair{"transB", transB}})
    if (v != 0 && v != 1)
      ctx.fail("the attribute " + std::string(name) + " = " + std::to_string(v) +
               " is not 0 or 1");
  Value a = ctx.input(0), b = ctx.input(1);
  if (a.type().rank() != 2 || b.type().rank() != 2)
    ctx.fail("A and B must be matrices, not " + a.type().str() + " and " + b.type().str());
  if (transA)
    a = ir::transpose(a, {1, 0});
  if (transB)
    b = ir::transpose(b, {1, 0});
  Value y = ir::matmul(a, b);
  if (alpha != 1.0)
    y = y * alpha;
  if (ctx.hasInput(2)) {
    Value c = ctx.input(2);
    // C broadcasts to Y (unidirectionally: Y's shape must not change).
    if (ir::broadcastShapes(c.shape(), y.shape()) != y.shape())
      ctx.fail("C of type " + c.type().str() + " does not broadcast to Y's shape " +
               ir::shapeStr(y.shape()));
    if (beta != 1.0)
      c = c * beta;
    if (beta != 0.0)
      y = y + c;
  }
  ctx.setOutput(0, y);
}

void matmul(NodeContext &ctx) {
  ctx.checkAttributes({});
  ctx.checkInputCount(2, 2);
  ctx.setOutput(0, ir::matmul(ctx.input(0), ctx.input(1)));
}

// Add, Sub, Mul, Div: ONNX's multidirectional broadcasting is NumPy's, as
// chainjit's elementwise ops do it. (Opset < 7 had explicit `broadcast` and
// `axis` attributes; those are refused by checkAttributes.)
template <Value (*F)(Value, Value)> void binary(NodeContext &ctx) {
  ctx.checkAttributes({});
  ctx.checkInputCount(2, 2);
  ctx.setOutput(0, F(ctx.input(0), ctx.input(1)));
}

template <Value (*F)(Value)> void unary(NodeContext &ctx) {
  ctx.checkAttributes({});
  ctx.checkInputCount(1, 1);
  ctx.setOutput(0, F(ctx.input(0)));
}

// Opset 13 normalizes along one axis (default -1). Before, the input was
// seen as a matrix [prod(shape[:axis]), prod(shape[axis:])] (axis default
// 1) and normalized along its rows.
template <Value (*F)(Value, int64_t)> void softmaxLike(NodeContext &ctx) {
  ctx.checkAttributes({"axis"});
  ctx.checkInputCount(1, 1);
  Value x = ctx.input(0);
  int64_t rank = x.type().rank();
  if (ctx.opset() >= 13) {
    int64_t axis = normalizeAxis(ctx, ctx.intAttr("axis", -1), rank, "axis");
    ctx.setOutput(0, F(x, axis));
    return;
  }
  int64_t axis = normalizeAxis(ctx, ctx.intAttr("axis", 1), rank, "axis");
  if (axis == rank - 1) {
    ctx.setOutput(0, F(x, axis));
    return;
  }
  int64_t rows = 1, cols = 1;
  for (int64_t d = 0; d < rank; ++d)
    (d < axis ? rows : cols) *= x.shape()[d];
  Value y = F(ir::reshape(x, {rows, cols}), 1);
  ctx.setOutput(0, ir::reshape(y, x.shape()));
}

Value softplus(Value x) { return ir::softplus(x); }

// x ^ e for a constant scalar exponent e.
void power(NodeContext &ctx) {
  ctx.checkAttributes({});
  ctx.checkInputCount(2, 2);
  const OnnxConstant *e = ctx.constantInput(1);
  if (!e || ir::numElements(e->shape) != 1)
    ctx.fail("the exponent must be a constant scalar (a computed exponent is not supported)");
  double exponent = e->isInteger() ? double(e->ints[0]) : e->floats.at(0);
  ctx.setOutput(0, ir::pow(ctx.input(0), exponent));
}

// Max and Min of two inputs (more are refused).
template <Value (*F)(Value, Value)> void pairwise(NodeContext &ctx) {
  ctx.checkAttributes({});
  ctx.checkInputCount(2, 2);
  ctx.setOutput(0, F(ctx.input(0), ctx.input(1)));
}

// Cast to FLOAT, DOUBLE, INT32, INT64 (i32) or BOOL; chainjit's cast
// truncates toward zero as ONNX's does.
void castOp(NodeContext &ctx) {
  ctx.checkAttributes({"to", "saturate"});
  ctx.checkInputCount(1, 1);
  int64_t to = ctx.intAttr("to", 0);
  std::optional<ir::DType> dt = dtypeOf(static_cast<int32_t>(to));
  if (!dt)
    ctx.fail("a cast to " + onnxTypeName(static_cast<int32_t>(to)) + " is not supported");
  Value x = ctx.input(0);
  ctx.setOutput(0, x.dtype() == *dt ? x : ir::cast(x, *dt));
}

// ReduceSum, ReduceMean, ReduceMax: axes from the attribute or (ReduceSum
// from opset 13) a constant input; none means every axis.
template <Value (*F)(Value, ir::Ints, bool)> void reduce(NodeContext &ctx) {
  ctx.checkAttributes({"axes", "keepdims", "noop_with_empty_axes"});
  ctx.checkInputCount(1, 2);
  Value x = ctx.input(0);
  std::optional<ir::Ints> axes = ctx.intsAttr("axes");
  if (ctx.hasInput(1))
    axes = ctx.constantInts(1, "axes");
  bool keep = ctx.intAttr("keepdims", 1) != 0;
  ir::Ints norm;
  for (int64_t a : axes.value_or(ir::Ints{}))
    norm.push_back(normalizeAxis(ctx, a, x.type().rank(), "axis"));
  if (norm.empty()) {
    if (ctx.intAttr("noop_with_empty_axes", 0) != 0) {
      ctx.setOutput(0, x);
      return;
    }
    for (int64_t d = 0; d < x.type().rank(); ++d)
      norm.push_back(d);
  }
  ctx.setOutput(0, F(x, norm, keep));
}

} // namespace

void addMathConverters(ConverterTable &t) {
  t["Exp"] = unary<ir::exp>;
  t["Log"] = unary<ir::log>;
  t["Sqrt"] = unary<ir::sqrt>;
  t["Neg"] = unary<ir::neg>;
  t["Abs"] = unary<ir::abs>;
  t["Erf"] = unary<ir::erf>;
  t["Softplus"] = unary<softplus>;
  t["Pow"] = power;
  t["Max"] = pairwise<ir::maximum>;
  t["Min"] = pairwise<ir::minimum>;
  t["Cast"] = castOp;
  t["ReduceSum"] = reduce<ir::sum>;
  t["ReduceMean"] = reduce<ir::mean>;
  t["ReduceMax"] = reduce<ir::max>;
  t["Gemm"] = gemm;
  t["MatMul"] = matmul;
  t["Add"] = binary<ir::add>;
  t["Sub"] = binary<ir::sub>;
  t["Mul"] = binary<ir::mul>;
  t["Div"] = binary<ir::div>;
  t["Relu"] = unary<ir::relu>;
  t["Sigmoid"] = unary<ir::sigmoid>;
  t["Tanh"] = unary<ir::tanh>;
  t["Softmax"] = softmaxLike<ir::softmax>;
  t["LogSoftmax"] = softmaxLike<ir::logSoftmax>;
}

} // namespace chainjit::frontends::detail
