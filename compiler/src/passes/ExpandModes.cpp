// Mode expansion: rewrites the two mode-dependent layers, dropout and
// batch_norm, into primitive ops for a training or an evaluation graph, so
// that the interpreter, the JIT and the derivative rules never see them.
#include "chainjit/compiler/Passes.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Rebuild.h"
#include "chainjit/ir/Verifier.h"

#include <set>

namespace chainjit::compiler {

namespace {

using ir::Value;

// Throws naming the layer being expanded.
[[noreturn]] void fail(const ir::Graph &src, ir::NodeId id,
                       const std::string &message) {
  const ir::Node &n = src.node(id);
  SourceLoc loc = n.loc;
  loc.node = n.name;
  std::string what = std::string(ir::opName(n.kind)) + ": " + message;
  throw Error(n.name.empty() ? n.label(id) + ": " + what : what, loc);
}

class ModeExpansion {
public:
  ModeExpansion(const ir::Graph &src, Mode mode) : rb_(src), mode_(mode) {
    for (const ir::ParamUpdate &u : src.updates())
      updated_.insert(u.param);
  }

  ir::Graph run() {
    const ir::Graph &src = rb_.src();
    for (ir::NodeId id = 0; id < src.size(); ++id) {
      switch (src.node(id).kind) {
      case ir::OpKind::Dropout: expandDropout(id); break;
      case ir::OpKind::BatchNorm: expandBatchNorm(id); break;
      default: rb_.copy(id); break;
      }
    }
    ir::Graph out = rb_.finish();
    for (const ir::ParamUpdate &u : newUpdates_)
      out.addUpdate(u.param, u.value);
    ir::verifyOrThrow(out);
    return out;
  }

private:
  Value operand(ir::NodeId id, size_t i) {
    return {rb_.out(), rb_.map(rb_.src().node(id).operands.at(i))};
  }

  // The expansion's result takes the layer's name, so %h stays %h.
  void finishLayer(ir::NodeId id, Value result) {
    const std::string &name = rb_.src().node(id).name;
    if (!name.empty())
      result.named(name);
    rb_.setMapping(id, result.id());
  }

  // Train: x * bernoulli(counter){p = 1 - rate} / (1 - rate), so that the
  // expected value of every element is x (inverted dropout). Eval, or a rate
  // of 0: the identity; a named dropout keeps its name on an identity reshape,
  // so that outputs, CLI flags and bindings can still refer to it.
  void expandDropout(ir::NodeId id) {
    const ir::Node &n = rb_.src().node(id);
    double rate = n.attrs.getFloat("rate");
    Value x = operand(id, 0);
    if (mode_ == Mode::Eval || rate == 0.0) {
      if (n.name.empty())
        rb_.setMapping(id, x.id());
      else
        finishLayer(id, ir::reshape(x, x.shape()));
      return;
    }
    Value mask = ir::bernoulli(operand(id, 1), x.shape(), 1.0 - rate,
                               n.attrs.getInt("seed"), x.dtype());
    finishLayer(id, x * mask / (1.0 - rate));
  }

  // y = gamma * (x - mean) / sqrt(var + eps) + beta per channel (axis 1).
  // Train: mean and (biased) var of the batch over every axis but 1, and the
  // running statistics move towards them:
  //   running_mean := (1 - momentum) * running_mean + momentum * mean
  //   running_var  := (1 - momentum) * running_var + momentum * var * m/(m-1)
  // with m values per channel: like PyTorch, the running variance tracks the
  // unbiased estimate while the normalization uses the biased one.
  // Eval: mean and var are the running statistics.
  void expandBatchNorm(ir::NodeId id) {
    const ir::Graph &src = rb_.src();
    const ir::Node &n = src.node(id);
    double eps = n.attrs.getFloat("eps");
    double momentum = n.attrs.getFloat("momentum");
    Value x = operand(id, 0), gamma = operand(id, 1), beta = operand(id, 2);
    Value runningMean = operand(id, 3), runningVar = operand(id, 4);
    const ir::Shape xs = x.shape(); // a copy: adding nodes moves the graph's storage
    int64_t channels = xs[1];
    // Per-channel vectors broadcast against x as [1, C] or [1, C, 1, 1].
    ir::Shape channelShape(xs.size(), 1);
    channelShape[1] = channels;
    auto perChannel = [&](Value v) { return ir::reshape(v, channelShape); };

    // One node per statement: C++ leaves the evaluation order of operands
    // open, and the order of the new nodes should not depend on the compiler.
    Value scale = perChannel(gamma);
    Value shift = perChannel(beta);
    if (mode_ == Mode::Eval) {
      Value centered = x - perChannel(runningMean);
      Value stddev = ir::sqrt(perChannel(runningVar) + eps);
      finishLayer(id, scale * centered / stddev + shift);
      return;
    }

    ir::Ints axes = xs.size() == 2 ? ir::Ints{0} : ir::Ints{0, 2, 3};
    int64_t m = 1; // values per channel: N * H * W
    for (size_t d = 0; d < xs.size(); ++d)
      m *= d == 1 ? 1 : xs[d];
    if (m < 2)
      fail(src, id, "training needs more than one value per channel, got " +
                        x.type().str());
    Value mean = ir::mean(x, axes, /*keepdims=*/true);
    Value centered = x - mean;
    Value var = ir::mean(centered * centered, axes, /*keepdims=*/true);
    Value stddev = ir::sqrt(var + eps);
    finishLayer(id, scale * centered / stddev + shift);

    Value batchMean = ir::reshape(mean, {channels});
    Value unbiasedVar = ir::reshape(var, {channels}) * (double(m) / double(m - 1));
    addUpdate(id, 3, movingAverage(runningMean, batchMean, momentum));
    addUpdate(id, 4, movingAverage(runningVar, unbiasedVar, momentum));
  }

  // (1 - momentum) * running + momentum * batch.
  static Value movingAverage(Value running, Value batch, double momentum) {
    Value kept = running * (1.0 - momentum);
    Value added = batch * momentum;
    return kept + added;
  }

  // Records running-statistic operand `i` of layer `id` := value; it must be
  // a param that nothing else updates.
  void addUpdate(ir::NodeId id, size_t i, Value value) {
    const ir::Graph &src = rb_.src();
    ir::NodeId stat = src.node(id).operands.at(i);
    const char *what = i == 3 ? "running_mean" : "running_var";
    if (src.node(stat).kind != ir::OpKind::Param)
      fail(src, id, std::string(what) + " " + src.node(stat).label(stat) +
                        " must be a param to be updated in train mode");
    if (!updated_.insert(stat).second)
      fail(src, id, std::string(what) + " " + src.node(stat).label(stat) +
                        " is already updated by the graph or another batch_norm");
    newUpdates_.push_back({rb_.map(stat), value.id()});
  }

  ir::GraphRebuilder rb_;
  Mode mode_;
  std::set<ir::NodeId> updated_; // source params with an update
  std::vector<ir::ParamUpdate> newUpdates_;
};

} // namespace

ir::Graph expandModes(const ir::Graph &g, Mode mode) {
  return ModeExpansion(g, mode).run();
}

ir::Graph expandTrain(const ir::Graph &g) { return expandModes(g, Mode::Train); }
ir::Graph expandEval(const ir::Graph &g) { return expandModes(g, Mode::Eval); }

} // namespace chainjit::compiler
