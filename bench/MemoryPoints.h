#pragma once
// The memory points of a recomputation benchmark (recompute_bench,
// scan_recompute_bench): the points themselves (full tape, 1/2, 1/4, ...,
// least), what each point's compiled gradient runs on and how far its
// gradients are from the full tape's, and the table: one row per point,
// printed and, with a results path, written as TSV rows; the caller appends
// its config line to the returned file (nullptr without a path) and closes
// it. The PyTorch side of the table is bench/memory_points.py.
#include "BenchSupport.h"

#include <chainjit/chainjit.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace benchsupport {

struct MemoryPoint {
  std::string name;
  double limit = 0;     // bytes; 0 = none
  double peak = 0;      // measured forward values (with scan tapes where there are scans)
  double arena = 0;     // the whole arena
  double recompute = 0; // forward work beyond one pass, in forward passes
  double step = 0;      // seconds
  std::string plan;     // what the plan chose, where the bench says it
};

// The points of a gradient whose full tape is `full` bytes and that works in
// `least` bytes at the least: the full tape (no limit), 1/2, 1/4 and 1/8 of
// it while above the least, then the least.
inline std::vector<MemoryPoint> memoryPoints(double full, double least) {
  std::vector<MemoryPoint> points = {{"full", 0}};
  for (auto [name, d] : {std::pair{"1/2", 2.0}, {"1/4", 4.0}, {"1/8", 8.0}})
    if (full / d > least)
      points.push_back({name, full / d});
  points.push_back({"least", least});
  return points;
}

// The arguments a compiled gradient graph runs on: its inputs and params,
// from `values`.
inline std::vector<const chainjit::ir::Tensor *>
inputsAndParams(const chainjit::compiler::CompiledGraph &exe,
                const chainjit::runtime::Bindings &values) {
  using chainjit::compiler::ArgumentRole;
  std::vector<const chainjit::ir::Tensor *> args;
  for (const chainjit::compiler::ArgumentSpec &a : exe.arguments())
    if (a.role == ArgumentRole::Input || a.role == ArgumentRole::Param)
      args.push_back(&values.at(a.name));
  return args;
}

// The largest difference of `out` from `reference` (the full tape's
// gradients), relative to max(1, |reference|).
inline double worstDifference(const std::vector<chainjit::ir::Tensor> &out,
                              const std::vector<chainjit::ir::Tensor> &reference) {
  double worst = 0;
  for (size_t k = 0; k < out.size(); ++k)
    for (int64_t e = 0; e < out[k].numel(); ++e)
      worst = std::max(worst, std::fabs(out[k].at(e) - reference[k].at(e)) /
                                  std::max(1.0, std::fabs(reference[k].at(e))));
  return worst;
}

// Fills each point's step from its timer (timed[i] belongs to points[i]).
inline std::FILE *printMemoryPoints(std::vector<MemoryPoint> &points,
                                    const std::vector<Timed> &timed,
                                    const std::string &results, int decimals) {
  fmt::print("\n{:>6} {:>12} {:>14} {:>12} {:>14} {:>12} {:>10}\n", "memory", "limit (MiB)",
             "peak fwd (MiB)", "arena (MiB)", "recompute/fwd", "step", "/ full");
  std::FILE *tsv = results.empty() ? nullptr : std::fopen(results.c_str(), "w");
  for (size_t i = 0; i < points.size(); ++i) {
    MemoryPoint &p = points[i];
    p.step = timed[i].median();
    fmt::print("{:>6} {:>12} {:>14.{}f} {:>12.{}f} {:>14.3f} {:>12} {:>9.2f}x\n", p.name,
               p.limit > 0 ? fmt::format("{:.{}f}", p.limit / 1048576, decimals) : "none",
               p.peak / 1048576, decimals, p.arena / 1048576, decimals, p.recompute,
               fmtTime(p.step), p.step / timed[0].median());
    if (tsv)
      std::fprintf(tsv, "%s\t%.0f\t%.0f\t%.0f\t%.4f\t%.6f\n", p.name.c_str(), p.limit, p.peak,
                   p.arena, p.recompute, p.step);
  }
  return tsv;
}

} // namespace benchsupport
