// The MPI communicator: MPI_COMM_WORLD behind the Communicator interface.
// The only file of chainjit that includes mpi.h; CMake compiles it where it
// found MPI (and MpiUnavailable.cpp elsewhere).
#include "chainjit/runtime/distributed/Mpi.h"

#include "chainjit/ir/Error.h"

// The C API only: without these, Open MPI's mpi.h pulls in its deprecated
// C++ bindings, which need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace chainjit::runtime::distributed {

namespace {

// MPI counts are ints: longer buffers go in pieces of this many elements.
constexpr int64_t kMaxCount = int64_t(1) << 28;

void check(int rc, const char *what) {
  if (rc == MPI_SUCCESS)
    return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw Error(std::string("MPI: ") + what + " failed: " + std::string(text, length));
}

void finalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

template <typename T> void allreduceInPieces(std::span<T> data, MPI_Datatype type) {
  for (size_t at = 0; at < data.size(); at += kMaxCount) {
    int count = static_cast<int>(std::min<int64_t>(kMaxCount, int64_t(data.size() - at)));
    check(MPI_Allreduce(MPI_IN_PLACE, data.data() + at, count, type, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
}

// The requests of one nonblocking sum (one per piece of kMaxCount).
class MpiPending final : public Communicator::Pending {
public:
  template <typename T> MpiPending(std::span<T> data, MPI_Datatype type) {
    for (size_t at = 0; at < data.size(); at += kMaxCount) {
      int count = static_cast<int>(std::min<int64_t>(kMaxCount, int64_t(data.size() - at)));
      requests_.push_back(MPI_REQUEST_NULL);
      check(MPI_Iallreduce(MPI_IN_PLACE, data.data() + at, count, type, MPI_SUM, MPI_COMM_WORLD,
                           &requests_.back()),
            "MPI_Iallreduce");
    }
  }
  ~MpiPending() override {
    // Unwinding past a sum in flight: its buffer is about to go, so wait
    // (an error here has nowhere to go; the rank is failing already).
    if (!done_)
      MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  }
  bool test() override {
    if (done_)
      return true;
    int flag = 0;
    check(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag,
                      MPI_STATUSES_IGNORE),
          "MPI_Testall");
    done_ = flag != 0;
    return done_;
  }
  void wait() override {
    if (done_)
      return;
    done_ = true;
    check(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE),
          "MPI_Waitall");
  }

private:
  std::vector<MPI_Request> requests_;
  bool done_ = false;
};

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator() {
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    // Errors come back as codes (turned into chainjit::Error) instead of
    // MPI's default of ending the job silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override {
    return "MPI, " + std::to_string(size_) + " rank" + (size_ == 1 ? "" : "s");
  }
  void allreduceSum(std::span<float> data) override { allreduceInPieces(data, MPI_FLOAT); }
  void allreduceSum(std::span<double> data) override { allreduceInPieces(data, MPI_DOUBLE); }
  std::unique_ptr<Pending> startAllreduceSum(std::span<float> data) override {
    return std::make_unique<MpiPending>(data, MPI_FLOAT);
  }
  std::unique_ptr<Pending> startAllreduceSum(std::span<double> data) override {
    return std::make_unique<MpiPending>(data, MPI_DOUBLE);
  }
  void broadcast(std::span<std::byte> data, int root) override {
    for (size_t at = 0; at < data.size(); at += kMaxCount) {
      int count = static_cast<int>(std::min<int64_t>(kMaxCount, int64_t(data.size() - at)));
      check(MPI_Bcast(data.data() + at, count, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    }
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  std::vector<std::vector<std::byte>> allgather(std::span<const std::byte> blob) override {
    if (blob.size() > size_t(INT_MAX))
      throw Error("MPI allgather: a blob of " + std::to_string(blob.size()) +
                  " bytes is too large (it is meant for small ones)");
    int mine = static_cast<int>(blob.size());
    std::vector<int> lengths(size_), offsets(size_);
    check(MPI_Allgather(&mine, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD),
          "MPI_Allgather");
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      if (total + lengths[r] > INT_MAX)
        throw Error("MPI allgather: the blobs together exceed 2 GiB");
      offsets[r] = static_cast<int>(total);
      total += lengths[r];
    }
    std::vector<std::byte> all(static_cast<size_t>(total));
    check(MPI_Allgatherv(blob.data(), mine, MPI_BYTE, all.data(), lengths.data(),
                         offsets.data(), MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    std::vector<std::vector<std::byte>> out(size_);
    for (int r = 0; r < size_; ++r)
      out[r].assign(all.begin() + offsets[r], all.begin() + offsets[r] + lengths[r]);
    return out;
  }
  void abort(const std::string &message, int code) override {
    std::fprintf(stderr, "chainjit: error: rank %d: %s\n", rank_, message.c_str());
    std::fflush(stderr);
    std::fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code); // MPI_Abort does not return; this is in case it does
  }

private:
  int rank_ = 0, size_ = 1;
};

} // namespace

bool mpiBuiltIn() { return true; }

std::shared_ptr<Communicator> mpiWorld() {
  static std::once_flag once;
  static std::shared_ptr<Communicator> world;
  std::call_once(once, [] {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided),
            "MPI_Init_thread");
      std::atexit(finalizeAtExit);
    }
    world = std::make_shared<MpiCommunicator>();
  });
  return world;
}

} // namespace chainjit::runtime::distributed
