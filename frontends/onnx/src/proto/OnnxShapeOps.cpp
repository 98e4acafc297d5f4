// Flatten, Reshape, Transpose, Concat, Slice, Squeeze, Unsqueeze, Gather,
// Identity, Constant and Shape. Shape arguments must be constants; the
// integer arithmetic exporters emit for them (Shape -> Gather -> Unsqueeze
// -> Concat -> Reshape, from x.view(x.size(0), -1)) is folded here on
// constants, so it never becomes graph values.
#include "OnnxNode.h"

#include <limits>

namespace chainjit::frontends::detail {

namespace {

using ir::Ints;
using ir::Shape;
using ir::Value;

// An integer constant input, if input i is one (the folding cases).
const OnnxConstant *intConstant(NodeContext &ctx, size_t i) {
  const OnnxConstant *c = ctx.constantInput(i);
  return c && c->isInteger() ? c : nullptr;
}

// Output 0 is input 0 under a new shape: folded for integer constants,
// a reshape otherwise.
void reshapeTo(NodeContext &ctx, const Shape &shape) {
  if (const OnnxConstant *c = intConstant(ctx, 0)) {
    OnnxConstant r = *c;
    r.shape = shape;
    ctx.setConstantOutput(0, std::move(r));
    return;
  }
  ctx.setOutput(0, ir::reshape(ctx.input(0), shape));
}

void flatten(NodeContext &ctx) {
  ctx.checkAttributes({"axis"});
  ctx.checkInputCount(1, 1);
  Shape s = ctx.inputType(0).shape;
  int64_t rank = static_cast<int64_t>(s.size());
  int64_t axis = ctx.intAttr("axis", 1);
  if (axis < -rank || axis > rank)
    ctx.fail("the axis " + std::to_string(axis) + " is out of range for rank " +
             std::to_string(rank));
  if (axis < 0)
    axis += rank;
  int64_t rows = 1, cols = 1;
  for (int64_t d = 0; d < rank; ++d)
    (d < axis ? rows : cols) *= s[d];
  reshapeTo(ctx, {rows, cols});
}

// The shape comes from a constant (opset >= 5) or the attribute (before):
// 0 copies the input's dim (unless allowzero), -1 is inferred.
void reshape(NodeContext &ctx) {
  ctx.checkAttributes({"allowzero", "shape"});
  Ints target;
  if (ctx.opset() >= 5) {
    ctx.checkInputCount(2, 2);
    target = ctx.constantInts(1, "target shape");
  } else {
    ctx.checkInputCount(1, 1);
    std::optional<Ints> s = ctx.intsAttr("shape");
    if (!s)
      ctx.fail("the attribute shape is missing");
    target = *s;
  }
  bool allowZero = ctx.intAttr("allowzero", 0) != 0;
  Shape in = ctx.inputType(0).shape;
  int64_t known = 1, inferred = -1;
  for (size_t d = 0; d < target.size(); ++d) {
    if (target[d] == 0 && !allowZero) {
      if (d >= in.size())
        ctx.fail("the target shape copies dim " + std::to_string(d) + " (0), which the input " +
                 ir::shapeStr(in) + " does not have");
      target[d] = in[d];
    }
    if (target[d] == -1) {
      if (inferred >= 0)
        ctx.fail("the target shape has more than one -1");
      inferred = static_cast<int64_t>(d);
      continue;
    }
    if (target[d] < 0)
      ctx.fail("the target shape has the dimension " + std::to_string(target[d]));
    if (__builtin_mul_overflow(known, target[d], &known))
      ctx.fail("the target shape is too large");
  }
  int64_t n = ir::numElements(in);
  if (inferred >= 0) {
    if (known == 0 || n % known != 0)
      ctx.fail("the target shape " + ir::shapeStr(target) + " does not fit " +
               std::to_string(n) + " elements");
    target[inferred] = n / known;
  } else if (known != n) {
    ctx.fail("the target shape " + ir::shapeStr(target) + " does not hold the " +
             std::to_string(n) + " elements of " + ir::shapeStr(in));
  }
  reshapeTo(ctx, target);
}

void transpose(NodeContext &ctx) {
  ctx.checkAttributes({"perm"});
  ctx.checkInputCount(1, 1);
  Value x = ctx.input(0);
  Ints perm = ctx.intsAttr("perm", Ints{});
  if (perm.empty())
    for (int64_t d = x.type().rank() - 1; d >= 0; --d)
      perm.push_back(d);
  ctx.setOutput(0, ir::transpose(x, perm));
}

void concat(NodeContext &ctx) {
  ctx.checkAttributes({"axis"});
  if (ctx.inputCount() == 0)
    ctx.fail("has no inputs");
  if (!ctx.attribute("axis"))
    ctx.fail("the attribute axis is missing");
  bool allConstant = true;
  for (size_t i = 0; i < ctx.inputCount(); ++i) {
    if (!ctx.hasInput(i))
      ctx.fail("input " + std::to_string(i) + " is empty");
    allConstant = allConstant && intConstant(ctx, i) && intConstant(ctx, i)->shape.size() == 1;
  }
  int64_t rank = static_cast<int64_t>(ctx.inputType(0).shape.size());
  int64_t axis = normalizeAxis(ctx, ctx.intAttr("axis", 0), rank, "axis");
  if (allConstant) { // shape arithmetic: 1-D integer vectors
    OnnxConstant r = *intConstant(ctx, 0);
    for (size_t i = 1; i < ctx.inputCount(); ++i) {
      const OnnxConstant *c = intConstant(ctx, i);
      r.ints.insert(r.ints.end(), c->ints.begin(), c->ints.end());
    }
    r.shape = {static_cast<int64_t>(r.ints.size())};
    ctx.setConstantOutput(0, std::move(r));
    return;
  }
  std::vector<Value> xs;
  for (size_t i = 0; i < ctx.inputCount(); ++i)
    xs.push_back(ctx.input(i));
  ctx.setOutput(0, ir::concat(xs, axis));
}

// ONNX's clamping of starts and ends, for positive steps only.
void slice(NodeContext &ctx) {
  Ints starts, ends, axes, steps;
  if (ctx.opset() >= 10) {
    ctx.checkAttributes({});
    ctx.checkInputCount(3, 5);
    starts = ctx.constantInts(1, "starts");
    ends = ctx.constantInts(2, "ends");
    if (ctx.hasInput(3))
      axes = ctx.constantInts(3, "axes");
    if (ctx.hasInput(4))
      steps = ctx.constantInts(4, "steps");
  } else {
    ctx.checkAttributes({"starts", "ends", "axes"});
    ctx.checkInputCount(1, 1);
    std::optional<Ints> s = ctx.intsAttr("starts"), e = ctx.intsAttr("ends");
    if (!s || !e)
      ctx.fail("the attributes starts and ends are required");
    starts = *s;
    ends = *e;
    axes = ctx.intsAttr("axes", Ints{});
  }
  Value x = ctx.input(0);
  Shape shape = x.shape();
  int64_t rank = x.type().rank();
  if (axes.empty())
    for (size_t d = 0; d < starts.size(); ++d)
      axes.push_back(static_cast<int64_t>(d));
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    ctx.fail("starts, ends, axes and steps must have the same length");
  Ints lo(rank, 0), hi(shape.begin(), shape.end()), stride(rank, 1);
  std::vector<bool> seen(rank, false);
  for (size_t k = 0; k < starts.size(); ++k) {
    int64_t a = normalizeAxis(ctx, axes[k], rank, "axis");
    if (seen[a])
      ctx.fail("the axis " + std::to_string(a) + " is sliced twice");
    seen[a] = true;
    if (steps[k] <= 0)
      ctx.fail("the step " + std::to_string(steps[k]) + " on axis " + std::to_string(a) +
               " is not supported (only positive steps are)");
    int64_t dim = shape[a];
    auto clamp = [dim](int64_t v) {
      if (v < 0)
        v = v < -dim ? 0 : v + dim;
      return std::min(v, dim);
    };
    lo[a] = clamp(starts[k]);
    hi[a] = std::max(lo[a], clamp(ends[k]));
    stride[a] = steps[k];
  }
  ctx.setOutput(0, ir::slice(x, lo, hi, stride));
}

// The axes of Squeeze/Unsqueeze: an input from opset 13, an attribute before.
std::optional<Ints> axesOf(NodeContext &ctx) {
  if (ctx.opset() >= 13) {
    ctx.checkAttributes({});
    ctx.checkInputCount(1, 2);
    if (!ctx.hasInput(1))
      return std::nullopt;
    return ctx.constantInts(1, "axes");
  }
  ctx.checkAttributes({"axes"});
  ctx.checkInputCount(1, 1);
  return ctx.intsAttr("axes");
}

void squeeze(NodeContext &ctx) {
  std::optional<Ints> axes = axesOf(ctx);
  Shape in = ctx.inputType(0).shape;
  int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> drop(rank, false);
  if (!axes) {
    for (int64_t d = 0; d < rank; ++d)
      drop[d] = in[d] == 1;
  } else {
    for (int64_t a : *axes) {
      int64_t d = normalizeAxis(ctx, a, rank, "axis");
      if (in[d] != 1)
        ctx.fail("the axis " + std::to_string(d) + " of " + ir::shapeStr(in) +
                 " has size " + std::to_string(in[d]) + ", not 1");
      drop[d] = true;
    }
  }
  Shape out;
  for (int64_t d = 0; d < rank; ++d)
    if (!drop[d])
      out.push_back(in[d]);
  reshapeTo(ctx, out);
}

void unsqueeze(NodeContext &ctx) {
  std::optional<Ints> axes = axesOf(ctx);
  if (!axes)
    ctx.fail("the axes are missing");
  Shape in = ctx.inputType(0).shape;
  int64_t rank = static_cast<int64_t>(in.size() + axes->size());
  std::vector<bool> added(rank, false);
  for (int64_t a : *axes) {
    int64_t d = normalizeAxis(ctx, a, rank, "axis");
    if (added[d])
      ctx.fail("the axis " + std::to_string(d) + " is given twice");
    added[d] = true;
  }
  Shape out;
  size_t next = 0;
  for (int64_t d = 0; d < rank; ++d)
    out.push_back(added[d] ? 1 : in[next++]);
  reshapeTo(ctx, out);
}

// Negative constant indices count from the end, as in ONNX; indices from
// the graph must be i32 and in range (a run-time error otherwise).
void gather(NodeContext &ctx) {
  ctx.checkAttributes({"axis"});
  ctx.checkInputCount(2, 2);
  Shape dataShape = ctx.inputType(0).shape;
  int64_t rank = static_cast<int64_t>(dataShape.size());
  if (rank == 0)
    ctx.fail("the data must have rank >= 1");
  int64_t axis = normalizeAxis(ctx, ctx.intAttr("axis", 0), rank, "axis");
  const OnnxConstant *idx = ctx.constantInput(1);
  if (idx && !idx->isInteger())
    ctx.fail("the indices must be integers, not " + onnxTypeName(idx->onnxType));
  std::vector<int64_t> fixed;
  if (idx) {
    for (int64_t i : idx->ints) {
      if (i < -dataShape[axis] || i >= dataShape[axis])
        ctx.fail("the index " + std::to_string(i) + " is out of range for axis " +
                 std::to_string(axis) + " of size " + std::to_string(dataShape[axis]));
      fixed.push_back(i < 0 ? i + dataShape[axis] : i);
    }
  }
  const OnnxConstant *data = intConstant(ctx, 0);
  if (data && idx && rank == 1) { // shape arithmetic: pick entries of a vector
    OnnxConstant r = *data;
    r.shape = idx->shape;
    r.ints.clear();
    for (int64_t i : fixed)
      r.ints.push_back(data->ints[i]);
    ctx.setConstantOutput(0, std::move(r));
    return;
  }
  std::optional<Value> indices;
  if (!idx) {
    indices = ctx.input(1);
  } else {
    OnnxConstant c = *idx;
    c.ints = fixed;
    ir::Tensor t;
    try {
      t = c.toTensor("the indices");
    } catch (const Error &e) {
      ctx.fail(e.diagnostics().front().message);
    }
    indices = ir::constant(ctx.graph(), t);
  }
  ctx.setOutput(0, ir::gather(ctx.input(0), *indices, axis));
}

void identity(NodeContext &ctx) {
  ctx.checkAttributes({});
  ctx.checkInputCount(1, 1);
  if (const OnnxConstant *c = ctx.constantInput(0); c && c->isInteger()) {
    ctx.setConstantOutput(0, *c);
    return;
  }
  ctx.setOutput(0, ctx.input(0));
}

void constant(NodeContext &ctx) {
  ctx.checkAttributes({"value", "value_float", "value_floats", "value_int", "value_ints"});
  if (ctx.node().attribute_size() != 1)
    ctx.fail("needs exactly one of value, value_float, value_floats, value_int, value_ints");
  const onnx::AttributeProto &a = ctx.node().attribute(0);
  OnnxConstant c;
  if (a.name() == "value") {
    if (a.type() != onnx::AttributeProto::TENSOR)
      ctx.fail("the attribute value must be a TENSOR");
    try {
      c = readTensor(a.t(), "its value");
    } catch (const Error &e) {
      ctx.fail(e.diagnostics().front().message);
    }
  } else if (a.name() == "value_float" || a.name() == "value_floats") {
    std::vector<double> v;
    if (a.name() == "value_float")
      v.push_back(ctx.floatAttr("value_float", 0));
    else if (a.type() == onnx::AttributeProto::FLOATS)
      v.assign(a.floats().begin(), a.floats().end());
    else
      ctx.fail("the attribute value_floats must be FLOATS");
    c.onnxType = onnx::TensorProto::FLOAT;
    if (a.name() == "value_floats")
      c.shape = {static_cast<int64_t>(v.size())};
    c.floats = ir::Tensor(ir::f32(c.shape), v);
  } else {
    c.onnxType = onnx::TensorProto::INT64;
    if (a.name() == "value_int") {
      c.ints = {ctx.intAttr("value_int", 0)};
    } else {
      c.ints = *ctx.intsAttr("value_ints");
      c.shape = {static_cast<int64_t>(c.ints.size())};
    }
  }
  ctx.setConstantOutput(0, std::move(c));
}

// The static shape of the input as an INT64 constant (start and end from
// opset 15 select a range of axes).
void shapeOf(NodeContext &ctx) {
  ctx.checkAttributes({"start", "end"});
  ctx.checkInputCount(1, 1);
  Shape s = ctx.inputType(0).shape;
  int64_t rank = static_cast<int64_t>(s.size());
  auto clamp = [rank](int64_t v) {
    if (v < 0)
      v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  int64_t start = clamp(ctx.intAttr("start", 0)), end = clamp(ctx.intAttr("end", rank));
  OnnxConstant c;
  c.onnxType = onnx::TensorProto::INT64;
  for (int64_t d = start; d < end; ++d)
    c.ints.push_back(s[d]);
  c.shape = {static_cast<int64_t>(c.ints.size())};
  ctx.setConstantOutput(0, std::move(c));
}

// Zero padding (mode "constant" with value 0): pads from a constant input
// (opset >= 11) or the attribute (before), all begins then all ends.
void padOp(NodeContext &ctx) {
  ctx.checkAttributes({"mode", "pads", "value"});
  std::string mode = ctx.stringAttr("mode", "constant");
  if (mode != "constant")
    ctx.fail("mode = " + mode + " is not supported (only constant, with value 0)");
  Ints pads;
  double value = 0.0;
  if (ctx.opset() >= 11) {
    ctx.checkInputCount(2, 3);
    pads = ctx.constantInts(1, "pads");
    if (ctx.hasInput(2)) {
      const OnnxConstant *v = ctx.constantInput(2);
      if (!v || v->isInteger() || v->floats.numel() != 1)
        ctx.fail("the constant_value must be a constant float scalar");
      value = v->floats.at(0);
    }
  } else {
    ctx.checkInputCount(1, 1);
    pads = ctx.intsAttr("pads", Ints{});
    value = ctx.floatAttr("value", 0.0);
  }
  if (value != 0.0)
    ctx.fail("padding with the value " + std::to_string(value) + " is not supported (only 0)");
  Value x = ctx.input(0);
  size_t rank = static_cast<size_t>(x.type().rank());
  if (pads.size() != 2 * rank)
    ctx.fail("pads has " + std::to_string(pads.size()) + " entries, expected " +
             std::to_string(2 * rank));
  Ints low(pads.begin(), pads.begin() + rank), high(pads.begin() + rank, pads.end());
  for (int64_t p : pads)
    if (p < 0)
      ctx.fail("negative pads (cropping) are not supported");
  ctx.setOutput(0, ir::pad(x, low, high));
}

// ONNX's Expand broadcasts both ways: the result has the broadcast of the
// input's shape and the (constant) target shape.
void expand(NodeContext &ctx) {
  ctx.checkAttributes({});
  ctx.checkInputCount(2, 2);
  Ints shape = ctx.constantInts(1, "shape");
  Value x = ctx.input(0);
  std::optional<Shape> out = ir::broadcastShapes(x.shape(), shape);
  if (!out)
    ctx.fail("the shape " + ir::shapeStr(shape) + " does not broadcast with " + x.type().str());
  ctx.setOutput(0, *out == x.shape() ? x : ir::broadcastTo(x, *out));
}

} // namespace

void addShapeConverters(ConverterTable &t) {
  t["Flatten"] = flatten;
  t["Reshape"] = reshape;
  t["Transpose"] = transpose;
  t["Concat"] = concat;
  t["Slice"] = slice;
  t["Squeeze"] = squeeze;
  t["Unsqueeze"] = unsqueeze;
  t["Gather"] = gather;
  t["Identity"] = identity;
  t["Constant"] = constant;
  t["Shape"] = shapeOf;
  t["Pad"] = padOp;
  t["Expand"] = expand;
}

} // namespace chainjit::frontends::detail
