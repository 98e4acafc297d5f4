// Data-parallel training without MPI: the shard arithmetic, the
// single-process communicator, the reductions of ReplicaReduction.h, and
// the Trainer on several "ranks" that are threads of this process
// (ThreadRanks below), whose params must equal a single-process run's.
#include "TrainTestProblems.h"

#include "../../runtime/src/train/ReplicaReduction.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/runtime/RowReader.h"
#include "chainjit/runtime/distributed/BucketedReduction.h"
#include "chainjit/runtime/distributed/Communicator.h"
#include "chainjit/runtime/distributed/Mpi.h"
#include "chainjit/runtime/distributed/Shard.h"
#include "chainjit/runtime/train/CrossValidation.h"
#include "chainjit/runtime/train/TrainData.h"
#include "chainjit/runtime/train/Trainer.h"

#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <tuple>

#include <unistd.h>

using namespace chainjit;
using namespace chainjit::runtime;
using namespace chainjit::runtime::distributed;
using namespace chainjit::testing;

namespace {

// N ranks as threads sharing memory: each collective publishes this rank's
// buffer, waits for all, and combines them in rank order (so every rank
// gets the same bits, as MPI's allreduce gives them).
struct ThreadWorld {
  explicit ThreadWorld(int n) : size(n), sync(n), slots(n) {}
  int size;
  std::barrier<> sync;
  std::vector<std::vector<std::byte>> slots;
};

class ThreadRank final : public Communicator {
public:
  ThreadRank(ThreadWorld &w, int rank) : w_(w), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return w_.size; }
  std::string describe() const override { return "threads"; }
  void allreduceSum(std::span<float> d) override { sum(d); }
  void allreduceSum(std::span<double> d) override { sum(d); }
  // Nonblocking as MPI's: the sum happens at wait(), so a caller that read
  // the buffer before waiting would see its own unsummed values.
  std::unique_ptr<Pending> startAllreduceSum(std::span<float> d) override {
    return std::make_unique<Deferred<float>>(*this, d);
  }
  std::unique_ptr<Pending> startAllreduceSum(std::span<double> d) override {
    return std::make_unique<Deferred<double>>(*this, d);
  }
  void broadcast(std::span<std::byte> d, int root) override {
    auto all = allgather(d);
    std::memcpy(d.data(), all[root].data(), d.size());
  }
  void barrier() override { w_.sync.arrive_and_wait(); }
  std::vector<std::vector<std::byte>> allgather(std::span<const std::byte> blob) override {
    w_.slots[rank_].assign(blob.begin(), blob.end());
    w_.sync.arrive_and_wait();
    std::vector<std::vector<std::byte>> all = w_.slots;
    w_.sync.arrive_and_wait();
    return all;
  }
  [[noreturn]] void abort(const std::string &message, int) override {
    throw std::runtime_error(message);
  }

private:
  template <typename T> struct Deferred final : Pending {
    Deferred(ThreadRank &r, std::span<T> d) : rank(r), data(d) {}
    ~Deferred() override { wait(); }
    bool test() override { return done; }
    void wait() override {
      if (!done)
        rank.sum(data);
      done = true;
    }
    ThreadRank &rank;
    std::span<T> data;
    bool done = false;
  };
  template <typename T> void sum(std::span<T> d) {
    auto all = allgather(std::as_bytes(d));
    for (size_t i = 0; i < d.size(); ++i) {
      T s = 0;
      for (const auto &b : all)
        s += reinterpret_cast<const T *>(b.data())[i];
      d[i] = s;
    }
  }
  ThreadWorld &w_;
  int rank_;
};

// Runs f(communicator) on n thread ranks; returns rank 0's result.
template <typename F> auto onRanks(int n, F f) {
  ThreadWorld world(n);
  std::vector<decltype(f(std::shared_ptr<Communicator>()))> results(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] { results[r] = f(std::make_shared<ThreadRank>(world, r)); });
  for (std::thread &t : threads)
    t.join();
  return results;
}

Dataset digitsSubset(int64_t n) {
  Dataset d = loadCsvDataset(std::string(CHAINJIT_SOURCE_DIR) + "/examples/data/digits.csv.gz");
  scale(d, 1.0 / 16.0);
  std::vector<int64_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0);
  return batch(d, rows);
}

double maxDifference(const Bindings &a, const Bindings &b) {
  double worst = 0;
  for (const auto &[name, x] : a)
    for (int64_t i = 0; i < x.numel(); ++i)
      worst = std::max(worst, std::abs(x.at(i) - b.at(name).at(i)));
  return worst;
}

} // namespace

TEST_CASE("shards: contiguous parts of the batch differing by at most one row, weights by rows") {
  for (int64_t total : {0, 1, 2, 7, 31, 32, 100})
    for (int ranks : {1, 2, 3, 5}) {
      int64_t next = 0;
      double weights = 0;
      for (int r = 0; r < ranks; ++r) {
        Shard s = shardOf(total, r, ranks);
        CHECK(s.begin == next);
        CHECK(s.rows() == total / ranks + (r < total % ranks ? 1 : 0));
        next = s.end;
        weights += shardWeight(s, total);
      }
      CHECK(next == total);
      CHECK(weights == doctest::Approx(total > 0 ? 1.0 : 0.0));
    }
  CHECK(shardOf(31, 0, 3).rows() == 11);
  CHECK(shardOf(31, 2, 3).begin == 21);
  CHECK(shardWeight(shardOf(31, 0, 3), 31) == doctest::Approx(11.0 / 31.0));
  CHECK(shardOf(2, 2, 3).rows() == 0); // more ranks than rows: some are empty
  CHECK(shardRows({9, 8, 7, 6, 5}, 1, 2) == std::vector<int64_t>{6, 5});
}

TEST_CASE("single-process communicator: rank 0 of 1, every collective leaves the data as it is") {
  std::shared_ptr<Communicator> c = singleProcess();
  CHECK(c->rank() == 0);
  CHECK(c->size() == 1);
  std::vector<float> f = {1.5f, -2.0f};
  std::vector<double> d = {3.25};
  c->allreduceSum(std::span<float>(f));
  c->allreduceAverage(std::span<double>(d));
  CHECK(f == std::vector<float>{1.5f, -2.0f});
  CHECK(d == std::vector<double>{3.25});
  std::vector<std::byte> blob = {std::byte{1}, std::byte{2}};
  auto all = c->allgather(blob);
  REQUIRE(all.size() == 1);
  CHECK(all[0] == blob);
  c->broadcast(blob, 0);
  CHECK(blob == std::vector<std::byte>{std::byte{1}, std::byte{2}});
  c->barrier();
}

TEST_CASE("thread ranks: allreduce sums in rank order, average divides by the ranks") {
  auto out = onRanks(3, [](std::shared_ptr<Communicator> c) {
    std::vector<double> d = {double(c->rank()), 1.0};
    c->allreduceSum(std::span<double>(d));
    std::vector<float> f = {float(c->rank() + 1)};
    c->allreduceAverage(std::span<float>(f));
    return std::vector<double>{d[0], d[1], f[0]};
  });
  for (const auto &r : out)
    CHECK(r == std::vector<double>{3.0, 3.0, 2.0});
}

TEST_CASE("reduction: tensors weighted by rows and summed per dtype, scalars summed as they are") {
  auto out = onRanks(2, [](std::shared_ptr<Communicator> c) {
    ir::Tensor a(ir::f32({2}), {1.0 + c->rank(), 10.0});
    ir::Tensor b(ir::f64({}), {4.0});
    double scalars[1] = {double(c->rank() + 1)};
    double weight = c->rank() == 0 ? 0.75 : 0.25; // 3 rows and 1 row of 4
    train::allreduceWeighted(*c, {&a, &b}, weight, scalars);
    return std::vector<double>{a.at(0), a.at(1), b.at(0), scalars[0]};
  });
  CHECK(out[0] == std::vector<double>{0.75 * 1 + 0.25 * 2, 10.0, 4.0, 3.0});
  CHECK(out[1] == out[0]);
}

TEST_CASE("sharded objective: one rank of weight 1 is the objective itself, an empty shard adds 0") {
  std::vector<double> a = symmetricWithEigenvalues({1, 2, 4}, 3), b = {1, -1, 2};
  train::GraphObjective q = quadraticObjective(a, b);
  train::ParamSet x = vectorParams({0.5, 0.25, -1});
  auto out = onRanks(2, [&](std::shared_ptr<Communicator> c) {
    // Rank 1 holds no rows: the sum is rank 0's objective.
    train::ShardedObjective f(c->rank() == 0 ? &q : nullptr, c->rank() == 0 ? 1.0 : 0.0, *c);
    train::ParamSet g;
    double v = f.gradient(x, g);
    std::vector<double> h = f.hessian(x);
    std::vector<double> r = {v, f.value(x)};
    for (double e : train::flatten(g))
      r.push_back(e);
    r.insert(r.end(), h.begin(), h.end());
    return r;
  });
  train::ParamSet g;
  double v = q.gradient(x, g);
  std::vector<double> want = {v, v};
  for (double e : train::flatten(g))
    want.push_back(e);
  std::vector<double> h = q.hessian(x);
  want.insert(want.end(), h.begin(), h.end());
  CHECK(out[0] == want);
  CHECK(out[1] == want);
}

TEST_CASE("replica check: a rank whose params differ is named") {
  auto errors = onRanks(3, [](std::shared_ptr<Communicator> c) -> std::string {
    Bindings p;
    p["w"] = ir::Tensor(ir::f32({2}), {1.0, c->rank() == 2 ? 2.5 : 2.0});
    try {
      train::checkReplicas(*c, p, 4);
      return "";
    } catch (const Error &e) {
      return e.what();
    }
  });
  for (const std::string &e : errors)
    CHECK(e.find("after epoch 4 the params of rank 2 differ from rank 0's") != std::string::npos);
  Bindings same;
  same["w"] = ir::Tensor(ir::f32({1}), {1.0});
  CHECK_NOTHROW(train::checkReplicas(*singleProcess(), same, 1));
}

TEST_CASE("out-of-graph update: the step graph's momentum and soft-thresholding rule") {
  ir::Tensor w(ir::f32({3}), {1.0, -0.5, 0.01});
  ir::Tensor g(ir::f32({3}), {0.5, 1.0, 0.0});
  ir::Tensor v(ir::f32({3}), {1.0, 0.0, 0.0});
  train::applyGraphUpdate(w, g, &v, 0.1, 0.9, 0.2); // threshold lr * l1 = 0.02
  CHECK(v.at(0) == doctest::Approx(1.4));
  CHECK(v.at(1) == doctest::Approx(1.0));
  CHECK(w.at(0) == doctest::Approx(1.0 - 0.14 - 0.02));
  CHECK(w.at(1) == doctest::Approx(-0.5 - 0.1 + 0.02));
  CHECK(w.at(2) == 0.0); // |0.01| < 0.02: exactly zero
}

TEST_CASE("mpi: the launcher's world size is read from the environment, no MPI build says so") {
  unsetenv("PMI_SIZE");
  unsetenv("PMIX_SIZE");
  setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  CHECK(launcherWorldSize() == 4);
  setenv("OMPI_COMM_WORLD_SIZE", "x", 1);
  CHECK(!launcherWorldSize());
  unsetenv("OMPI_COMM_WORLD_SIZE");
  CHECK(!launcherWorldSize());
  if (!mpiBuiltIn())
    CHECK_THROWS_WITH_AS(mpiWorld(), doctest::Contains("built without MPI"), Error);
}

namespace {

// Trains `config` on `rows` digits alone and on `ranks` thread ranks; checks
// that params and per-epoch losses agree within f32 rounding.
void checkRanksEqualOneProcess(train::TrainConfig config, int ranks, const char *model,
                               int64_t rows = 300, Backend backend = Backend::Interp) {
  Dataset data = digitsSubset(rows);
  ir::Graph g = ir::parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) + model);
  config.backend = backend; // the interpreter: several threads, no compilation
  train::Trainer one(g, config);
  train::History h1 = one.fit(data);
  Bindings p1 = one.modelParams();
  auto out = onRanks(ranks, [&](std::shared_ptr<Communicator> c) {
    train::TrainConfig cc = config;
    cc.communicator = c;
    cc.checkReplicas = true;
    train::Trainer t(g, cc);
    train::History h = t.fit(data);
    return std::pair{t.modelParams(), h};
  });
  for (const auto &[params, h] : out) {
    CHECK(maxDifference(params, p1) < 1e-5);
    REQUIRE(h.epochs.size() == h1.epochs.size());
    for (size_t e = 0; e < h.epochs.size(); ++e) {
      CHECK(h.epochs[e].train.loss == doctest::Approx(h1.epochs[e].train.loss).epsilon(1e-5));
      double a = h.epochs[e].train.accuracy, a1 = h1.epochs[e].train.accuracy;
      CHECK(std::isnan(a) == std::isnan(a1)); // NaN: no accuracy on this path
      if (!std::isnan(a1))
        CHECK(a == doctest::Approx(a1));
    }
  }
}

} // namespace

TEST_CASE("trainer on 3 thread ranks: momentum with L1, batch 31 split 11/10/10, equals one process") {
  train::TrainConfig c;
  c.optimizer.kind = train::OptimizerKind::Momentum;
  c.optimizer.stepSize.base = 0.05;
  c.regularization.l1 = 1e-4;
  c.batch = 31;
  c.epochs = 1;
  checkRanksEqualOneProcess(c, 3, "/examples/digits_mlp.cj");
}

TEST_CASE("trainer on 3 thread ranks: batches of 2 leave one rank empty, still one process's result") {
  train::TrainConfig c;
  c.optimizer.kind = train::OptimizerKind::Adam;
  c.optimizer.stepSize.base = 0.001;
  c.batch = 2;
  c.epochs = 1;
  checkRanksEqualOneProcess(c, 3, "/tests/cli/data/digits_softmax.cj");
}

TEST_CASE("trainer on 2 thread ranks: backtracking line search on reduced losses") {
  train::TrainConfig c;
  c.optimizer.kind = train::OptimizerKind::GD;
  c.optimizer.stepSize.lineSearch = train::LineSearch::Backtracking;
  c.sampling = train::Sampling::Full;
  c.epochs = 3;
  checkRanksEqualOneProcess(c, 2, "/tests/cli/data/digits_softmax.cj");
}

TEST_CASE("cross-validation on 3 thread ranks: the pairs are dealt out, the table is one process's") {
  Dataset data = digitsSubset(120);
  ir::Graph g = ir::parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) +
                                   "/tests/cli/data/digits_softmax.cj");
  train::TrainConfig c;
  c.backend = Backend::Interp;
  c.epochs = 1;
  train::CvConfig cv;
  cv.folds = 2;
  cv.lrGrid = {0.01, 0.1, 1e38}; // the last diverges: NaN must survive the gather
  train::CvResult one = train::crossValidate(g, c, data, cv);
  auto out = onRanks(3, [&](std::shared_ptr<Communicator> comm) {
    train::TrainConfig cc = c;
    cc.communicator = comm;
    int calls = 0;
    train::CvResult r =
        train::crossValidate(g, cc, data, cv, [&](size_t, int64_t, const train::Metrics &) {
          ++calls;
        });
    return std::pair{train::formatCvTable(r), calls};
  });
  for (const auto &[table, calls] : out) {
    CHECK(table == train::formatCvTable(one));
    CHECK(calls == 2); // 6 pairs over 3 ranks
  }
  CHECK(train::formatCvTable(one).find("diverged") != std::string::npos);
}

TEST_CASE("trainer on 2 thread ranks: a stop asked on rank 1 only stops both after the same step") {
  Dataset data = digitsSubset(200);
  ir::Graph g = ir::parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) +
                                   "/tests/cli/data/digits_softmax.cj");
  std::string ckpt = (std::filesystem::temp_directory_path() / "chainjit_dist_stop.ckpt").string();
  std::filesystem::remove(ckpt);
  std::atomic<bool> never{false}, now{true};
  auto out = onRanks(2, [&](std::shared_ptr<Communicator> c) {
    train::TrainConfig cc;
    cc.backend = Backend::Interp;
    cc.epochs = 2;
    cc.communicator = c;
    cc.checkpointPath = ckpt;
    cc.stopRequested = c->rank() == 1 ? &now : &never;
    train::Trainer t(g, cc);
    return t.fit(data).stopped;
  });
  for (const auto &stopped : out) {
    REQUIRE(stopped);
    CHECK(stopped->epoch == 1);
    CHECK(stopped->stepsDone == 1);
    CHECK(stopped->checkpointed);
  }
  CHECK(std::filesystem::exists(ckpt)); // written by rank 0, whose own flag was never set
  std::filesystem::remove(ckpt);
}

TEST_CASE("trainer on 2 thread ranks: nesterov, and newton with 1/M, equal one process") {
  train::TrainConfig nesterov;
  nesterov.optimizer.kind = train::OptimizerKind::Nesterov;
  nesterov.optimizer.stepSize.base = 0.05;
  nesterov.batch = 25;
  nesterov.epochs = 1;
  checkRanksEqualOneProcess(nesterov, 2, "/tests/cli/data/digits_softmax.cj");

  // Newton's Hessian and the power iteration's Hessian-vector products are
  // reduced over the ranks.
  train::TrainConfig newton;
  newton.optimizer.kind = train::OptimizerKind::Newton;
  newton.optimizer.newtonDamping = 0.01;
  newton.optimizer.stepSize.inverseLipschitz = true;
  newton.sampling = train::Sampling::Full;
  newton.epochs = 2;
  checkRanksEqualOneProcess(newton, 2, "/tests/cli/data/digits_softmax.cj", 100, Backend::Jit);
}

// ---- the bucketed, overlapped gradient reduction ----

namespace {

bool sameBits(const Bindings &a, const Bindings &b) {
  if (a.size() != b.size())
    return false;
  for (const auto &[name, x] : a) {
    const ir::Tensor &y = b.at(name);
    if (x.type() != y.type() || std::memcmp(x.data(), y.data(), x.byteSize()) != 0)
      return false;
  }
  return true;
}

struct Reduced {
  std::vector<ir::Tensor> tensors;
  std::vector<double> scalars;
  std::vector<std::pair<size_t, size_t>> buckets;
};

// Five tensors (f32 400 B, f32 200 B, f32 12 B, f64 80 B, f32 28 B) and
// two scalars per rank, reduced with `schedule` on 3 thread ranks (or with
// the single-message allreduceWeighted when schedule is null).
std::vector<Reduced> reduceOnThreeRanks(const ReduceSchedule *schedule) {
  return onRanks(3, [&](std::shared_ptr<Communicator> c) {
    Reduced r;
    for (auto [dtype, n] : std::vector<std::pair<ir::DType, int64_t>>{
             {ir::DType::f32, 100}, {ir::DType::f32, 50}, {ir::DType::f32, 3},
             {ir::DType::f64, 10}, {ir::DType::f32, 7}}) {
      ir::Tensor t({dtype, {n}});
      for (int64_t i = 0; i < n; ++i)
        t.set(i, std::sin(0.37 * double(i + 11 * c->rank())) / 3.0);
      r.tensors.push_back(std::move(t));
    }
    r.scalars = {double(c->rank()), 0.1};
    std::vector<ir::Tensor *> p;
    for (ir::Tensor &t : r.tensors)
      p.push_back(&t);
    double weight = (c->rank() + 1) / 6.0;
    if (!schedule) {
      train::allreduceWeighted(*c, p, weight, std::span<double>(r.scalars));
      return r;
    }
    BucketedReduction reduction(*c, p, weight, std::span<double>(r.scalars), *schedule);
    while (!reduction.done()) {
      r.buckets.push_back(reduction.finishNext());
      reduction.poll();
    }
    return r;
  });
}

} // namespace

TEST_CASE("bucketed reduction: buckets by size and dtype, overlapped, blocking and one message agree "
          "bit for bit") {
  std::vector<Reduced> oneMessage = reduceOnThreeRanks(nullptr);
  ReduceSchedule small{512, true}, blocking{512, false}, huge{int64_t(1) << 30, true};
  std::vector<Reduced> overlapped = reduceOnThreeRanks(&small);
  // 400 + 200 B close the first bucket; a change of dtype closes the next
  // two; the scalars come last on their own.
  CHECK(overlapped[0].buckets ==
        std::vector<std::pair<size_t, size_t>>{{0, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 5}});
  CHECK(reduceOnThreeRanks(&huge)[0].buckets.size() == 4); // f32 x3, f64, f32, scalars
  for (const std::vector<Reduced> &other : {reduceOnThreeRanks(&blocking), overlapped}) {
    for (int r = 0; r < 3; ++r) {
      CHECK(other[r].scalars == std::vector<double>{3.0, 0.1 * 3});
      CHECK(other[r].scalars == oneMessage[r].scalars);
      for (size_t t = 0; t < 5; ++t)
        CHECK(std::memcmp(other[r].tensors[t].data(), oneMessage[0].tensors[t].data(),
                          other[r].tensors[t].byteSize()) == 0);
    }
  }
  // The weighted sum itself: element 1 of the f64 tensor.
  double expect = 0;
  for (int r = 0; r < 3; ++r)
    expect += (r + 1) / 6.0 * (std::sin(0.37 * double(1 + 11 * r)) / 3.0);
  CHECK(overlapped[1].tensors[3].at(1) == doctest::Approx(expect).epsilon(1e-15));
}

TEST_CASE("trainer on 3 thread ranks: updates overlapped with the reduction bucket by bucket give "
          "the bits of one blocking message") {
  Dataset data = digitsSubset(120);
  ir::Graph g = ir::parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) + "/examples/digits_mlp.cj");
  for (train::OptimizerKind kind : {train::OptimizerKind::Momentum, train::OptimizerKind::Adam}) {
    auto train = [&](ReduceSchedule schedule) {
      return onRanks(3, [&](std::shared_ptr<Communicator> c) {
        train::TrainConfig cc;
        cc.backend = Backend::Interp;
        cc.optimizer.kind = kind;
        cc.optimizer.stepSize.base = kind == train::OptimizerKind::Adam ? 0.001 : 0.05;
        cc.regularization.l1 = 1e-4;
        cc.batch = 31;
        cc.epochs = 1;
        cc.communicator = c;
        cc.reduction = schedule;
        train::Trainer t(g, cc);
        train::History h = t.fit(data);
        return std::pair{t.modelParams(), h.epochs.back().train.loss};
      });
    };
    // 64-byte buckets: every param tensor its own message, each update
    // made while the later ones are in flight.
    auto overlapped = train({64, true});
    auto blocking = train({int64_t(1) << 30, false});
    for (int r = 0; r < 3; ++r) {
      CHECK(sameBits(overlapped[r].first, blocking[r].first));
      CHECK(overlapped[r].second == blocking[r].second);
    }
  }
}

TEST_CASE("trainer on 2 thread ranks with IDX data read on demand: one process's params, each rank "
          "reading half the rows") {
  // The first 200 digits (pixels 0..16) as an uncompressed IDX pair.
  Dataset digits = loadCsvDataset(std::string(CHAINJIT_SOURCE_DIR) + "/examples/data/digits.csv.gz");
  auto dir = std::filesystem::temp_directory_path() / ("chainjit_dist_idx_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  const uint32_t n = 200;
  std::string images = be32(0x803) + be32(n) + be32(8) + be32(8), labels = be32(0x801) + be32(n);
  for (uint32_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < 64; ++j)
      images += char(static_cast<int>(digits.features.at(r * 64 + j)));
    labels += char(static_cast<int>(digits.labels.at(r)));
  }
  std::ofstream(dir / "images", std::ios::binary) << images;
  std::ofstream(dir / "labels", std::ios::binary) << labels;
  train::DataSpec spec;
  spec.idxImages = (dir / "images").string();
  spec.idxLabels = (dir / "labels").string();
  spec.scale = 1.0 / 16.0;
  spec.testFraction = 0.25;
  ir::Graph g = ir::parseGraphFile(std::string(CHAINJIT_SOURCE_DIR) + "/examples/digits_mlp.cj");
  train::TrainConfig c;
  c.backend = Backend::Interp;
  c.optimizer.kind = train::OptimizerKind::Momentum;
  c.optimizer.stepSize.base = 0.05;
  c.batch = 32;
  c.epochs = 2;
  train::TrainingData whole = train::loadTrainingData(spec, ir::DType::f32);
  train::Trainer one(g, c);
  one.fit(whole.train, &whole.test);
  Bindings p1 = one.modelParams();
  auto out = onRanks(2, [&](std::shared_ptr<Communicator> comm) {
    train::DataSpec s = spec;
    s.rowsOnDemand = true;
    train::TrainingData d = train::loadTrainingData(s, ir::DType::f32);
    train::TrainConfig cc = c;
    cc.communicator = comm;
    train::Trainer t(g, cc);
    t.fit(d.train, &d.test);
    bool onDemand = d.train.featureRows != nullptr;
    return std::tuple{t.modelParams(), rowBytesRead({&d.train, &d.test}), onDemand};
  });
  // 150 training rows each epoch, the 50 test rows evaluated after each.
  uint64_t wholeRun = 64 * (2 * 150 + 2 * 50);
  uint64_t sum = 0;
  for (const auto &[params, bytes, onDemand] : out) {
    CHECK(onDemand);
    CHECK(maxDifference(params, p1) < 1e-5);
    CHECK(bytes >= wholeRun * 45 / 100);
    CHECK(bytes <= wholeRun * 55 / 100);
    sum += bytes;
  }
  CHECK(sum == wholeRun); // every row a rank computes is read once, by that rank alone
  std::filesystem::remove_all(dir);
}
