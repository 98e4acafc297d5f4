#include "chainjit/nn/Recurrent.h"

#include "Checks.h"

#include "chainjit/ir/Scan.h"

#include <cmath>
#include <memory>

namespace chainjit::nn {

using namespace ir;

static const char *layerName(RecurrentKind k) {
  switch (k) {
  case RecurrentKind::RnnTanh:
  case RecurrentKind::RnnRelu:
    return "nn.RNN";
  case RecurrentKind::Lstm:
    return "nn.LSTM";
  case RecurrentKind::Gru:
    return "nn.GRU";
  }
  return "nn.Recurrent";
}

static int64_t gatesOf(RecurrentKind k) {
  return k == RecurrentKind::Lstm ? 4 : k == RecurrentKind::Gru ? 3 : 1;
}

static const char *cellPrefix(RecurrentKind k) {
  switch (k) {
  case RecurrentKind::RnnTanh:
    return "rnn_tanh";
  case RecurrentKind::RnnRelu:
    return "rnn_relu";
  case RecurrentKind::Lstm:
    return "lstm";
  case RecurrentKind::Gru:
    return "gru";
  }
  return "cell";
}

int64_t Recurrent::gates() const { return gatesOf(kind); }

// Columns [k*H, (k+1)*H) of a [N, G*H] value: gate k.
static Value gate(Value z, int64_t k, int64_t hidden) {
  int64_t n = z.shape()[0];
  return slice(z, {0, k * hidden}, {n, (k + 1) * hidden});
}

Function recurrentCell(RecurrentKind kind, int64_t batch, int64_t hidden, bool gruBias,
                       DType dtype) {
  const int64_t G = gatesOf(kind);
  std::string name = std::string(cellPrefix(kind)) + "_cell_" + std::string(dtypeName(dtype)) + "_n" +
                     std::to_string(batch) + "_h" + std::to_string(hidden);
  bool withBias = kind == RecurrentKind::Gru && gruBias;
  if (kind == RecurrentKind::Gru && !gruBias)
    name += "_nobias";
  Graph body(name);
  Value h = input(body, "h", {dtype, {batch, hidden}});
  std::optional<Value> c;
  if (kind == RecurrentKind::Lstm)
    c = input(body, "c", {dtype, {batch, hidden}});
  Value p = input(body, "p", {dtype, {batch, G * hidden}});
  Value U = input(body, "U", {dtype, {hidden, G * hidden}});
  std::optional<Value> b;
  if (withBias)
    b = input(body, "b", {dtype, {G * hidden}});
  Value hu = matmul(h, U);
  if (b)
    hu = hu + *b;
  switch (kind) {
  case RecurrentKind::RnnTanh:
  case RecurrentKind::RnnRelu: {
    Value z = p + hu;
    Value hn = (kind == RecurrentKind::RnnTanh ? tanh(z) : relu(z)).named("hn");
    output(hn);
    output(hn);
    break;
  }
  case RecurrentKind::Lstm: {
    Value z = p + hu;
    Value i = sigmoid(gate(z, 0, hidden)), f = sigmoid(gate(z, 1, hidden));
    Value g = tanh(gate(z, 2, hidden)), o = sigmoid(gate(z, 3, hidden));
    Value cn = (f * *c + i * g).named("cn");
    Value hn = (o * tanh(cn)).named("hn");
    output(hn);
    output(cn);
    output(hn);
    break;
  }
  case RecurrentKind::Gru: {
    Value r = sigmoid(gate(p, 0, hidden) + gate(hu, 0, hidden));
    Value z = sigmoid(gate(p, 1, hidden) + gate(hu, 1, hidden));
    Value n = tanh(gate(p, 2, hidden) + r * gate(hu, 2, hidden));
    Value hn = (n + z * (h - n)).named("hn"); // (1 - z) n + z h
    output(hn);
    output(hn);
    break;
  }
  }
  return Function(name, std::move(body));
}

Recurrent::Recurrent(Graph &g, const std::string &prefix_, RecurrentKind kind_,
                     const RecurrentOptions &options_)
    : prefix(prefix_), kind(kind_), options(options_) {
  const char *layer = layerName(kind);
  detail::checkPositive(layer, prefix, "inputSize", options.inputSize);
  detail::checkPositive(layer, prefix, "hiddenSize", options.hiddenSize);
  detail::checkPositive(layer, prefix, "numLayers", options.numLayers);
  const int64_t H = options.hiddenSize, G = gates(), D = options.bidirectional ? 2 : 1;
  const Init init = uniformInit(1.0 / std::sqrt(double(H)));
  for (int64_t l = 0; l < options.numLayers; ++l)
    for (int64_t d = 0; d < D; ++d) {
      std::string suffix = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      int64_t in = l == 0 ? options.inputSize : D * H;
      DType t = options.dtype;
      RecurrentWeights w{makeParam(g, prefix, "weight_ih" + suffix, {t, {G * H, in}}, init),
                         makeParam(g, prefix, "weight_hh" + suffix, {t, {G * H, H}}, init),
                         {},
                         {}};
      if (options.bias) {
        w.biasIh = makeParam(g, prefix, "bias_ih" + suffix, {t, {G * H}}, init);
        w.biasHh = makeParam(g, prefix, "bias_hh" + suffix, {t, {G * H}}, init);
      }
      weights.push_back(std::move(w));
    }
}

// State `k` of a [L*D, N, H] initial state, as [N, H].
static Value stateAt(Value s, int64_t k) {
  Shape sh = s.shape();
  return reshape(slice(s, {k, 0, 0}, {k + 1, sh[1], sh[2]}), {sh[1], sh[2]});
}

RecurrentOutput Recurrent::operator()(Value x, std::optional<Value> h0,
                                      std::optional<Value> c0) const {
  const char *layer = layerName(kind);
  const int64_t H = options.hiddenSize, G = gates(), D = options.bidirectional ? 2 : 1;
  const int64_t L = options.numLayers;
  detail::checkRank(layer, prefix, x, 3, "input",
                    options.batchFirst ? "[N, T, inputSize]" : "[T, N, inputSize]");
  detail::checkDType(layer, prefix, x, options.dtype);
  detail::checkLastAxis(layer, prefix, x, options.inputSize);
  if (x.shape()[0] == 0 || x.shape()[1] == 0)
    detail::fail(layer, prefix, "input " + x.type().str() + " has no steps or no sequences");
  if (options.batchFirst)
    x = transpose(x, {1, 0, 2});
  const int64_t T = x.shape()[0], N = x.shape()[1];
  Graph &g = x.graph();
  const TensorType stateType{options.dtype, {L * D, N, H}};
  auto checkState = [&](const std::optional<Value> &s, const char *what) {
    if (s && s->type() != stateType)
      detail::fail(layer, prefix, std::string(what) + " " + s->type().str() + " should be " +
                                      stateType.str() + " ([layers * directions, N, H])");
  };
  checkState(h0, "h0");
  checkState(c0, "c0");
  if (c0 && kind != RecurrentKind::Lstm)
    detail::fail(layer, prefix, "only an LSTM takes c0");
  // The zero state, made once if any state is left out.
  std::optional<Value> zeros;
  auto initial = [&](const std::optional<Value> &given, int64_t k) {
    if (given)
      return stateAt(*given, k);
    if (!zeros)
      zeros = constant(g, Tensor({options.dtype, {N, H}}));
    return *zeros;
  };

  auto cell = std::make_shared<const Function>(
      recurrentCell(kind, N, H, options.bias, options.dtype));
  std::vector<Value> hn, cn;
  Value in = x;
  for (int64_t l = 0; l < L; ++l) {
    std::vector<Value> ys;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = l * D + d;
      const RecurrentWeights &w = weights[k];
      int64_t inSize = in.shape()[2];
      // The input projection of every step at once: [T*N, in] x [in, G*H].
      Value p = matmul(reshape(in, {T * N, inSize}), transpose(w.weightIh));
      std::vector<Value> invariants{transpose(w.weightHh)};
      if (options.bias) {
        if (kind == RecurrentKind::Gru) {
          p = p + *w.biasIh;
          invariants.push_back(*w.biasHh);
        } else {
          p = p + (*w.biasIh + *w.biasHh);
        }
      }
      p = reshape(p, {T, N, G * H});
      std::vector<Value> carries{initial(h0, k)};
      if (kind == RecurrentKind::Lstm)
        carries.push_back(initial(c0, k));
      std::vector<Value> r = scan(cell, carries, {p}, invariants, d == 1);
      hn.push_back(reshape(r[0], {1, N, H}));
      if (kind == RecurrentKind::Lstm)
        cn.push_back(reshape(r[1], {1, N, H}));
      ys.push_back(r.back());
    }
    in = D == 1 ? ys[0] : concat(ys, 2);
  }
  Value outputs = options.batchFirst ? transpose(in, {1, 0, 2}) : in;
  Value last = reshape(slice(in, {T - 1, 0, 0}, {T, N, D * H}), {N, D * H});
  RecurrentOutput out{outputs, last, hn.size() == 1 ? hn[0] : concat(hn, 0), {}};
  if (kind == RecurrentKind::Lstm)
    out.cn = cn.size() == 1 ? cn[0] : concat(cn, 0);
  return out;
}

} // namespace chainjit::nn
