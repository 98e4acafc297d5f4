// Gemm, MatMul, the broadcasting arithmetic, the activations, Softmax and
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

} // namespace

void addMathConverters(ConverterTable &t) {
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
