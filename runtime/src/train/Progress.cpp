// The two progress displays: a bar redrawn with '\r' on a terminal, plain
// epoch lines elsewhere (a log file must not fill with redraws).
#include "chainjit/runtime/train/Progress.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <ostream>

namespace chainjit::runtime::train {

namespace {

// The metric that fits the task (the others are NaN): accuracy, mean
// squared error or perplexity.
std::string metricText(double accuracy, double mse, double perplexity) {
  std::string s;
  if (!std::isnan(accuracy))
    s += fmt::format(" acc {:.2f}%", 100.0 * accuracy);
  if (!std::isnan(mse))
    s += fmt::format(" mse {:.4g}", mse);
  if (!std::isnan(perplexity))
    s += fmt::format(" ppl {:.4g}", perplexity);
  return s;
}

std::string metricText(const Metrics &m) { return metricText(m.accuracy, m.mse, m.perplexity); }

class LogLines : public TrainObserver {
public:
  explicit LogLines(std::ostream &out) : out_(out) {}
  void onEpoch(const EpochMetrics &m, int64_t epochs) override {
    out_ << formatEpochLine(m, epochs) << std::endl;
  }
  void onCheckpoint(const std::string &path, int64_t epoch, bool resumed) override {
    if (resumed)
      out_ << "resumed from " << path << " after epoch " << epoch << std::endl;
  }

protected:
  std::ostream &out_;
};

class ProgressBar : public LogLines {
public:
  using LogLines::LogLines;

  void onStep(const StepProgress &p) override {
    auto now = std::chrono::steady_clock::now();
    bool last = p.step == p.stepsPerEpoch;
    if (!last && now - lastDraw_ < std::chrono::milliseconds(100))
      return;
    lastDraw_ = now;
    constexpr int width = 20;
    int filled = static_cast<int>(width * p.step / std::max<int64_t>(p.stepsPerEpoch, 1));
    std::string line = fmt::format(
        "epoch {}/{} [{}{}] {}/{}  loss {:.4f}{}  {:.0f} steps/s  ETA {}", p.epoch, p.epochs,
        std::string(filled, '#'), std::string(width - filled, '.'), p.step, p.stepsPerEpoch,
        p.loss, metricText(p.accuracy, p.mse, p.perplexity), p.stepsPerSecond, formatDuration(p.etaSeconds));
    draw(line);
  }

  void onEpoch(const EpochMetrics &m, int64_t epochs) override {
    draw("");
    out_ << "\r" << formatEpochLine(m, epochs) << std::endl;
    drawn_ = 0;
  }

  void onCheckpoint(const std::string &path, int64_t epoch, bool resumed) override {
    if (resumed)
      LogLines::onCheckpoint(path, epoch, resumed);
  }

private:
  // Overwrites the previous bar, padding with blanks where it was longer.
  void draw(const std::string &line) {
    size_t pad = drawn_ > line.size() ? drawn_ - line.size() : 0;
    out_ << "\r" << line << std::string(pad, ' ') << std::flush;
    drawn_ = line.size();
  }

  std::chrono::steady_clock::time_point lastDraw_{};
  size_t drawn_ = 0;
};

} // namespace

std::string formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600)
    return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string formatEpochLine(const EpochMetrics &m, int64_t epochs) {
  std::string line = fmt::format("epoch {}/{}  train loss {:.4f}{}", m.epoch, epochs,
                                 m.train.loss, metricText(m.train));
  if (m.validation)
    line += fmt::format("  val loss {:.4f}{}", m.validation->loss,
                        metricText(*m.validation));
  return line + fmt::format("  {:.2f} s", m.seconds);
}

std::unique_ptr<TrainObserver> makeProgressBar(std::ostream &out) {
  return std::make_unique<ProgressBar>(out);
}

std::unique_ptr<TrainObserver> makeLogLines(std::ostream &out) {
  return std::make_unique<LogLines>(out);
}

} // namespace chainjit::runtime::train
