// Recomputation through recurrences: a scan's adjoint keeps the carries of
// all T steps (its tape). Under a memory limit where that does not fit, the
// scan is nested into windows: an outer scan over T/k windows whose body is
// a scan over the k steps of one window (and a scan of the T mod k steps
// left over). The existing scan adjoint then tapes the T/k carries entering
// the windows and, per window on the backward sweep, the k carries of its
// steps, recomputed from the window's checkpoint. Each further level of
// nesting runs every step forward once more and shrinks the tape to about
// L * (2T)^(1/L) carries (docs/cost-model.md, "Recomputation through
// recurrences").
//
// gradWithMemoryLimit (RecomputedGradient.h) calls checkpointScans first;
// the scans' tapes take their share of the limit, the chain schedule plans
// the rest.
#pragma once

#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Op.h"

#include <optional>
#include <string>
#include <vector>

namespace chainjit::compiler {

// How one scan is nested. windows: steps per window at each level,
// outermost first (empty: the plain scan).
struct ScanNesting {
  std::vector<int64_t> windows;
  int64_t tapeCarries = 0;    // the most carries its adjoint holds at once
  int64_t recomputedSteps = 0; // body runs beyond those of the plain adjoint
};

// The carries a scan of `steps` steps nested as `windows` holds at once in
// its adjoint (a tape of n steps: its result with the final carries and the
// stacked n, and the JIT's copy of those n: 2n + 1 carries), and the body
// runs its adjoint makes beyond the plain adjoint's (which runs the body
// twice per step: the tape and the backward step's recomputation).
int64_t nestedTapeCarries(int64_t steps, const std::vector<int64_t> &windows);
int64_t nestedRecomputedSteps(int64_t steps, const std::vector<int64_t> &windows);

// The nesting with the fewest levels whose tape holds at most `carrySlots`
// carries, and of those the one with the least recomputation (then the
// smallest tape); nullopt when even `maxLevels` levels need more. Windows
// that leave steps over slice the sequences (a copy of them that lives
// through the backward pass): such a nesting must fit `sliceCarries` more.
std::optional<ScanNesting> planScanNesting(int64_t steps, int64_t carrySlots, int maxLevels = 6,
                                           int64_t sliceCarries = 0);

// One scan of the graph and what was chosen for it.
struct ScanCheckpointPlan {
  std::string scan;          // the scan's label (its first result's name, or #id)
  std::string body;          // its body function
  int64_t steps = 0;
  double carryBytes = 0;     // one step's carries
  double fullTapeBytes = 0;  // the plain adjoint's tape: 2 steps + 1 carries
  double sequenceBytes = 0;  // its sequences (the windows slice them)
  ScanNesting nesting;       // windows empty: left as it is
  bool droppedYs = false;    // per-step results nothing reads were left out
  double tapeBytes() const { return double(nesting.tapeCarries) * carryBytes; }
  // "scan %hT: 1000 steps of @lstm_step, 128 B of carries a step, tape
  // 250.1 KiB -> windows of [50, 5] steps: 41 carries (5.1 KiB), 2000 steps
  // recomputed; unread per-step results left out"
  std::string describe() const;
};

struct CheckpointedScans {
  ir::Graph graph;                       // f with the nested scans
  std::vector<ScanCheckpointPlan> plans; // every scan on the way to `of`
  double scanTapeBytes = 0;              // the largest tape of those scans
  double chainLimit = 0;                 // what is left of the limit for the rest
};

// Nests the scans of f that lie between `wrt` and `of` so that their tapes
// fit in what `memoryLimit` leaves besides the forward values of the rest
// (recomputationChain: the working bytes and, where they fit, all segment
// tapes, else the largest). nullopt when every tape fits as it is, when f
// has no such scan, or when f's scans are nested already (or a
// ScanCheckpointingScope lives). Otherwise the graph holds the nested scans
// (or f as it was, where its scans' tapes fit and the rest must recompute)
// and chainLimit is the limit less the largest scan tape. Throws
// chainjit::Error naming the scan when no nesting fits.
std::optional<CheckpointedScans> checkpointScans(const ir::Graph &f, const std::string &of,
                                                 const std::vector<std::string> &wrt,
                                                 double memoryLimit);

// While one lives (on this thread), checkpointScans leaves graphs as they
// are: gradWithMemoryLimit holds one while it plans the rest of the limit
// for the graph checkpointScans returned.
class ScanCheckpointingScope {
public:
  ScanCheckpointingScope();
  ~ScanCheckpointingScope();
  ScanCheckpointingScope(const ScanCheckpointingScope &) = delete;
  ScanCheckpointingScope &operator=(const ScanCheckpointingScope &) = delete;
};

// Nests scan node `scan` of f as `windows` (outermost first); with
// dropYs, its per-step results are left out (none may be read). The
// result keeps f's nodes in order (ids shift after the scan) and names.
ir::Graph nestScan(const ir::Graph &f, ir::NodeId scan, const std::vector<int64_t> &windows,
                   bool dropYs = false);

// g with the nodes of its scan bodies that no body output needs removed,
// recursively (a derivative body copies the primal body, whose nested scan
// the adjoint of that scan does not read: it would run every step again).
ir::Graph pruneScanBodies(const ir::Graph &g);

// Forward-value peak of an emitted gradient as the JIT plans it
// (jitForwardValuePeak) plus the scans' tapes: the results of tape scans
// (bodies named "*_tape") and of the slices and reshapes taken of them, and
// while a scan kernel runs, the tapes its body holds (nested scans).
int64_t jitForwardValuePeakWithScanTapes(const ir::Graph &emitted, size_t primalSize);

// How often nodes of `kind` run in g, counted through every loop: a node
// in a scan body counts the scan's length, a node in the body of a scan
// inside that body the product of both lengths, and so on (what the
// interpreter evaluates; tests compare recomputation with the plan).
int64_t countOpRuns(const ir::Graph &g, ir::OpKind kind);

} // namespace chainjit::compiler
