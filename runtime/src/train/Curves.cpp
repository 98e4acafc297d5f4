// Loss curves as CSV and as a hand-written SVG plot (SVG is plain text: a
// frame, tick marks with labels, two polylines and a legend).
#include "chainjit/runtime/train/Curves.h"

#include "chainjit/ir/Error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

namespace chainjit::runtime::train {

namespace {

std::string field(double v) { return std::isnan(v) ? std::string() : fmt::format("{}", v); }

void writeText(const std::string &path, const std::string &text, const char *what) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out)
    out << text;
  if (out)
    out.flush();
  if (!out)
    throw Error(path + ": cannot write the " + std::string(what) + ": " + std::strerror(errno));
}

// Round tick positions covering [lo, hi]: a step of 1, 2 or 5 times a power
// of ten giving at most about 6 intervals.
std::vector<double> niceTicks(double lo, double hi) {
  if (!(hi > lo))
    hi = lo + 1;
  double raw = (hi - lo) / 5.0;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::floor(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string escapeXml(const std::string &s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}

} // namespace

std::string curvesCsv(const History &h) {
  // Columns of the regression and sequence metrics only where a run has them.
  bool mse = false, perplexity = false;
  for (const EpochMetrics &e : h.epochs) {
    mse = mse || !std::isnan(e.train.mse);
    perplexity = perplexity || !std::isnan(e.train.perplexity);
  }
  std::string csv = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds";
  csv += std::string(mse ? ",train_mse,val_mse" : "") +
         (perplexity ? ",train_perplexity,val_perplexity" : "") + "\n";
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  for (const EpochMetrics &e : h.epochs) {
    csv += fmt::format("{},{},{},{},{},{}", e.epoch, field(e.train.loss),
                       field(e.train.accuracy), field(e.validation ? e.validation->loss : nan),
                       field(e.validation ? e.validation->accuracy : nan), field(e.seconds));
    if (mse)
      csv += fmt::format(",{},{}", field(e.train.mse),
                         field(e.validation ? e.validation->mse : nan));
    if (perplexity)
      csv += fmt::format(",{},{}", field(e.train.perplexity),
                         field(e.validation ? e.validation->perplexity : nan));
    csv += "\n";
  }
  return csv;
}

std::string curvesSvg(const History &h, const std::string &title) {
  constexpr double width = 640, height = 400, left = 70, right = 20, top = 40, bottom = 50;
  const double plotW = width - left - right, plotH = height - top - bottom;

  struct Curve {
    const char *label, *color;
    std::vector<std::pair<double, double>> points; // (epoch, loss)
  };
  std::vector<Curve> curves = {{"train loss", "#1f77b4", {}}, {"validation loss", "#ff7f0e", {}}};
  for (const EpochMetrics &e : h.epochs) {
    if (std::isfinite(e.train.loss))
      curves[0].points.push_back({double(e.epoch), e.train.loss});
    if (e.validation && std::isfinite(e.validation->loss))
      curves[1].points.push_back({double(e.epoch), e.validation->loss});
  }

  // The y axis starts at 0 (losses are non-negative) unless a loss is
  // negative; the x axis spans the epochs.
  double yMin = 0, yMax = 0, xMax = 1;
  for (const Curve &c : curves)
    for (auto [x, y] : c.points) {
      yMin = std::min(yMin, y);
      yMax = std::max(yMax, y);
      xMax = std::max(xMax, x);
    }
  std::vector<double> yTicks = niceTicks(yMin, yMax);
  std::vector<double> xTicks = niceTicks(xMax > 1 ? 1 : 0, xMax);
  double y0 = yTicks.front(), y1 = yTicks.back();
  double x0 = xTicks.front(), x1 = std::max(xTicks.back(), x0 + 1);
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * plotW; };
  auto py = [&](double y) { return top + plotH - (y - y0) / (y1 - y0) * plotH; };

  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
      width, height, width, height, width / 2, escapeXml(title));
  // Grid lines and tick labels.
  for (double t : yTicks)
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.2f}\" x2=\"{2}\" y2=\"{1:.2f}\" stroke=\"#ddd\"/>\n"
                       "<text x=\"{3}\" y=\"{4:.2f}\" text-anchor=\"end\">{5:g}</text>\n",
                       left, py(t), left + plotW, left - 6, py(t) + 4, t);
  for (double t : xTicks)
    svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\" stroke=\"#ddd\"/>\n"
                       "<text x=\"{0:.2f}\" y=\"{3}\" text-anchor=\"middle\">{4:g}</text>\n",
                       px(t), top, top + plotH, top + plotH + 18, t);
  // Axes and their titles.
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                     "stroke=\"black\"/>\n",
                     left, top, plotW, plotH);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">epoch</text>\n",
                     left + plotW / 2, height - 12);
  svg += fmt::format("<text x=\"16\" y=\"{0}\" text-anchor=\"middle\" "
                     "transform=\"rotate(-90 16 {0})\">loss</text>\n",
                     top + plotH / 2);
  // The curves, then the legend (only curves with points).
  int row = 0;
  for (const Curve &c : curves) {
    if (c.points.empty())
      continue;
    std::string pts;
    for (auto [x, y] : c.points)
      pts += fmt::format("{}{:.2f},{:.2f}", pts.empty() ? "" : " ", px(x), py(y));
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
                       c.color, pts);
    for (auto [x, y] : c.points)
      svg += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"2.5\" fill=\"{}\"/>\n", px(x),
                         py(y), c.color);
    double ly = top + 16 + 18 * row++;
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" "
                       "stroke-width=\"2\"/>\n<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
                       left + plotW - 150, ly, left + plotW - 125, c.color, left + plotW - 118,
                       ly + 4, c.label);
  }
  return svg + "</svg>\n";
}

void writeCurvesCsv(const std::string &path, const History &h) {
  writeText(path, curvesCsv(h), "loss curves (CSV)");
}

void writeCurvesSvg(const std::string &path, const History &h, const std::string &title) {
  writeText(path, curvesSvg(h, title), "loss plot (SVG)");
}

} // namespace chainjit::runtime::train
