#include "CheckpointCount.h"

#include "chainjit/ir/Error.h"

#include <fmt/format.h>

#include <cmath>

namespace chainjit::runtime::train {

int64_t checkpointCount(double value, const std::string &what) {
  if (!(value >= 0 && value <= 0x1p53 && value == std::floor(value)))
    throw Error(fmt::format("{} is {}, not a count (a whole number from 0 to 2^53)", what, value));
  return static_cast<int64_t>(value);
}

} // namespace chainjit::runtime::train
