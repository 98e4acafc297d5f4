// The time of one in-place allreduce-sum of f32 buffers against message
// size, over the communicator the trainer uses, and the α–β model
// t(n) = α + β n fitted to it by (relative) least squares (docs/distributed.md uses
// both). Run under MPI:
//
//   mpirun -np 2 build/bench/allreduce_bench [--max-bytes N] [--results FILE]
//
// Rank 0 prints a table (bytes, median µs, GB/s of the buffer) and the fit;
// without mpirun it measures the single-process communicator (no traffic).
//
// A second table times what a data-parallel step does after its compiled
// function returned: reduce the gradients and apply a momentum update to
// each param. Three schedules (BucketedReduction.h): one blocking message
// then every update; blocking buckets of 256 KiB; and buckets of 256 KiB
// started nonblocking, each bucket's params updated as soon as it arrived
// while the later ones are in flight. The params of every schedule must
// have the same bits (checked; "same bits: no" would be a bug at 2 ranks).
//
//   mpirun -np 2 build/bench/allreduce_bench --max-bytes 0 --step-max-bytes 16777216
#include "chainjit/runtime/distributed/BucketedReduction.h"
#include "chainjit/runtime/distributed/Mpi.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace dist = chainjit::runtime::distributed;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The slowest rank's median (a collective ends when the slowest does).
double slowestMedian(dist::Communicator &comm, const std::vector<double> &samples) {
  std::vector<double> all(comm.size(), 0.0);
  all[comm.rank()] = median(samples);
  comm.allreduceSum(std::span<double>(all));
  return *std::max_element(all.begin(), all.end());
}

// A model's gradients of `bytes` in f32 params of 64 KiB each, reduced and
// applied (v := 0.9 v + g, w := w - 0.01 v) with `schedule`; returns the
// median seconds per step and the final params.
std::pair<double, std::vector<float>> timeStep(dist::Communicator &comm, int64_t bytes,
                                               const dist::ReduceSchedule &schedule) {
  const int64_t perParam = 16384;
  int64_t params = std::max<int64_t>(1, bytes / 4 / perParam);
  std::vector<chainjit::ir::Tensor> grads, w, v;
  for (int64_t p = 0; p < params; ++p) {
    grads.emplace_back(chainjit::ir::f32({perParam}));
    w.emplace_back(chainjit::ir::f32({perParam}));
    v.emplace_back(chainjit::ir::f32({perParam}));
  }
  auto fillGradients = [&](int step) {
    for (int64_t p = 0; p < params; ++p)
      for (int64_t i = 0; i < perParam; ++i)
        grads[p].as<float>()[i] =
            std::sin(0.001f * float(i + 7 * p + 13 * step + 101 * comm.rank()));
  };
  auto update = [&](size_t p) {
    float *wp = w[p].as<float>(), *vp = v[p].as<float>();
    const float *g = grads[p].as<float>();
    for (int64_t i = 0; i < perParam; ++i) {
      vp[i] = 0.9f * vp[i] + g[i];
      wp[i] -= 0.01f * vp[i];
    }
  };
  std::vector<chainjit::ir::Tensor *> pointers;
  for (auto &g : grads)
    pointers.push_back(&g);
  // Round 0: three steps from zero, whose params are compared across
  // schedules; round 1: the timed repeats.
  int repeats = 3;
  std::vector<double> samples;
  std::vector<float> out;
  for (int round = 0; round < 2; ++round) {
    samples.clear();
    for (int step = 0; step < repeats; ++step) {
      fillGradients(step);
      comm.barrier();
      double start = now();
      dist::BucketedReduction reduction(comm, pointers, 0.5, {}, schedule);
      while (!reduction.done()) {
        auto [first, last] = reduction.finishNext();
        for (size_t p = first; p < last; ++p) {
          update(p);
          reduction.poll();
        }
      }
      samples.push_back(now() - start);
    }
    if (round == 0) {
      for (auto &t : w)
        out.insert(out.end(), t.as<float>(), t.as<float>() + perParam);
      repeats = std::clamp(static_cast<int>(0.3 / std::max(median(samples), 1e-7)), 5, 500);
      comm.broadcast(std::as_writable_bytes(std::span<int>(&repeats, 1)), 0);
    }
  }
  return {slowestMedian(comm, samples), out};
}

} // namespace

int main(int argc, char **argv) {
  int64_t maxBytes = int64_t(64) << 20, stepMaxBytes = int64_t(16) << 20;
  std::string results;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--max-bytes")
      maxBytes = std::atoll(argv[i + 1]);
    else if (a == "--results")
      results = argv[i + 1];
    else if (a == "--step-max-bytes")
      stepMaxBytes = std::atoll(argv[i + 1]);
  }
  std::shared_ptr<dist::Communicator> comm = dist::launcherWorldSize().value_or(1) > 1
                                                 ? dist::mpiWorld()
                                                 : dist::singleProcess();
  bool root = comm->rank() == 0;
  if (root && maxBytes >= 4)
    fmt::print("allreduce-sum of f32 buffers over {} (in place, median of repeats)\n"
               "{:>12} {:>12} {:>10}\n",
               comm->describe(), "bytes", "time (us)", "GB/s");
  std::vector<double> sizes, times;
  for (int64_t bytes = 4; bytes <= maxBytes; bytes *= 4) {
    std::vector<float> buffer(static_cast<size_t>(bytes / 4), 1.0f);
    // Repeats: about 0.2 s per size, at least 5 and at most 2000; every rank
    // must do the same number, so rank 0's choice is broadcast.
    comm->allreduceSum(std::span<float>(buffer)); // warm-up
    double t0 = now();
    comm->allreduceSum(std::span<float>(buffer));
    double once = now() - t0;
    int repeats = std::clamp(static_cast<int>(0.2 / std::max(once, 1e-7)), 5, 2000);
    comm->broadcast(std::as_writable_bytes(std::span<int>(&repeats, 1)), 0);
    std::vector<double> samples;
    for (int r = 0; r < repeats; ++r) {
      comm->barrier();
      double start = now();
      comm->allreduceSum(std::span<float>(buffer));
      samples.push_back(now() - start);
    }
    double t = median(samples);
    // Every rank's time counts: the collective ends when the slowest does.
    double slowest[1] = {t};
    std::vector<double> all(comm->size(), 0.0);
    all[comm->rank()] = t;
    comm->allreduceSum(std::span<double>(all));
    slowest[0] = *std::max_element(all.begin(), all.end());
    sizes.push_back(static_cast<double>(bytes));
    times.push_back(slowest[0]);
    if (root)
      fmt::print("{:>12} {:>12.2f} {:>10.3f}\n", bytes, slowest[0] * 1e6,
                 static_cast<double>(bytes) / slowest[0] / 1e9);
  }
  // Least squares of t = α + β n relative to t (weights 1/t²), so that the
  // microsecond latencies of small messages count as much as the large ones.
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    double w = 1 / (times[i] * times[i]);
    sw += w, sx += w * sizes[i], sy += w * times[i];
    sxx += w * sizes[i] * sizes[i], sxy += w * sizes[i] * times[i];
  }
  double beta = (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
  double alpha = (sy - beta * sx) / sw;
  if (root && sizes.size() >= 2) {
    fmt::print("alpha-beta fit: alpha = {:.2f} us, beta = {:.4f} ns/byte ({:.2f} GB/s)\n",
               alpha * 1e6, beta * 1e9, 1 / beta / 1e9);
    if (!results.empty()) {
      std::FILE *f = std::fopen(results.c_str(), "w");
      if (f) {
        std::fprintf(f, "bytes\tseconds\n");
        for (size_t i = 0; i < sizes.size(); ++i)
          std::fprintf(f, "%.0f\t%.9g\n", sizes[i], times[i]);
        std::fclose(f);
      }
    }
  }
  if (stepMaxBytes >= 4) {
    const int64_t bucket = int64_t(256) << 10;
    if (root)
      fmt::print("\ngradient reduction + momentum update per step over {} (median ms; 64 KiB "
                 "params)\n{:>12} {:>14} {:>16} {:>16} {:>10}\n",
                 comm->describe(), "bytes", "one blocking", "blocking 256K", "overlap 256K",
                 "same bits");
    for (int64_t bytes = int64_t(256) << 10; bytes <= stepMaxBytes; bytes *= 4) {
      auto [oneTime, oneParams] = timeStep(*comm, bytes, {int64_t(1) << 40, false});
      auto [blockTime, blockParams] = timeStep(*comm, bytes, {bucket, false});
      auto [overTime, overParams] = timeStep(*comm, bytes, {bucket, true});
      bool same = oneParams == blockParams && oneParams == overParams;
      if (root)
        fmt::print("{:>12} {:>14.3f} {:>16.3f} {:>16.3f} {:>10}\n", bytes, oneTime * 1e3,
                   blockTime * 1e3, overTime * 1e3, same ? "yes" : "no");
    }
  }
  return 0;
}
