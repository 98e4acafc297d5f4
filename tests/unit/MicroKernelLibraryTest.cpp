// The per-machine generic matmul micro-kernels (compiler/src/jit/
// MicroKernelLibrary.h, kernels/gen/GenericMicroKernel.h): they compute the
// product for every shape (tails of rows, vectors and q chunks, empty
// products) without touching memory past C; their cache entry is written,
// read back, and rebuilt with a warning when damaged or unusable; and
// compiling without the graph cache (--no-cache) writes no graph object
// while the machine's kernels and calibration stay in the default cache
// directory.
#include "../../compiler/src/jit/KernelChoice.h"
#include "../../compiler/src/jit/ObjectCache.h"

#include "FileTesting.h"
#include "GradCheck.h"
#include "JitTesting.h"
#include "chainjit/compiler/Aot.h"
#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
namespace fs = std::filesystem;
namespace jit = chainjit::compiler::jit;

namespace {

fs::path freshDir(const std::string &what) {
  fs::path dir = fs::temp_directory_path() / ("chainjit-" + what + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

std::vector<std::string> entries(const fs::path &dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (fs::exists(dir, ec))
    for (const auto &e : fs::directory_iterator(dir))
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

size_t countPrefixed(const std::vector<std::string> &names, const std::string &prefix) {
  return size_t(std::count_if(names.begin(), names.end(), [&](const std::string &n) {
    return n.rfind(prefix, 0) == 0 && n.size() > 6 && n.substr(n.size() - 6) == ".cjobj";
  }));
}

template <typename T> void checkEveryShape(void *axpyFn, void *dotFn) {
  using Axpy = void (*)(T *, const T *, const T *, int64_t, int64_t, int64_t, int64_t, int64_t);
  using Dot = void (*)(T *, const T *, const T *, int64_t, int64_t, int64_t);
  auto axpy = reinterpret_cast<Axpy>(axpyFn);
  auto dot = reinterpret_cast<Dot>(dotFn);
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  const double tolerance = sizeof(T) == 4 ? 1e-4 : 1e-12;
  const T sentinel = T(12345.5);
  int failures = 0;
  // Rows: below, at and past the tile (and each binary digit of a remainder);
  // columns: partial vectors, whole tiles, tiles plus tails; k: 0 (C = 0),
  // 1, around a vector's width.
  for (int64_t m : {0, 1, 2, 3, 5, 7, 8, 9, 13, 17})
    for (int64_t n : {0, 1, 3, 8, 10, 23, 24, 25, 33, 47, 64})
      for (int64_t k : {0, 1, 2, 7, 8, 9, 31})
        for (int form = 0; form < 3; ++form) { // A B, A^T B, A B^T
          std::vector<T> a(size_t(m * k)), b(size_t(k * n)), c(size_t(m * n) + 16, sentinel);
          for (T &x : a)
            x = T(u(rng));
          for (T &x : b)
            x = T(u(rng));
          if (form == 0)
            axpy(c.data(), a.data(), b.data(), m, n, k, k, 1);
          else if (form == 1)
            axpy(c.data(), a.data(), b.data(), m, n, k, 1, m);
          else
            dot(c.data(), a.data(), b.data(), m, n, k);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double want = 0;
              for (int64_t q = 0; q < k; ++q) {
                double x = form == 1 ? a[size_t(q * m + i)] : a[size_t(i * k + q)];
                double y = form == 2 ? b[size_t(j * k + q)] : b[size_t(q * n + j)];
                want += x * y;
              }
              double got = c[size_t(i * n + j)];
              if (!(std::abs(got - want) <= tolerance * (1 + std::abs(want))) && failures++ < 5)
                FAIL_CHECK("form " << form << " m " << m << " n " << n << " k " << k << " C("
                                   << i << ", " << j << ") = " << got << ", want " << want);
            }
          for (size_t i = size_t(m * n); i < c.size(); ++i)
            if (c[i] != sentinel && failures++ < 5)
              FAIL_CHECK("form " << form << " m " << m << " n " << n << " k " << k
                                 << " wrote past C at " << i);
        }
  CHECK(failures == 0);
}

} // namespace

TEST_CASE("micro-kernels: the generic kernels compute every shape and write nothing past C") {
  compiler::JitOptions o; // the default cache directory: built once per machine
  jit::MicroKernelAddresses k = jit::loadedMicroKernels(o);
  SUBCASE("f32") { checkEveryShape<float>(k.axpyF32, k.dotF32); }
  SUBCASE("f64") { checkEveryShape<double>(k.axpyF64, k.dotF64); }
}

TEST_CASE("micro-kernels: the cache entry is written, read back, and rebuilt when damaged") {
  const std::string object = jit::microKernelObjectInUse({});
  CHECK(jit::checkMicroKernelObject(object).empty());
  fs::path dir = freshDir("micro-kernels");
  const std::string key = jit::microKernelEntryKey();
  CHECK(key.rfind("micro-kernels-", 0) == 0);
  // The key binds the CPU name and features (and the LLVM version).
  CHECK(jit::microKernelEntryKey("cpu-a +avx2") != jit::microKernelEntryKey("cpu-b +avx2"));
  CHECK(jit::microKernelEntryKey("cpu-a +avx2") != jit::microKernelEntryKey("cpu-a +avx512f"));
  int builds = 0;
  auto build = [&] {
    ++builds;
    return object;
  };
  std::vector<std::string> warnings;
  auto warn = [&](const std::string &w) { warnings.push_back(w); };
  bool built = false;
  CHECK(jit::loadOrBuildMicroKernels(dir.string(), key, warn, build, &built) == object);
  CHECK(built);
  const std::string path = jit::ObjectCache(dir.string()).entryPath(key);
  REQUIRE(fs::exists(path));
  // Read back, not built again.
  CHECK(jit::loadOrBuildMicroKernels(dir.string(), key, warn, build, &built) == object);
  CHECK_FALSE(built);
  CHECK(builds == 1);
  CHECK(warnings.empty());
  // One flipped byte in the object: the checksum fails, a warning names the
  // entry, it is deleted and rebuilt.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-100, std::ios::end);
    f.put('#');
  }
  CHECK(jit::loadOrBuildMicroKernels(dir.string(), key, warn, build, &built) == object);
  CHECK(built);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find(path) != std::string::npos);
  CHECK(warnings[0].find("damaged") != std::string::npos);
  CHECK(warnings[0].find("checksum") != std::string::npos);
  CHECK(warnings[0].find("the graph") == std::string::npos); // worded for the kernels
  CHECK(warnings[0].find("micro-kernels are compiled again") != std::string::npos);
  // Cut short: likewise.
  fs::resize_file(path, fs::file_size(path) / 2);
  jit::loadOrBuildMicroKernels(dir.string(), key, warn, build, &built);
  CHECK(built);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[1].find("damaged") != std::string::npos);
  // A verified entry that is no object file, or lacks a kernel, is refused.
  jit::ObjectCache(dir.string()).store(key, "not an object file");
  jit::loadOrBuildMicroKernels(dir.string(), key, warn, build, &built);
  CHECK(built);
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[2].find("unusable") != std::string::npos);
  CHECK(warnings[2].find("not an object file") != std::string::npos);
  CHECK_FALSE(jit::checkMicroKernelObject(object.substr(0, 64)).empty());
  // ... and the rebuilt entry is good again.
  CHECK(jit::loadOrBuildMicroKernels(dir.string(), key, warn, build, &built) == object);
  CHECK_FALSE(built);
  CHECK(builds == 4);
  fs::remove_all(dir);
}

TEST_CASE("jit: without the graph cache no graph object is written, but the machine's kernels and "
          "calibration are kept in the default cache directory") {
  ::unsetenv("CHAINJIT_BLAS_THRESHOLD");
  Graph g("no_cache");
  Value a = input(g, "a", f32({4, 12}));
  Value w = input(g, "w", f32({12, 10}));
  output(matmul(a, w).named("c"));
  runtime::Bindings bindings = testing::randomBindings(g, 2);
  fs::path machine = freshDir("default-cache"), graphs = freshDir("graph-cache");
  std::string saved = std::getenv("CHAINJIT_CACHE_DIR") ? std::getenv("CHAINJIT_CACHE_DIR") : "";
  ::setenv("CHAINJIT_CACHE_DIR", machine.c_str(), 1); // the default cache directory
  compiler::JitOptions o;
  o.useCache = false;
  o.cacheDir = graphs.string();
  compiler::compileGraph(g, o); // the calibrated choice
  o.blasThreshold = std::numeric_limits<int64_t>::max();
  auto loops = compiler::compileGraph(g, o); // the micro-kernels for sure
  CHECK_FALSE(loops->times().cacheHit);
  std::vector<std::string> names = entries(machine);
  CHECK(countPrefixed(names, "kernel-choice-") == 1);
  CHECK(countPrefixed(names, "micro-kernels-") == 1);
  CHECK(names.size() == 2); // no graph object
  CHECK_FALSE(fs::exists(graphs)); // nothing at all where cacheDir points
  // With the cache, the graph's object goes where cacheDir points, alone,
  // and is found again.
  o.useCache = true;
  compiler::compileGraph(g, o);
  CHECK(entries(graphs).size() == 1);
  CHECK(countPrefixed(entries(graphs), "kernel-choice-") == 0);
  CHECK(entries(machine).size() == 2);
  auto again = compiler::compileGraph(g, o);
  CHECK(again->times().cacheHit);
  testing::checkSameTensor(again->run({&bindings.at("a"), &bindings.at("w")})[0],
                           loops->run({&bindings.at("a"), &bindings.at("w")})[0],
                           "cached vs compiled");
  if (saved.empty())
    ::unsetenv("CHAINJIT_CACHE_DIR");
  else
    ::setenv("CHAINJIT_CACHE_DIR", saved.c_str(), 1);
  fs::remove_all(machine);
  fs::remove_all(graphs);
}

TEST_CASE("aot: a bundle carries its own copy of the micro-kernels it calls") {
  Graph g("loops_bundle");
  Value a = input(g, "a", f32({4, 12}));
  Value w = input(g, "w", f32({12, 10}));
  output(matmul(a, w).named("c"));
  output(matmul(a, transpose(a)).named("d"));
  fs::path dir = freshDir("aot-loops");
  compiler::AotOptions options;
  options.jit.blasThreshold = std::numeric_limits<int64_t>::max();
  compiler::writeAotBundle(g, {}, dir.string(), options);
  std::string archive = testing::readBytes((dir / "libloops_bundle.a").string());
  fs::remove_all(dir);
  // Defined inside the bundle's object (a local symbol): a bundle needs
  // nothing from the JIT (cli.aot.bundle links and runs bundles).
  CHECK(archive.find("cj_mk1_axpy_f32") != std::string::npos);
  CHECK(archive.find("cj_mk1_dot_f32") != std::string::npos);
  CHECK(archive.find("cj_mk1_axpy_f64") == std::string::npos); // only what it calls
}
