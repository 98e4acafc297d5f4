// Autoregressive sampling from a token model. See SequenceSampling.h.
#include "chainjit/runtime/SequenceSampling.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/CounterRng.h"
#include "chainjit/ir/Error.h"
#include "chainjit/runtime/train/ModelGraphs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace chainjit::runtime {

using ir::DType;
using ir::Graph;
using ir::NodeId;
using ir::TensorType;

namespace {

// Generous bounds that keep a typo (a count of 10^12) from running for days.
constexpr int64_t kMaxCount = 1'000'000;
constexpr int64_t kMaxLength = 100'000;

std::string stripPercent(const std::string &name) {
  return !name.empty() && name[0] == '%' ? name.substr(1) : name;
}

bool isFloatType(DType d) { return d == DType::f32 || d == DType::f64; }

// [B * T, V] or [B, T, V]: V, else 0.
int64_t logitsVocab(const TensorType &t, int64_t batch, int64_t context) {
  if (!isFloatType(t.dtype))
    return 0;
  if (t.rank() == 2 && t.shape[0] == batch * context)
    return t.shape[1];
  if (t.rank() == 3 && t.shape[0] == batch && t.shape[1] == context)
    return t.shape[2];
  return 0;
}

} // namespace

TokenModelSignature inspectTokenModel(const Graph &model, const std::string &tokens,
                                      const std::string &logits) {
  TokenModelSignature sig;
  auto isTokens = [&](NodeId id) {
    const TensorType &t = model.type(id);
    return t.dtype == DType::i32 && t.rank() == 2 && t.shape[0] >= 1 && t.shape[1] >= 1;
  };
  std::optional<NodeId> tok;
  if (!tokens.empty()) {
    std::string name = stripPercent(tokens);
    tok = model.find(name);
    if (!tok || model.node(*tok).kind != ir::OpKind::Input || !isTokens(*tok))
      throw Error("model '" + model.name() + "' has no input %" + name +
                  " : i32[B, T] (the tokens)");
  } else {
    for (NodeId id : model.inputs())
      if (isTokens(id)) {
        tok = id;
        break;
      }
    if (!tok)
      throw Error("model '" + model.name() +
                  "' has no i32[B, T] input for the tokens (a batch of B windows of T tokens)");
  }
  sig.tokens = model.node(*tok).name;
  sig.batch = model.type(*tok).shape[0];
  sig.context = model.type(*tok).shape[1];
  std::string shapes = "float [" + std::to_string(sig.batch * sig.context) + ", V] or [" +
                       std::to_string(sig.batch) + ", " + std::to_string(sig.context) + ", V]";
  std::optional<NodeId> out;
  if (!logits.empty()) {
    std::string name = stripPercent(logits);
    out = model.find(name);
    if (!out || logitsVocab(model.type(*out), sig.batch, sig.context) < 2)
      throw Error("model '" + model.name() + "' has no value %" + name + " of logits (" + shapes +
                  " for %" + sig.tokens + " : " + model.type(*tok).str() + ")");
  } else {
    for (NodeId id : model.outputs())
      if (!model.node(id).name.empty() &&
          logitsVocab(model.type(id), sig.batch, sig.context) >= 2) {
        out = id;
        break;
      }
    if (!out)
      throw Error("model '" + model.name() + "' has no output of logits (" + shapes + " for %" +
                  sig.tokens + " : " + model.type(*tok).str() + "); name a value with --logits");
  }
  sig.logits = model.node(*out).name;
  sig.vocabSize = logitsVocab(model.type(*out), sig.batch, sig.context);
  return sig;
}

int32_t drawToken(const std::vector<double> &logits, const std::vector<bool> &allowed,
                  double temperature, double u) {
  int64_t best = -1;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!allowed[i])
      continue;
    if (std::isnan(logits[i]) || logits[i] == INFINITY)
      throw Error("the model's logit of token " + std::to_string(i) + " is " +
                  (std::isnan(logits[i]) ? "NaN" : "infinite") + " (are the params finite?)");
    if (best < 0 || logits[i] > logits[best])
      best = static_cast<int64_t>(i);
  }
  if (best < 0 || logits[best] == -INFINITY)
    throw Error("no token the sampler may draw has a finite logit");
  if (temperature == 0)
    return static_cast<int32_t>(best);
  // softmax(l / τ) shifted by the maximum: exact for any τ > 0, and as τ
  // shrinks every weight but the maximum's underflows to 0 (the argmax).
  std::vector<double> w(logits.size(), 0.0);
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i)
    if (allowed[i])
      sum += w[i] = std::exp((logits[i] - logits[best]) / temperature);
  double target = u * sum, acc = 0;
  int32_t last = static_cast<int32_t>(best);
  for (size_t i = 0; i < logits.size(); ++i) {
    if (w[i] == 0)
      continue;
    acc += w[i];
    last = static_cast<int32_t>(i);
    if (target < acc)
      return last;
  }
  return last; // rounding left target at the sum
}

SequenceSampler::SequenceSampler(const Graph &model, Vocabulary vocab, Backend backend,
                                 const std::string &tokens, const std::string &logits)
    : sig_(inspectTokenModel(model, tokens, logits)), vocab_(std::move(vocab)) {
  if (vocab_.size() != sig_.vocabSize)
    throw Error("has " + std::to_string(vocab_.size()) + " symbols, but the logits %" +
                    sig_.logits + " of model '" + model.name() + "' score " +
                    std::to_string(sig_.vocabSize) +
                    " tokens (the vocabulary the model was trained with?)",
                SourceLoc{vocab_.source()});
  // Only what the logits need, in eval mode: no targets, no mask, no loss.
  Graph pruned = train::withoutUnusedValues(
      compiler::expandModes(train::withOutputs(model, {sig_.logits}), compiler::Mode::Eval));
  if (!pruned.find(sig_.tokens))
    throw Error("the logits %" + sig_.logits + " of model '" + model.name() +
                "' do not depend on the tokens %" + sig_.tokens);
  for (NodeId id : pruned.inputs())
    if (pruned.node(id).name != sig_.tokens)
      throw Error("the logits %" + sig_.logits + " of model '" + model.name() +
                  "' depend on the input %" + pruned.node(id).name +
                  " besides the tokens; sampling feeds only %" + sig_.tokens);
  exe_ = makeExecutable(std::move(pruned), backend);
}

std::vector<SampledSequence> SequenceSampler::sample(const Bindings &params,
                                                     const SampleOptions &o) const {
  if (o.count < 1 || o.count > kMaxCount)
    throw Error("the count of sequences is " + std::to_string(o.count) + "; it must be in [1, " +
                std::to_string(kMaxCount) + "]");
  if (!std::isfinite(o.temperature) || o.temperature < 0) {
    std::ostringstream t;
    t << o.temperature;
    throw Error("the temperature is " + t.str() +
                "; it must be a finite number >= 0 (0: always the most likely token)");
  }
  const int64_t prefixLength = static_cast<int64_t>(o.prefix.size());
  if (o.maxLength < 1 || o.maxLength > kMaxLength)
    throw Error("the maximum length is " + std::to_string(o.maxLength) + "; it must be in [1, " +
                std::to_string(kMaxLength) + "]");
  if (prefixLength >= o.maxLength)
    throw Error("the prefix has " + std::to_string(prefixLength) +
                " tokens, but the maximum length is " + std::to_string(o.maxLength) +
                " (it counts the prefix): nothing is left to draw");
  for (int32_t id : o.prefix)
    if (id < 0 || id >= vocab_.size() || vocab_.isSpecial(id))
      throw Error("the prefix holds token " + std::to_string(id) +
                  ", which is no ordinary symbol of the vocabulary (ids [0, " +
                  std::to_string(vocab_.size()) + "), without <pad>, <begin> and <end>)");
  if (params.count(sig_.tokens))
    throw Error("the bindings hold the tokens %" + sig_.tokens + ", which the sampler feeds");

  const int64_t B = sig_.batch, T = sig_.context, V = sig_.vocabSize;
  std::vector<bool> allowed(static_cast<size_t>(V), true);
  allowed[static_cast<size_t>(vocab_.begin())] = false;
  if (vocab_.pad())
    allowed[static_cast<size_t>(*vocab_.pad())] = false;
  const int32_t filler = vocab_.pad() ? *vocab_.pad() : vocab_.end();

  Bindings b = params;
  TensorType tokensType = exe_->graph().type(exe_->graph().lookup(sig_.tokens));
  std::vector<SampledSequence> result(static_cast<size_t>(o.count));
  std::vector<double> row(static_cast<size_t>(V));
  for (int64_t first = 0; first < o.count; first += B) {
    const int64_t n = std::min(B, o.count - first);
    // Each sequence as the model reads it: <begin>, the prefix, the draws.
    std::vector<std::vector<int32_t>> seq(static_cast<size_t>(n));
    std::vector<bool> done(static_cast<size_t>(n), false);
    for (auto &s : seq) {
      s.push_back(vocab_.begin());
      s.insert(s.end(), o.prefix.begin(), o.prefix.end());
    }
    for (int64_t step = 0; prefixLength + step < o.maxLength; ++step) {
      if (std::all_of(done.begin(), done.end(), [](bool d) { return d; }))
        break;
      const int64_t length = 1 + prefixLength + step; // of every unfinished sequence
      const int64_t start = std::max<int64_t>(0, length - T), pos = std::min(length, T) - 1;
      ir::Tensor window(tokensType);
      int32_t *w = window.as<int32_t>();
      std::fill(w, w + B * T, filler);
      for (int64_t r = 0; r < n; ++r)
        if (!done[r])
          std::copy(seq[r].begin() + start, seq[r].end(), w + r * T);
      b[sig_.tokens] = std::move(window);
      EvalResult res = exe_->run(b);
      const ir::Tensor &logits = res.outputs.at(0);
      for (int64_t r = 0; r < n; ++r) {
        if (done[r])
          continue;
        const int64_t base = (r * T + pos) * V;
        for (int64_t k = 0; k < V; ++k)
          row[k] = logits.at(base + k);
        double u = ir::counterUniform(o.seed, static_cast<uint64_t>(first + r),
                                      static_cast<uint64_t>(step));
        int32_t next = drawToken(row, allowed, o.temperature, u);
        if (next == vocab_.end()) {
          done[r] = true;
          result[first + r].ended = true;
        } else {
          seq[r].push_back(next);
        }
      }
    }
    for (int64_t r = 0; r < n; ++r)
      result[first + r].tokens.assign(seq[r].begin() + 1, seq[r].end());
  }
  return result;
}

} // namespace chainjit::runtime
