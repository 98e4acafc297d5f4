// Ahead-of-time bundles: a graph compiled by the JIT's lowering into an
// object file that a C or C++ program links with OpenBLAS and libm alone
// (`chainjit compile --aot`, docs/deploy.md describes the bundle and its ABI).
//
// A bundle directory holds
//   NAME.h         the C header: NAME_run, NAME_check, the argument shapes
//                  and dtypes, the workspace size, the ABI version, the CPU
//   libNAME.a      NAME.o (the generated code, its descriptor and, when
//                  given, the weights as read-only data) and the kernel
//                  objects (one per family of library kernels, and the
//                  bundle runtime), of which a link takes what it calls
// The graph must be verified and free of mode-dependent ops (expandModes
// first), like compileGraph's.
#pragma once

#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Graph.h"
#include "chainjit/ir/Tensor.h"

#include <map>
#include <string>
#include <vector>

namespace chainjit::compiler {

struct AotOptions {
  // The C prefix of every symbol and the file names; empty: the graph's
  // name made a C identifier.
  std::string name;
  // An LLVM CPU name ("x86-64", "x86-64-v2", "x86-64-v3", "haswell",
  // "znver3", ...); empty or "host": the machine compiling.
  std::string targetCpu;
  // Added to the header: a comment (e.g. how the features must be
  // prepared; "NAME_run" and "NAME_" in it become the bundle's names) and
  // macros NAME_<key> with the given C value text.
  std::string headerComment;
  std::vector<std::pair<std::string, std::string>> headerDefines;
  // The lowering's options (fusion, the BLAS threshold); the cache,
  // checkNumerics and profile are not used.
  JitOptions jit;
};

struct AotBundle {
  std::string name;                // the C prefix
  std::string dir;
  std::vector<std::string> files;  // written, relative to dir
  std::string targetCpu;           // resolved (never "host")
  std::vector<std::string> features; // the CPU features the code may use
  int64_t workspaceBytes = 0;
};

// Compiles `g` into a bundle in `dir` (created if missing). With `params`
// non-empty, every param of `g` must be there with its declared type and is
// embedded; with `params` empty, params are arguments of NAME_run. Throws
// chainjit::Error on an unknown CPU, a param that is missing or differs, a
// name that is no C identifier after cleaning, a directory that cannot be
// written (nothing is left half-written under the final file names).
AotBundle writeAotBundle(const ir::Graph &g, const std::map<std::string, ir::Tensor, std::less<>> &params,
                         const std::string &dir, const AotOptions &options = {});

} // namespace chainjit::compiler
