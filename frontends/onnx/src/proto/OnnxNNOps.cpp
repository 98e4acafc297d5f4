// Conv, MaxPool, AveragePool, GlobalAveragePool, BatchNormalization
// (inference) and Dropout (inference): the 2-D layers of chainjit's IR.
#include "OnnxNode.h"

namespace chainjit::frontends::detail {

namespace {

using ir::Ints;
using ir::Value;

// The spatial geometry shared by Conv and the pools: kernel, strides,
// symmetric pads and dilations of a 2-D window over [N, C, H, W].
struct Window {
  Ints kernel, strides, pads, dilations;
};

Window readWindow(NodeContext &ctx, Value x, std::optional<Ints> kernelFromWeight) {
  if (x.type().rank() != 4)
    ctx.fail("only 2-D inputs [N, C, H, W] are supported, not " + x.type().str());
  std::string autoPad = ctx.stringAttr("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID")
    ctx.fail("auto_pad = " + autoPad + " is not supported (NOTSET with explicit pads, or "
             "VALID, are)");
  Window w;
  std::optional<Ints> k = ctx.intsAttr("kernel_shape");
  if (kernelFromWeight && k && *k != *kernelFromWeight)
    ctx.fail("kernel_shape does not match the weight's spatial dims");
  if (!k && !kernelFromWeight)
    ctx.fail("the attribute kernel_shape is missing");
  w.kernel = k ? *k : *kernelFromWeight;
  if (w.kernel.size() != 2)
    ctx.fail("only 2-D kernels are supported, kernel_shape has " +
             std::to_string(w.kernel.size()) + " dims");
  w.strides = ctx.intsAttr("strides", {1, 1});
  w.dilations = ctx.intsAttr("dilations", {1, 1});
  Ints pads = autoPad == "VALID" ? Ints{0, 0, 0, 0} : ctx.intsAttr("pads", {0, 0, 0, 0});
  if (w.strides.size() != 2 || w.dilations.size() != 2 || pads.size() != 4)
    ctx.fail("strides and dilations need 2 entries and pads 4 for a 2-D window");
  if (pads[0] != pads[2] || pads[1] != pads[3])
    ctx.fail("asymmetric pads [" + std::to_string(pads[0]) + ", " + std::to_string(pads[1]) +
             ", " + std::to_string(pads[2]) + ", " + std::to_string(pads[3]) +
             "] are not supported (begin and end must be equal)");
  w.pads = {pads[0], pads[1]};
  return w;
}

// ceil_mode = 1 is accepted where it gives the same size as floor.
void checkCeilMode(NodeContext &ctx, Value x, const Window &w) {
  if (ctx.intAttr("ceil_mode", 0) == 0)
    return;
  for (int d = 0; d < 2; ++d) {
    int64_t span = x.shape()[2 + d] + 2 * w.pads[d] - w.kernel[d];
    if (w.strides[d] > 0 && span >= 0 && span % w.strides[d] != 0)
      ctx.fail("ceil_mode = 1 is not supported where it changes the output size (axis " +
               std::to_string(2 + d) + ")");
  }
}

void conv(NodeContext &ctx) {
  ctx.checkAttributes({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  ctx.checkInputCount(2, 3);
  ctx.requireIntAttr("group", 1, "grouped and depthwise convolutions are not in chainjit's IR");
  Value x = ctx.input(0), w = ctx.input(1);
  if (w.type().rank() != 4)
    ctx.fail("the weight must be [O, C, KH, KW], not " + w.type().str());
  Window win = readWindow(ctx, x, Ints{w.shape()[2], w.shape()[3]});
  Value y = ir::conv2d(x, w, win.strides, win.pads, win.dilations);
  if (ctx.hasInput(2)) {
    Value b = ctx.input(2);
    if (b.type().rank() != 1 || b.shape()[0] != w.shape()[0])
      ctx.fail("the bias must be [" + std::to_string(w.shape()[0]) + "], not " + b.type().str());
    y = y + ir::reshape(b, {1, w.shape()[0], 1, 1});
  }
  ctx.setOutput(0, y);
}

void maxPool(NodeContext &ctx) {
  ctx.checkAttributes({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                       "storage_order", "strides"});
  ctx.checkInputCount(1, 1);
  Value x = ctx.input(0);
  Window w = readWindow(ctx, x, std::nullopt);
  if (w.dilations != Ints{1, 1})
    ctx.fail("dilations other than [1, 1] are not supported");
  checkCeilMode(ctx, x, w);
  ctx.setOutput(0, ir::maxPool2d(x, w.kernel, w.strides, w.pads));
  ctx.unsupportedOutputsFrom(1, "MaxPool's Indices output is not supported");
}

void averagePool(NodeContext &ctx) {
  ctx.checkAttributes({"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape",
                       "pads", "strides"});
  ctx.checkInputCount(1, 1);
  Value x = ctx.input(0);
  Window w = readWindow(ctx, x, std::nullopt);
  if (w.dilations != Ints{1, 1})
    ctx.fail("dilations other than [1, 1] are not supported");
  checkCeilMode(ctx, x, w);
  // chainjit's avg_pool2d divides by the kernel area (padding counts as
  // zeros): ONNX's count_include_pad = 1, the same as 0 without padding.
  if (ctx.intAttr("count_include_pad", 0) == 0 && (w.pads[0] != 0 || w.pads[1] != 0))
    ctx.fail("count_include_pad = 0 with padding is not supported (chainjit's avg_pool2d "
             "divides by the kernel area; export with count_include_pad=True)");
  ctx.setOutput(0, ir::avgPool2d(x, w.kernel, w.strides, w.pads));
}

void globalAveragePool(NodeContext &ctx) {
  ctx.checkAttributes({});
  ctx.checkInputCount(1, 1);
  Value x = ctx.input(0);
  if (x.type().rank() < 3)
    ctx.fail("the input must be [N, C, spatial...], not " + x.type().str());
  Ints axes;
  for (int64_t d = 2; d < x.type().rank(); ++d)
    axes.push_back(d);
  ctx.setOutput(0, ir::mean(x, axes, true));
}

// Inference only: chainjit's batch_norm with the running statistics as
// params that are not trainable, so that the graph is the ONNX node in
// eval mode and trains like PyTorch's BatchNorm in train mode. ONNX's
// momentum weighs the old statistic, chainjit's (PyTorch's) the new one.
void batchNormalization(NodeContext &ctx) {
  ctx.checkAttributes({"epsilon", "momentum", "training_mode", "spatial", "is_test"});
  ctx.checkInputCount(5, 5);
  ctx.requireIntAttr("training_mode", 0, "BatchNormalization is imported for inference");
  ctx.requireIntAttr("spatial", 1, "per-channel statistics only");
  double eps = ctx.floatAttr("epsilon", 1e-5), momentum = ctx.floatAttr("momentum", 0.9);
  Value x = ctx.input(0);
  Value y = ir::batchNorm(x, ctx.input(1), ctx.input(2), ctx.input(3, false),
                          ctx.input(4, false), eps, 1.0 - momentum);
  ctx.setOutput(0, y);
  ctx.unsupportedOutputsFrom(1, "the running statistics outputs exist only in training mode");
}

// Inference: the identity. A training_mode input must be a constant false.
void dropout(NodeContext &ctx) {
  ctx.checkAttributes({"ratio", "seed", "is_test"});
  ctx.checkInputCount(1, 3);
  if (ctx.attribute("is_test") && ctx.intAttr("is_test", 1) == 0)
    ctx.fail("is_test = 0 (training) is not supported: Dropout is imported for inference");
  if (ctx.hasInput(2)) {
    const OnnxConstant *mode = ctx.constantInput(2);
    bool off = mode && mode->shape.empty() &&
               ((mode->isInteger() && mode->ints[0] == 0) ||
                (!mode->isInteger() && mode->floats.numel() == 1 && mode->floats.at(0) == 0.0));
    if (!off)
      ctx.fail("training_mode must be a constant false: Dropout is imported for inference");
  }
  ctx.setOutput(0, ctx.input(0));
  ctx.unsupportedOutputsFrom(1, "Dropout's mask output is not supported");
}

} // namespace

void addNNConverters(ConverterTable &t) {
  t["Conv"] = conv;
  t["MaxPool"] = maxPool;
  t["AveragePool"] = averagePool;
  t["GlobalAveragePool"] = globalAveragePool;
  t["BatchNormalization"] = batchNormalization;
  t["Dropout"] = dropout;
}

} // namespace chainjit::frontends::detail
