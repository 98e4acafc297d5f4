// Derivative rules of the layers. conv2d's two adjoints are ops of their own
// (conv_transpose2d, conv2d_weight_grad), like PyTorch's convolution
// backward, so that the compiler can run them as direct kernels; each of the
// three is linear in each operand and their rules are written with each
// other. unfold2d (im2col) and fold2d (col2im) are linear and each other's
// adjoint; the pools are written with them:
//
//   conv2d:      dy = conv(dx, W) + conv(x, dW)
//                x_bar = conv_transpose(y_bar, W), W_bar = weight_grad(x, y_bar)
//   conv_transpose2d: x = CT(y, W): dx = CT(dy, W) + CT(y, dW)
//                y_bar = conv(x_bar, W), W_bar = weight_grad(x_bar, y)
//   conv2d_weight_grad: r = WG(x, g): dr = WG(dx, g) + WG(x, dg)
//                x_bar = CT(g, r_bar), g_bar = conv(x, r_bar)
//   max_pool2d:  each tap of a window weighs hit / hits (hit: it equals the max)
//                dy = sum over the window of unfold(dx) * weight
//                x_bar = max_pool2d_grad(x, y_bar), fold(y_bar * weight) as one op
//   max_pool2d_grad: r = MG(x, g): dr = MG(x, dg), g_bar = the shares of r_bar
//   avg_pool2d:  dy = avg_pool(dx), x_bar = fold(y_bar / (KH*KW)) over every tap
//
// The k directions fold into the batch axis ([k, N, ...] -> [k*N, ...]) or,
// where the batch is summed over (a weight), into a channel axis, so each
// layer op runs once for all of them. Every rule emits only ops with rules
// (reshape, transpose, broadcast_to, sum, mul, div, equal, cast, unfold2d,
// fold2d, the three convolutions, the pools and max_pool2d_grad), so second
// derivatives work.
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

Window windowOf(const RuleContext &c) { // unfold2d, fold2d, conv2d_weight_grad
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

// The adjoints of conv2d are ops of their own (PyTorch's convolution
// backward): x_bar = conv_transpose2d(y_bar, W), W_bar =
// conv2d_weight_grad(x, y_bar). The output_padding makes the transposed
// convolution's result exactly x's height and width.
Ints outputPadding(const Shape &image, const Shape &windows, const Window &w) {
  Ints op(2);
  for (int i = 0; i < 2; ++i)
    op[i] = image[2 + i] + 2 * w.padding[i] - w.dilation[i] * (w.kernel[i] - 1) - 1 -
            (windows[2 + i] - 1) * w.stride[i];
  return op;
}
// conv_transpose2d of windows [.., O, OH, OW] by weight [O, C, KH, KW] back
// onto images of `image`'s height and width.
Value transposeWith(Value windows, Value weight, const Shape &image, const Window &w) {
  return convTranspose2d(windows, weight, w.stride, w.padding, w.dilation,
                         outputPadding(image, windows.shape(), w));
}
Value weightGradWith(Value x, Value windows, const Window &w) {
  return conv2dWeightGrad(x, windows, w.kernel, w.stride, w.padding, w.dilation);
}
Value convWith(Value x, Value weight, const Window &w) {
  return conv2d(x, weight, w.stride, w.padding, w.dilation);
}

// Directions and channels. A layer op takes one batch and one channel
// axis; k directions [k, A, B, ...] either fold into the batch (
// foldDirections) or into axis 1 of a primal [A, B, ...]: intoChannels
// makes [A, k*B, ...], fromChannels turns [A, k*B, ...] back into [k, A,
// B, ...].
Value intoChannels(Value dirs) {
  Shape s = dirs.shape(); // [k, A, B, ...]
  const int64_t k = s[0];
  Ints perm{1, 0};
  for (size_t i = 2; i < s.size(); ++i)
    perm.push_back(int64_t(i));
  Shape t{s[1], k * s[2]};
  t.insert(t.end(), s.begin() + 3, s.end());
  return reshape(transpose(dirs, perm), t);
}
Value fromChannels(Value v, int64_t k) {
  Shape s = v.shape(); // [A, k*B, ...]
  Shape t{s[0], k, s[1] / k};
  t.insert(t.end(), s.begin() + 2, s.end());
  Ints perm{1, 0};
  for (size_t i = 2; i < t.size(); ++i)
    perm.push_back(int64_t(i));
  return transpose(reshape(v, t), perm);
}
// [k*A, ...] -> [k, A, ...].
Value splitDirections(Value v, int64_t k) {
  Shape s = v.shape();
  s[0] /= k;
  s.insert(s.begin(), k);
  return reshape(v, s);
}

// --- conv2d(x [N, C, H, W], W [O, C, KH, KW]) -> y [N, O, OH, OW] ---

MaybeValue conv2dJvp(const RuleContext &c, Tangents t) {
  const Window win = convWindow(c);
  const int64_t k = c.directions;
  const Shape y = c.node.type.shape;
  MaybeValue dy;
  if (t[0]) // conv(dx, W), the directions as images
    dy = reshape(convWith(foldDirections(*t[0]), c.operands[1], win), directionShape(k, y));
  if (t[1]) { // conv(x, dW), the directions as output channels: [N, k*O, OH, OW]
    Value byW = convWith(c.operands[0], foldDirections(*t[1]), win);
    dy = addMaybe(dy, fromChannels(byW, k));
  }
  return dy;
}

std::vector<MaybeValue> conv2dVjp(const RuleContext &c, Value adj, Wanted w) {
  const Shape xs = c.operands[0].shape();
  const int64_t k = c.directions;
  const Window win = convWindow(c);
  std::vector<MaybeValue> r(2);
  if (w[0]) // the directions as images
    r[0] = splitDirections(transposeWith(foldDirections(adj), c.operands[1], xs, win), k);
  if (w[1]) // the directions as output channels: [N, k*O, OH, OW] -> [k*O, C, KH, KW]
    r[1] = splitDirections(weightGradWith(c.operands[0], intoChannels(adj), win), k);
  return r;
}

// --- conv_transpose2d(y [N, O, OH, OW], W [O, C, KH, KW]) -> x [N, C, H, W] ---
// Linear in each operand: dx = CT(dy, W) + CT(y, dW); with A = x_bar,
// y_bar = conv2d(A, W) and W_bar = conv2d_weight_grad(A, y).

MaybeValue convTranspose2dJvp(const RuleContext &c, Tangents t) {
  const Shape x = c.node.type.shape;
  const int64_t k = c.directions;
  const Window win = convWindow(c);
  MaybeValue dx;
  if (t[0])
    dx = splitDirections(transposeWith(foldDirections(*t[0]), c.operands[1], x, win), k);
  if (t[1]) // dW's directions as result channels: W [O, k*C, KH, KW] -> [N, k*C, H, W]
    dx = addMaybe(dx,
                  fromChannels(transposeWith(c.operands[0], intoChannels(*t[1]), x, win), k));
  return dx;
}
std::vector<MaybeValue> convTranspose2dVjp(const RuleContext &c, Value adj, Wanted w) {
  const int64_t k = c.directions;
  const Window win = convWindow(c);
  std::vector<MaybeValue> r(2);
  if (w[0])
    r[0] = splitDirections(convWith(foldDirections(adj), c.operands[1], win), k);
  if (w[1]) // A's directions as input channels: [O, k*C, KH, KW]
    r[1] = fromChannels(weightGradWith(intoChannels(adj), c.operands[0], win), k);
  return r;
}

// --- conv2d_weight_grad(x [N, C, H, W], g [N, O, OH, OW]) -> [O, C, KH, KW] ---
// Linear in each operand: d = WG(dx, g) + WG(x, dg); with A = the adjoint
// [O, C, KH, KW], x_bar = CT(g, A) and g_bar = conv2d(x, A).

MaybeValue conv2dWeightGradJvp(const RuleContext &c, Tangents t) {
  const int64_t k = c.directions;
  const Window win = windowOf(c);
  MaybeValue d;
  if (t[0]) // dx's directions as input channels: [O, k*C, KH, KW]
    d = fromChannels(weightGradWith(intoChannels(*t[0]), c.operands[1], win), k);
  if (t[1]) // dg's directions as output channels: [k*O, C, KH, KW]
    d = addMaybe(d, splitDirections(weightGradWith(c.operands[0], intoChannels(*t[1]), win), k));
  return d;
}
std::vector<MaybeValue> conv2dWeightGradVjp(const RuleContext &c, Value adj, Wanted w) {
  const Shape xs = c.operands[0].shape();
  const int64_t k = c.directions;
  const Window win = windowOf(c);
  std::vector<MaybeValue> r(2);
  if (w[0]) // A's directions as result channels: weight [O, k*C, KH, KW]
    r[0] = fromChannels(transposeWith(c.operands[1], intoChannels(adj), xs, win), k);
  if (w[1]) // A's directions as output channels: conv2d(x, [k*O, C, KH, KW])
    r[1] = fromChannels(convWith(c.operands[0], foldDirections(adj), win), k);
  return r;
}

// --- max_pool2d: the windows of every plane as columns [N*C, KH*KW, L] ---

// Each tap's share of the derivative of its window's max: 1 / (number of
// maximal taps) where the tap is maximal, else 0. The padding reads -inf, so
// it is never maximal (every window holds a real element). x is the pool's
// input [N, C, H, W], y its result.
Value maxPoolWeights(Value x, Value y, const Window &win) {
  const Shape xs = x.shape(), ys = y.shape();
  const int64_t nc = xs[0] * xs[1];
  Value planes = reshape(x, {nc, 1, xs[2], xs[3]});
  Value cols = unfoldWith(planes, win, -std::numeric_limits<double>::infinity());
  Value hits = cast(equal(cols, reshape(y, {nc, 1, ys[2] * ys[3]})), y.dtype());
  return hits / sum(hits, {1}, /*keepdims=*/true);
}
// Directions dirs [k, N, C, H, W] pooled by the max's shares: each window's
// sum of its taps weighted as maxPoolWeights -> [k, N, C, OH, OW].
Value sharesOfMax(Value x, Value y, Value dirs, const Window &win, int64_t k) {
  const Shape xs = x.shape(), ys = y.shape();
  const int64_t nc = xs[0] * xs[1];
  Value taps = unfoldWith(reshape(dirs, {k * nc, 1, xs[2], xs[3]}), win);
  taps = reshape(taps, {k, nc, win.kernel[0] * win.kernel[1], ys[2] * ys[3]});
  return reshape(sum(taps * maxPoolWeights(x, y, win), {2}), directionShape(k, ys));
}

// max_pool2d: dy = the shares of dx; x_bar = max_pool2d_grad(x, y_bar), an
// op of its own so that the compiler runs it as one pass (the shares as
// unfold, compare, sum, divide and fold were a fifth of a CNN's step).
MaybeValue maxPool2dJvp(const RuleContext &c, Tangents t) {
  if (!t[0])
    return std::nullopt;
  return sharesOfMax(c.operands[0], c.result, *t[0], poolWindow(c), c.directions);
}
std::vector<MaybeValue> maxPool2dVjp(const RuleContext &c, Value adj, Wanted) {
  const Attrs &a = c.attrs(); // as they are (a default stride stays []), so that
  const int64_t k = c.directions; // a max_pool2d rebuilt from them is the same node
  Value x = foldDirections(repeatDirections(c.operands[0], k)); // [k*N, C, H, W]
  return {splitDirections(maxPool2dGrad(x, foldDirections(adj), a.getInts("kernel"),
                                        a.getInts("stride"), a.getInts("padding")),
                          k)};
}

// max_pool2d_grad(x, g): linear in g, piecewise constant in x (the shares
// change only where a window's maximum moves): dr = max_pool2d_grad(x, dg),
// g_bar = the shares of r_bar.
MaybeValue maxPool2dGradJvp(const RuleContext &c, Tangents t) {
  if (!t[1])
    return std::nullopt;
  const Window win = poolWindow(c);
  const int64_t k = c.directions;
  Value x = foldDirections(repeatDirections(c.operands[0], k));
  return splitDirections(
      maxPool2dGrad(x, foldDirections(*t[1]), win.kernel, win.stride, win.padding), k);
}
std::vector<MaybeValue> maxPool2dGradVjp(const RuleContext &c, Value adj, Wanted) {
  const Window win = poolWindow(c);
  Value y = maxPool2d(c.operands[0], win.kernel, win.stride, win.padding);
  return {std::nullopt, sharesOfMax(c.operands[0], y, adj, win, c.directions)};
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
      {OpKind::ConvTranspose2d, convTranspose2dJvp, convTranspose2dVjp},
      {OpKind::Conv2dWeightGrad, conv2dWeightGradJvp, conv2dWeightGradVjp},
      {OpKind::LayerNorm, layerNormJvp, layerNormVjp},
      {OpKind::MaxPool2d, maxPool2dJvp, maxPool2dVjp, {}, false,
       "at ties the derivative is shared equally by the maximal elements of a window; "
       "the padding never receives any"},
      {OpKind::MaxPool2dGrad, maxPool2dGradJvp, maxPool2dGradVjp, {false, true}, false,
       "piecewise constant in the input (the shares move only where a window's maximum "
       "does): no derivative flows into it"},
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
