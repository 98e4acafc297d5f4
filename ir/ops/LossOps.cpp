// Losses, each reduced to a scalar by the mean over the batch.
#include "OpFamilies.h"

namespace chainjit::ir::ops {

// cross_entropy(logits [N, C], target): target is i32 class labels [N] or
// probabilities [N, C] of the logits' dtype.
static TensorType crossEntropyRule(std::span<const TensorType> in,
                                   const Attrs &) {
  requireFloat(in[0], "logits");
  requireRank(in[0], 2, "logits");
  const TensorType &t = in[1];
  // A float vector of one value per row is class labels read as floats (a
  // CSV loaded as f32): say what to write instead of "wrong shape".
  if (isFloat(t.dtype) && t.shape == Shape{in[0].shape[0]})
    throw Error("class labels must be i32, got " + t.str() + " (declare them i32[" +
                std::to_string(in[0].shape[0]) +
                "], or convert them with cast(%labels) {dtype = i32}); a float target "
                "is probabilities, shaped like the logits " +
                shapeStr(in[0].shape));
  if (t.dtype == DType::i32) {
    if (t.shape != Shape{in[0].shape[0]})
      throw Error("labels must be i32[" + std::to_string(in[0].shape[0]) +
                  "] for logits " + in[0].str() + ", got " + t.str());
  } else if (t.dtype == in[0].dtype) {
    if (t.shape != in[0].shape)
      throw Error("probability targets must have the logits' shape " +
                  shapeStr(in[0].shape) + ", got " + t.str());
  } else {
    throw Error("target must be i32 labels or " +
                std::string(dtypeName(in[0].dtype)) +
                " probabilities, got " + t.str());
  }
  return {in[0].dtype, {}};
}

static TensorType mseRule(std::span<const TensorType> in, const Attrs &) {
  requireFloat(in[0], "prediction");
  if (in[0] != in[1])
    throw Error("prediction " + in[0].str() + " and target " + in[1].str() +
                " must have the same type");
  return {in[0].dtype, {}};
}

std::vector<OpDef> lossOps() {
  using F = OpFamily;
  return {
      {OpKind::CrossEntropy, F::Loss, 2, 2, {"logits", "target"}, {},
       crossEntropyRule,
       "mean over rows of -sum(target * log_softmax(logits)); labels or probabilities"},
      {OpKind::Mse, F::Loss, 2, 2, {"prediction", "target"}, {}, mseRule,
       "mean of (prediction - target)^2"},
  };
}

} // namespace chainjit::ir::ops
