// The per-machine object of shape-generic matmul micro-kernels
// (kernels/gen/GenericMicroKernel.h): compiled once, cached next to the
// kernel calibration and loaded into the JIT once per process, so a graph's
// module only holds calls of them and its cold compile pays no O3 for
// matrix products.
//
// The cache entry (micro-kernels-<hash>.cjobj) is validated like the
// calibration's: ObjectCache's checksum, a key that hashes the kernels'
// unoptimized IR (which holds the tile sizes chosen for this CPU), the
// CPU name and features and the LLVM version; and then the object must
// parse as an object file that defines every kernel. A damaged or unusable
// entry is reported, deleted and rebuilt.
//
// It lives, with the calibration, in the default cache directory
// (ObjectCache's: $CHAINJIT_CACHE_DIR, else $XDG_CACHE_HOME/chainjit, else
// ~/.cache/chainjit), whatever JitOptions::cacheDir and useCache (the
// CLI's --cache-dir, --no-cache) say: those are about compiled graphs. The
// kernels and the calibration describe the machine, not a graph: they are
// the same for every graph, run and cache directory; without their entries
// every process that compiles without the graph cache or into a fresh
// directory would spend about a second rebuilding and re-measuring them
// (CTest runs each test case in a process of its own, most JIT tests
// compile with the cache off, some into fresh directories); and their
// entries are validated like the graphs'. A directory that cannot be
// written or is not trusted leaves them in memory for the process.
#pragma once

#include "chainjit/compiler/Jit.h"

#include <functional>
#include <string>

namespace llvm {
class Module;
}

namespace chainjit::compiler::jit {

// The kernels' object for this host, compiled now.
std::string buildMicroKernelObject();

// Empty when `object` parses as an object file defining every kernel
// symbol, else why not.
std::string checkMicroKernelObject(const std::string &object);

// The name of the cache entry for this host's kernels: a hash of their
// unoptimized IR (tile sizes included), `target` (CPU name and features;
// default: the JIT's) and the LLVM version.
std::string microKernelEntryKey();
std::string microKernelEntryKey(const std::string &target);

// The object cached in `dir` under `key`, or `build()`'t and stored there.
// A damaged or unusable entry is reported through `warn`, deleted and
// rebuilt. `built` says whether build() ran.
std::string loadOrBuildMicroKernels(const std::string &dir, const std::string &key,
                                    const std::function<void(const std::string &)> &warn,
                                    const std::function<std::string()> &build,
                                    bool *built = nullptr);

// The loaded kernels' addresses, in genericMicroKernelNames() order:
// axpy f32, dot f32, axpy f64, dot f64.
struct MicroKernelAddresses {
  void *axpyF32 = nullptr, *dotF32 = nullptr, *axpyF64 = nullptr, *dotF64 = nullptr;
};

// Loads the kernels into the JIT if this process has not yet (from the
// default cache directory, else compiled and stored there; `o` gives the
// warning callback) and returns their addresses. Once loaded they stay; a
// later call that finds another default directory (the environment
// changed) stores the same object there if it lacks it.
MicroKernelAddresses loadedMicroKernels(const JitOptions &o);

// The object's bytes loaded in this process (loading it first if need be).
const std::string &microKernelObjectInUse(const JitOptions &o);

// Makes the kernels that `m` calls available to the JIT before its object
// is linked; nothing when it calls none. Returns the seconds spent.
double provideMicroKernels(const llvm::Module &m, const JitOptions &o);

} // namespace chainjit::compiler::jit
