// The JIT against damaged input from outside the graph: cache entries with
// flipped or missing bytes (discarded with a warning and recompiled, never
// executed), a cache directory others could write to, and graphs whose
// memory exceeds the allocation limit or the address space (a clear error
// before anything is allocated, never a crash; an arena plan that would
// overflow saturates).
#include "GradCheck.h"
#include "JitTesting.h"

#include "../../compiler/src/jit/MemoryPlan.h"
#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

// Sanitizer allocators abort on a request for terabytes instead of
// returning null, so the test of a failing allocation runs only without them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHAINJIT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CHAINJIT_TEST_SANITIZED 1
#endif
#endif

using namespace chainjit;
using namespace chainjit::ir;
namespace fs = std::filesystem;

namespace {

// A fresh, empty directory path for one test's cache (not created).
fs::path freshCacheDir(const std::string &name) {
  fs::path dir = fs::temp_directory_path() /
                 ("chainjit-hardening-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  return dir;
}

Graph smallModel() {
  Graph g("cached");
  Value x = input(g, "x", f64({8, 5}));
  Value w = input(g, "w", f64({5, 3}));
  output(sum(tanh(matmul(x, w)) * 2.0, {1}).named("s"));
  return g;
}

// The one cache entry in `dir`.
fs::path onlyEntry(const fs::path &dir) {
  std::vector<fs::path> entries;
  for (const auto &e : fs::directory_iterator(dir))
    entries.push_back(e.path());
  REQUIRE(entries.size() == 1);
  return entries[0];
}

// Compiles `g` with the cache in `dir`, collecting warnings, and checks the
// result against the interpreter.
struct CompileResult {
  compiler::CompileTimes times;
  std::vector<std::string> warnings;
};
CompileResult compileAndCheck(const Graph &g, const fs::path &dir) {
  CompileResult r;
  compiler::JitOptions o;
  o.cacheDir = dir.string();
  o.onWarning = [&](const std::string &w) { r.warnings.push_back(w); };
  auto exe = runtime::makeExecutable(g, runtime::Backend::Jit, o);
  r.times = *exe->compileTimes();
  runtime::Bindings b = testing::randomBindings(g, 3);
  testing::checkSameTensor(exe->run(b).outputs[0], runtime::interpret(g, b).outputs[0],
                           "output of " + g.name());
  return r;
}

bool anyContains(const std::vector<std::string> &lines, const std::string &part) {
  for (const std::string &l : lines)
    if (l.find(part) != std::string::npos)
      return true;
  return false;
}

// Sets the allocation limit for one test and restores the default after.
struct AllocLimitGuard {
  explicit AllocLimitGuard(uint64_t bytes) { setAllocLimit(bytes); }
  ~AllocLimitGuard() { setAllocLimit(0); }
};

} // namespace

TEST_CASE("jit cache: an entry with flipped bytes is discarded with a warning and recompiled") {
  fs::path dir = freshCacheDir("flip");
  Graph g = smallModel();
  CompileResult cold = compileAndCheck(g, dir);
  CHECK_FALSE(cold.times.cacheHit);
  CHECK(cold.warnings.empty());
  fs::path entry = onlyEntry(dir);
  // Three bytes in the middle of the object (past the header) flipped.
  {
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    uint64_t size = fs::file_size(entry);
    REQUIRE(size > 200);
    for (uint64_t at : {size / 2, size / 2 + 7, size / 2 + 31}) {
      f.seekg(static_cast<std::streamoff>(at));
      char c = static_cast<char>(f.get());
      f.seekp(static_cast<std::streamoff>(at));
      f.put(static_cast<char>(~c));
    }
  }
  CompileResult again = compileAndCheck(g, dir); // correct results: the garbage never ran
  CHECK_FALSE(again.times.cacheHit);
  CHECK(again.times.cacheEntryDiscarded);
  REQUIRE(again.warnings.size() == 1);
  CHECK(again.warnings[0].find("graph 'cached': the compile cache entry " + entry.string() +
                               " is damaged (checksum mismatch)") != std::string::npos);
  // The entry was replaced by a good one: the next compile hits, silently.
  CompileResult warm = compileAndCheck(g, dir);
  CHECK(warm.times.cacheHit);
  CHECK(warm.warnings.empty());
  fs::remove_all(dir);
}

TEST_CASE("jit cache: a truncated entry is recompiled, not an error") {
  fs::path dir = freshCacheDir("truncated");
  Graph g = smallModel();
  compileAndCheck(g, dir);
  fs::path entry = onlyEntry(dir);
  uint64_t full = fs::file_size(entry);
  // Cut inside the header, then inside the object, then to nothing.
  for (uint64_t keep : {uint64_t(20), full - 100, uint64_t(0)}) {
    INFO("truncated to " << keep << " of " << full << " bytes");
    fs::resize_file(entry, keep);
    CompileResult r = compileAndCheck(g, dir);
    CHECK_FALSE(r.times.cacheHit);
    CHECK(r.times.cacheEntryDiscarded);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].find(keep == full - 100 ? "its header declares" : "truncated") !=
          std::string::npos);
    CHECK(fs::file_size(entry) == full); // rewritten whole
  }
  // Another file's (valid) entry under this key's name fails the checksum:
  // the digest covers the key.
  Graph other("other");
  output(exp(input(other, "x", f64({3}))).named("y"));
  fs::path otherDir = freshCacheDir("other");
  compileAndCheck(other, otherDir);
  fs::copy_file(onlyEntry(otherDir), entry, fs::copy_options::overwrite_existing);
  CompileResult r = compileAndCheck(g, dir);
  CHECK(anyContains(r.warnings, "checksum mismatch"));
  fs::remove_all(dir);
  fs::remove_all(otherDir);
}

TEST_CASE("jit cache: the directory is created private, and one others can write is not used") {
  fs::path root = freshCacheDir("private");
  fs::path dir = root / "nested" / "cache";
  Graph g = smallModel();
  compileAndCheck(g, dir);
  for (const fs::path &d : {root, root / "nested", dir}) {
    INFO(d);
    CHECK((fs::status(d).permissions() & fs::perms::all) == fs::perms::owner_all);
  }
  CHECK((fs::status(onlyEntry(dir)).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  // Group-writable: neither read nor written, with a warning naming it.
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_all);
  CompileResult r = compileAndCheck(g, dir);
  CHECK_FALSE(r.times.cacheHit);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find(dir.string() + " is writable by group or others") != std::string::npos);
  CHECK(fs::is_empty(dir));
  fs::remove_all(root);
}

TEST_CASE("jit: a graph over the allocation limit is an error naming it, before codegen") {
  Graph g("huge");
  Value a = input(g, "a", f32({1024, 1}));
  Value b = input(g, "b", f32({1, 1024}));
  output(sum(matmul(a, b)).named("s")); // a 4 MiB intermediate from 8 KiB of inputs
  AllocLimitGuard limit(1 << 20);
  compiler::JitOptions o;
  o.useCache = false;
  CHECK_THROWS_WITH_AS(compiler::compileGraph(g, o),
                       doctest::Contains("jit: graph 'huge' (an arena of 4.0 MiB for intermediate "
                                         "values and 8.0 KiB of inputs, params, outputs and "
                                         "updates) needs 4.0 MiB, more than the allocation limit "
                                         "of 1.0 MiB"),
                       Error);
  setAllocLimit(8 << 20);
  auto compiled = compiler::compileGraph(g, o);
  CHECK(compiled->arenaBytes() >= (4u << 20));
}

TEST_CASE("jit: an intermediate too large for the address space is an error, not a crash") {
  // a x b is 2^45 floats (128 TiB): under the verifier's bound, over any
  // machine's memory. The default limit (physical memory) stops it first.
  Graph g("vast");
  Value a = input(g, "a", f32({int64_t(1) << 23, 1}));
  Value b = input(g, "b", f32({1, int64_t(1) << 22}));
  output(sum(matmul(a, b)).named("s"));
  compiler::JitOptions o;
  o.useCache = false;
  CHECK_THROWS_WITH_AS(compiler::compileGraph(g, o),
                       doctest::Contains("jit: graph 'vast' (an arena of 128.0 TiB"), Error);
#ifndef CHAINJIT_TEST_SANITIZED
  // With the limit raised past it, the allocation itself fails: an Error
  // saying so, where the generated code used to be called with a null arena.
  AllocLimitGuard limit(uint64_t(1) << 62);
  CHECK_THROWS_WITH_AS(compiler::compileGraph(g, o),
                       doctest::Contains("jit: graph 'vast': out of memory allocating its "
                                         "128.0 TiB arena"),
                       Error);
#endif
}

TEST_CASE("jit: an arena too large to plan saturates instead of overflowing") {
  // Four live buffers of 2^61 bytes: the arena's end would pass 2^63 - 1.
  std::vector<compiler::jit::Buffer> buffers(4);
  for (auto &b : buffers) {
    b.bytes = int64_t(1) << 61;
    b.first = 0;
    b.last = 3;
  }
  CHECK(compiler::jit::assignOffsets(buffers) == INT64_MAX);
  // A small plan is as before: the third buffer reuses the first one's bytes.
  std::vector<compiler::jit::Buffer> small(3);
  small[0] = {100, 0, 1, 0};
  small[1] = {10, 1, 2, 0};
  small[2] = {50, 2, 3, 0};
  CHECK(compiler::jit::assignOffsets(small) == 192);
  CHECK(small[1].offset == 128);
  CHECK(small[2].offset == 0);
}
