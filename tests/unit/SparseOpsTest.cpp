// The CSR sparse products spmm and sddmm: hand-computed values on the
// interpreter, the JIT against the interpreter (small and threaded sizes),
// run-time structure errors on both backends naming op, value and position,
// first and second derivatives against finite differences (their rules are
// closed), and the PyTorch reference values of tests/fixtures/torch_sparse.json.
#include "GradCheck.h"
#include "InterpTesting.h"
#include "JitTesting.h"
#include "ScopedSplitMode.h"

#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkClose;
using chainjit::testing::checkDerivatives;
using chainjit::testing::checkHessian;
using chainjit::testing::checkJitMatchesInterpreter;
using chainjit::testing::randomBindings;
using chainjit::testing::relativeError;
using chainjit::testing::valueOf;

namespace {

// A 4 x 5 matrix with an empty row (1) and a repeated column in row 2:
//   row 0: (0, 1) = 1, (0, 4) = 2      row 2: (2, 0) = 3, (2, 2) = 4, (2, 0) = 5
//   row 1: -                           row 3: (3, 3) = 6
const std::vector<double> kRowPtr{0, 2, 2, 5, 6}, kColIdx{1, 4, 0, 2, 0, 3};
const std::vector<double> kValues{1, 2, 3, 4, 5, 6};

struct Pattern {
  Value rowPtr, colIdx;
};
Pattern pattern(Graph &g, const std::vector<double> &rowPtr = kRowPtr,
                const std::vector<double> &colIdx = kColIdx) {
  return {constant(g, Tensor(i32({int64_t(rowPtr.size())}), rowPtr), "row_ptr"),
          constant(g, Tensor(i32({int64_t(colIdx.size())}), colIdx), "col_idx")};
}

// D [5, 2] (rows of 1..10) and E [4, 2] as f64 consts.
Value denseD(Graph &g) { return testing::c64(g, {5, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}); }
Value denseE(Graph &g) { return testing::c64(g, {4, 2}, {1, 1, 2, 0, 0, 3, 1, -1}); }

} // namespace

TEST_CASE("sparse: spmm, transposed spmm and sddmm give hand-computed values") {
  Graph g("hand");
  Pattern p = pattern(g);
  Value v = testing::c64(g, {6}, kValues);
  output(spmm({p.rowPtr, p.colIdx, v, 5}, denseD(g)).named("AD"));
  output(spmm({p.rowPtr, p.colIdx, v, 5}, denseE(g), true).named("AtE"));
  output(sddmm(p.rowPtr, p.colIdx, denseE(g), denseD(g)).named("sampled"));
  runtime::EvalResult r = runtime::interpret(g, {});
  // Row 0: 1 D1 + 2 D4; row 1 empty; row 2: (3 + 5) D0 + 4 D2; row 3: 6 D3.
  checkClose(r.outputs[0], {21, 24, 0, 0, 28, 40, 42, 48});
  // Column c of A collects its entries' rows of E: col 0 = 8 E2, col 1 = E0,
  // col 2 = 4 E2, col 3 = 6 E3, col 4 = 2 E0.
  checkClose(r.outputs[1], {0, 24, 1, 1, 0, 12, 6, -6, 2, 2});
  // out[e] = E[row(e)] · D[col(e)].
  checkClose(r.outputs[2], {7, 19, 6, 18, 6, -1});
  checkJitMatchesInterpreter(g, {});
}

TEST_CASE("sparse: the JIT equals the interpreter in f32 and f64, small and threaded") {
  // Random CSR matrices, small and large, with the row blocks of the
  // non-transposed product and sddmm split over threads (forced: whether
  // the model splits is timing) and not split. N = 11: sddmm's 8-wide
  // partial sums and their remainder.
  for (auto [rows, cols, perRow, n] : {std::array<int64_t, 4>{7, 5, 3, 4},
                                       std::array<int64_t, 4>{40, 30, 6, 11},
                                       std::array<int64_t, 4>{3000, 2000, 24, 64}})
    for (DType dt : {DType::f64, DType::f32}) {
      std::mt19937 rng(static_cast<uint32_t>(rows));
      std::vector<double> rowPtr{0}, colIdx;
      for (int64_t i = 0; i < rows; ++i) {
        for (int64_t e = rng() % (2 * perRow); e > 0; --e)
          colIdx.push_back(double(rng() % cols));
        rowPtr.push_back(double(colIdx.size()));
      }
      const auto nnz = static_cast<int64_t>(colIdx.size());
      Graph g("random_csr");
      Pattern p = pattern(g, rowPtr, colIdx);
      Value v = input(g, "v", {dt, {nnz}});
      Value x = input(g, "x", {dt, {cols, n}});
      Value y = input(g, "y", {dt, {rows, n}});
      output(spmm({p.rowPtr, p.colIdx, v, cols}, x).named("Ax"));
      output(spmm({p.rowPtr, p.colIdx, v, cols}, y, true).named("Aty"));
      output(sddmm(p.rowPtr, p.colIdx, y, x).named("s"));
      INFO("rows " << rows << ", nnz " << nnz << (dt == DType::f32 ? " f32" : " f64"));
      for (const char *mode : {"force", "1"}) {
        INFO(mode);
        compiler::jit::kernels::setSplitMode(mode);
        checkJitMatchesInterpreter(g, randomBindings(g, 3));
      }
      compiler::jit::kernels::setSplitMode(nullptr);
    }
}

namespace {

// y = op(row_ptr, col_idx, ...) with the structure as i32 inputs, so that a
// call can pass a broken one; A is 4 x 5 with 6 entries.
Graph structureGraph(bool sampled) {
  Graph g(sampled ? "sddmm_structure" : "spmm_structure");
  Value rowPtr = input(g, "row_ptr", i32({5})), colIdx = input(g, "col_idx", i32({6}));
  if (sampled)
    output(sddmm(rowPtr, colIdx, input(g, "a", f64({4, 2})), input(g, "b", f64({5, 2})))
               .named("y"));
  else
    output(spmm({rowPtr, colIdx, input(g, "v", f64({6})), 5}, input(g, "d", f64({5, 2})))
               .named("y"));
  return g;
}

} // namespace

TEST_CASE("sparse: a broken CSR structure is a run-time error naming op, value and position") {
  struct Case {
    std::vector<double> rowPtr, colIdx;
    std::string message;
  };
  const Case cases[] = {
      {{1, 2, 2, 5, 6}, kColIdx, "row_ptr[0] = 1, expected 0"},
      {{0, 3, 2, 5, 6}, kColIdx, "row_ptr decreases at position 2: row_ptr[2] = 2 after row_ptr[1] = 3"},
      {{0, 2, 2, 5, 5}, kColIdx,
       "row_ptr[4] = 5 (the last entry) differs from nnz = 6 (the length of col_idx)"},
      {{0, 2, 2, 5, 7}, kColIdx, "row_ptr[4] = 7 (the last entry) differs from nnz = 6"},
      {kRowPtr, {1, 4, 0, 2, 0, 5}, "col_idx[5] = 5 (in row 3) is outside [0, 5)"},
      {kRowPtr, {1, -1, 0, 2, 0, 3}, "col_idx[1] = -1 (in row 0) is outside [0, 5)"},
  };
  for (bool sampled : {false, true}) {
    Graph g = structureGraph(sampled);
    const std::string op = sampled ? "sddmm: " : "spmm: ";
    runtime::Bindings b = randomBindings(g, 1);
    b["row_ptr"] = Tensor(i32({5}), kRowPtr);
    b["col_idx"] = Tensor(i32({6}), kColIdx);
    auto jit = runtime::makeExecutable(g, runtime::Backend::Jit);
    CHECK_NOTHROW(jit->run(b)); // the valid structure runs
    for (const Case &c : cases) {
      b["row_ptr"] = Tensor(i32({5}), c.rowPtr);
      b["col_idx"] = Tensor(i32({6}), c.colIdx);
      INFO(op << c.message);
      CHECK_THROWS_WITH_AS(runtime::interpret(g, b), doctest::Contains((op + c.message).c_str()), Error);
      CHECK_THROWS_WITH_AS(runtime::interpret(g, b), doctest::Contains("%y"), Error);
      CHECK_THROWS_WITH_AS(jit->run(b), doctest::Contains((op + c.message).c_str()), Error);
      CHECK_THROWS_WITH_AS(jit->run(b), doctest::Contains("%y"), Error);
    }
  }
}

namespace {

// f = build(v, d) over f64 inputs "v" (the values) and "d" (the dense side,
// or sddmm's b), with the hand-written pattern as consts: first derivatives,
// then the gradient of sum(f^2) differentiated again (second derivatives),
// each against finite differences on both backends (checkDerivatives runs
// every graph on the JIT too).
void checkSparseDerivatives(Shape vShape, Shape dShape,
                            Value (*build)(Pattern, Value, Value), int64_t k = 2) {
  Graph g("sparse_rules");
  Pattern p = pattern(g);
  Value v = input(g, "v", f64(vShape)), d = input(g, "d", f64(dShape));
  Value y = build(p, v, d).named("y");
  output(y);
  runtime::Bindings b = randomBindings(g, 17);
  checkDerivatives(g, b, "y", {"v", "d"}, 1e-6, k);
  checkDerivatives(g, b, "y", {"v"}, 1e-6, k);
  checkDerivatives(g, b, "y", {"d"}, 1e-6, k);
  output(sum(y * y).named("s"));
  Graph gg = compiler::grad(g, "s", {"v", "d"});
  checkDerivatives(gg, b, "grad.v", {"v", "d"}, 1e-6, k);
  checkDerivatives(gg, b, "grad.d", {"v", "d"}, 1e-6, k);
}

Value spmmOf(Pattern p, Value v, Value d) { return spmm({p.rowPtr, p.colIdx, v, 5}, d); }
Value spmmTransposedOf(Pattern p, Value v, Value d) {
  return spmm({p.rowPtr, p.colIdx, v, 5}, d, true);
}
// sddmm's a and b both as inputs: a = v [4, 3], b = d [5, 3].
Value sddmmOf(Pattern p, Value a, Value b) { return sddmm(p.rowPtr, p.colIdx, a, b); }

} // namespace

TEST_CASE("sparse rules: spmm with respect to values and dense, first and second order") {
  checkSparseDerivatives({6}, {5, 3}, spmmOf);
  checkSparseDerivatives({6}, {5, 3}, spmmOf, 1);
  checkSparseDerivatives({6}, {5, 3}, spmmOf, 3);
}

TEST_CASE("sparse rules: transposed spmm with respect to values and dense, first and second order") {
  checkSparseDerivatives({6}, {4, 3}, spmmTransposedOf);
  checkSparseDerivatives({6}, {4, 3}, spmmTransposedOf, 3);
}

TEST_CASE("sparse rules: sddmm with respect to both dense operands, first and second order") {
  checkSparseDerivatives({4, 3}, {5, 3}, sddmmOf);
  checkSparseDerivatives({4, 3}, {5, 3}, sddmmOf, 1);
}

TEST_CASE("sparse rules: Hessians of a graph-convolution loss in every mode") {
  // loss = sum(tanh(A · (X W))^2) + sum(sddmm(H, H)): the Hessian with respect
  // to the values and to W against differences of the gradient.
  Graph g("gcn_loss");
  Pattern p = pattern(g, {0, 2, 3, 5, 6}, {1, 3, 0, 2, 3, 3}); // 4 x 4
  Value v = input(g, "v", f64({6}));
  Value X = input(g, "X", f64({4, 3}));
  Value W = input(g, "W", f64({3, 2}));
  Value H = tanh(spmm({p.rowPtr, p.colIdx, v, 4}, matmul(X, W)));
  output((sum(H * H) + sum(sddmm(p.rowPtr, p.colIdx, H, H))).named("f"));
  runtime::Bindings b = randomBindings(g, 5);
  for (const std::string wrt : {"v", "W"})
    checkHessian(g, b, "f", wrt, /*onJit=*/true);
}

TEST_CASE("sparse rules: the structure operands are not differentiable") {
  const DerivativeRules &r = derivativeRules(OpKind::SpMM);
  CHECK_FALSE(r.isDifferentiable(0, i32({5})));
  CHECK_FALSE(r.isDifferentiable(1, i32({6})));
  CHECK(r.isDifferentiable(2, f64({6})));
  CHECK(r.isDifferentiable(3, f64({5, 2})));
  // A derivative graph never densifies A: no op in the adjoint of spmm has
  // an M x K (here 4 x 5) result.
  Graph g("no_dense");
  Pattern p = pattern(g);
  Value v = input(g, "v", f64({6})), d = input(g, "d", f64({5, 3}));
  output(sum(spmm({p.rowPtr, p.colIdx, v, 5}, d)).named("s"));
  Graph gg = compiler::grad(g, "s", {"v", "d"});
  for (const Node &n : gg.nodes()) {
    CHECK(n.type.shape != Shape{4, 5});
    CHECK(n.type.shape != Shape{5, 4});
  }
}

namespace {

std::vector<double> doubles(const nlohmann::json &j) { return j.get<std::vector<double>>(); }
Tensor tensorOf(const nlohmann::json &j, Shape s) { return Tensor(f64(std::move(s)), doubles(j)); }

void checkAgainst(const Tensor &got, const nlohmann::json &want, const std::string &what) {
  std::vector<double> w = doubles(want), g = got.toDoubles();
  REQUIRE(g.size() == w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    INFO(what << " element " << i << ": chainjit " << g[i] << ", PyTorch " << w[i]);
    CHECK(relativeError(g[i], w[i]) <= 1e-9);
  }
}

} // namespace

TEST_CASE("sparse: spmm and sddmm match PyTorch (float64 values and gradients)") {
  std::ifstream in(std::string(CHAINJIT_SOURCE_DIR) + "/tests/fixtures/torch_sparse.json");
  REQUIRE(in.good());
  const nlohmann::json fx = nlohmann::json::parse(in);
  const int64_t m = fx["rows"], k = fx["cols"], nnz = fx["nnz"], n = fx["n"];
  // loss = sum(product * weight), whose gradients PyTorch computed.
  for (const std::string which : {"spmm", "spmm_transposed", "sddmm"}) {
    const nlohmann::json &c = fx[which];
    Graph g(which == "sddmm" ? "sddmm" : "spmm");
    Pattern p = pattern(g, doubles(fx["row_ptr"]), doubles(fx["col_idx"]));
    runtime::Bindings b;
    Value y = scalar(g, 0, DType::f64);
    Shape yShape;
    std::vector<std::string> wrt;
    if (which == "sddmm") {
      Value a = input(g, "a", f64({m, n})), bb = input(g, "b", f64({k, n}));
      b["a"] = tensorOf(c["a"], {m, n});
      b["b"] = tensorOf(c["b"], {k, n});
      y = sddmm(p.rowPtr, p.colIdx, a, bb);
      yShape = {nnz};
      wrt = {"a", "b"};
    } else {
      const bool tr = which == "spmm_transposed";
      Value v = input(g, "values", f64({nnz})), d = input(g, "dense", f64({tr ? m : k, n}));
      b["values"] = tensorOf(fx["values"], {nnz});
      b["dense"] = tensorOf(c["dense"], {tr ? m : k, n});
      y = spmm({p.rowPtr, p.colIdx, v, k}, d, tr);
      yShape = {tr ? k : m, n};
      wrt = {"values", "dense"};
    }
    Value weight = constant(g, tensorOf(c["weight"], yShape));
    output(y.named("y"));
    output(sum(y * weight).named("loss"));
    INFO(which);
    for (auto backend : {runtime::Backend::Interp, runtime::Backend::Jit}) {
      checkAgainst(runtime::makeExecutable(g, backend)->run(b).outputs[0], c["forward"],
                   which + " forward");
      Graph gg = compiler::grad(g, "loss", wrt);
      runtime::EvalResult r = runtime::makeExecutable(gg, backend)->run(b);
      for (const std::string &w : wrt)
        checkAgainst(r.output("grad." + w), c["grad_" + w],
                     which + " gradient of " + w);
    }
  }
}

TEST_CASE("sparse: the cost model counts nnz * N multiply-adds per active operand") {
  Graph g("cost");
  Pattern p = pattern(g);
  Value v = input(g, "v", f64({6})), d = input(g, "d", f64({5, 3}));
  Value y = spmm({p.rowPtr, p.colIdx, v, 5}, d);
  Value s = sddmm(p.rowPtr, p.colIdx, input(g, "a", f64({4, 3})), d);
  for (NodeId id : {y.id(), s.id()}) {
    compiler::OpCost both = compiler::opCost(g, id, {false, false, true, true});
    CHECK(both.tangent == 2 * 6 * 3);
    CHECK(both.adjoint == 2 * 6 * 3);
    CHECK(both.structure == compiler::JacobianStructure::Dense);
    compiler::OpCost one = compiler::opCost(g, id, {false, false, false, true});
    CHECK(one.tangent == 6 * 3);
    CHECK(one.tapeBytes == 0); // the other operands are sources: nothing to keep
  }
}
