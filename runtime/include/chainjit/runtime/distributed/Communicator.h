// The collective operations data-parallel training needs, behind one
// interface, so that the trainer never calls MPI itself: a single-process
// implementation (every collective is the identity) and an MPI one
// (Mpi.h). Every rank must call the same collectives in the same order with
// the same sizes; a rank that cannot go on calls abort(), which ends every
// rank of the job (a collective that one rank never reaches would hang the
// others).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace chainjit::runtime::distributed {

class Communicator {
public:
  virtual ~Communicator() = default;

  // 0 .. size() - 1; rank 0 writes the files of a run.
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "single process" or "MPI, 4 ranks": for messages.
  virtual std::string describe() const = 0;

  // In place: every rank's buffer becomes the elementwise sum over ranks
  // (same length on every rank; every rank gets the same bits).
  virtual void allreduceSum(std::span<float> data) = 0;
  virtual void allreduceSum(std::span<double> data) = 0;
  // The same, divided by size().
  void allreduceAverage(std::span<float> data);
  void allreduceAverage(std::span<double> data);

  // A sum started by startAllreduceSum and not yet waited for: its buffer
  // must not be read or written until wait() returns. Destroying it waits.
  class Pending {
  public:
    virtual ~Pending() = default;
    // Lets the reduction progress (MPI moves a nonblocking collective on
    // only inside its own calls) without waiting; true once it is done.
    virtual bool test() = 0;
    virtual void wait() = 0;
  };
  // allreduceSum started without waiting for it (MPI_Iallreduce), so that
  // the caller computes while the message is in flight. Same rules as the
  // blocking one: every rank starts the same sums in the same order. The
  // default reduces before it returns (a transport without nonblocking
  // collectives).
  virtual std::unique_ptr<Pending> startAllreduceSum(std::span<float> data);
  virtual std::unique_ptr<Pending> startAllreduceSum(std::span<double> data);

  // Every rank's buffer becomes root's (same length everywhere).
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
  virtual void barrier() = 0;
  // Every rank's (small) blob, indexed by rank; lengths may differ.
  virtual std::vector<std::vector<std::byte>> allgather(std::span<const std::byte> blob) = 0;

  // Prints "chainjit: error: rank R: MESSAGE" to stderr and ends the whole
  // job with `code` (MPI_Abort; std::exit for a single process). Never
  // returns.
  [[noreturn]] virtual void abort(const std::string &message, int code) = 0;
};

// One process: rank 0 of 1; the collectives leave the data as it is.
class SingleProcessCommunicator final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "single process"; }
  void allreduceSum(std::span<float>) override {}
  void allreduceSum(std::span<double>) override {}
  void broadcast(std::span<std::byte>, int root) override;
  void barrier() override {}
  std::vector<std::vector<std::byte>> allgather(std::span<const std::byte> blob) override;
  [[noreturn]] void abort(const std::string &message, int code) override;
};

// A shared single-process communicator (the trainer's default).
std::shared_ptr<Communicator> singleProcess();

} // namespace chainjit::runtime::distributed
