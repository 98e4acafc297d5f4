// Which scans to nest and how (ScanCheckpointing.h). The tape model of a
// nested scan follows the scan adjoint (ir/ops/ControlRules.cpp) as the JIT
// runs it: the adjoint of a scan over n steps runs a tape scan whose result
// holds the final carries and the n carries entering the steps, and the
// JIT copies those n out of it (a slice per carry) before the result dies:
// 2n + 1 carries at the peak. Nested as windows of k steps, the adjoint
// tapes the n / k window carries (2 n/k + 1 at that moment), then holds n/k
// while it pulls back through one window with that window's nested tape;
// the n mod k steps left over form a plain scan of their own whose adjoint
// runs before (so the two tapes never coexist).
#include "chainjit/compiler/ScanCheckpointing.h"

#include "chainjit/compiler/RecomputedGradient.h"
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Function.h"
#include "chainjit/ir/Scan.h"
#include "chainjit/ir/Sweeps.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace chainjit::compiler {

using namespace ir;

int64_t nestedTapeCarries(int64_t n, const std::vector<int64_t> &ks) {
  if (ks.empty() || ks[0] < 1 || ks[0] >= n)
    return 2 * n + 1;
  const int64_t k = ks[0], W = n / k, r = n % k;
  std::vector<int64_t> inner(ks.begin() + 1, ks.end());
  return std::max({r > 0 ? 2 * r + 1 : 0, 2 * W + 1, W + nestedTapeCarries(k, inner)});
}

// Body runs of the adjoint (beyond the forward pass): a plain scan's runs
// the body twice per step (its tape, then each backward step's
// recomputation); nested, the window tape runs every window's steps once
// and each window's adjoint is a nested adjoint of k steps. Inside a
// window's adjoint, steps left over need the carries the windows before
// them end with: the windows' forward scan runs once more for them (at the
// outermost level that scan is the forward pass itself).
static int64_t adjointRuns(int64_t n, const std::vector<int64_t> &ks, bool inWindow) {
  if (ks.empty() || ks[0] < 1 || ks[0] >= n)
    return 2 * n;
  const int64_t k = ks[0], W = n / k, r = n % k;
  std::vector<int64_t> inner(ks.begin() + 1, ks.end());
  return W * k + W * adjointRuns(k, inner, true) + 2 * r + (inWindow && r > 0 ? W * k : 0);
}

int64_t nestedRecomputedSteps(int64_t n, const std::vector<int64_t> &ks) {
  return adjointRuns(n, ks, false) - 2 * n;
}

namespace {

// The least tape (in carries) of n steps nested at most `levels` deep, and
// the window size of the outermost level that gives it (0: plain).
class NestingTable {
public:
  std::pair<int64_t, int64_t> best(int64_t n, int levels) {
    if (levels <= 1 || n < 4)
      return {2 * n + 1, 0};
    auto key = std::make_pair(n, levels);
    if (auto it = memo_.find(key); it != memo_.end())
      return it->second;
    std::pair<int64_t, int64_t> b = best(n, levels - 1);
    for (int64_t k : candidates(n)) {
      int64_t t = tape(n, k, levels);
      if (t < b.first)
        b = {t, k};
    }
    memo_[key] = b;
    return b;
  }
  int64_t tape(int64_t n, int64_t k, int levels) {
    const int64_t W = n / k, r = n % k;
    return std::max({r > 0 ? 2 * r + 1 : 0, 2 * W + 1, W + best(k, levels - 1).first});
  }
  // The windows of the least tape, outermost first.
  std::vector<int64_t> windows(int64_t n, int levels) {
    std::vector<int64_t> ks;
    for (; levels > 1; --levels) {
      int64_t k = best(n, levels).second;
      if (k == 0)
        break;
      ks.push_back(k);
      n = k;
    }
    return ks;
  }
  // Window sizes worth trying: all up to 2048 steps, beyond that about
  // 2048 spread evenly over the quotients (each quotient's smallest k).
  static std::vector<int64_t> candidates(int64_t n) {
    std::vector<int64_t> ks;
    for (int64_t k = 2; k < n && k <= 2048; ++k)
      ks.push_back(k);
    for (int64_t W = std::min<int64_t>(n / 2048, 2048); W >= 2; --W)
      ks.push_back((n + W - 1) / W);
    return ks;
  }

private:
  std::map<std::pair<int64_t, int>, std::pair<int64_t, int64_t>> memo_;
};

double bytesOf(const TensorType &t) { return double(t.numel()) * double(dtypeSize(t.dtype)); }

std::string bytesText(double b) { return formatBytes(uint64_t(std::max(0.0, b))); }

} // namespace

namespace {
thread_local int scopeDepth = 0;
} // namespace

ScanCheckpointingScope::ScanCheckpointingScope() { ++scopeDepth; }
ScanCheckpointingScope::~ScanCheckpointingScope() { --scopeDepth; }

std::optional<ScanNesting> planScanNesting(int64_t steps, int64_t carrySlots, int maxLevels,
                                           int64_t sliceCarries) {
  if (steps < 1)
    throw Error("internal: a scan of no steps");
  NestingTable table;
  for (int levels = 1; levels <= maxLevels; ++levels) {
    // The fewest levels that fit. Of their outermost windows, the one with
    // the least recomputation (then the least tape); inner levels least tape.
    std::optional<ScanNesting> best;
    std::vector<int64_t> ks{0};
    if (levels > 1)
      ks = NestingTable::candidates(steps);
    for (int64_t k : ks) {
      std::vector<int64_t> w;
      if (k > 0) {
        w.push_back(k);
        for (int64_t inner : table.windows(k, levels - 1))
          w.push_back(inner);
      }
      ScanNesting s{w, nestedTapeCarries(steps, w), nestedRecomputedSteps(steps, w)};
      const bool sliced = k > 0 && steps % k != 0;
      if (s.tapeCarries + (sliced ? sliceCarries : 0) > carrySlots)
        continue;
      if (!best || s.recomputedSteps < best->recomputedSteps ||
          (s.recomputedSteps == best->recomputedSteps && s.tapeCarries < best->tapeCarries))
        best = s;
    }
    if (best)
      return best;
  }
  return std::nullopt;
}

std::string ScanCheckpointPlan::describe() const {
  std::string s = fmt::format("scan {}: {} steps of @{}, {} of carries a step, tape {}", scan,
                              steps, body, bytesText(carryBytes), bytesText(fullTapeBytes));
  if (nesting.windows.empty())
    return s + " (kept whole)";
  std::string w;
  for (int64_t k : nesting.windows)
    w += (w.empty() ? "" : ", ") + std::to_string(k);
  return s + fmt::format(" -> windows of [{}] steps: {} carries ({}), {} steps recomputed{}", w,
                         nesting.tapeCarries, bytesText(tapeBytes()), nesting.recomputedSteps,
                         droppedYs ? "; unread per-step results left out" : "");
}

std::optional<CheckpointedScans> checkpointScans(const Graph &f, const std::string &of,
                                                 const std::vector<std::string> &wrt,
                                                 double memoryLimit) {
  // Inside a ScanCheckpointingScope (gradWithMemoryLimit planning the rest
  // of a graph this pass made) and for a graph this pass made (its
  // functions say so) the scans are left as they are.
  if (!(memoryLimit >= 0) || !std::isfinite(memoryLimit))
    throw Error("the memory limit must be a finite non-negative number of bytes");
  if (scopeDepth > 0)
    return std::nullopt;
  for (const auto &fn : f.functions())
    if (fn->name().find("_ckpt_") != std::string::npos)
      return std::nullopt;
  const NodeId ofId = f.lookup(of);
  std::vector<NodeId> wrtIds;
  for (const std::string &w : wrt)
    wrtIds.push_back(f.lookup(w));
  std::vector<bool> onChain = dependsOn(f, wrtIds), toOf = dependedOnBy(f, {ofId});
  std::vector<NodeId> roots = f.outputs();
  roots.push_back(ofId);
  for (const ParamUpdate &u : f.updates())
    roots.push_back(u.value);
  std::vector<bool> live = dependedOnBy(f, roots);
  std::vector<NodeId> scans;
  for (NodeId id = 0; id < f.size(); ++id)
    if (f.node(id).kind == OpKind::Scan && onChain[id] && toOf[id])
      scans.push_back(id);
  if (scans.empty())
    return std::nullopt;

  // What the rest of the gradient needs (RecomputedGradient.h's chain):
  // its working bytes and all segment tapes, or, where that leaves too
  // little, the largest one (its schedule then recomputes too).
  auto restOf = [&](const Graph &g) {
    RecomputationChain rc = recomputationChain(g, g.lookup(of), [&] {
      std::vector<NodeId> ids;
      for (const std::string &w : wrt)
        ids.push_back(g.lookup(w));
      return ids;
    }());
    double all = 0, largest = 0;
    for (const ChainFactor &fc : rc.chain.factors) {
      all += fc.tapeBytes;
      largest = std::max(largest, fc.tapeBytes);
    }
    return std::pair{rc.workingBytes + all, rc.workingBytes + largest};
  };
  const std::vector<std::vector<NodeId>> users = f.users();
  std::vector<ScanCheckpointPlan> plans;
  double fullTapes = 0;
  for (NodeId id : scans) {
    const ScanLayout l = scanLayout(f, id);
    ScanCheckpointPlan p;
    p.scan = f.node(id).label(id);
    // Named after its first named result (the sugar's slice + reshape).
    for (NodeId u : users[id]) {
      std::vector<NodeId> near{u};
      near.insert(near.end(), users[u].begin(), users[u].end());
      auto named = std::find_if(near.begin(), near.end(),
                                [&](NodeId v) { return !f.node(v).name.empty(); });
      if (named != near.end()) {
        p.scan = "%" + f.node(*named).name;
        break;
      }
    }
    p.body = f.node(id).attrs.getString("body");
    p.steps = l.length;
    for (const TensorType &t : l.carryTypes)
      p.carryBytes += bytesOf(t);
    p.fullTapeBytes = double(nestedTapeCarries(l.length, {})) * p.carryBytes;
    for (int64_t i = 0; i < l.sequences; ++i)
      p.sequenceBytes += bytesOf(f.type(f.node(id).operands[l.carries + i]));
    fullTapes = std::max(fullTapes, p.fullTapeBytes);
    // Per-step results nothing live reads (the sugar's slices of them are
    // dead) are left out: their stacks would outweigh the saved tape.
    int64_t carrySize = 0;
    for (const TensorType &t : l.carryTypes)
      carrySize += t.numel();
    bool ysRead = false;
    for (NodeId u : users[id]) {
      const Node &n = f.node(u);
      if (live[u] && (n.kind != OpKind::Slice || n.attrs.getInts("starts").at(0) >= carrySize))
        ysRead = true;
    }
    p.droppedYs = !ysRead && l.numYs() > 0;
    plans.push_back(p);
  }
  if (restOf(f).first + fullTapes <= memoryLimit)
    return std::nullopt;

  // Left out unread ys first (ids do not move before a rewritten scan, so
  // the scans are rewritten from the last one back).
  Graph g = f;
  for (size_t i = scans.size(); i-- > 0;)
    if (plans[i].droppedYs)
      g = nestScan(g, scans[i], {}, true);
  // Scan ids in g (those of f moved where dropped ys took their slices along).
  std::vector<NodeId> inG;
  {
    std::vector<NodeId> gw;
    for (const std::string &w : wrt)
      gw.push_back(g.lookup(w));
    std::vector<bool> on = dependsOn(g, gw), to = dependedOnBy(g, {g.lookup(of)});
    for (NodeId id = 0; id < g.size(); ++id)
      if (g.node(id).kind == OpKind::Scan && on[id] && to[id])
        inG.push_back(id);
  }
  if (inG.size() != plans.size())
    throw Error("internal: checkpointScans lost track of a scan");
  // Plans every scan for `budget` bytes of tape and nests them (from the
  // last one back: ids before a rewritten scan stay).
  auto attempt = [&](double budget) -> std::optional<CheckpointedScans> {
    CheckpointedScans cs;
    cs.plans = plans;
    for (ScanCheckpointPlan &p : cs.plans) {
      // Carries of no bytes (an empty tensor) need no room.
      const double room = p.carryBytes > 0 ? budget / p.carryBytes : 1e15;
      auto slots = int64_t(std::floor(std::clamp(room, 0.0, 1e15)));
      auto sliceCarries =
          p.carryBytes > 0 ? int64_t(std::ceil(std::min(p.sequenceBytes / p.carryBytes, 1e15))) : 0;
      std::optional<ScanNesting> n = planScanNesting(p.steps, slots, 6, sliceCarries);
      if (!n)
        return std::nullopt;
      p.nesting = *n;
      cs.scanTapeBytes = std::max(cs.scanTapeBytes, p.tapeBytes());
    }
    cs.graph = g;
    for (size_t i = inG.size(); i-- > 0;)
      if (!cs.plans[i].nesting.windows.empty())
        cs.graph = nestScan(cs.graph, inG[i], cs.plans[i].nesting.windows);
    cs.chainLimit = memoryLimit - cs.scanTapeBytes;
    return cs;
  };
  // Keep the rest's tapes whole if that leaves room, else its largest
  // alone. Nesting adds values of its own (slices of the sequences for the
  // windows and the steps left over): the rest is measured on the nested
  // graph and the scans' budget shrunk by what it outgrew.
  const auto [all, least] = restOf(g);
  std::optional<CheckpointedScans> smallest; // for the error: the least need seen
  double smallestNeed = 0, smallestRest = 0;
  for (bool whole : {true, false}) {
    double budget = memoryLimit - (whole ? all : least);
    for (int tries = 0; tries < 8; ++tries) {
      std::optional<CheckpointedScans> cs = attempt(budget);
      if (!cs)
        break;
      auto [all2, least2] = restOf(cs->graph);
      double need = (whole ? all2 : least2) + cs->scanTapeBytes;
      if (need <= memoryLimit)
        return cs;
      if (!smallest || need < smallestNeed) {
        smallestNeed = need;
        smallestRest = least2;
        smallest = std::move(cs);
      }
      budget -= need - memoryLimit;
    }
  }
  const ScanCheckpointPlan &p = plans.front();
  NestingTable t;
  const double deepest = double(t.best(p.steps, 6).first) * p.carryBytes;
  std::string found;
  if (smallest)
    found = fmt::format("; the smallest plan tried needs {} ({}, {} for the rest of the gradient)",
                        bytesText(smallestNeed), smallest->plans.front().describe(),
                        bytesText(smallestRest));
  throw Error(fmt::format(
      "a memory limit of {} is too small for %{}: the tape of scan {} ({} steps, {} of carries "
      "each) needs at least {} even when nested 6 levels deep, the rest of the gradient at "
      "least {}{}",
      bytesText(memoryLimit), of, p.scan, p.steps, bytesText(p.carryBytes), bytesText(deepest),
      bytesText(least), found));
}

} // namespace chainjit::compiler
