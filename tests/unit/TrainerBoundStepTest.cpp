// The trainer's bound steps (runtime/src/train/TrainerBoundStep.cpp): they
// train exactly as the general path does, and a step allocates nothing; and
// the trainer flushes subnormal floats to zero unless told to keep them.
//
// Allocations are counted by replacing the global operator new of this test
// binary with one that counts while a flag is set (sanitizer builds keep
// their own allocator, and the count test is skipped there).
#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/train/Trainer.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <optional>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHAINJIT_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                      \
    __has_feature(memory_sanitizer)
#define CHAINJIT_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef CHAINJIT_COUNT_ALLOCATIONS
#define CHAINJIT_COUNT_ALLOCATIONS 1
#endif

namespace {
std::atomic<bool> gCounting{false};
std::atomic<int64_t> gAllocations{0};
} // namespace

#if CHAINJIT_COUNT_ALLOCATIONS
// libstdc++'s other forms (nothrow, arrays, sized deletes) call these two;
// aligned new keeps its own aligned_alloc/free pair, uncounted.
void *operator new(std::size_t n) {
  if (gCounting.load(std::memory_order_relaxed))
    gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void *p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
#endif

using namespace chainjit;
using namespace chainjit::runtime::train;

namespace {

std::string example(const std::string &name) {
  return std::string(CHAINJIT_SOURCE_DIR) + "/examples/" + name;
}

runtime::Dataset digits(int64_t rows) {
  runtime::Dataset d = runtime::loadCsvDataset(example("data/digits.csv.gz"));
  runtime::scale(d, 1.0 / 16.0);
  std::vector<int64_t> first;
  for (int64_t i = 0; i < rows; ++i)
    first.push_back(i);
  return runtime::batch(d, first);
}

// The thread's floating-point control word (MXCSR on x86-64), to check
// that fit() restores it.
unsigned readFloatControl() {
#if defined(__x86_64__)
  return _mm_getcsr() & 0xffc0; // the control bits, not the sticky flags
#else
  return 0;
#endif
}

struct Run {
  History history;
  runtime::Bindings params;
  std::vector<std::pair<int64_t, compiler::GraphProfile>> profiles;
};

Run train(const std::string &model, const runtime::Dataset &data, bool bound, OptimizerKind kind,
          bool profile = false) {
  if (!bound)
    setenv("CHAINJIT_TRAINER_BOUND_STEPS", "0", 1);
  TrainConfig c;
  c.optimizer.kind = kind;
  c.optimizer.stepSize.base = 0.05;
  c.batch = 32;
  c.epochs = 2;
  c.profileSteps = profile;
  Trainer t(ir::parseGraphFile(example(model)), c);
  unsetenv("CHAINJIT_TRAINER_BOUND_STEPS");
  Run r;
  r.history = t.fit(data);
  r.params = t.modelParams();
  r.profiles = t.stepProfiles();
  return r;
}

// Counts operator new calls per step, from the second step of each epoch
// on (the first of an epoch shuffles, the first of a batch size binds).
struct AllocationsPerStep : TrainObserver {
  int64_t worst = 0, steps = 0, last = 0;
  void onStep(const StepProgress &p) override {
    int64_t now = gAllocations.load();
    if (p.step > 1 && p.step < p.stepsPerEpoch) { // the last batch is smaller: a new binding
      worst = std::max(worst, now - last);
      ++steps;
    }
    last = gAllocations.load();
  }
};

} // namespace

TEST_CASE("trainer: bound steps train exactly as the general path (MLP and CNN, last batch "
          "smaller, momentum and plain SGD)") {
  runtime::Dataset data = digits(300); // 300 = 9 batches of 32 and one of 12
  for (const char *model : {"digits_mlp.cj", "digits_cnn.cj"})
    for (OptimizerKind kind : {OptimizerKind::Momentum, OptimizerKind::GD}) {
      CAPTURE(model);
      Run bound = train(model, data, true, kind), general = train(model, data, false, kind);
      REQUIRE(bound.history.epochs.size() == 2);
      for (size_t e = 0; e < 2; ++e) {
        CHECK(bound.history.epochs[e].train.loss == general.history.epochs[e].train.loss);
        CHECK(bound.history.epochs[e].train.accuracy == general.history.epochs[e].train.accuracy);
        // The time inside the compiled calls is known on the bound path only.
        CHECK(bound.history.epochs[e].stepSeconds > 0);
        CHECK(bound.history.epochs[e].stepSeconds <= bound.history.epochs[e].seconds);
        CHECK(general.history.epochs[e].stepSeconds == 0);
      }
      REQUIRE(bound.params.size() == general.params.size());
      for (const auto &[name, value] : general.params) {
        CAPTURE(name);
        CHECK(bound.params.at(name) == value); // bit for bit
      }
    }
}

TEST_CASE("trainer: profiled steps count every step per batch size and train as unprofiled") {
  runtime::Dataset data = digits(300); // per epoch 9 batches of 32 and one of 12
  for (bool bound : {true, false}) {
    CAPTURE(bound);
    Run plain = train("digits_mlp.cj", data, bound, OptimizerKind::Momentum);
    Run profiled = train("digits_mlp.cj", data, bound, OptimizerKind::Momentum, true);
    CHECK(plain.profiles.empty());
    REQUIRE(profiled.profiles.size() == 2);
    CHECK(profiled.profiles[0].first == 12);
    CHECK(profiled.profiles[0].second.calls == 2);
    CHECK(profiled.profiles[1].first == 32);
    CHECK(profiled.profiles[1].second.calls == 18);
    double inSteps = 0;
    for (const auto &[batch, p] : profiled.profiles) {
      REQUIRE(!p.kernels.empty());
      for (const compiler::KernelTime &k : p.kernels)
        CHECK(k.calls == p.calls);
      inSteps += p.seconds;
    }
    if (bound) { // the trainer times the same calls from outside
      double stepSeconds = 0;
      for (const EpochMetrics &e : profiled.history.epochs)
        stepSeconds += e.stepSeconds;
      CHECK(inSteps <= stepSeconds);
    }
    for (const auto &[name, value] : plain.params) {
      CAPTURE(name);
      CHECK(profiled.params.at(name) == value); // timed, not changed
    }
  }
  TrainConfig interp;
  interp.backend = runtime::Backend::Interp;
  interp.profileSteps = true;
  CHECK_THROWS_WITH_AS(interp.validate(), doctest::Contains("needs the JIT backend"), Error);
}

// A bound step gathers the next batch while it runs (TrainerBoundStep.cpp).
// fit() stopped mid-epoch leaves such a batch gathered; the next fit(), on
// other data at the same address, resumes at exactly those rows, and must
// train on the new data, as the general path (which gathers nothing
// ahead) does.
TEST_CASE("trainer: a batch gathered ahead is dropped when fit() stops") {
  struct StopAt : TrainObserver {
    std::atomic<bool> *flag;
    int64_t step;
    void onStep(const StepProgress &p) override {
      if (p.step == step)
        *flag = true;
    }
  };
  auto run = [](bool bound) {
    std::atomic<bool> stop{false};
    TrainConfig c;
    c.optimizer.kind = OptimizerKind::Momentum;
    c.optimizer.stepSize.base = 0.05;
    c.batch = 32;
    c.epochs = 2;
    c.stopRequested = &stop;
    if (!bound)
      setenv("CHAINJIT_TRAINER_BOUND_STEPS", "0", 1);
    Trainer t(ir::parseGraphFile(example("digits_mlp.cj")), c);
    unsetenv("CHAINJIT_TRAINER_BOUND_STEPS");
    std::optional<runtime::Dataset> data(digits(300));
    StopAt at;
    at.flag = &stop;
    at.step = 3;
    History first = t.fit(*data, nullptr, &at);
    CHECK(first.stopped.has_value());
    runtime::Dataset other = *data;
    runtime::scale(other, 0.5);
    data.reset();
    data.emplace(std::move(other)); // same address, other values
    stop = false;
    t.fit(*data);
    return t.modelParams();
  };
  runtime::Bindings bound = run(true), general = run(false);
  REQUIRE(bound.size() == general.size());
  for (const auto &[name, value] : general) {
    CAPTURE(name);
    CHECK(bound.at(name) == value); // bit for bit
  }
}

TEST_CASE("trainer: a bound step allocates nothing") {
  if (!CHAINJIT_COUNT_ALLOCATIONS) {
    MESSAGE("a sanitizer build: operator new is the sanitizer's, allocations are not counted");
    return;
  }
  runtime::Dataset data = digits(320);
  TrainConfig c;
  c.optimizer.kind = OptimizerKind::Momentum;
  c.optimizer.stepSize.base = 0.05;
  c.batch = 32;
  c.epochs = 2;
  Trainer t(ir::parseGraphFile(example("digits_mlp.cj")), c);
  AllocationsPerStep counter;
  gAllocations = 0;
  gCounting = true;
  t.fit(data, nullptr, &counter);
  gCounting = false;
  CHECK(counter.steps == 2 * 8);
  CHECK(counter.worst == 0);
  // The counter counts: the general path allocates every step.
  setenv("CHAINJIT_TRAINER_BOUND_STEPS", "0", 1);
  Trainer general(ir::parseGraphFile(example("digits_mlp.cj")), c);
  unsetenv("CHAINJIT_TRAINER_BOUND_STEPS");
  AllocationsPerStep generalCounter;
  gCounting = true;
  general.fit(data, nullptr, &generalCounter);
  gCounting = false;
  CHECK(generalCounter.worst > 0);
}

// Subnormal floats are flushed while fit() runs (TrainConfig::flushDenormals,
// runtime/src/train/FlushDenormals.h). A weight that L2 halves each step
// from 2^-120 is subnormal after 7 steps and, kept, 2^-140 after 20 (f32's
// least subnormal is 2^-149); flushed, it never leaves the normal range.
// Its gradient from the data is 0 (the inputs are 0), so only the decay
// moves it.
TEST_CASE("trainer: subnormal weights are flushed to zero unless kept, on both backends") {
  ir::Graph g = ir::parseGraph(R"(graph decay {
  input %x : f32[4, 1]
  input %y : f32[4]
  param %w : f32[1]
  %p = matmul(%x, %w)
  %loss = mse(%p, %y)
  output %loss
})");
  runtime::Dataset d;
  d.inputs["x"] = ir::Tensor(ir::f32({4, 1}));
  d.inputs["y"] = ir::Tensor(ir::f32({4}));
  const float start = std::ldexp(1.0f, -120);
  for (runtime::Backend backend : {runtime::Backend::Jit, runtime::Backend::Interp})
    for (bool flush : {true, false}) {
      CAPTURE(int(backend));
      CAPTURE(flush);
      TrainConfig c;
      c.backend = backend;
      c.optimizer.kind = OptimizerKind::GD;
      c.sampling = Sampling::Epoch;
      c.optimizer.stepSize.base = 0.5;
      c.regularization.l2 = 1.0; // w <- w - 0.5 * w
      c.batch = 4;
      c.epochs = 20;
      c.flushDenormals = flush;
      ir::Tensor w(ir::f32({1}));
      w.set(0, start);
      c.initialParams["w"] = w;
      Trainer t(g, c);
      const unsigned before = readFloatControl();
      t.fit(d);
      CHECK(readFloatControl() == before); // the mode is restored
      double end = t.modelParams().at("w").at(0);
      if (flush) {
        // At the least normal number the decrement 0.5 * w is subnormal and
        // flushed: w stays there, never subnormal.
        CHECK(end == std::ldexp(1.0, -126));
      } else {
        CHECK(end > 0.0);
        CHECK(end == doctest::Approx(std::ldexp(1.0, -140)).epsilon(1e-6));
      }
    }
}
