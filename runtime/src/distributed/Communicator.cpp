// The single-process communicator and what every communicator shares.
#include "chainjit/runtime/distributed/Communicator.h"

#include <cstdlib>
#include <iostream>

namespace chainjit::runtime::distributed {

void Communicator::allreduceAverage(std::span<float> data) {
  allreduceSum(data);
  for (float &v : data)
    v /= static_cast<float>(size());
}

void Communicator::allreduceAverage(std::span<double> data) {
  allreduceSum(data);
  for (double &v : data)
    v /= static_cast<double>(size());
}

namespace {

// A reduction that was done before it was returned.
class Done final : public Communicator::Pending {
public:
  bool test() override { return true; }
  void wait() override {}
};

} // namespace

std::unique_ptr<Communicator::Pending> Communicator::startAllreduceSum(std::span<float> data) {
  allreduceSum(data);
  return std::make_unique<Done>();
}

std::unique_ptr<Communicator::Pending> Communicator::startAllreduceSum(std::span<double> data) {
  allreduceSum(data);
  return std::make_unique<Done>();
}

void SingleProcessCommunicator::broadcast(std::span<std::byte>, int) {}

std::vector<std::vector<std::byte>>
SingleProcessCommunicator::allgather(std::span<const std::byte> blob) {
  return {std::vector<std::byte>(blob.begin(), blob.end())};
}

void SingleProcessCommunicator::abort(const std::string &message, int code) {
  std::cerr << "chainjit: error: rank 0: " << message << std::endl;
  std::exit(code);
}

std::shared_ptr<Communicator> singleProcess() {
  static const std::shared_ptr<Communicator> one = std::make_shared<SingleProcessCommunicator>();
  return one;
}

} // namespace chainjit::runtime::distributed
