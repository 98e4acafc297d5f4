// compileGraph: plan, check one call's memory against the allocation limit,
// build the module, look it up in the object cache (the key is the
// unoptimized module, so a hit skips O3 and codegen), otherwise optimize and
// generate the object, then load it into its own JITDylib.
#include "chainjit/compiler/Jit.h"

#include "ArenaPool.h"
#include "CallJitCode.h"
#include "JitEngineImpl.h"
#include "LoweringPlan.h"
#include "MicroKernelLibrary.h"
#include "ModuleBuilder.h"
#include "ObjectCache.h"
#include "RuntimeSupport.h"
#include "ScanLowering.h"
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/IndexBounds.h"
#include "jit/kernels/CsrFault.h"
#include "jit/kernels/IndexFault.h"

#include <llvm/Support/raw_ostream.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>

namespace chainjit::compiler {

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

using EntryFn = int32_t (*)(void *const *buffers, void *arena, int64_t *failedNode);

// What a run-time error message needs to know about each node.
struct NodeInfo {
  std::string label, op, type;
  SourceLoc loc;
};

class NativeGraph final : public CompiledGraph {
public:
  // Takes over the loaded code: `dylib` is released with the graph, or here
  // when the first arena cannot be allocated.
  // `counters`: the module's profile counters (JitOptions::profile), else
  // null.
  NativeGraph(const ir::Graph &g, const jit::LoweringPlan &plan, CompileTimes times, EntryFn entry,
              llvm::orc::JITDylib *dylib, int64_t *counters, bool profiled)
      : entry_(entry), dylib_(dylib), arenas_(arenaPool(g, plan, dylib)), counters_(counters),
        profiled_(profiled) {
    args_ = plan.arguments;
    times_ = times;
    if (profiled_)
      for (size_t i = 0; i < plan.kernels.size(); ++i)
        kernels_.push_back(jit::describeKernel(g, plan, i));
    // The failed-node ids number g's nodes and then the scan bodies' nodes
    // (ScanLowering.h), so an error inside a body names the body's node.
    std::vector<jit::FlatNode> all = jit::flatNodes(g);
    for (int64_t i = 0; i < static_cast<int64_t>(all.size()); ++i) {
      const ir::Graph &owner = *all[i].graph;
      ir::NodeId id = all[i].id;
      const ir::Node &n = owner.node(id);
      nodes_.push_back({n.label(id), std::string(ir::opName(n.kind)), n.type.str(), n.loc});
      if (auto b = ir::indexBounds(owner, id))
        indexBounds_.emplace(i, std::move(*b));
      if (n.kind == ir::OpKind::CrossEntropy &&
          owner.type(n.operands[1]).dtype == ir::DType::i32)
        labelClasses_.emplace(i, owner.type(n.operands[0]).shape.back());
    }
  }
  ~NativeGraph() override { sharedJitEngine().impl().unload(dylib_); }

  uint64_t arenaBytes() const override { return arenas_->bytes(); }
  size_t arenaCount() const override { return arenas_->count(); }

  GraphProfile profile() const override {
    GraphProfile p;
    if (!profiled_)
      return p;
    p.calls = calls_.load(std::memory_order_relaxed);
    p.seconds = 1e-9 * double(nanoseconds_.load(std::memory_order_relaxed));
    for (size_t i = 0; i < kernels_.size(); ++i)
      p.kernels.push_back(
          {kernels_[i], uint64_t(__atomic_load_n(&counters_[2 * i], __ATOMIC_RELAXED)),
           1e-9 * double(__atomic_load_n(&counters_[2 * i + 1], __ATOMIC_RELAXED))});
    return p;
  }

  void call(void *const *buffers) const override {
    int64_t failed = -1;
    int32_t code;
    const int64_t start = profiled_ ? jit::profileNow() : 0;
    {
      // The arena is a call's only state besides its buffers: calls that
      // hold different arenas run in parallel.
      jit::ArenaPool::Lease arena = arenas_->take();
      code = jit::callJitCode(entry_, buffers, arena.get(), &failed);
    }
    if (profiled_) {
      calls_.fetch_add(1, std::memory_order_relaxed);
      nanoseconds_.fetch_add(jit::profileNow() - start, std::memory_order_relaxed);
    }
    if (code == jit::kJitOk)
      return;
    const NodeInfo &n = nodes_.at(static_cast<size_t>(failed));
    SourceLoc loc = n.loc;
    if (n.label[0] == '%')
      loc.node = n.label.substr(1);
    if (code == jit::kJitSingularMatrix)
      throw Error(n.label + ": solve: the matrix is singular (zero pivot in its LU factorization)",
                  loc);
    if (code == jit::kJitLabelOutOfRange) { // worded as the interpreter's
      const jit::IndexFault f = jit::lastIndexFault();
      std::string what = "cross_entropy: label " + std::to_string(f.value) + " of row " +
                         std::to_string(f.position) + " is out of range [0, " +
                         std::to_string(labelClasses_.at(failed)) + ")";
      throw Error(n.label[0] == '%' ? what : n.label + ": " + what, loc);
    }
    if (code == jit::kJitIndexOutOfRange) { // worded as the interpreter's KernelArgs::fail
      const jit::IndexFault f = jit::lastIndexFault();
      std::string what =
          n.op + ": " + ir::indexOutOfRangeMessage(indexBounds_.at(failed), f.value, f.position);
      throw Error(n.label[0] == '%' ? what : n.label + ": " + what, loc);
    }
    if (code == jit::kJitInvalidCsr) { // worded likewise
      std::string what = n.op + ": " + ir::csrFaultMessage(jit::lastCsrFault());
      throw Error(n.label[0] == '%' ? what : n.label + ": " + what, loc);
    }
    if (n.op == "input" || n.op == "param")
      throw Error("check-numerics: " + n.op + " " + n.label + " : " + n.type +
                      " contains NaN or Inf",
                  loc);
    throw Error("check-numerics: " + n.op + " " + n.label + " : " + n.type +
                    " is the first op that produced NaN or Inf",
                loc);
  }

private:
  static std::unique_ptr<jit::ArenaPool> arenaPool(const ir::Graph &g,
                                                   const jit::LoweringPlan &plan,
                                                   llvm::orc::JITDylib *dylib) {
    try {
      return std::make_unique<jit::ArenaPool>(static_cast<uint64_t>(plan.arenaBytes), g.name());
    } catch (...) {
      sharedJitEngine().impl().unload(dylib);
      throw;
    }
  }

  EntryFn entry_;
  llvm::orc::JITDylib *dylib_;
  std::unique_ptr<jit::ArenaPool> arenas_; // made by arenaPool(), which frees the dylib on failure
  std::vector<NodeInfo> nodes_;
  std::map<int64_t, ir::IndexBounds> indexBounds_; // of the nodes that check indices
  std::map<int64_t, int64_t> labelClasses_;        // of cross_entropy with i32 labels
  // JitOptions::profile: the module's counters (two per kernel; null for a
  // plan without kernels), each kernel's line of the plan, and the calls.
  int64_t *counters_;
  bool profiled_;
  std::vector<std::string> kernels_;
  mutable std::atomic<uint64_t> calls_{0};
  mutable std::atomic<int64_t> nanoseconds_{0};
};

uint64_t saturatingAdd(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

// Throws before anything is compiled or allocated when one call's memory
// (the arena and every argument buffer, which run() allocates or the caller
// provides) exceeds the allocation limit.
void checkCallMemory(const ir::Graph &g, const jit::LoweringPlan &plan) {
  uint64_t arena = plan.arenaBytes < 0 ? UINT64_MAX : static_cast<uint64_t>(plan.arenaBytes);
  uint64_t arguments = 0;
  for (const ArgumentSpec &a : plan.arguments)
    arguments = saturatingAdd(arguments, ir::checkedByteSize(a.type).value_or(UINT64_MAX));
  ir::checkAlloc(saturatingAdd(arena, arguments),
                 "jit: graph '" + g.name() + "' (an arena of " + ir::formatBytes(arena) +
                     " for intermediate values and " + ir::formatBytes(arguments) +
                     " of inputs, params, outputs and updates)");
}

void warn(const JitOptions &options, const std::string &message) {
  if (options.onWarning)
    options.onWarning(message);
  else
    std::cerr << "chainjit: warning: " << message << "\n";
}

struct BuiltModule {
  jit::LoweringPlan plan;
  std::unique_ptr<llvm::LLVMContext> ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> module;
};

BuiltModule build(const ir::Graph &g, const JitOptions &options, bool forCalls) {
  BuiltModule b;
  b.plan = jit::planLowering(g, options);
  if (forCalls)
    checkCallMemory(g, b.plan);
  b.module = jit::buildModule(g, b.plan, options, *b.ctx);
  sharedJitEngine().impl().prepare(*b.module);
  return b;
}

std::string printed(const llvm::Module &m) {
  std::string text;
  llvm::raw_string_ostream os(text);
  m.print(os, nullptr);
  return os.str();
}

} // namespace

std::unique_ptr<CompiledGraph> compileGraph(const ir::Graph &g, const JitOptions &options) {
  CompileTimes times;
  auto start = Clock::now();
  JitEngine &engine = sharedJitEngine();
  times.startup = secondsSince(start);
  start = Clock::now();
  BuiltModule b = build(g, options, /*forCalls=*/true);
  // The per-machine matmul micro-kernels the module calls: loaded once per
  // process (from their cache entry, else compiled), like the JIT itself.
  double kernels = jit::provideMicroKernels(*b.module, options);
  times.startup += kernels;
  start += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kernels));
  jit::ObjectCache cache(options.cacheDir);
  std::string key = jit::ObjectCache::key(printed(*b.module), engine.targetDescription());
  times.lower = secondsSince(start);

  std::optional<std::string> object;
  if (options.useCache) {
    jit::ObjectCache::Lookup found = cache.load(key);
    if (!found.problem.empty())
      warn(options, "graph '" + g.name() + "': " + found.problem);
    times.cacheEntryDiscarded = found.discarded;
    object = std::move(found.object);
  }
  std::pair<void *, llvm::orc::JITDylib *> loaded{};
  if (object) {
    auto t = Clock::now();
    try {
      loaded = engine.impl().load(*object, jit::kEntryName);
      times.cacheHit = true;
    } catch (const Error &e) {
      // Verified, yet not linkable (written by a different build?): as damaged.
      cache.discard(key);
      warn(options, "graph '" + g.name() + "': the compile cache entry " +
                        cache.entryPath(key) + " cannot be linked (" + e.what() +
                        "); it was deleted and the graph is compiled again");
      times.cacheEntryDiscarded = true;
    }
    times.codegen = secondsSince(t); // linking the object counts as code generation
  }
  if (!times.cacheHit) {
    auto t = Clock::now();
    engine.impl().optimize(*b.module);
    times.optimize = secondsSince(t);
    t = Clock::now();
    object = engine.impl().codegen(*b.module, false);
    if (options.useCache)
      cache.store(key, *object);
    loaded = engine.impl().load(*object, jit::kEntryName);
    times.codegen += secondsSince(t);
  }
  int64_t *counters = nullptr;
  if (options.profile && !b.plan.kernels.empty()) {
    try {
      counters = static_cast<int64_t *>(engine.impl().symbol(loaded.second, jit::kProfileName));
    } catch (...) {
      engine.impl().unload(loaded.second);
      throw;
    }
  }
  return std::make_unique<NativeGraph>(g, b.plan, times, reinterpret_cast<EntryFn>(loaded.first),
                                       loaded.second, counters, options.profile);
}

std::vector<ir::Tensor> CompiledGraph::run(
    const std::vector<const ir::Tensor *> &inputsAndParams) const {
  std::vector<void *> buffers;
  std::vector<ir::Tensor> results;
  size_t given = 0;
  for (const ArgumentSpec &a : args_)
    if (a.role == ArgumentRole::Input || a.role == ArgumentRole::Param)
      ++given;
  if (inputsAndParams.size() != given)
    throw Error("jit: expected " + std::to_string(given) + " inputs and params, got " +
                std::to_string(inputsAndParams.size()));
  results.reserve(args_.size() - given);
  size_t next = 0;
  for (const ArgumentSpec &a : args_) {
    if (a.role == ArgumentRole::Input || a.role == ArgumentRole::Param) {
      const ir::Tensor *t = inputsAndParams[next++];
      if (t->type() != a.type)
        throw Error("jit: " + std::string(a.role == ArgumentRole::Input ? "input" : "param") +
                    " %" + a.name + " is declared " + a.type.str() + " but given a " +
                    t->type().str());
      buffers.push_back(const_cast<void *>(t->data()));
    } else {
      results.emplace_back(a.type);
      buffers.push_back(results.back().data());
    }
  }
  call(buffers.data());
  return results;
}

std::string emitGraph(const ir::Graph &g, EmitKind kind, const JitOptions &options) {
  if (kind == EmitKind::Plan) {
    jit::LoweringPlan plan = jit::planLowering(g, options);
    return jit::describePlan(g, plan);
  }
  BuiltModule b = build(g, options, /*forCalls=*/false);
  auto &impl = sharedJitEngine().impl();
  if (kind == EmitKind::Llvm)
    return printed(*b.module);
  impl.optimize(*b.module);
  if (kind == EmitKind::LlvmOpt)
    return printed(*b.module);
  return impl.codegen(*b.module, kind == EmitKind::Asm);
}

} // namespace chainjit::compiler
