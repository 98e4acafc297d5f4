// LSTM and GRU as chainjit scans (chainjit/ir/Scan.h): the cell is a
// function of the graph, run over the time axis of X with the hidden state
// (and the LSTM's cell state) as carries and the transposed weights and the
// summed biases as invariants, so the weights stay params that gradients
// reach. Directions forward, reverse (a reverse scan, which stores step t's
// result at t as ONNX does) and bidirectional (one scan each, joined);
// layout 0, the default activations and no peepholes, clipping or
// sequence_lens: anything else is refused.
#include "OnnxNode.h"

#include "chainjit/ir/Scan.h"

#include <memory>
#include <optional>

namespace chainjit::frontends::detail {

namespace {

using ir::Value;

// What LSTM and GRU share: the checked attributes and shapes, and the
// weights as [dirs, gates*H, I] / [dirs, gates*H, H] / [dirs, 2*gates*H].
struct Recurrence {
  int64_t T = 0, B = 0, I = 0, H = 0, dirs = 1;
  bool reverse = false; // direction "reverse" (with dirs == 1)
  ir::DType dtype = ir::DType::f32;
  std::optional<Value> x, w, r;
};

Recurrence readRecurrence(NodeContext &ctx, int64_t gates) {
  std::string direction = ctx.stringAttr("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    ctx.fail("direction = " + direction + " is not an ONNX direction");
  ctx.requireIntAttr("layout", 0, "X is [seq_length, batch_size, input_size]");
  if (ctx.attribute("activations") || ctx.attribute("activation_alpha") ||
      ctx.attribute("activation_beta"))
    ctx.fail("activations other than the defaults are not supported");
  if (ctx.attribute("clip"))
    ctx.fail("the attribute clip is not supported");
  if (ctx.hasInput(4))
    ctx.fail("sequence_lens is not supported (every sequence has the full length)");
  Recurrence rc;
  rc.dirs = direction == "bidirectional" ? 2 : 1;
  rc.reverse = direction == "reverse";
  rc.x = ctx.input(0);
  rc.w = ctx.input(1);
  rc.r = ctx.input(2);
  ir::TensorType xt = rc.x->type(), wt = rc.w->type(), rt = rc.r->type();
  if (xt.rank() != 3 || wt.rank() != 3 || rt.rank() != 3)
    ctx.fail("X, W and R must have rank 3, not " + xt.str() + ", " + wt.str() + ", " + rt.str());
  rc.T = xt.shape[0];
  rc.B = xt.shape[1];
  rc.I = xt.shape[2];
  rc.H = rt.shape[2];
  rc.dtype = xt.dtype;
  int64_t hs = ctx.intAttr("hidden_size", rc.H);
  if (hs != rc.H || wt.shape != ir::Shape{rc.dirs, gates * rc.H, rc.I} ||
      rt.shape != ir::Shape{rc.dirs, gates * rc.H, rc.H})
    ctx.fail("W " + wt.str() + " and R " + rt.str() + " do not fit X " + xt.str() +
             " and hidden_size " + std::to_string(hs));
  if (rc.T == 0)
    ctx.fail("X has no time steps");
  return rc;
}

// Row d of a [dirs, ...] tensor, without its leading axis.
Value direction(Value v, int64_t d) {
  ir::Shape s = v.shape();
  ir::Ints lo(s.size(), 0), hi(s.begin(), s.end());
  lo[0] = d;
  hi[0] = d + 1;
  return ir::reshape(ir::slice(v, lo, hi), ir::Shape(s.begin() + 1, s.end()));
}

// The bias of direction d (input 3, [dirs, 2 * gates * H]) as
// [2 * gates * H], zeros where absent.
Value biasOf(NodeContext &ctx, const Recurrence &rc, int64_t gates, int64_t d) {
  int64_t n = 2 * gates * rc.H;
  if (!ctx.hasInput(3))
    return ir::constant(ctx.graph(), ir::Tensor(ir::TensorType{rc.dtype, {n}}));
  Value b = ctx.input(3);
  if (b.shape() != ir::Shape{rc.dirs, n})
    ctx.fail("B must be [" + std::to_string(rc.dirs) + ", " + std::to_string(n) + "], not " +
             b.type().str());
  return direction(b, d);
}

// The initial state of direction d (an input [dirs, B, H]) as [B, H],
// zeros where absent.
Value initialState(NodeContext &ctx, size_t index, const Recurrence &rc, int64_t d) {
  if (!ctx.hasInput(index))
    return ir::constant(ctx.graph(), ir::Tensor(ir::TensorType{rc.dtype, {rc.B, rc.H}}));
  Value s = ctx.input(index);
  if (s.shape() != ir::Shape{rc.dirs, rc.B, rc.H})
    ctx.fail("input " + std::to_string(index) + " must be [" + std::to_string(rc.dirs) + ", " +
             std::to_string(rc.B) + ", " + std::to_string(rc.H) + "], not " + s.type().str());
  return direction(s, d);
}

// The weight matrix of direction d ([dirs, rows, cols]) transposed to
// [cols, rows].
Value transposed(Value w, int64_t d) { return ir::transpose(direction(w, d), {1, 0}); }

Value columns(Value z, int64_t from, int64_t to) {
  return ir::slice(z, {0, from}, {z.shape()[0], to});
}

// A function name free in the graph's table (one cell per node).
std::string cellName(NodeContext &ctx, const std::string &base) {
  std::string name = base;
  for (int k = 2; ctx.graph().findFunction(name); ++k)
    name = base + "_" + std::to_string(k);
  return name;
}

// ONNX's outputs Y [T, dirs, B, H], Y_h [dirs, B, H] (and Y_c) from each
// direction's scan results: its final states, then its stacked hidden
// states.
void setRecurrentOutputs(NodeContext &ctx, const Recurrence &rc,
                         const std::vector<std::vector<Value>> &perDirection) {
  size_t states = perDirection[0].size() - 1;
  std::vector<Value> ys;
  for (const auto &r : perDirection)
    ys.push_back(ir::reshape(r.back(), {rc.T, 1, rc.B, rc.H}));
  ctx.setOutput(0, ys.size() == 1 ? ys[0] : ir::concat(ys, 1));
  for (size_t i = 0; i < states; ++i) {
    std::vector<Value> finals;
    for (const auto &r : perDirection)
      finals.push_back(ir::reshape(r[i], {1, rc.B, rc.H}));
    ctx.setOutput(1 + i, finals.size() == 1 ? finals[0] : ir::concat(finals, 0));
  }
}

// The directions to run: (row of the weights, reverse).
std::vector<std::pair<int64_t, bool>> directions(const Recurrence &rc) {
  if (rc.dirs == 2)
    return {{0, false}, {1, true}};
  return {{0, rc.reverse}};
}

// i = σ(x Wi + h Ri + b), o, f alike, g = tanh(x Wc + h Rc + b),
// c' = f c + i g, h' = o tanh(c'); ONNX's gate order is i, o, f, c.
void lstm(NodeContext &ctx) {
  ctx.checkAttributes({"activation_alpha", "activation_beta", "activations", "clip",
                       "direction", "hidden_size", "input_forget", "layout"});
  ctx.checkInputCount(3, 8);
  ctx.requireIntAttr("input_forget", 0, "coupled input and forget gates are not supported");
  if (ctx.hasInput(7))
    ctx.fail("peephole weights (input P) are not supported");
  Recurrence rc = readRecurrence(ctx, 4);
  const int64_t H = rc.H;

  ir::Graph body("lstm_cell");
  ir::TensorType state{rc.dtype, {rc.B, H}};
  Value h = ir::input(body, "h", state), c = ir::input(body, "c", state);
  Value x = ir::input(body, "x", ir::TensorType{rc.dtype, {rc.B, rc.I}});
  Value W = ir::input(body, "W", ir::TensorType{rc.dtype, {rc.I, 4 * H}});
  Value R = ir::input(body, "R", ir::TensorType{rc.dtype, {H, 4 * H}});
  Value bb = ir::input(body, "b", ir::TensorType{rc.dtype, {4 * H}});
  Value z = ir::matmul(x, W) + ir::matmul(h, R) + bb;
  Value i = ir::sigmoid(columns(z, 0, H)), o = ir::sigmoid(columns(z, H, 2 * H));
  Value f = ir::sigmoid(columns(z, 2 * H, 3 * H)), g = ir::tanh(columns(z, 3 * H, 4 * H));
  Value cn = (f * c + i * g).named("cn");
  Value hn = (o * ir::tanh(cn)).named("hn");
  ir::output(hn);
  ir::output(cn);
  ir::output(hn * 1.0); // the per-step result, stacked into Y
  auto cell = std::make_shared<const ir::Function>(cellName(ctx, "lstm_cell"), std::move(body));
  std::vector<std::vector<Value>> results;
  for (auto [d, reverse] : directions(rc)) {
    Value b = biasOf(ctx, rc, 4, d);
    Value bias = ir::slice(b, {0}, {4 * H}) + ir::slice(b, {4 * H}, {8 * H});
    results.push_back(ir::scan(cell, {initialState(ctx, 5, rc, d), initialState(ctx, 6, rc, d)},
                               {*rc.x}, {transposed(*rc.w, d), transposed(*rc.r, d), bias},
                               reverse));
  }
  setRecurrentOutputs(ctx, rc, results);
}

// z = σ(x Wz + h Rz + bz), r = σ(x Wr + h Rr + br),
// n = tanh(x Wh + (r h) Rh + bh) or, with linear_before_reset (PyTorch's
// form), tanh(x Wh + Wbh + r (h Rh + Rbh)); h' = (1 − z) n + z h.
// ONNX's gate order is z, r, h.
void gru(NodeContext &ctx) {
  ctx.checkAttributes({"activation_alpha", "activation_beta", "activations", "clip",
                       "direction", "hidden_size", "layout", "linear_before_reset"});
  ctx.checkInputCount(3, 6);
  bool linearBeforeReset = ctx.intAttr("linear_before_reset", 0) != 0;
  Recurrence rc = readRecurrence(ctx, 3);
  const int64_t H = rc.H;

  ir::Graph body("gru_cell");
  Value h = ir::input(body, "h", ir::TensorType{rc.dtype, {rc.B, H}});
  Value x = ir::input(body, "x", ir::TensorType{rc.dtype, {rc.B, rc.I}});
  Value W = ir::input(body, "W", ir::TensorType{rc.dtype, {rc.I, 3 * H}});
  Value R = ir::input(body, "R", ir::TensorType{rc.dtype, {H, 3 * H}});
  Value Wb = ir::input(body, "Wb", ir::TensorType{rc.dtype, {3 * H}});
  Value Rb = ir::input(body, "Rb", ir::TensorType{rc.dtype, {3 * H}});
  Value xw = ir::matmul(x, W) + Wb;
  Value Rzr = ir::slice(R, {0, 0}, {H, 2 * H}), Rh = ir::slice(R, {0, 2 * H}, {H, 3 * H});
  Value hr = ir::matmul(h, Rzr) + ir::slice(Rb, {0}, {2 * H});
  Value zg = ir::sigmoid(columns(xw, 0, H) + columns(hr, 0, H));
  Value rg = ir::sigmoid(columns(xw, H, 2 * H) + columns(hr, H, 2 * H));
  Value Rbh = ir::slice(Rb, {2 * H}, {3 * H});
  Value n = linearBeforeReset
                ? ir::tanh(columns(xw, 2 * H, 3 * H) + rg * (ir::matmul(h, Rh) + Rbh))
                : ir::tanh(columns(xw, 2 * H, 3 * H) + ir::matmul(rg * h, Rh) + Rbh);
  Value hn = ((1.0 - zg) * n + zg * h).named("hn");
  ir::output(hn);
  ir::output(hn * 1.0);
  auto cell = std::make_shared<const ir::Function>(cellName(ctx, "gru_cell"), std::move(body));
  std::vector<std::vector<Value>> results;
  for (auto [d, reverse] : directions(rc)) {
    Value b = biasOf(ctx, rc, 3, d);
    Value wb = ir::slice(b, {0}, {3 * H}), rb = ir::slice(b, {3 * H}, {6 * H});
    results.push_back(ir::scan(cell, {initialState(ctx, 5, rc, d)}, {*rc.x},
                               {transposed(*rc.w, d), transposed(*rc.r, d), wb, rb}, reverse));
  }
  setRecurrentOutputs(ctx, rc, results);
}

} // namespace

void addRecurrentConverters(ConverterTable &t) {
  t["LSTM"] = lstm;
  t["GRU"] = gru;
}

} // namespace chainjit::frontends::detail
