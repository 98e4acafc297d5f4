// The cache entry of the copy bandwidth (HostTimeModel.cpp), apart so that
// tests can drive it with made-up measurements, as KernelChoice.h's
// loadOrCalibrate.
#pragma once

#include "chainjit/compiler/TimeModel.h"

#include <functional>
#include <optional>
#include <string>

namespace chainjit::compiler::jit {

// Text (one number a line); parse() returns nullopt for anything that is
// not exactly what serialize() writes with plausible numbers.
std::string serializeBandwidth(const CopyBandwidth &bw);
std::optional<CopyBandwidth> parseBandwidth(const std::string &text);

// The bandwidth cached in `dir` for `target`, or `measure()`'d and stored
// there; a damaged or unreadable entry is reported through `warn`, deleted
// and measured again. `measured` says whether measure() ran.
CopyBandwidth loadOrMeasureBandwidth(const std::string &dir, const std::string &target,
                                     const std::function<void(const std::string &)> &warn,
                                     const std::function<CopyBandwidth()> &measure,
                                     bool *measured = nullptr);
// The path of that entry.
std::string bandwidthEntryPath(const std::string &dir, const std::string &target);

} // namespace chainjit::compiler::jit
