// Ahead-of-time bundles from the C++ API (compiler/Aot.h): the files, the
// header's signature with params embedded or passed, the errors for missing
// or different weights, an unknown CPU and a graph that updates its params;
// and the bundle runtime's CPU check and error reporting (BundleRuntime.h),
// which the CLI test cli.aot.bundle exercises through linked C programs.
#include "../../compiler/src/aot/BundleRuntime.h"
#include "FileTesting.h"

#include "chainjit/compiler/Aot.h"
#include "chainjit/ir/Parser.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

using namespace chainjit;
using chainjit::testing::errorOf;
using chainjit::testing::readBytes;

namespace {

const char *kAffine = R"(graph affine {
  input %x : f32[2, 3]
  param %w : f32[3]
  %y = mul(%x, %w)
  output %y
})";

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string &name)
      : path(std::filesystem::temp_directory_path() /
             ("chainjit_aot_" + std::to_string(::getpid()) + "_" + name)) {}
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string str() const { return path.string(); }
};

using Params = std::map<std::string, ir::Tensor, std::less<>>;

} // namespace

TEST_CASE("aot: a bundle with embedded weights: header and archive, params not arguments") {
  ir::Graph g = ir::parseGraph(kAffine);
  Params params;
  params.emplace("w", ir::Tensor(ir::f32({3}), std::vector<double>{1, 2, 3}));
  TempDir dir("embedded");
  compiler::AotBundle b = compiler::writeAotBundle(g, params, dir.str());
  CHECK(b.name == "affine");
  CHECK(b.files == std::vector<std::string>{"affine.h", "libaffine.a"});
  CHECK_FALSE(b.targetCpu.empty());
  CHECK(b.targetCpu != "host");
  std::string header = readBytes((dir.path / "affine.h").string());
  CHECK(header.find("int32_t affine_run(const float *x, float *y, void *workspace, char *err, "
                    "size_t err_size);") != std::string::npos);
  CHECK(header.find("#define AFFINE_W_SHAPE {3}") != std::string::npos);
  CHECK(header.find("(embedded in the object: not an argument)") != std::string::npos);
  std::string archive = readBytes((dir.path / "libaffine.a").string());
  CHECK(archive.rfind("!<arch>\n", 0) == 0);
  CHECK(archive.find("affine_run") != std::string::npos); // in the symbol table
  CHECK(archive.find("chainjit_bundleruntime.o") != std::string::npos);
  CHECK(archive.find("chainjit_reduce.o") != std::string::npos); // every kernel family
  CHECK_FALSE(std::filesystem::exists(dir.path / "affine.h.tmp"));
}

TEST_CASE("aot: without weights the params are arguments, a chosen name and generic CPU, "
          "unprofiled") {
  ir::Graph g = ir::parseGraph(kAffine);
  TempDir dir("arguments");
  compiler::AotOptions o;
  o.name = "scaled";
  o.targetCpu = "x86-64-v2";
  o.jit.profile = true; // not for bundles: no counters in the object
  compiler::AotBundle b = compiler::writeAotBundle(g, {}, dir.str(), o);
  const std::string archive = readBytes((dir.path / "libscaled.a").string());
  CHECK(archive.find(std::string("cj_profile\0", 11)) == std::string::npos);
  CHECK(b.targetCpu == "x86-64-v2");
  CHECK(std::find(b.features.begin(), b.features.end(), "sse4.2") != b.features.end());
  CHECK(std::find(b.features.begin(), b.features.end(), "avx") == b.features.end());
  std::string header = readBytes((dir.path / "scaled.h").string());
  CHECK(header.find("int32_t scaled_run(const float *x, const float *w, float *y, void "
                    "*workspace, char *err, size_t err_size);") != std::string::npos);
  CHECK(header.find("#define SCALED_TARGET_CPU \"x86-64-v2\"") != std::string::npos);
}

TEST_CASE("aot: weights that lack a param or differ, an unknown CPU, a bad name") {
  ir::Graph g = ir::parseGraph(R"(graph two {
    input %x : f32[2]
    param %a : f32[2]
    param %b : f32[2]
    %ax = mul(%x, %a)
    %y = add(%ax, %b)
    output %y
  })");
  TempDir dir("errors");
  Params onlyA;
  onlyA.emplace("a", ir::Tensor(ir::f32({2}), std::vector<double>{1, 2}));
  CHECK(errorOf([&] { compiler::writeAotBundle(g, onlyA, dir.str()); }) ==
        "error: aot: graph 'two': the weights lack %b");
  Params wrong = onlyA;
  wrong.emplace("b", ir::Tensor(ir::f32({3}), std::vector<double>{1, 2, 3}));
  CHECK(errorOf([&] { compiler::writeAotBundle(g, wrong, dir.str()); }) ==
        "error: aot: graph 'two': %b is declared f32[2] but the weights hold f32[3]");
  compiler::AotOptions o;
  o.targetCpu = "pentium9";
  CHECK(errorOf([&] { compiler::writeAotBundle(g, {}, dir.str(), o); })
            .find("--target-cpu pentium9: LLVM does not know this CPU") != std::string::npos);
  o = {};
  o.name = "9lives";
  CHECK(errorOf([&] { compiler::writeAotBundle(g, {}, dir.str(), o); }) ==
        "error: aot: the bundle name '9lives' is no C identifier (letters, digits and '_', not "
        "starting with a digit)");
  CHECK_FALSE(std::filesystem::exists(dir.path));
}

TEST_CASE("aot runtime: the CPU check names the features this CPU lacks") {
  int32_t present = -1;
  REQUIRE(cj_bundle_cpu_has("sse2", &present) == 1);
  CHECK(present == 1); // every x86-64 has it
  CHECK(cj_bundle_cpu_has("no-such-feature", &present) == 0);
  int32_t state = 0;
  cj_bundle_desc d{};
  d.abi_version = CJ_BUNDLE_ABI_VERSION;
  d.name = "m";
  d.target_cpu = "somecpu";
  d.cpu_state = &state;
  d.features = "+sse2,+no-such-feature"; // what cannot be tested is not refused
  char err[256];
  CHECK(cj_bundle_check_cpu(&d, err, sizeof err) == CJ_BUNDLE_OK);
  CHECK(std::string(err).empty());
  // A feature this machine lacks (AMD-only ones on Intel, AMX on AMD).
  const char *candidates[] = {"xop", "fma4", "tbm", "sse4a", "amx-fp16", "avxvnniint16"};
  std::string missing;
  for (const char *f : candidates)
    if (cj_bundle_cpu_has(f, &present) == 1 && present == 0) {
      missing = f;
      break;
    }
  REQUIRE_FALSE(missing.empty());
  std::string features = "+sse2,+" + missing;
  d.features = features.c_str();
  CHECK(cj_bundle_check_cpu(&d, err, sizeof err) == CJ_BUNDLE_CPU_UNSUPPORTED);
  CHECK(std::string(err) == "bundle 'm' was compiled for CPU 'somecpu', and this CPU lacks " +
                                missing +
                                " (compile the bundle with --target-cpu for this machine, or a "
                                "generic one such as x86-64-v2)");
  // cj_bundle_call refuses to run the code, and says why.
  int32_t (*never)(void *const *, void *, int64_t *) = [](void *const *, void *, int64_t *) {
    FAIL("the entry ran");
    return 0;
  };
  d.entry = never;
  CHECK(cj_bundle_call(&d, nullptr, nullptr, err, sizeof err) == CJ_BUNDLE_CPU_UNSUPPORTED);
  CHECK(state == 2);
}

TEST_CASE("aot runtime: a failing op comes back as its status and a message naming it") {
  int32_t state = 0;
  const char *labels[] = {"%x", "%loss"};
  const char *ops[] = {"input", "cross_entropy"};
  const char *buffers[] = {"input x"};
  cj_bundle_desc d{};
  d.abi_version = CJ_BUNDLE_ABI_VERSION;
  d.num_buffers = 1;
  d.workspace_bytes = 1 << 20;
  d.name = "m";
  d.target_cpu = "x86-64";
  d.features = "+sse2";
  d.num_nodes = 2;
  d.node_labels = labels;
  d.node_ops = ops;
  d.buffer_names = buffers;
  d.cpu_state = &state;
  d.entry = [](void *const *, void *arena, int64_t *failed) -> int32_t {
    if (reinterpret_cast<uintptr_t>(arena) % 64 != 0)
      return 99;
    *failed = 1;
    return CJ_BUNDLE_LABEL_OUT_OF_RANGE;
  };
  float x = 0;
  void *args[] = {&x};
  char err[256];
  CHECK(cj_bundle_call(&d, args, nullptr, err, sizeof err) == CJ_BUNDLE_LABEL_OUT_OF_RANGE);
  CHECK(std::string(err) ==
        "bundle 'm': %loss: cross_entropy: a label is out of range [0, classes)");
  CHECK(state == 1);
  void *none[] = {nullptr};
  CHECK(cj_bundle_call(&d, none, nullptr, err, sizeof err) == CJ_BUNDLE_BAD_ARGUMENT);
  CHECK(std::string(err) == "bundle 'm': the buffer of input x is NULL");
#ifndef __SANITIZE_ADDRESS__ // AddressSanitizer reports the huge allocation and stops
  d.workspace_bytes = INT64_MAX; // no allocator gives that
  CHECK(cj_bundle_call(&d, args, nullptr, err, sizeof err) == CJ_BUNDLE_OUT_OF_MEMORY);
  CHECK(std::string(err) == "bundle 'm': cannot allocate the workspace of "
                            "9223372036854775807 bytes");
#endif
  d.abi_version = CJ_BUNDLE_ABI_VERSION + 1;
  CHECK(cj_bundle_call(&d, args, nullptr, err, 0) == CJ_BUNDLE_BAD_ARGUMENT); // err unused
}
