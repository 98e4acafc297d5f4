// The JIT backend: lowers a verified, mode-expanded graph to one LLVM function
// (fused elementwise loops and reductions, BLAS/LAPACK calls for GEMM and
// solve, library kernels for the rest, a static memory plan), compiles it
// for the host CPU through JitEngine and hands back a callable.
//
// The entry function's ABI, in the order of `arguments()`:
//   buffers[i] for every input (graph order), then every param (graph
//   order), then every output (g.outputs() order), then every param update
//   (g.updates() order). Inputs and params are read; outputs and updates are
//   written. A param's update is written only after every other read of
//   that param (by the kernel that last reads it, at the element it reads,
//   or by a copy at the end), so an update buffer may be the param's own
//   buffer (in-place training). Outputs must not overlap inputs or params.
//
// Threads: compileGraph may run on several threads at once (each
// compilation has its own LLVM context and target machine), and one
// CompiledGraph may be called from several threads at once (each call has
// its own arena, see call()).
#pragma once

#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Tensor.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace chainjit::compiler {

struct JitOptions {
  // The on-disk cache of compiled objects, keyed by a hash of the unoptimized
  // module, the CPU, its features and the LLVM version. Every entry carries
  // a checksum that is verified before its object is loaded; a damaged entry
  // is deleted, the graph compiled afresh and a warning given. A directory
  // the cache creates is private to the user (0700); one owned by someone
  // else or writable by group or others is not used (with a warning).
  bool useCache = true;
  std::string cacheDir; // empty: $CHAINJIT_CACHE_DIR, else $XDG_CACHE_HOME/chainjit, else ~/.cache/chainjit
  // Receives warnings (a damaged cache entry, an unsafe cache directory).
  // Empty: they are printed to stderr as "chainjit: warning: ...".
  std::function<void(const std::string &)> onWarning;
  // Fuse elementwise chains and reductions (off: every op its own loop).
  bool fuse = true;
  // Check every op's result for NaN/Inf; the first one found is reported by
  // name. Implies fuse = false so every op's result exists.
  bool checkNumerics = false;
  // Which kernel runs each single matmul: register-blocked generated loops
  // (shape-generic micro-kernels compiled once per machine) or cblas_?gemm.
  // -1 (the default): chosen per shape by what this machine measured (a
  // calibration of a few shapes, run once per CPU, features, LLVM version
  // and OpenBLAS build), unless $CHAINJIT_BLAS_THRESHOLD is set. >= 0:
  // fixed, products with m*n*k below it are generated loops (for tests and
  // benchmarks). The calibration and the micro-kernels' object are kept in
  // the default cache directory whatever cacheDir and useCache say: they
  // describe the machine, not a graph. docs/performance.md.
  int64_t blasThreshold = -1;
  // Time every kernel of the plan (each a line of `chainjit run --emit
  // plan`) on every call: two clock reads per kernel per call, added to
  // counters the compiled code holds. CompiledGraph::profile() reads them.
  bool profile = false;
};

// Where a compiled graph's calls spent their time (JitOptions::profile).
// Times are wall time on the calling thread: a kernel split over threads
// counts once, with its wait for the slowest part.
struct KernelTime {
  std::string kernel; // its line of the plan, e.g. "#0 gemm %z1 = matmul -> cj_matmul_f32 @arena+0"
  uint64_t calls = 0;
  double seconds = 0;
};
struct GraphProfile {
  uint64_t calls = 0;              // calls of the graph
  double seconds = 0;              // their wall time, from entering call() to its return
  std::vector<KernelTime> kernels; // in plan order; empty when not profiled
};
// The profile as a table: per kernel its share of the calls' time, its
// total and its mean per call, then what the kernels leave (the call's own
// work: taking an arena, the copies of outputs and updates).
std::string formatProfile(const GraphProfile &p);

enum class ArgumentRole { Input, Param, Output, Update };

struct ArgumentSpec {
  ArgumentRole role;
  std::string name;    // without '%': the input's, param's (also for its update) or output's
                       // name; an unnamed output is "node #N"
  ir::NodeId node;     // the input/param node, or the value written
  ir::TensorType type;
};

// Per-phase wall times of one compilation, in seconds.
struct CompileTimes {
  double startup = 0; // creating the process's JIT (first compile only)
  double lower = 0, optimize = 0, codegen = 0;
  bool cacheHit = false;
  bool cacheEntryDiscarded = false; // a damaged cache entry was found and replaced
};

class CompiledGraph {
public:
  virtual ~CompiledGraph() = default;
  const std::vector<ArgumentSpec> &arguments() const { return args_; }
  const CompileTimes &times() const { return times_; }
  // Runs the entry function on raw buffers (see the ABI above). Throws
  // chainjit::Error naming the node on a run-time failure (a singular
  // matrix; with checkNumerics, the first non-finite result).
  //
  // Thread-safe, and calls from several threads run in parallel: the
  // intermediate values live in an arena, and each call takes a free arena
  // from this graph's pool, allocating another only when every arena is in
  // use by a concurrent call (so a lone caller allocates nothing per call,
  // and N simultaneous callers use N arenas). The buffers of concurrent
  // calls must not overlap where one call writes them.
  virtual void call(void *const *buffers) const = 0;
  // Convenience: tensors in, tensors out (outputs then updates), types
  // checked. Thread-safe like call().
  std::vector<ir::Tensor> run(const std::vector<const ir::Tensor *> &inputsAndParams) const;
  // Bytes of one arena (0 for a graph that needs none), and how many arenas
  // the pool holds: the most calls that have run at the same time.
  virtual uint64_t arenaBytes() const = 0;
  virtual size_t arenaCount() const = 0;
  // The calls so far, their time and each kernel's, with
  // JitOptions::profile; empty otherwise (nothing is timed then). Thread-safe;
  // calls running at the same time are all counted.
  virtual GraphProfile profile() const = 0;

protected:
  std::vector<ArgumentSpec> args_;
  CompileTimes times_;
};

// Compiles `g`, which must be verified and free of mode-dependent ops
// (expandModes first). Throws chainjit::Error on an unsupported construct,
// and, before generating any code, when one call's memory (its arena plus
// every input, param, output and update buffer) exceeds ir::allocLimit().
// The first arena is allocated here; failing that is an error too.
std::unique_ptr<CompiledGraph> compileGraph(const ir::Graph &g, const JitOptions &options = {});

// What `chainjit run --emit` prints.
enum class EmitKind { Plan, Llvm, LlvmOpt, Asm, Obj };
// The lowering plan (kernels, fusion, arena layout) as text, or the module
// for `g` as LLVM IR before or after O3, as assembly, or as an object file's
// bytes.
std::string emitGraph(const ir::Graph &g, EmitKind kind, const JitOptions &options = {});

} // namespace chainjit::compiler
