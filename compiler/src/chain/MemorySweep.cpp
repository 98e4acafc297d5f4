#include "chainjit/compiler/MemorySweep.h"
#include "chainjit/compiler/CostReport.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace chainjit::compiler {

namespace {
std::string num(double v) { return formatCount(v); }
} // namespace

std::vector<MemorySweepPoint> memorySweep(const JacobianChain &chain) {
  chain.validate();
  double full = 0, largest = 0;
  for (const ChainFactor &f : chain.factors) {
    full += f.tapeBytes;
    largest = std::max(largest, f.tapeBytes);
  }
  std::vector<double> limits;
  for (double m = full; m > largest && limits.size() < 40; m = std::floor(m / 2))
    limits.push_back(m);
  limits.push_back(largest);
  if (largest > 0)
    limits.push_back(0);
  std::vector<MemorySweepPoint> points;
  for (double limit : limits) {
    PlannerOptions o;
    o.tapeLimit = limit;
    o.recompute = true;
    points.push_back({limit, planChain(chain, o)});
  }
  return points;
}

std::string memorySweepText(const JacobianChain &chain,
                            const std::vector<MemorySweepPoint> &points) {
  std::string out = fmt::format("  {:>14} {:>16} {:>14} {:>14} {:>10}  {}\n", "limit (bytes)",
                                "cost (FMA)", "recompute", "peak (bytes)", "/ full", "plan");
  const double best = points.empty() ? 0 : points.front().plan.cost;
  for (const MemorySweepPoint &p : points)
    out += fmt::format("  {:>14} {:>16} {:>14} {:>14} {:>10}  {}\n", num(p.limit),
                       num(p.plan.cost), num(p.plan.recomputeCost), num(p.plan.tapeBytes),
                       best > 0 ? fmt::format("{:.2f}x", p.plan.cost / best) : "1.00x",
                       p.plan.expression(chain));
  return out;
}

std::string memorySweepSvg(const std::vector<MemorySweepPoint> &points) {
  const double W = 640, H = 400, left = 90, right = 20, top = 30, bottom = 60;
  double maxX = 0, maxY = 0;
  for (const MemorySweepPoint &p : points) {
    maxX = std::max(maxX, p.limit);
    maxY = std::max(maxY, p.plan.cost);
  }
  maxX = maxX > 0 ? maxX : 1;
  maxY = maxY > 0 ? maxY : 1;
  auto x = [&](double v) { return left + (W - left - right) * v / maxX; };
  auto y = [&](double v) { return H - bottom - (H - top - bottom) * v / maxY; };
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "  <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "  <text x=\"{}\" y=\"18\" text-anchor=\"middle\">cost against memory limit</text>\n"
      "  <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n"
      "  <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n"
      "  <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">memory limit (bytes), max {}</text>\n"
      "  <text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" "
      "text-anchor=\"middle\">cost (FMA), max {}</text>\n",
      W, H, W / 2, left, H - bottom, W - right, H - bottom, left, top, left, H - bottom,
      (left + W - right) / 2, H - 20, num(maxX), (top + H - bottom) / 2, (top + H - bottom) / 2,
      num(maxY));
  std::string line;
  for (const MemorySweepPoint &p : points)
    line += fmt::format("{:.1f},{:.1f} ", x(p.limit), y(p.plan.cost));
  out += "  <polyline fill=\"none\" stroke=\"steelblue\" stroke-width=\"2\" points=\"" + line +
         "\"/>\n";
  for (const MemorySweepPoint &p : points)
    out += fmt::format("  <circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"steelblue\">"
                       "<title>{} bytes: {} FMA</title></circle>\n",
                       x(p.limit), y(p.plan.cost), num(p.limit), num(p.plan.cost));
  return out + "</svg>\n";
}

} // namespace chainjit::compiler
