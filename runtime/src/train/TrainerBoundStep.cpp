// The trainer's step in the common case, on buffers bound once per batch
// size (BoundStep in TrainerImpl.h): what made an epoch slower than the sum
// of its compiled steps were the copies around each step (the params into
// the bindings and again into the call's arguments, the batch gathered into
// a Dataset and then converted and reshaped, fresh output and update
// tensors moved back into the params) and their allocations. Here a batch's
// rows are copied once, straight from the data set into the step's input
// buffers, the params are updated in place and nothing is allocated per step.
// And the next batch's rows are gathered while this step runs, by the
// kernel pool's threads in the gaps between the step's split products
// (compiler/IdleWork.h): on the Fashion MLP the gathering took about a tenth
// of the epoch on the calling thread while the second CPU spun waiting.
#include "TrainerImpl.h"

#include "chainjit/ir/Error.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace chainjit::runtime::train {

namespace {

// The data set's tensor that feeds model input `name`, or null.
const ir::Tensor *dataSource(const Dataset &d, const std::string &name, const ModelSignature &sig) {
  if (d.inputs.empty()) {
    if (name == sig.features)
      return &d.features;
    if (name == sig.labels)
      return &d.labels;
    return nullptr;
  }
  auto it = d.inputs.find(name);
  return it == d.inputs.end() ? nullptr : &it->second;
}

} // namespace

BoundStep *Trainer::Impl::bindStep(int64_t batch) {
  auto it = boundSteps.find(batch);
  if (it != boundSteps.end())
    return it->second.get();
  std::unique_ptr<BoundStep> s = std::make_unique<BoundStep>();
  const Executable &exec = stepExecutable(batch);
  s->compiled = exec.compiled();
  size_t wantOutputs = 1 + (sig.prediction.empty() ? 0 : 1);
  size_t outputs = 0;
  bool bindable = s->compiled != nullptr;
  if (bindable) {
    const auto &args = s->compiled->arguments();
    for (const compiler::ArgumentSpec &a : args)
      outputs += a.role == compiler::ArgumentRole::Output;
    bindable = outputs == wantOutputs;
    s->outputs.reserve(outputs); // pointers into it stay valid
    for (size_t i = 0; bindable && i < args.size(); ++i) {
      const compiler::ArgumentSpec &a = args[i];
      BoundStep::Source src = BoundStep::Source::Data;
      ir::Tensor *t = nullptr;
      switch (a.role) {
      case compiler::ArgumentRole::Input:
        if (a.name == kLearningRateInput) {
          src = BoundStep::Source::LearningRate;
          t = &(s->lr = ir::Tensor(a.type));
        } else if (a.name == kMomentumInput) {
          src = BoundStep::Source::Momentum;
          t = &(s->momentum = ir::Tensor(a.type));
        } else if (!sig.counter.empty() && a.name == sig.counter) {
          src = BoundStep::Source::Counter;
          t = &(s->counter = ir::Tensor(a.type));
        } else {
          t = &(s->data[a.name] = ir::Tensor(a.type));
          bindable = !a.type.shape.empty() && a.type.shape[0] == batch;
        }
        break;
      case compiler::ArgumentRole::Param:
      case compiler::ArgumentRole::Update: {
        // The update is written into the param's own buffer (the JIT's ABI
        // allows it: a param's update is written after its last read).
        src = BoundStep::Source::Param;
        auto p = params.find(a.name);
        bindable = p != params.end();
        if (bindable)
          t = &p->second;
        break;
      }
      case compiler::ArgumentRole::Output:
        src = BoundStep::Source::Output;
        t = &s->outputs.emplace_back(a.type);
        break;
      }
      s->sources.push_back(src);
      s->tensors.push_back(t);
    }
    s->buffers.resize(s->sources.size());
  }
  if (!bindable)
    s.reset();
  return boundSteps.emplace(batch, std::move(s)).first->second.get();
}

void RowGather::run(int64_t first, int64_t last) const {
  for (const Copy &c : copies)
    for (int64_t r = first; r < last; ++r)
      std::memcpy(c.to + static_cast<size_t>(r) * c.rowBytes,
                  c.from + static_cast<size_t>(rows[r]) * c.rowBytes, c.rowBytes);
}

void RowGather::unit(void *self, int64_t u) {
  const auto *g = static_cast<const RowGather *>(self);
  g->run(u * kRowsPerUnit, std::min(g->count, (u + 1) * kRowsPerUnit));
}

bool Trainer::Impl::planGather(BoundStep &s, const Dataset &train, const std::vector<int64_t> &rows,
                               Bindings &into, RowGather &gather, bool reportBadRows) const {
  const auto &args = s.compiled->arguments();
  const auto b = static_cast<int64_t>(rows.size());
  gather.copies.clear(); // keeps its storage: nothing is allocated per step
  for (size_t i = 0; i < args.size(); ++i) {
    if (s.sources[i] != BoundStep::Source::Data)
      continue;
    ir::Tensor &to = into[args[i].name];
    if (to.type() != args[i].type)
      to = ir::Tensor(args[i].type); // the next batch's buffers, made on first use
    const ir::Tensor *from = dataSource(train, args[i].name, sig);
    if (!from || from->dtype() != to.dtype() || from->shape().empty())
      return false; // fed with a conversion: the general way
    int64_t n = from->shape()[0];
    size_t rowBytes = to.byteSize() / static_cast<size_t>(b);
    if (n < 1 || from->byteSize() / static_cast<size_t>(n) != rowBytes)
      return false;
    for (int64_t row : rows)
      if (row < 0 || row >= n) {
        if (!reportBadRows)
          return false;
        throw Error("training step: row " + std::to_string(row) + " of " + std::to_string(n) +
                    " samples");
      }
    gather.copies.push_back({static_cast<std::byte *>(to.data()),
                             static_cast<const std::byte *>(from->data()), rowBytes});
  }
  gather.rows = rows.data();
  gather.count = b;
  return true;
}

void Trainer::Impl::dropNextBatches() {
  for (auto &[batch, s] : boundSteps)
    if (s)
      s->dropNext();
}

std::optional<StepOutcome> Trainer::Impl::boundStep(const Dataset &train,
                                                    const std::vector<int64_t> &rows, int64_t epoch,
                                                    const std::vector<int64_t> *next) {
  if (!boundStepsAllowed || path != StepPath::InGraph || distributed ||
      config.backend != Backend::Jit || train.wholeGraph || train.featureRows || rows.empty())
    return std::nullopt;
  int64_t b = static_cast<int64_t>(rows.size());
  BoundStep *s = bindStep(b);
  if (!s)
    return std::nullopt;
  const auto &args = s->compiled->arguments();
  for (size_t i = 0; i < args.size(); ++i)
    if (s->sources[i] == BoundStep::Source::Param && s->tensors[i]->type() != args[i].type)
      return std::nullopt; // e.g. params replaced by others of another type
  // This batch's rows: gathered while the last step ran, or copied now.
  const bool gathered = s->nextFrom == &train && s->nextRows == rows;
  s->dropNext();
  if (gathered) {
    for (auto &[name, t] : s->next)
      std::swap(s->data.at(name), t); // the buffers' contents; the step's pointers stay
  } else {
    if (!planGather(*s, train, rows, s->data, s->gather, true))
      return std::nullopt;
    s->gather.run(0, b);
  }
  for (size_t i = 0; i < args.size(); ++i)
    s->buffers[i] = s->tensors[i]->data();
  // The next batch, gathered by the kernel pool's threads in the gaps
  // between this step's split products, where they would otherwise spin
  // (compiler/IdleWork.h); a row outside the data set is reported by its
  // own step.
  if (next && next->size() == rows.size()) {
    s->nextRows.assign(next->begin(), next->end());
    if (planGather(*s, train, s->nextRows, s->next, s->nextGather, false) &&
        s->gathering.start(s->nextGather.units(), &RowGather::unit, &s->nextGather))
      s->nextFrom = &train;
  }
  double lr = scheduledStep(config.optimizer.stepSize, config.optimizer.stepSize.base,
                            globalStep + 1, epoch);
  // Scalars the step graph does not take stay empty (no bytes).
  if (s->lr.byteSize() > 0)
    s->lr.set(0, lr);
  if (s->momentum.byteSize() > 0)
    s->momentum.set(0, config.optimizer.momentum);
  if (s->counter.byteSize() > 0)
    s->counter.set(0, static_cast<double>(globalStep));

  auto start = std::chrono::steady_clock::now();
  s->compiled->call(s->buffers.data());
  unfinished.stepSeconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  StepOutcome out;
  out.loss = s->outputs[0].at(0);
  BatchScore sc = score(sig.prediction.empty() ? nullptr : &s->outputs[1], s->data);
  out.samples = sc.weight;
  out.correct = sig.prediction.empty() ? -1 : sc.hits;
  out.sqErr = sc.sqErr;
  ++globalStep;
  return out;
}

} // namespace chainjit::runtime::train
