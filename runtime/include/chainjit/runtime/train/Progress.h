// Showing a training run as it goes: a live progress bar redrawn in place
// (for a terminal) or one plain line per epoch (for logs and pipes). The CLI
// picks one with isatty(); both are TrainObservers.
#pragma once

#include "chainjit/runtime/train/Trainer.h"

#include <iosfwd>
#include <memory>
#include <string>

namespace chainjit::runtime::train {

// One line, redrawn at most ~10 times a second:
//   epoch 3/30 [########............] 23/45  loss 0.2345  acc 93.12%  812 steps/s  ETA 0:04
// and, when an epoch ends, that epoch's line (formatEpochLine) in its place.
std::unique_ptr<TrainObserver> makeProgressBar(std::ostream &out);

// Only formatEpochLine per epoch and a line per checkpoint event.
std::unique_ptr<TrainObserver> makeLogLines(std::ostream &out);

// "epoch 3/30  train loss 0.2345 acc 93.12%  val loss 0.2811 acc 91.94%  1.23 s"
// (accuracies left out when the model has no prediction, validation when
// there is none).
std::string formatEpochLine(const EpochMetrics &m, int64_t epochs);

// "0:04", "12:34", "1:02:03".
std::string formatDuration(double seconds);

} // namespace chainjit::runtime::train
