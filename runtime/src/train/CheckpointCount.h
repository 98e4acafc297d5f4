// Counts (epochs, steps) that a checkpoint stores as f64 scalars.
#pragma once

#include <cstdint>
#include <string>

namespace chainjit::runtime::train {

// `value` as a count: a whole number from 0 to 2^53 (where doubles still
// count exactly). NaN, infinities, negative, fractional or larger values come
// from a damaged or crafted file; they are an Error naming `what`, never a
// cast to int64 (undefined for NaN and out-of-range values).
int64_t checkpointCount(double value, const std::string &what);

} // namespace chainjit::runtime::train
