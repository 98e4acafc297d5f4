// Reductions over axes, and softmax / log_softmax along one axis.
#include "OpFamilies.h"

#include <algorithm>

namespace chainjit::ir::ops {

static Shape reducedShape(const Shape &s, const Ints &axes, bool keepdims) {
  Shape r;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (!reduced)
      r.push_back(s[d]);
    else if (keepdims)
      r.push_back(1);
  }
  return r;
}

static TensorType reduceRule(std::span<const TensorType> in, const Attrs &a) {
  requireNumeric(in[0], "operand");
  Ints axes = normalizeAxes(a.getInts("axes"), in[0].rank());
  return {in[0].dtype, reducedShape(in[0].shape, axes, a.getBool("keepdims"))};
}

static TensorType meanRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "operand");
  return reduceRule(in, a);
}

static TensorType varianceRule(std::span<const TensorType> in, const Attrs &a) {
  if (a.getInt("correction") < 0)
    throw Error("correction must be non-negative, got " +
                std::to_string(a.getInt("correction")));
  TensorType t = meanRule(in, a);
  // n - correction <= 0 would divide by zero or a negative count: a NaN or a
  // negative variance at run time, so it is an error here (an empty
  // reduction, n = 0, gives NaN as mean does).
  int64_t n = 1;
  for (int64_t ax : normalizeAxes(a.getInts("axes"), in[0].rank()))
    n *= in[0].shape[ax];
  if (n > 0 && n <= a.getInt("correction") && t.numel() > 0)
    throw Error("correction " + std::to_string(a.getInt("correction")) +
                " needs more than " + std::to_string(a.getInt("correction")) +
                " elements per variance, got " + std::to_string(n));
  return t;
}

static TensorType maxRule(std::span<const TensorType> in, const Attrs &a) {
  TensorType t = reduceRule(in, a);
  for (int64_t ax : normalizeAxes(a.getInts("axes"), in[0].rank()))
    if (in[0].shape[ax] == 0)
      throw Error("max over an empty axis " + std::to_string(ax));
  return t;
}

static TensorType argmaxRule(std::span<const TensorType> in, const Attrs &a) {
  requireNumeric(in[0], "operand");
  if (in[0].rank() == 0)
    throw Error("argmax needs rank >= 1");
  int64_t axis = normalizeAxis(a.getInt("axis"), in[0].rank());
  return {DType::i32, reducedShape(in[0].shape, {axis}, a.getBool("keepdims"))};
}

static TensorType softmaxRule(std::span<const TensorType> in, const Attrs &a) {
  requireFloat(in[0], "operand");
  if (in[0].rank() == 0)
    throw Error("needs rank >= 1");
  normalizeAxis(a.getInt("axis"), in[0].rank());
  return in[0];
}

std::vector<OpDef> reduceOps() {
  using F = OpFamily;
  auto reduction = [](OpKind k, TypeRule rule, std::string_view summary) {
    return OpDef{k, F::Reduce, 1, 1, {"x"},
                 {{"axes", AttrKind::Ints, Ints{}},
                  {"keepdims", AttrKind::Bool, false}},
                 rule, summary};
  };
  auto alongAxis = [](OpKind k, TypeRule rule, std::string_view summary) {
    return OpDef{k, F::Reduce, 1, 1, {"x"},
                 {{"axis", AttrKind::Int, int64_t{-1}}}, rule, summary};
  };
  return {
      reduction(OpKind::Sum, reduceRule, "sum over axes (default: all)"),
      reduction(OpKind::Mean, meanRule, "mean over axes (default: all)"),
      {OpKind::Variance, F::Reduce, 1, 1, {"x"},
       {{"axes", AttrKind::Ints, Ints{}},
        {"keepdims", AttrKind::Bool, false},
        {"correction", AttrKind::Int, int64_t{0}}},
       varianceRule,
       "sum((x - mean)^2) / (n - correction) over axes (default: all; correction 1 is the sample variance)"},
      reduction(OpKind::Max, maxRule, "maximum over axes (default: all)"),
      {OpKind::ArgMax, F::Reduce, 1, 1, {"x"},
       {{"axis", AttrKind::Int, int64_t{-1}}, {"keepdims", AttrKind::Bool, false}},
       argmaxRule, "index of the first maximum along an axis, as i32"},
      alongAxis(OpKind::Softmax, softmaxRule, "e^x / sum(e^x) along an axis"),
      alongAxis(OpKind::LogSoftmax, softmaxRule,
                "x - logsumexp(x) along an axis"),
  };
}

} // namespace chainjit::ir::ops
