#include "chainjit/ir/Builder.h"

namespace chainjit::ir {

Value Value::named(std::string name) const {
  g_->setNodeName(id_, std::move(name));
  return *this;
}

Value input(Graph &g, std::string name, TensorType type) {
  return {g, g.addInput(std::move(name), std::move(type))};
}
Value param(Graph &g, std::string name, TensorType type, Attrs attrs) {
  return {g, g.addParam(std::move(name), std::move(type), std::move(attrs))};
}
Value constant(Graph &g, Tensor value, std::string name) {
  return {g, g.addConst(std::move(value), std::move(name))};
}
Value scalar(Graph &g, double v, DType dtype) {
  return constant(g, Tensor::scalar(dtype, v));
}
void output(Value v) { v.graph().addOutput(v.id()); }
void update(Value p, Value v) {
  if (&p.graph() != &v.graph())
    throw Error("update: values belong to different graphs");
  p.graph().addUpdate(p.id(), v.id());
}

// When an elementwise op fails and one operand is a scalar() of a dtype
// other than a tensor operand's (scalar(g, 0.0) is f32, the tensor f64), the
// fix is in the builder call, not a cast: say so. Otherwise the op's own
// error stands.
static Error explainScalarDType(OpKind kind, const std::vector<Value> &operands,
                                const Error &e) {
  if (opDef(kind).family != OpFamily::Elementwise)
    return e;
  auto isScalarConst = [](const Value &v) {
    return v.graph().node(v.id()).kind == OpKind::Const && v.type().rank() == 0;
  };
  for (const Value &s : operands) {
    if (!isScalarConst(s))
      continue;
    for (const Value &t : operands)
      if (!isScalarConst(t) && t.dtype() != s.dtype() && t.dtype() != DType::boolean) {
        std::string want(dtypeName(t.dtype()));
        return Error(std::string(opName(kind)) + ": the scalar constant is " + s.type().str() +
                         " but the other operand is " + t.type().str() +
                         "; pass the dtype: scalar(g, value, DType::" + want +
                         "), or write x * value, which takes x's dtype",
                     e.diagnostics().front().loc);
      }
  }
  return e;
}

Value apply(OpKind kind, const std::vector<Value> &operands, Attrs attrs) {
  if (operands.empty())
    throw Error(std::string(opName(kind)) + ": needs at least one operand");
  Graph &g = operands.front().graph();
  std::vector<NodeId> ids;
  for (const Value &v : operands) {
    if (&v.graph() != &g)
      throw Error(std::string(opName(kind)) +
                  ": operands belong to different graphs");
    ids.push_back(v.id());
  }
  try {
    return {g, g.addOp(kind, std::move(ids), std::move(attrs))};
  } catch (const Error &e) {
    throw explainScalarDType(kind, operands, e);
  }
}

#define UNARY(fn, Kind)                                                        \
  Value fn(Value x) { return apply(OpKind::Kind, {x}); }
#define BINARY(fn, Kind)                                                       \
  Value fn(Value a, Value b) { return apply(OpKind::Kind, {a, b}); }
UNARY(neg, Neg)
UNARY(exp, Exp)
UNARY(log, Log)
UNARY(sqrt, Sqrt)
UNARY(abs, Abs)
UNARY(sign, Sign)
UNARY(relu, Relu)
UNARY(sigmoid, Sigmoid)
UNARY(tanh, Tanh)
UNARY(softplus, Softplus)
BINARY(add, Add)
BINARY(sub, Sub)
BINARY(mul, Mul)
BINARY(div, Div)
BINARY(maximum, Maximum)
BINARY(minimum, Minimum)
BINARY(less, Less)
BINARY(lessEqual, LessEqual)
BINARY(greater, Greater)
BINARY(greaterEqual, GreaterEqual)
BINARY(equal, Equal)
BINARY(notEqual, NotEqual)
BINARY(matmul, MatMul)
BINARY(solve, Solve)
BINARY(crossEntropy, CrossEntropy)
BINARY(mse, Mse)
#undef UNARY
#undef BINARY

Value pow(Value x, double e) { return apply(OpKind::Pow, {x}, {{"exponent", e}}); }
Value cast(Value x, DType to) { return apply(OpKind::Cast, {x}, {{"dtype", to}}); }
Value where(Value c, Value a, Value b) { return apply(OpKind::Where, {c, a, b}); }

Value operator+(Value a, Value b) { return add(a, b); }
Value operator-(Value a, Value b) { return sub(a, b); }
Value operator*(Value a, Value b) { return mul(a, b); }
Value operator/(Value a, Value b) { return div(a, b); }
Value operator-(Value a) { return neg(a); }

static Value like(Value v, double c) { return scalar(v.graph(), c, v.dtype()); }
Value operator+(Value a, double b) { return add(a, like(a, b)); }
Value operator+(double a, Value b) { return add(like(b, a), b); }
Value operator-(Value a, double b) { return sub(a, like(a, b)); }
Value operator-(double a, Value b) { return sub(like(b, a), b); }
Value operator*(Value a, double b) { return mul(a, like(a, b)); }
Value operator*(double a, Value b) { return mul(like(b, a), b); }
Value operator/(Value a, double b) { return div(a, like(a, b)); }
Value operator/(double a, Value b) { return div(like(b, a), b); }

Value reshape(Value x, Shape s) { return apply(OpKind::Reshape, {x}, {{"shape", s}}); }
Value transpose(Value x, Ints perm) {
  return apply(OpKind::Transpose, {x}, {{"perm", perm}});
}
Value broadcastTo(Value x, Shape s) {
  return apply(OpKind::BroadcastTo, {x}, {{"shape", s}});
}
Value concat(const std::vector<Value> &xs, int64_t axis) {
  return apply(OpKind::Concat, xs, {{"axis", axis}});
}
Value slice(Value x, Ints starts, Ints ends, Ints strides) {
  return apply(OpKind::Slice, {x},
               {{"starts", starts}, {"ends", ends}, {"strides", strides}});
}

Value pad(Value x, Ints low, Ints high, Ints interior) {
  return apply(OpKind::Pad, {x}, {{"low", low}, {"high", high}, {"interior", interior}});
}

static Attrs reduceAttrs(Ints axes, bool keepdims) {
  return {{"axes", std::move(axes)}, {"keepdims", keepdims}};
}
Value sum(Value x, Ints axes, bool k) { return apply(OpKind::Sum, {x}, reduceAttrs(axes, k)); }
Value mean(Value x, Ints axes, bool k) { return apply(OpKind::Mean, {x}, reduceAttrs(axes, k)); }
Value max(Value x, Ints axes, bool k) { return apply(OpKind::Max, {x}, reduceAttrs(axes, k)); }
Value argmax(Value x, int64_t axis, bool k) {
  return apply(OpKind::ArgMax, {x}, {{"axis", axis}, {"keepdims", k}});
}
Value softmax(Value x, int64_t axis) { return apply(OpKind::Softmax, {x}, {{"axis", axis}}); }
Value logSoftmax(Value x, int64_t axis) {
  return apply(OpKind::LogSoftmax, {x}, {{"axis", axis}});
}

Value conv2d(Value x, Value w, Ints stride, Ints padding, Ints dilation) {
  return apply(OpKind::Conv2d, {x, w},
               {{"stride", stride}, {"padding", padding}, {"dilation", dilation}});
}
Value convTranspose2d(Value x, Value w, Ints stride, Ints padding, Ints dilation,
                      Ints outputPadding) {
  return apply(OpKind::ConvTranspose2d, {x, w},
               {{"stride", stride},
                {"padding", padding},
                {"dilation", dilation},
                {"output_padding", outputPadding}});
}
Value conv2dWeightGrad(Value x, Value outputGrad, Ints kernel, Ints stride, Ints padding,
                       Ints dilation) {
  return apply(OpKind::Conv2dWeightGrad, {x, outputGrad},
               {{"kernel", kernel}, {"stride", stride}, {"padding", padding}, {"dilation", dilation}});
}
static Attrs poolAttrs(Ints kernel, Ints stride, Ints padding) {
  return {{"kernel", std::move(kernel)}, {"stride", std::move(stride)},
          {"padding", std::move(padding)}};
}
Value maxPool2d(Value x, Ints k, Ints s, Ints p) {
  return apply(OpKind::MaxPool2d, {x}, poolAttrs(k, s, p));
}
Value maxPool2dGrad(Value x, Value outputGrad, Ints k, Ints s, Ints p) {
  return apply(OpKind::MaxPool2dGrad, {x, outputGrad}, poolAttrs(k, s, p));
}
Value avgPool2d(Value x, Ints k, Ints s, Ints p) {
  return apply(OpKind::AvgPool2d, {x}, poolAttrs(k, s, p));
}
Value unfold2d(Value x, Ints k, Ints s, Ints p, Ints d, double padValue) {
  return apply(OpKind::Unfold2d, {x},
               {{"kernel", k}, {"stride", s}, {"padding", p}, {"dilation", d},
                {"pad_value", padValue}});
}
Value fold2d(Value cols, Ints output, Ints k, Ints s, Ints p, Ints d) {
  return apply(OpKind::Fold2d, {cols},
               {{"output", output}, {"kernel", k}, {"stride", s}, {"padding", p},
                {"dilation", d}});
}
Value bernoulli(Value counter, Shape shape, double p, int64_t seed, DType dt) {
  return apply(OpKind::Bernoulli, {counter},
               {{"shape", shape}, {"p", p}, {"seed", seed}, {"dtype", dt}});
}
Value dropout(Value x, Value counter, double rate, int64_t seed) {
  return apply(OpKind::Dropout, {x, counter}, {{"rate", rate}, {"seed", seed}});
}
Value batchNorm(Value x, Value gamma, Value beta, Value rm, Value rv, double eps,
                double momentum) {
  return apply(OpKind::BatchNorm, {x, gamma, beta, rm, rv},
               {{"eps", eps}, {"momentum", momentum}});
}

Value erf(Value x) { return apply(OpKind::Erf, {x}); }
Value gelu(Value x, bool tanhApproximation) {
  return apply(OpKind::Gelu, {x},
               {{"approximate", std::string(tanhApproximation ? "tanh" : "none")}});
}
Value variance(Value x, Ints axes, bool k, int64_t correction) {
  Attrs a = reduceAttrs(axes, k);
  a.set("correction", correction);
  return apply(OpKind::Variance, {x}, std::move(a));
}
Value layerNorm(Value x, std::optional<Value> scale, std::optional<Value> shift,
                int64_t axis, double eps) {
  if (shift && !scale)
    throw Error("layer_norm: a shift needs a scale (pass ones)");
  std::vector<Value> operands{x};
  if (scale)
    operands.push_back(*scale);
  if (shift)
    operands.push_back(*shift);
  return apply(OpKind::LayerNorm, operands, {{"axis", axis}, {"eps", eps}});
}

Value gather(Value x, Value indices, int64_t axis) {
  return apply(OpKind::Gather, {x, indices}, {{"axis", axis}});
}
Value scatterAdd(Value updates, Value indices, int64_t size, int64_t axis) {
  return apply(OpKind::ScatterAdd, {updates, indices}, {{"axis", axis}, {"size", size}});
}
Value iota(Graph &g, Shape shape, int64_t axis, DType dtype) {
  return {g, g.addOp(OpKind::Iota, {},
                     {{"shape", Ints(shape.begin(), shape.end())}, {"axis", axis},
                      {"dtype", dtype}})};
}
Value oneHot(Value indices, int64_t depth, DType dtype) {
  return apply(OpKind::OneHot, {indices}, {{"depth", depth}, {"dtype", dtype}});
}
Value segmentSum(Value data, Value segmentIds, int64_t numSegments) {
  return scatterAdd(data, segmentIds, numSegments, 0);
}
Value causalMask(Graph &g, int64_t n) {
  return greaterEqual(iota(g, {n, n}, 0), iota(g, {n, n}, 1));
}

Value spmm(const CsrMatrix &a, Value dense, bool transpose) {
  return apply(OpKind::SpMM, {a.rowPtr, a.colIdx, a.values, dense},
               {{"transpose", transpose}, {"cols", a.cols}});
}
Value sddmm(Value rowPtr, Value colIdx, Value x, Value y) {
  return apply(OpKind::SDDMM, {rowPtr, colIdx, x, y});
}

} // namespace chainjit::ir
