// The time of one in-place allreduce-sum of f32 buffers against message
// size, over the communicator the trainer uses, and the α–β model
// t(n) = α + β n fitted to it by (relative) least squares (docs/distributed.md uses
// both). Run under MPI:
//
//   mpirun -np 2 build/bench/allreduce_bench [--max-bytes N] [--results FILE]
//
// Rank 0 prints a table (bytes, median µs, GB/s of the buffer) and the fit;
// without mpirun it measures the single-process communicator (no traffic).
#include "chainjit/runtime/distributed/Mpi.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

} // namespace

int main(int argc, char **argv) {
  int64_t maxBytes = int64_t(64) << 20;
  std::string results;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--max-bytes")
      maxBytes = std::atoll(argv[i + 1]);
    else if (a == "--results")
      results = argv[i + 1];
  }
  std::shared_ptr<dist::Communicator> comm = dist::launcherWorldSize().value_or(1) > 1
                                                 ? dist::mpiWorld()
                                                 : dist::singleProcess();
  bool root = comm->rank() == 0;
  if (root)
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
  if (root) {
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
  return 0;
}
