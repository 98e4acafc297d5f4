// The per-machine matmul kernel choice (compiler/src/jit/KernelChoice.h):
// the model follows the calibration data it is given, the calibration's
// cache entry is written, read back and re-measured when damaged, the
// override works, and the generated micro-kernels equal the interpreter on
// many small shapes under every choice. Nothing here depends on timing:
// measured calibrations are replaced by data the tests make up.
#include "../../compiler/src/jit/KernelChoice.h"
#include "../../compiler/src/jit/ObjectCache.h"

#include "GradCheck.h"
#include "JitTesting.h"
#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Builder.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
using compiler::jit::CalibrationSample;
using compiler::jit::MatMulCalibration;
using compiler::jit::MatMulDims;
using compiler::jit::MatMulKernel;
namespace fs = std::filesystem;

namespace {

// A calibration whose samples follow two exact lines per dtype: loops take
// loopsOverhead + ops * loopsPerOp, BLAS blasOverhead + mnk * blasPerFma.
MatMulCalibration madeUp(double loopsOverhead, double loopsPerOp, double blasOverhead,
                         double blasPerFma) {
  MatMulCalibration c;
  c.vectors = {256, 16};
  for (bool isF64 : {false, true}) {
    auto &samples = isF64 ? c.f64.samples : c.f32.samples;
    for (const MatMulDims &d : compiler::jit::calibrationShapes()) {
      double ops = double(compiler::jit::microKernelVectorOps(d, isF64 ? 8 : 4, c.vectors));
      samples.push_back(
          {d, loopsOverhead + ops * loopsPerOp, blasOverhead + double(d.m * d.n * d.k) * blasPerFma});
    }
  }
  c.fit();
  return c;
}

fs::path tempDir(const std::string &what) {
  fs::path dir = fs::temp_directory_path() /
                 ("chainjit-" + what + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

} // namespace

TEST_CASE("kernel choice: a fitted time line recovers overhead and rate") {
  auto line = compiler::jit::fitTimeLine({{10, 2e-7 + 10 * 3e-9}, {1000, 2e-7 + 1000 * 3e-9},
                                          {1e5, 2e-7 + 1e5 * 3e-9}});
  CHECK(line.overhead == doctest::Approx(2e-7).epsilon(1e-6));
  CHECK(line.perOp == doctest::Approx(3e-9).epsilon(1e-6));
  // Coefficients never go negative (noise could make a line fall).
  auto falling = compiler::jit::fitTimeLine({{1, 5e-6}, {100, 1e-6}});
  CHECK(falling.perOp == 0);
  CHECK(falling.overhead > 0);
}

TEST_CASE("kernel choice: the choice follows the calibration data it is given") {
  const MatMulDims tiny{8, 8, 8}, narrow{32, 10, 32}, mid{64, 64, 64}, dot{1, 64, 32, false, true};
  // Loops cheap everywhere: loops for every shape, both dtypes.
  MatMulCalibration loopsWin = madeUp(1e-8, 1e-10, 1e-6, 1e-9);
  for (bool f64 : {false, true})
    for (const MatMulDims &d : {tiny, narrow, mid, dot})
      CHECK(loopsWin.choose(f64, d) == MatMulKernel::GeneratedLoops);
  // BLAS cheap everywhere.
  MatMulCalibration blasWins = madeUp(1e-6, 1e-8, 1e-8, 1e-12);
  for (bool f64 : {false, true})
    for (const MatMulDims &d : {tiny, narrow, mid, dot})
      CHECK(blasWins.choose(f64, d) == MatMulKernel::Blas);
  // Loops without call overhead but slower per multiply-add: a crossover.
  MatMulCalibration crossing = madeUp(2e-8, 2e-10, 3e-7, 2e-12);
  CHECK(crossing.choose(false, tiny) == MatMulKernel::GeneratedLoops);
  CHECK(crossing.choose(false, mid) == MatMulKernel::Blas);
  CHECK(crossing.predictLoops(false, mid) > crossing.predictBlas(false, mid));
  // Both operands transposed: no micro-kernel, BLAS whatever the data.
  CHECK(loopsWin.choose(false, {4, 4, 4, true, true}) == MatMulKernel::Blas);
}

TEST_CASE("kernel choice: the loops only up to the largest product calibrated, per orientation") {
  // The largest samples (calibrationShapes): 96 x 128 x 64 with B row-wise,
  // 64 x 64 x 64 with B^T. However cheap the loops' lines, a product with
  // more multiply-adds goes to the library kernel: the lines describe one
  // thread's small products, not one the library splits over the CPUs.
  MatMulCalibration loopsWin = madeUp(1e-8, 1e-10, 1e-6, 1e-9);
  for (bool f64 : {false, true}) {
    CHECK(loopsWin.calibratedWork(f64, false) == 96.0 * 128 * 64);
    CHECK(loopsWin.calibratedWork(f64, true) == 64.0 * 64 * 64);
    CHECK(loopsWin.choose(f64, {96, 128, 64}) == MatMulKernel::GeneratedLoops);
    CHECK(loopsWin.choose(f64, {97, 128, 64}) == MatMulKernel::Blas);
    CHECK(loopsWin.choose(f64, {64, 64, 64, false, true}) == MatMulKernel::GeneratedLoops);
    CHECK(loopsWin.choose(f64, {64, 65, 64, false, true}) == MatMulKernel::Blas);
    // The Jacobian's last product (2000 x 20 times 20 x 2000): 80 M
    // multiply-adds, where the extrapolated line chose one thread's loops.
    CHECK(loopsWin.choose(f64, {2000, 2000, 20}) == MatMulKernel::Blas);
    CHECK(loopsWin.predictLoops(f64, {2000, 2000, 20}) <
          loopsWin.predictBlas(f64, {2000, 2000, 20}));
  }
  // Without a sample of an orientation nothing of it is known: BLAS.
  MatMulCalibration rowWiseOnly = loopsWin;
  for (auto *p : {&rowWiseOnly.f32, &rowWiseOnly.f64})
    p->samples.erase(std::remove_if(p->samples.begin(), p->samples.end(),
                                    [](const CalibrationSample &s) { return s.dims.transB; }),
                     p->samples.end());
  rowWiseOnly.fit();
  CHECK(rowWiseOnly.calibratedWork(false, true) == 0);
  CHECK(rowWiseOnly.choose(false, {1, 4, 4, false, true}) == MatMulKernel::Blas);
  CHECK(rowWiseOnly.choose(false, {4, 4, 4}) == MatMulKernel::GeneratedLoops);
}

TEST_CASE("kernel choice: a calibration round-trips through text and crafted text is refused") {
  MatMulCalibration c = madeUp(2e-8, 2e-10, 3e-7, 2e-12);
  auto back = MatMulCalibration::parse(c.serialize());
  REQUIRE(back);
  CHECK(back->serialize() == c.serialize());
  CHECK(back->f32.blas.perOp == doctest::Approx(c.f32.blas.perOp));
  std::string text = c.serialize();
  CHECK_FALSE(MatMulCalibration::parse(""));
  CHECK_FALSE(MatMulCalibration::parse(text.substr(0, text.size() / 2)));  // truncated
  CHECK_FALSE(MatMulCalibration::parse(text + "f32 1 1 1 0 0 1e-6 1e-6\n")); // after "end"
  std::string bad = text;
  bad.replace(bad.find("f32 "), 4, "f16 ");
  CHECK_FALSE(MatMulCalibration::parse(bad));
  for (const char *sample : {"f32 0 4 4 0 0 1e-6 1e-6", "f32 4 4 4 2 0 1e-6 1e-6",
                             "f32 4 4 4 0 0 nan 1e-6", "f32 4 4 4 0 0 1e-6 -1",
                             "f32 4 4 99999999 0 0 1e-6 1e-6", "f32 4 4 4 0 0 1e-6"}) {
    std::string crafted = text;
    crafted.insert(crafted.find("end\n"), std::string(sample) + "\n");
    CHECK_MESSAGE(!MatMulCalibration::parse(crafted), sample);
  }
}

TEST_CASE("kernel choice: the calibration entry is written, read back and re-measured when damaged") {
  fs::path dir = tempDir("calibration");
  const std::string target = "test-cpu +test-feature | test-blas";
  int measures = 0;
  auto measure = [&] {
    ++measures;
    return madeUp(2e-8, 2e-10, 3e-7, 2e-12);
  };
  std::vector<std::string> warnings;
  auto warn = [&](const std::string &w) { warnings.push_back(w); };
  bool measured = false;
  MatMulCalibration first = compiler::jit::loadOrCalibrate(dir.string(), target, warn, measure, &measured);
  CHECK(measured);
  const std::string path = compiler::jit::calibrationEntryPath(dir.string(), target);
  REQUIRE(fs::exists(path));
  CHECK(fs::path(path).parent_path() == dir);
  // Read back, not measured again.
  MatMulCalibration second = compiler::jit::loadOrCalibrate(dir.string(), target, warn, measure, &measured);
  CHECK_FALSE(measured);
  CHECK(measures == 1);
  CHECK(second.serialize() == first.serialize());
  CHECK(warnings.empty());
  // Another CPU (or BLAS, or LLVM) has an entry of its own.
  compiler::jit::loadOrCalibrate(dir.string(), target + "x", warn, measure, &measured);
  CHECK(measured);
  CHECK(measures == 2);
  // One flipped byte: the checksum fails, a warning names the entry, it is measured again.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-10, std::ios::end);
    f.put('#');
  }
  compiler::jit::loadOrCalibrate(dir.string(), target, warn, measure, &measured);
  CHECK(measured);
  CHECK(measures == 3);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find(path) != std::string::npos);
  CHECK(warnings[0].find("damaged") != std::string::npos);
  // A verified entry that does not hold a calibration is refused likewise.
  compiler::jit::ObjectCache cache(dir.string());
  std::string key = fs::path(path).stem().string();
  cache.store(key, "chainjit-kernel-calibration 1\nvectors 256 16\nend\n");
  compiler::jit::loadOrCalibrate(dir.string(), target, warn, measure, &measured);
  CHECK(measured);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[1].find("does not hold a calibration") != std::string::npos);
  // ... and the re-measured entry is good again.
  compiler::jit::loadOrCalibrate(dir.string(), target, warn, measure, &measured);
  CHECK_FALSE(measured);
  fs::remove_all(dir);
}

TEST_CASE("kernel choice: a fixed threshold from the option or the environment overrides it") {
  compiler::JitOptions o;
  ::unsetenv("CHAINJIT_BLAS_THRESHOLD");
  CHECK(compiler::jit::fixedBlasThreshold(o) == -1);
  ::setenv("CHAINJIT_BLAS_THRESHOLD", "4096", 1);
  CHECK(compiler::jit::fixedBlasThreshold(o) == 4096);
  CHECK(compiler::jit::chooseMatMulKernel({8, 8, 8}, 4, o) == MatMulKernel::GeneratedLoops);
  CHECK(compiler::jit::chooseMatMulKernel({16, 16, 16}, 4, o) == MatMulKernel::Blas);
  o.blasThreshold = 0; // the option wins over the environment
  CHECK(compiler::jit::fixedBlasThreshold(o) == 0);
  CHECK(compiler::jit::chooseMatMulKernel({1, 1, 1}, 8, o) == MatMulKernel::Blas);
  o.blasThreshold = -1;
  ::setenv("CHAINJIT_BLAS_THRESHOLD", "12x", 1);
  CHECK_THROWS_WITH(compiler::jit::fixedBlasThreshold(o),
                    doctest::Contains("CHAINJIT_BLAS_THRESHOLD='12x' is not a non-negative integer"));
  ::unsetenv("CHAINJIT_BLAS_THRESHOLD");
}

namespace {

struct Case {
  int64_t m, n, k;
};

// One graph holding a product of every shape below, each with every
// transpose combination (transposes fold into the kernel's flags).
Graph manyProducts(DType t) {
  // Tails of rows, of vectors and of the q chunks; k = 1; n = 1; one row.
  const std::vector<Case> cases = {{1, 1, 1},   {1, 10, 32}, {3, 5, 7},  {13, 33, 31},
                                   {32, 10, 32}, {9, 40, 1},  {17, 1, 70}, {2, 100, 5},
                                   {6, 47, 9},   {15, 24, 16}};
  Graph g("products_" + std::string(dtypeName(t)));
  int i = 0;
  for (const Case &c : cases)
    for (int flags = 0; flags < 4; ++flags, ++i) {
      bool tA = flags & 1, tB = flags & 2;
      auto shape = [&](int64_t r, int64_t cols, bool tr) {
        return TensorType{t, tr ? Shape{cols, r} : Shape{r, cols}};
      };
      Value a = input(g, "a" + std::to_string(i), shape(c.m, c.k, tA));
      Value b = input(g, "b" + std::to_string(i), shape(c.k, c.n, tB));
      output(matmul(tA ? transpose(a) : a, tB ? transpose(b) : b).named("c" + std::to_string(i)));
    }
  return g;
}

size_t count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("jit: matmuls of many small shapes equal the interpreter under every kernel choice") {
  // Generic micro-kernels (the default), per-shape ones, BLAS.
  for (const char *kernels : {"generic", "per-shape"})
    for (DType t : {DType::f32, DType::f64}) {
      ::setenv("CHAINJIT_MICROKERNELS", kernels, 1);
      Graph g = manyProducts(t);
      INFO(g.name() << " with " << kernels << " micro-kernels");
      runtime::Bindings b = testing::randomBindings(g, 14);
      compiler::JitOptions loops, blas; // the calibrated choice picks one of the two per product
      loops.blasThreshold = std::numeric_limits<int64_t>::max();
      blas.blasThreshold = 0;
      std::string loopsPlan = compiler::emitGraph(g, compiler::EmitKind::Plan, loops);
      std::string blasPlan = compiler::emitGraph(g, compiler::EmitKind::Plan, blas);
      CHECK(count(loopsPlan, "-> generated loops") == g.outputs().size());
      CHECK(count(blasPlan, "-> generated loops") == 0);
      // Generic: calls of the per-machine kernels; per shape: bodies in the module.
      std::string ir = compiler::emitGraph(g, compiler::EmitKind::Llvm, loops);
      bool generic = std::string(kernels) == "generic";
      CHECK((ir.find("declare void @cj_mk1_axpy_") != std::string::npos) == generic);
      CHECK((ir.find("declare void @cj_mk1_dot_") != std::string::npos) == generic);
      CHECK((ir.find("define internal void @cj.matmul.") != std::string::npos) == !generic);
      testing::checkJitMatchesInterpreter(g, b, loops);
      testing::checkJitMatchesInterpreter(g, b, blas);
    }
  ::setenv("CHAINJIT_MICROKERNELS", "fastest", 1);
  compiler::JitOptions loops;
  loops.blasThreshold = std::numeric_limits<int64_t>::max();
  CHECK_THROWS_WITH(compiler::emitGraph(manyProducts(DType::f32), compiler::EmitKind::Llvm, loops),
                    doctest::Contains("CHAINJIT_MICROKERNELS='fastest' is neither 'generic'"));
  ::unsetenv("CHAINJIT_MICROKERNELS");
}

TEST_CASE("jit: the kernel choice is part of the compile cache key") {
  fs::path dir = tempDir("choice-cache");
  Graph g("choice");
  Value a = input(g, "a", f32({8, 12}));
  Value w = input(g, "w", f32({12, 20}));
  output(matmul(a, w).named("c"));
  compiler::JitOptions loops, blas;
  loops.cacheDir = blas.cacheDir = dir.string();
  loops.blasThreshold = std::numeric_limits<int64_t>::max();
  blas.blasThreshold = 0;
  CHECK(compiler::emitGraph(g, compiler::EmitKind::Llvm, loops) !=
        compiler::emitGraph(g, compiler::EmitKind::Llvm, blas));
  auto first = compiler::compileGraph(g, loops);
  CHECK_FALSE(first->times().cacheHit);
  auto other = compiler::compileGraph(g, blas); // not the loops' object
  CHECK_FALSE(other->times().cacheHit);
  auto again = compiler::compileGraph(g, loops);
  CHECK(again->times().cacheHit);
  runtime::Bindings b = testing::randomBindings(g, 3);
  auto x = first->run({&b.at("a"), &b.at("w")});
  auto y = other->run({&b.at("a"), &b.at("w")});
  testing::checkSameTensor(x[0], y[0], "loops vs BLAS");
  fs::remove_all(dir);
}

TEST_CASE("jit: batched small matmuls run the micro-kernel per product and equal the interpreter") {
  // Stacked operands, a shared A against stacked B (not one GEMM in
  // disguise: n > 1) and a batch broadcast over two axes (offsets repeat).
  for (const char *kernels : {"generic", "per-shape"})
    for (DType t : {DType::f32, DType::f64}) {
      ::setenv("CHAINJIT_MICROKERNELS", kernels, 1);
      Graph g("batched_" + std::string(dtypeName(t)));
      auto ty = [&](Shape s) { return TensorType{t, s}; };
      output(matmul(input(g, "a0", ty({5, 3, 7})), input(g, "b0", ty({5, 7, 4}))).named("c0"));
      output(matmul(input(g, "a1", ty({3, 7})), input(g, "b1", ty({6, 7, 9}))).named("c1"));
      output(matmul(input(g, "a2", ty({2, 1, 4, 6})), input(g, "b2", ty({3, 6, 5}))).named("c2"));
      INFO(g.name() << " with " << kernels << " micro-kernels");
      compiler::JitOptions loops, blas;
      loops.blasThreshold = std::numeric_limits<int64_t>::max();
      blas.blasThreshold = 0;
      std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan, loops);
      CHECK(count(plan, "-> generated loops") == 3);
      CHECK(count(plan, "batched products)") == 3);
      CHECK(count(compiler::emitGraph(g, compiler::EmitKind::Plan, blas), "-> generated loops") ==
            0);
      runtime::Bindings b = testing::randomBindings(g, 5);
      testing::checkJitMatchesInterpreter(g, b, loops);
      testing::checkJitMatchesInterpreter(g, b, blas);
    }
  ::unsetenv("CHAINJIT_MICROKERNELS");
}
