// PyTorch's reference values: the .npz files that tests/fixtures/make_torch_*.py
// write and the repository commits, each read once per test process.
#pragma once

#include "chainjit/ir/Tensor.h"
#include "chainjit/runtime/Npz.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

namespace chainjit::testing {

// Every tensor of tests/fixtures/FILE.
inline const runtime::TensorMap &torchFixtures(const std::string &file) {
  static std::map<std::string, runtime::TensorMap> loaded;
  auto [it, fresh] = loaded.try_emplace(file);
  if (fresh)
    it->second = runtime::loadNpz(std::string(CHAINJIT_TESTS_DIR) + "/fixtures/" + file);
  return it->second;
}

// Tensor NAME of tests/fixtures/FILE; a missing one fails the test, naming both.
inline const ir::Tensor &torchFixture(const std::string &file, const std::string &name) {
  const runtime::TensorMap &m = torchFixtures(file);
  auto it = m.find(name);
  REQUIRE_MESSAGE(it != m.end(), file << " has no " << name);
  return it->second;
}

} // namespace chainjit::testing
