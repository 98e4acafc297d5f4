// The example models and the UCI digits data, for the training tests.
#pragma once

#include "chainjit/runtime/Dataset.h"

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace chainjit::testing {

// examples/NAME in the repository.
inline std::string examplePath(const std::string &name) {
  return std::string(CHAINJIT_SOURCE_DIR) + "/examples/" + name;
}

// The first `count` digits, features scaled to [0, 1]: enough for a few
// quick epochs. Loaded once per test process.
inline runtime::Dataset firstDigits(int64_t count) {
  static const runtime::Dataset all = [] {
    runtime::Dataset d = runtime::loadCsvDataset(examplePath("data/digits.csv.gz"));
    runtime::scale(d, 1.0 / 16.0);
    return d;
  }();
  std::vector<int64_t> rows(static_cast<size_t>(count));
  std::iota(rows.begin(), rows.end(), int64_t{0});
  return runtime::batch(all, rows);
}

} // namespace chainjit::testing
