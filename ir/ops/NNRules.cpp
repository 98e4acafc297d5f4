// Derivative rules of the layers. unfold2d (im2col) and fold2d (col2im) are
// linear and each other's adjoint; conv2d and the pools are written with them:
//
//   conv2d:     dy = conv(dx, W) + conv(x, dW)
//               x_bar = fold(W^T y_bar), W_bar = sum over n of y_bar unfold(x)^T
//   max_pool2d: each tap of a window weighs hit / hits (hit: it equals the max)
//               dy = sum over the window of unfold(dx) * weight
//               x_bar = fold(y_bar * weight)
//   avg_pool2d: dy = avg_pool(dx), x_bar = fold(y_bar / (KH*KW)) over every tap
//
// The k directions fold into the batch axis ([k, N, ...] -> [k*N, ...]), so
// each layer op runs once for all of them. Every rule emits only ops with
// rules (reshape, transpose, matmul, sum, mul, div, equal, cast, unfold2d,
// fold2d, conv2d, avg_pool2d), so second derivatives work.
//
// bernoulli masks are constant; dropout and batch_norm have no rules of their
// own: their train and eval expansions (passes expand-train / expand-eval)
// are differentiated instead.
#include "RuleFamilies.h"

#include <limits>

namespace chainjit::ir::rules {

namespace {

// [k, N, ...] -> [k*N, ...]: the directions as extra batch entries.
Value foldDirections(Value v) {
  const Shape s = v.shape();
  Shape t{s[0] * s[1]};
  t.insert(t.end(), s.begin() + 2, s.end());
  return reshape(v, t);
}

// The windows of an unfold2d, fold2d, conv2d or pool.
struct Window {
  Ints kernel, stride, padding, dilation;
};

Window windowOf(const RuleContext &c) { // unfold2d, fold2d
  const Attrs &a = c.attrs();
  return {a.getInts("kernel"), a.getInts("stride"), a.getInts("padding"),
          a.getInts("dilation")};
}
Window convWindow(const RuleContext &c) {
  const Shape w = c.operands[1].shape();
  const Attrs &a = c.attrs();
  return {{w[2], w[3]}, a.getInts("stride"), a.getInts("padding"), a.getInts("dilation")};
}
Window poolWindow(const RuleContext &c) {
  const Attrs &a = c.attrs();
  Ints stride = a.getInts("stride");
  if (stride.empty())
    stride = a.getInts("kernel");
  return {a.getInts("kernel"), stride, a.getInts("padding"), {1, 1}};
}

Value unfoldWith(Value x, const Window &w, double padValue = 0.0) {
  return unfold2d(x, w.kernel, w.stride, w.padding, w.dilation, padValue);
}
// Folds columns back into images of the height and width of `image` (NCHW).
Value foldWith(Value cols, const Shape &image, const Window &w) {
  return fold2d(cols, {image[2], image[3]}, w.kernel, w.stride, w.padding, w.dilation);
}

// --- unfold2d and fold2d: linear, each the other's adjoint ---

MaybeValue unfold2dJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return reshape(unfoldWith(foldDirections(*t[0]), windowOf(c)),
                 directionShape(c.directions, c.node.type.shape));
}
std::vector<MaybeValue> unfold2dVjp(const RuleContext &c, Value adj, Wanted) {
  const Shape x = c.operands[0].shape();
  return {reshape(foldWith(foldDirections(adj), x, windowOf(c)), directionShape(c.directions, x))};
}

MaybeValue fold2dJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  const Shape y = c.node.type.shape;
  return reshape(foldWith(foldDirections(*t[0]), y, windowOf(c)), directionShape(c.directions, y));
}
std::vector<MaybeValue> fold2dVjp(const RuleContext &c, Value adj, Wanted) {
  return {reshape(unfoldWith(foldDirections(adj), windowOf(c)),
                  directionShape(c.directions, c.operands[0].shape()))};
}

// --- conv2d(x [N, C, H, W], W [O, C, KH, KW]) -> y [N, O, OH, OW] ---

MaybeValue conv2dJvp(const RuleContext &c, Tangents t) {
  const Attrs &a = c.attrs();
  const Ints &s = a.getInts("stride"), &p = a.getInts("padding"), &d = a.getInts("dilation");
  const int64_t k = c.directions;
  const Shape y = c.node.type.shape;
  MaybeValue dy;
  if (t[0]) // conv(dx, W), the directions as images
    dy = reshape(conv2d(foldDirections(*t[0]), c.operands[1], s, p, d), directionShape(k, y));
  if (t[1]) { // conv(x, dW), the directions as output channels: [N, k*O, OH, OW]
    Value byW = conv2d(c.operands[0], foldDirections(*t[1]), s, p, d);
    dy = addMaybe(dy, transpose(reshape(byW, {y[0], k, y[1], y[2], y[3]}), {1, 0, 2, 3, 4}));
  }
  return dy;
}

// With cols = unfold(x) [N, CKK, L] and Wm = W as [O, CKK], y = Wm cols:
// x_bar = fold(Wm^T Y) and W_bar = sum over n of Y cols^T, Y = y_bar as
// [k, N, O, L].
std::vector<MaybeValue> conv2dVjp(const RuleContext &c, Value adj, Wanted w) {
  const Shape xs = c.operands[0].shape(), ws = c.operands[1].shape(), y = c.node.type.shape;
  const int64_t k = c.directions, n = xs[0], o = ws[0], ckk = ws[1] * ws[2] * ws[3],
                l = y[2] * y[3];
  const Window win = convWindow(c);
  Value ybar = reshape(adj, {k, n, o, l});
  std::vector<MaybeValue> r(2);
  if (w[0]) {
    Value colsBar = matmul(transpose(reshape(c.operands[1], {o, ckk})), ybar); // [k, N, CKK, L]
    r[0] = reshape(foldWith(reshape(colsBar, {k * n, ckk, l}), xs, win), directionShape(k, xs));
  }
  if (w[1]) {
    Value colsT = transpose(unfoldWith(c.operands[0], win), {0, 2, 1}); // [N, L, CKK]
    r[1] = reshape(sum(matmul(ybar, colsT), {1}), directionShape(k, ws));        // [k, O, CKK]
  }
  return r;
}

// --- max_pool2d: the windows of every plane as columns [N*C, KH*KW, L] ---

// Each tap's share of the derivative of its window's max: 1 / (number of
// maximal taps) where the tap is maximal, else 0. The padding reads -inf, so
// it is never maximal (every window holds a real element).
Value maxPoolWeights(const RuleContext &c, const Window &win) {
  const Shape xs = c.operands[0].shape(), y = c.node.type.shape;
  const int64_t nc = xs[0] * xs[1];
  Value planes = reshape(c.operands[0], {nc, 1, xs[2], xs[3]});
  Value cols = unfoldWith(planes, win, -std::numeric_limits<double>::infinity());
  Value hits = cast(equal(cols, reshape(c.result, {nc, 1, y[2] * y[3]})), c.result.dtype());
  return hits / sum(hits, {1}, /*keepdims=*/true);
}

MaybeValue maxPool2dJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  const Shape xs = c.operands[0].shape(), y = c.node.type.shape;
  const int64_t k = c.directions, nc = xs[0] * xs[1];
  const Window win = poolWindow(c);
  Value taps = unfoldWith(reshape(*t[0], {k * nc, 1, xs[2], xs[3]}), win);
  taps = reshape(taps, {k, nc, win.kernel[0] * win.kernel[1], y[2] * y[3]});
  return reshape(sum(taps * maxPoolWeights(c, win), {2}), directionShape(k, y));
}
std::vector<MaybeValue> maxPool2dVjp(const RuleContext &c, Value adj, Wanted) {
  const Shape xs = c.operands[0].shape(), y = c.node.type.shape;
  const int64_t k = c.directions, nc = xs[0] * xs[1], l = y[2] * y[3];
  const Window win = poolWindow(c);
  Value shares = reshape(adj, {k, nc, 1, l}) * maxPoolWeights(c, win); // [k, N*C, KK, L]
  Value cols = reshape(shares, {k * nc, win.kernel[0] * win.kernel[1], l});
  return {reshape(foldWith(cols, xs, win), directionShape(k, xs))};
}

// --- avg_pool2d: linear; every tap (padding included) weighs 1 / (KH*KW) ---

MaybeValue avgPool2dJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  const Attrs &a = c.attrs();
  return reshape(avgPool2d(foldDirections(*t[0]), a.getInts("kernel"), a.getInts("stride"),
                           a.getInts("padding")),
                 directionShape(c.directions, c.node.type.shape));
}
std::vector<MaybeValue> avgPool2dVjp(const RuleContext &c, Value adj, Wanted) {
  const Shape xs = c.operands[0].shape(), y = c.node.type.shape;
  const int64_t k = c.directions, l = y[2] * y[3];
  const Window win = poolWindow(c);
  const int64_t area = win.kernel[0] * win.kernel[1];
  const int64_t planes = k * xs[0] * xs[1];
  Value share = reshape(adj, {planes, 1, l}) / double(area);
  Value cols = broadcastTo(share, {planes, area, l});
  return {reshape(foldWith(cols, xs, win), directionShape(k, xs))};
}

// --- layer_norm: y = xhat * scale + shift, xhat = (x - m) r over the axes
// [axis, rank), r = (var + eps)^(-1/2) ---
//
//   dxhat = r (dx - mean(dx) - xhat mean(xhat dx)),  dy = dxhat scale + xhat dscale + dshift
//   g = y_bar scale:  x_bar = r (g - mean(g) - xhat mean(g xhat)),
//   scale_bar = sum over the leading axes of y_bar xhat, shift_bar = sum of y_bar.
//
// xhat comes from a layer_norm without scale and shift (the result itself when
// there are none) and r from the variance op: both kernels centre each row
// before squaring, so the rules are as accurate in f32 as the forward pass
// (x - mean(x) in f32 would lose the digits of rows like 1e4 + noise). Every
// op used has rules (layer_norm, variance, pow, mean, sum, mul, sub).
struct LayerNormParts {
  int64_t axis;  // first normalized primal axis
  Ints normalized, leading; // primal axes
  Value xhat, rstd;
};
LayerNormParts layerNormParts(const RuleContext &c) {
  const Value x = c.operands[0];
  const int64_t rank = x.type().rank();
  const double eps = c.attrs().getFloat("eps");
  LayerNormParts p{c.attrs().getInt("axis"), {}, {}, c.result, c.result};
  if (p.axis < 0)
    p.axis += rank;
  for (int64_t d = 0; d < rank; ++d)
    (d < p.axis ? p.leading : p.normalized).push_back(d);
  if (c.operands.size() > 1)
    p.xhat = layerNorm(x, std::nullopt, std::nullopt, p.axis, eps);
  p.rstd = pow(variance(x, p.normalized, /*keepdims=*/true) + eps, -0.5);
  return p;
}
// r (d - mean(d) - xhat mean(xhat d)) for a direction value d [k, ...x].
Value layerNormBackProject(const LayerNormParts &p, Value d) {
  const int64_t rank = static_cast<int64_t>(p.normalized.size() + p.leading.size());
  const Ints axes = shiftAxes(p.normalized, rank);
  return p.rstd * (d - mean(d, axes, true) - p.xhat * mean(p.xhat * d, axes, true));
}
// Sums a direction value [k, ...x] over the leading (batch) axes.
Value sumLeading(const LayerNormParts &p, Value d) {
  const int64_t rank = static_cast<int64_t>(p.normalized.size() + p.leading.size());
  return p.leading.empty() ? d : sum(d, shiftAxes(p.leading, rank));
}

MaybeValue layerNormJvp(const RuleContext &c, Tangents t) {
  if (!t[0] && !(t.size() > 1 && t[1]) && !(t.size() > 2 && t[2]))
    return std::nullopt;
  const LayerNormParts p = layerNormParts(c);
  const int64_t rank = c.node.type.rank();
  MaybeValue dy;
  if (t[0]) {
    Value dxhat = layerNormBackProject(p, *t[0]);
    dy = c.operands.size() > 1 ? dxhat * c.operands[1] : dxhat;
  }
  if (t.size() > 1 && t[1])
    dy = addMaybe(dy, p.xhat * alignDirections(*t[1], rank));
  if (t.size() > 2 && t[2])
    dy = addMaybe(dy, alignDirections(*t[2], rank));
  return fitToResult(c, *dy);
}
std::vector<MaybeValue> layerNormVjp(const RuleContext &c, Value adj, Wanted w) {
  const LayerNormParts p = layerNormParts(c);
  std::vector<MaybeValue> r(c.operands.size());
  if (w[0])
    r[0] = layerNormBackProject(p, c.operands.size() > 1 ? adj * c.operands[1] : adj);
  if (c.operands.size() > 1 && w[1])
    r[1] = sumLeading(p, adj * p.xhat);
  if (c.operands.size() > 2 && w[2])
    r[2] = sumLeading(p, adj);
  return r;
}

MaybeValue noJvp(const RuleContext &, Tangents) { return std::nullopt; }
std::vector<MaybeValue> noVjp(const RuleContext &, Value, Wanted) { return {std::nullopt}; }

} // namespace

std::vector<DerivativeRules> nnRules() {
  return {
      {OpKind::Conv2d, conv2dJvp, conv2dVjp},
      {OpKind::LayerNorm, layerNormJvp, layerNormVjp},
      {OpKind::MaxPool2d, maxPool2dJvp, maxPool2dVjp, {}, false,
       "at ties the derivative is shared equally by the maximal elements of a window; "
       "the padding never receives any"},
      {OpKind::AvgPool2d, avgPool2dJvp, avgPool2dVjp, {}, false,
       "padded positions count as zeros: their share of the derivative is dropped"},
      {OpKind::Unfold2d, unfold2dJvp, unfold2dVjp, {}, false,
       "pad_value is a constant: no derivative flows into it"},
      {OpKind::Fold2d, fold2dJvp, fold2dVjp, {}, false,
       "columns read from the padding are dropped: their derivative is zero"},
      {OpKind::Bernoulli, noJvp, noVjp, {false}, true, "a random mask: no derivative"},
      {OpKind::Dropout, nullptr, nullptr, {true, false}, false,
       "expanded by mode before differentiation"},
      {OpKind::BatchNorm, nullptr, nullptr, {}, false,
       "expanded by mode before differentiation"},
  };
}

} // namespace chainjit::ir::rules
