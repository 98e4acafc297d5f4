// The loss curves of a run: per-epoch train and validation loss and
// accuracy as a CSV table, and the two loss curves drawn as an SVG plot.
#pragma once

#include "chainjit/runtime/train/Trainer.h"

#include <string>

namespace chainjit::runtime::train {

// Header "epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds"
// (then ",train_mse,val_mse" for a regression and
// ",train_perplexity,val_perplexity" for sequence labels), then one row per
// epoch; a value that does not exist (no validation set,
// no prediction output) is an empty field. Numbers in the shortest form
// that reads back exactly.
std::string curvesCsv(const History &h);

// A line plot of train and validation loss against the epoch: axes with
// ticks at round numbers, one polyline (and point markers) per curve, a
// legend, and `title` on top. Self-contained SVG 1.1.
std::string curvesSvg(const History &h, const std::string &title);

// Write the above to `path`; chainjit::Error naming the file when it cannot.
void writeCurvesCsv(const std::string &path, const History &h);
void writeCurvesSvg(const std::string &path, const History &h, const std::string &title);

} // namespace chainjit::runtime::train
