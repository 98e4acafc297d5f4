// The JIT's library kernels, called the way generated code calls them: each
// op's `lower` builds the call for a one-op graph, the kernel is found by its
// symbol in librarySymbols(), and it runs on raw buffers (operands, a result
// filled with garbage, a garbage scratch area) against the reference
// interpreter on the same graph and the same random inputs. Data movement,
// argmax, max pooling, unfold2d and bernoulli must match bit for bit; the
// arithmetic kernels within 1e-5 (f32) or 1e-12 (f64) of max(|value|, 1).
// matmul and solve, which the core lowering calls directly, are checked with
// their documented params.
#include "../../compiler/src/jit/LibraryKernels.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>

using namespace chainjit;
using namespace chainjit::ir;
namespace jit = chainjit::compiler::jit;

namespace {

jit::LibraryFn kernelSymbol(const std::string &name) {
  static const auto symbols = [] {
    std::map<std::string, void *> m;
    for (auto &[n, address] : jit::librarySymbols())
      m.emplace(n, address);
    return m;
  }();
  auto it = symbols.find(name);
  INFO("symbol " << name);
  REQUIRE(it != symbols.end());
  return reinterpret_cast<jit::LibraryFn>(it->second);
}

const jit::LibraryKernel &kernelFor(OpKind kind) {
  static const std::vector<jit::LibraryKernel> kernels = jit::libraryKernels();
  for (const jit::LibraryKernel &k : kernels)
    if (k.kind == kind)
      return k;
  FAIL("no library kernel for " << opName(kind));
  throw; // unreachable
}

std::mt19937 &rng() {
  static std::mt19937 generator(20261128);
  return generator;
}

// Floats uniform in [-2, 2], i32 in [-5, 5] (so that argmax sees ties),
// bools 0 or 1.
Tensor randomTensor(const TensorType &type, double scale = 1.0) {
  std::uniform_real_distribution<double> real(-2.0, 2.0);
  std::uniform_int_distribution<int> small(-5, 5);
  Tensor t(type);
  for (int64_t i = 0; i < t.numel(); ++i)
    switch (type.dtype) {
    case DType::f32:
    case DType::f64: t.set(i, scale * real(rng())); break;
    case DType::i32: t.set(i, small(rng())); break;
    case DType::boolean: t.set(i, small(rng()) > 0); break;
    }
  return t;
}

// 64-byte aligned bytes, as the arena gives kernels.
struct alignas(64) Chunk {
  unsigned char bytes[64];
};
std::vector<Chunk> garbage(int64_t bytes) {
  std::vector<Chunk> v(static_cast<size_t>((bytes + 63) / 64 + 1));
  std::memset(static_cast<void *>(v.data()), 0xA5, v.size() * sizeof(Chunk));
  return v;
}

struct KernelRun {
  Tensor result;
  int32_t status;
};

// Lowers node `id` and runs its kernel on `values` (indexed by NodeId).
KernelRun runLowered(const Graph &g, NodeId id, const std::vector<Tensor> &values) {
  jit::LibraryCall call = kernelFor(g.node(id).kind).lower(g, id);
  std::vector<void *> operands;
  for (NodeId x : g.node(id).operands)
    operands.push_back(const_cast<void *>(values.at(x).data()));
  Tensor result(g.type(id));
  // Kernels write every element. An empty result has no storage (data() is
  // null), and memset's pointer must not be null even for 0 bytes.
  if (result.byteSize() > 0)
    std::memset(result.data(), 0xA5, result.byteSize());
  std::vector<Chunk> scratch = garbage(call.scratchBytes);
  int32_t status = kernelSymbol(call.symbol)(operands.data(), result.data(),
                                             call.params.data(), scratch.data());
  return {std::move(result), status};
}

// Element by element: bit-exact, or within tol * max(|want|, floor); NaN
// matches NaN and an infinity itself. A floor above 1 allows for sums of that many terms of
// magnitude ~1 that cancel (the rounding error follows the terms, not the sum).
void checkMatches(const Tensor &got, const Tensor &want, bool exact, double floor = 1.0) {
  REQUIRE(got.type() == want.type());
  if (exact && want.dtype() != DType::f32 && want.dtype() != DType::f64) {
    CHECK(got == want);
    return;
  }
  double tol = exact ? 0.0 : want.dtype() == DType::f32 ? 1e-5 : 1e-12;
  int failures = 0;
  for (int64_t i = 0; i < want.numel() && failures < 5; ++i) {
    double a = got.at(i), b = want.at(i);
    bool ok = std::isnan(b) ? std::isnan(a)
                            : a == b || std::fabs(a - b) <= tol * std::fmax(std::fabs(b), floor);
    if (!ok) {
      ++failures;
      FAIL_CHECK("element " << i << ": kernel " << a << ", interpreter " << b);
    }
  }
}

bool exactOp(OpKind k) {
  switch (k) {
  case OpKind::Transpose:
  case OpKind::Concat:
  case OpKind::Slice:
  case OpKind::Pad:
  case OpKind::ArgMax:
  case OpKind::MaxPool2d:
  case OpKind::Unfold2d:
  case OpKind::Bernoulli: return true;
  default: return false;
  }
}

// Evaluates `g` (whose last node, made its output here, is the op under
// test) with random values for the inputs not in `fixed`, and checks the
// kernel against the interpreter.
KernelRun checkOp(Graph &g, runtime::Bindings fixed = {}, double floor = 1.0) {
  auto id = static_cast<NodeId>(g.size() - 1);
  g.addOutput(id);
  for (NodeId in : g.inputs())
    fixed.try_emplace(g.node(in).name, randomTensor(g.type(in)));
  std::vector<Tensor> values = runtime::interpretAll(g, fixed);
  INFO(opName(g.node(id).kind) << " -> " << g.type(id).str());
  KernelRun run = runLowered(g, id, values);
  CHECK(run.status == jit::kJitOk);
  checkMatches(run.result, values[id], exactOp(g.node(id).kind), floor);
  return run;
}

const DType kFloats[] = {DType::f32, DType::f64};
const DType kAllTypes[] = {DType::f32, DType::f64, DType::i32, DType::boolean};

} // namespace

TEST_CASE("JitKernels: every op not generated by the lowering has exactly one library kernel") {
  std::map<OpKind, int> count;
  for (const jit::LibraryKernel &k : jit::libraryKernels())
    ++count[k.kind];
  for (size_t i = 0; i < kNumOpKinds; ++i) {
    auto k = static_cast<OpKind>(i);
    const OpDef &def = opDef(k);
    bool generated = def.family == OpFamily::Source || def.family == OpFamily::Elementwise ||
                     k == OpKind::Sum || k == OpKind::Mean || k == OpKind::Max ||
                     k == OpKind::Reshape || k == OpKind::BroadcastTo ||
                     k == OpKind::MatMul || k == OpKind::Solve ||
                     k == OpKind::Dropout || k == OpKind::BatchNorm;
    // scan is lowered by the planner as a loop around its body (JitScanTest).
    if (k == OpKind::Scan) {
      CHECK(count[k] == 0);
      continue;
    }
    INFO(opName(k));
    CHECK(count[k] == (generated ? 0 : 1));
  }
}

TEST_CASE("JitKernels: symbols are unique and cover matmul and solve") {
  std::set<std::string> names;
  for (auto &[name, address] : jit::librarySymbols()) {
    INFO(name);
    CHECK(names.insert(name).second);
    CHECK(address != nullptr);
  }
  for (const char *s : {"cj_matmul_f32", "cj_matmul_f64", "cj_matmul_i32",
                        "cj_solve_f32", "cj_solve_f64"})
    CHECK(names.count(s) == 1);
}

TEST_CASE("JitKernels: transpose of every dtype") {
  struct Case {
    Shape shape;
    Ints perm;
  };
  const Case cases[] = {{{3, 4}, {}},           {{2, 3, 4}, {1, 0, 2}},
                        {{2, 3, 4}, {2, 0, 1}}, {{2, 3, 4}, {0, 1, 2}},
                        {{2, 1, 3, 1}, {3, 2, 1, 0}}, {{}, {}},
                        {{0, 3}, {}},           {{3, 2, 2, 5}, {0, 2, 1, 3}},
                        // several tiles, partial ones at the edges
                        {{70, 45}, {}},         {{3, 40, 37}, {0, 2, 1}},
                        {{33, 2, 65}, {2, 1, 0}}};
  for (DType dt : kAllTypes)
    for (const Case &c : cases) {
      Graph g;
      transpose(input(g, "x", {dt, c.shape}), c.perm);
      checkOp(g);
    }
}

TEST_CASE("JitKernels: concat of every dtype") {
  for (DType dt : kAllTypes) {
    {
      Graph g;
      concat({input(g, "a", {dt, {2, 3}}), input(g, "b", {dt, {4, 3}})}, 0);
      checkOp(g);
    }
    {
      Graph g;
      concat({input(g, "a", {dt, {2, 1, 3}}), input(g, "b", {dt, {2, 0, 3}}),
              input(g, "c", {dt, {2, 4, 3}})},
             1);
      checkOp(g);
    }
    {
      Graph g;
      concat({input(g, "a", {dt, {3, 2}}), input(g, "b", {dt, {3, 5}})}, -1);
      checkOp(g);
    }
  }
}

namespace {

// An operand shape and the three per-axis lists of slice (starts, ends,
// strides) or pad (low, high, interior).
struct AxisListsCase {
  Shape shape;
  Ints first, second, third;
};

void checkAxisListsOp(Value (*op)(Value, Ints, Ints, Ints),
                      std::initializer_list<AxisListsCase> cases) {
  for (DType dt : kAllTypes)
    for (const AxisListsCase &c : cases) {
      Graph g;
      op(input(g, "x", {dt, c.shape}), c.first, c.second, c.third);
      checkOp(g);
    }
}

} // namespace

TEST_CASE("JitKernels: slice of every dtype") {
  checkAxisListsOp(slice, {{{5, 6}, {1, 0}, {4, 6}, {2, 1}},
                           {{4, 5, 6}, {0, 1, 2}, {4, 5, 6}, {1, 2, 3}},
                           {{4, 5, 6}, {1, 0, 0}, {3, 5, 6}, {}},
                           {{4, 5}, {2, 1}, {2, 4}, {}},
                           {{7}, {1}, {7}, {3}}});
}

TEST_CASE("JitKernels: pad of every dtype") {
  checkAxisListsOp(pad, {{{3, 4}, {1, 0}, {0, 2}, {0, 1}},
                         {{2, 3, 2}, {0, 0, 0}, {0, 0, 0}, {}},
                         {{2, 2}, {0, 1}, {1, 0}, {2, 1}},
                         {{0, 2}, {1, 1}, {2, 0}, {}},
                         {{2, 3, 4}, {0, 0, 1}, {0, 0, 1}, {}}});
}

TEST_CASE("JitKernels: argmax finds the first maximum, and the first NaN") {
  for (DType dt : {DType::f32, DType::f64, DType::i32}) {
    for (int64_t axis : {-1, 0, 1}) {
      Graph g;
      argmax(input(g, "x", {dt, {3, 4, 5}}), axis, axis == 1);
      checkOp(g);
    }
    Graph g;
    argmax(input(g, "x", {dt, {6}}));
    checkOp(g);
  }
  Graph g;
  argmax(input(g, "x", f64({2, 4})), 1);
  double nan = std::numeric_limits<double>::quiet_NaN();
  KernelRun r = checkOp(g, {{"x", Tensor(f64({2, 4}), {1, nan, 5, nan, 3, 2, 7, 1})}});
  CHECK(r.result.toDoubles() == std::vector<double>{1, 2});
  // Ties along contiguous rows (the kernel's path for them finds the
  // maximum first, then its first element): the first of equal maxima,
  // -0 and +0 one maximum, a NaN first or last, a row of one maximum at
  // its end; each row against the interpreter and as written here.
  Graph rows;
  argmax(input(rows, "x", f32({6, 4})), 1);
  float fnan = std::numeric_limits<float>::quiet_NaN();
  KernelRun t = checkOp(rows, {{"x", Tensor(f32({6, 4}), {2,     3,     3,  1,     //
                                                          -0.0f, 0.0f,  -1, -0.0f, //
                                                          0.0f,  -0.0f, -2, -3,    //
                                                          fnan,  9,     9,  1,     //
                                                          1,     2,     3,  fnan,  //
                                                          -4,    -3,    -2, -1})}});
  CHECK(t.result.toDoubles() == std::vector<double>{1, 0, 0, 0, 3, 3});
  // Rows longer than the kernel's blocks of 16: the first maximum in a
  // later block (37, before an equal one at 39), and -0 at a block's start
  // before +0 in the next block.
  Graph longRows;
  argmax(input(longRows, "x", f32({2, 40})), 1);
  std::vector<double> values(80, -1.0);
  values[37] = values[39] = 5;
  values[40 + 16] = -0.0;
  values[40 + 30] = 0.0;
  KernelRun l = checkOp(longRows, {{"x", Tensor(f32({2, 40}), values)}});
  CHECK(l.result.toDoubles() == std::vector<double>{37, 16});
}

TEST_CASE("JitKernels: argmax over an empty axis is a lowering error") {
  Graph g;
  argmax(input(g, "x", f32({3, 0})), 1).named("am");
  CHECK_THROWS_WITH_AS(kernelFor(OpKind::ArgMax).lower(g, 1),
                       doctest::Contains("argmax over an empty axis"), Error);
}

TEST_CASE("JitKernels: softmax and log_softmax along every axis") {
  for (DType dt : kFloats)
    for (bool log : {false, true})
      for (int64_t axis : {-1, 0, 1}) {
        Graph g;
        Value x = input(g, "x", {dt, {3, 5, 4}});
        log ? logSoftmax(x, axis) : softmax(x, axis);
        checkOp(g);
        // Logits around 1000 would overflow e^x without the max subtracted.
        Graph big;
        Value y = input(big, "x", {dt, {4, 7}});
        log ? logSoftmax(y, axis == 1 ? 1 : -1) : softmax(y, axis == 1 ? 1 : -1);
        Tensor logits = randomTensor({dt, {4, 7}}, 3.0);
        for (int64_t i = 0; i < logits.numel(); ++i)
          logits.set(i, logits.at(i) + 1000.0);
        checkOp(big, {{"x", logits}});
      }
}

TEST_CASE("JitKernels: softmax rows with a NaN or only -inf are NaN, as in the interpreter") {
  double nan = std::numeric_limits<double>::quiet_NaN();
  double inf = std::numeric_limits<double>::infinity();
  for (DType dt : kFloats)
    for (bool log : {false, true})
      for (int64_t axis : {0, 1}) { // strided and contiguous
        Graph g;
        Value x = input(g, "x", {dt, {3, 3}});
        log ? logSoftmax(x, axis) : softmax(x, axis);
        KernelRun r = checkOp(g, {{"x", Tensor({dt, {3, 3}}, {1, nan, 2, -inf, -inf, -inf,
                                                             0.5, 3, -1})}});
        CHECK(std::isnan(r.result.at(axis == 1 ? 0 : 1)));
      }
}

TEST_CASE("JitKernels: cross_entropy with labels and with probabilities") {
  for (DType dt : kFloats)
    for (Shape s : {Shape{6, 5}, Shape{1, 3}, Shape{9, 1}}) {
      Graph g;
      crossEntropy(input(g, "logits", {dt, s}), input(g, "labels", i32({s[0]})));
      Tensor labels(i32({s[0]}));
      std::uniform_int_distribution<int> cls(0, static_cast<int>(s[1]) - 1);
      for (int64_t i = 0; i < s[0]; ++i)
        labels.set(i, cls(rng()));
      checkOp(g, {{"labels", labels}});
      Graph p;
      crossEntropy(input(p, "logits", {dt, s}), input(p, "probs", {dt, s}));
      checkOp(p);
    }
}

// The kernel, not the interpreter (which throws on such a label). The
// inputs are made in statements of their own: as arguments of one call their
// ids would follow the compiler's order of evaluating arguments (GCC's makes
// the labels node 0), and values indexed by a guessed id would hand the kernel
// 8 bytes of labels as 2 x 3 logits. The valid control run shows that the
// operands are what they should be: with them swapped it would not match.
TEST_CASE("JitKernels: cross_entropy with a label out of range gives NaN and a status") {
  for (DType dt : kFloats) {
    Graph g;
    Value logits = input(g, "logits", {dt, {2, 3}});
    Value labels = input(g, "labels", i32({2}));
    Value loss = crossEntropy(logits, labels);
    g.addOutput(loss.id());
    REQUIRE(g.node(loss.id()).operands == std::vector<NodeId>{logits.id(), labels.id()});
    std::vector<Tensor> values(g.size());
    values[logits.id()] = randomTensor(logits.type());
    values[labels.id()] = Tensor(i32({2}), {2, 0});
    KernelRun valid = runLowered(g, loss.id(), values);
    CHECK(valid.status == jit::kJitOk);
    checkMatches(valid.result,
                 runtime::interpretAll(g, {{"logits", values[logits.id()]},
                                           {"labels", values[labels.id()]}})[loss.id()],
                 false);
    for (int64_t row : {0, 1})
      for (int32_t bad : {3, -1, 1 << 30, std::numeric_limits<int32_t>::min()}) {
        INFO(dtypeName(dt) << " label " << bad << " in row " << row);
        Tensor badLabels(i32({2}), {1, 2});
        badLabels.set(row, bad);
        values[labels.id()] = badLabels;
        KernelRun r = runLowered(g, loss.id(), values);
        CHECK(r.status == jit::kJitLabelOutOfRange);
        CHECK(std::isnan(r.result.at(0)));
      }
  }
}

TEST_CASE("JitKernels: mse") {
  for (DType dt : kFloats)
    for (Shape s : {Shape{7}, Shape{3, 4, 5}, Shape{}}) {
      Graph g;
      mse(input(g, "p", {dt, s}), input(g, "t", {dt, s}));
      checkOp(g);
    }
}

TEST_CASE("JitKernels: conv2d through im2col and GEMM") {
  struct Case {
    Shape x, w;
    Ints stride, padding, dilation;
  };
  const Case cases[] = {{{2, 3, 7, 6}, {4, 3, 3, 2}, {1, 1}, {0, 0}, {1, 1}},
                        {{2, 3, 7, 6}, {4, 3, 3, 2}, {2, 1}, {1, 2}, {2, 1}},
                        {{1, 2, 5, 5}, {3, 2, 5, 5}, {1, 1}, {2, 2}, {1, 1}},
                        {{2, 4, 3, 5}, {6, 4, 1, 1}, {1, 1}, {0, 0}, {1, 1}},
                        {{2, 4, 6, 5}, {3, 4, 1, 1}, {2, 2}, {1, 0}, {1, 1}}};
  for (DType dt : kFloats)
    for (const Case &c : cases) {
      Graph g;
      conv2d(input(g, "x", {dt, c.x}), input(g, "w", {dt, c.w}), c.stride, c.padding,
             c.dilation);
      checkOp(g, {}, static_cast<double>(c.w[1] * c.w[2] * c.w[3])); // terms per output
    }
}

TEST_CASE("JitKernels: max_pool2d and avg_pool2d") {
  struct Case {
    Ints kernel, stride, padding;
  };
  const Case cases[] = {{{2, 2}, {}, {0, 0}},
                        {{3, 2}, {2, 1}, {1, 1}},
                        {{3, 3}, {1, 1}, {1, 1}},
                        {{7, 1}, {1, 3}, {3, 0}}};
  for (DType dt : kFloats)
    for (bool isMax : {true, false})
      for (const Case &c : cases) {
        Graph g;
        Value x = input(g, "x", {dt, {2, 3, 7, 6}});
        isMax ? maxPool2d(x, c.kernel, c.stride, c.padding)
              : avgPool2d(x, c.kernel, c.stride, c.padding);
        checkOp(g);
      }
  // A NaN wins its windows; padding never does, even over negative values.
  Graph g;
  maxPool2d(input(g, "x", f64({1, 1, 3, 3})), {2, 2}, {2, 2}, {1, 1});
  double nan = std::numeric_limits<double>::quiet_NaN();
  KernelRun r =
      checkOp(g, {{"x", Tensor(f64({1, 1, 3, 3}), {-1, -2, -3, -4, nan, -6, -7, -8, -9})}});
  CHECK(r.result.at(0) == -1);
  CHECK(std::isnan(r.result.at(3)));
  // 2x2 windows without padding on vectors of 8 windows: rows of 7, 5, 4
  // and 3 windows (a vector reaching into the next row of windows, or
  // copied), 14 (a vector and a tail), 17 (two and a tail), odd sizes.
  for (DType dt : kFloats)
    for (const Shape &s :
         {Shape{2, 3, 14, 14}, Shape{1, 2, 10, 10}, Shape{2, 1, 8, 8}, Shape{1, 2, 6, 6},
          Shape{1, 2, 28, 28}, Shape{1, 1, 6, 34}, Shape{1, 2, 15, 9}}) {
      INFO(shapeStr(s));
      Graph g2;
      maxPool2d(input(g2, "x", {dt, s}), {2, 2}, {}, {0, 0});
      checkOp(g2);
    }
  // 2x2 windows without padding have a loop of their own; a NaN there too.
  for (DType dt : kFloats) {
    Graph g2;
    maxPool2d(input(g2, "x", {dt, {1, 2, 4, 4}}), {2, 2}, {}, {0, 0});
    std::vector<double> v(32);
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = double((i * 7) % 11) - 5;
    v[21] = nan; // plane 1, row 1, column 1: its first window
    KernelRun r2 = checkOp(g2, {{"x", Tensor({dt, {1, 2, 4, 4}}, v)}});
    CHECK(r2.result.at(0) == 2); // max(-5, 2, 1, -3): plane 0, first window
    CHECK(std::isnan(r2.result.at(4)));
    CHECK_FALSE(std::isnan(r2.result.at(5)));
  }
}

TEST_CASE("JitKernels: unfold2d and fold2d") {
  struct Case {
    Shape image;
    Ints kernel, stride, padding, dilation;
    double padValue;
  };
  const Case cases[] = {{{2, 2, 5, 6}, {2, 3}, {1, 2}, {1, 0}, {2, 1}, 0.5},
                        {{1, 3, 4, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 0.0},
                        {{2, 1, 6, 5}, {2, 2}, {3, 2}, {2, 1}, {1, 2}, -1.25},
                        {{1, 2, 3, 3}, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 0.0}};
  for (DType dt : kFloats)
    for (const Case &c : cases) {
      Graph g;
      Value cols = unfold2d(input(g, "x", {dt, c.image}), c.kernel, c.stride, c.padding,
                            c.dilation, c.padValue);
      checkOp(g);
      Graph f;
      fold2d(input(f, "cols", cols.type()), {c.image[2], c.image[3]}, c.kernel, c.stride,
             c.padding, c.dilation);
      checkOp(f);
    }
}

TEST_CASE("JitKernels: bernoulli draws the interpreter's mask bit for bit") {
  for (DType dt : kFloats)
    for (int32_t counter : {0, 7, -3})
      for (int64_t seed : {int64_t{0}, int64_t{42}, int64_t{-5}})
        for (double p : {0.0, 0.3, 1.0}) {
          Graph g;
          bernoulli(input(g, "counter", i32()), {5, 7}, p, seed, dt);
          checkOp(g, {{"counter", Tensor::scalar(DType::i32, counter)}});
        }
}

namespace {

// For every batch index of `to` (the broadcast batch shape), the offset in
// elements of the matrix that an operand of batch shape `from` supplies.
std::vector<int64_t> batchOffsets(const Shape &from, const Shape &to, int64_t matrix) {
  std::vector<int64_t> fromStrides = stridesOf(from), offsets;
  size_t shift = to.size() - from.size();
  for (int64_t p = 0; p < numElements(to); ++p) {
    int64_t rest = p, index = 0;
    for (size_t d = to.size(); d-- > 0;) {
      int64_t pos = rest % to[d];
      rest /= to[d];
      if (d >= shift && from[d - shift] != 1)
        index += pos * fromStrides[d - shift];
    }
    offsets.push_back(index * matrix);
  }
  return offsets;
}

// matmul(op(a), op(b)) of stored batched operands, by the kernel (flop
// threshold as given) and by the interpreter on the graph with explicit
// transposes.
void checkMatmul(DType dt, Shape batchA, Shape batchB, int64_t m, int64_t n, int64_t k,
                 bool transA, bool transB, int64_t threshold) {
  Shape sa = batchA, sb = batchB;
  for (int64_t d : transA ? Shape{k, m} : Shape{m, k})
    sa.push_back(d);
  for (int64_t d : transB ? Shape{n, k} : Shape{k, n})
    sb.push_back(d);
  auto swapLast = [](Value v) {
    Ints perm;
    for (int64_t d = 0; d < v.type().rank(); ++d)
      perm.push_back(d);
    std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
    return transpose(v, perm);
  };
  Graph g;
  Value a = input(g, "a", {dt, sa}), b = input(g, "b", {dt, sb});
  Value c = matmul(transA ? swapLast(a) : a, transB ? swapLast(b) : b);
  output(c);
  runtime::Bindings in{{"a", randomTensor({dt, sa})}, {"b", randomTensor({dt, sb})}};
  std::vector<Tensor> values = runtime::interpretAll(g, in);

  Shape batch = *broadcastShapes(batchA, batchB);
  std::vector<int64_t> offA = batchOffsets(batchA, batch, m * k);
  std::vector<int64_t> offB = batchOffsets(batchB, batch, k * n);
  std::vector<int64_t> params = {numElements(batch), m, n, k, transA, transB, threshold};
  params.insert(params.end(), offA.begin(), offA.end());
  params.insert(params.end(), offB.begin(), offB.end());
  void *operands[] = {values[a.id()].data(), values[b.id()].data()};
  Tensor result(c.type());
  std::memset(result.data(), 0xA5, result.byteSize());
  std::string symbol = "cj_matmul_" + std::string(dtypeName(dt));
  INFO(symbol << " transA " << transA << " transB " << transB << " threshold " << threshold
              << " " << c.type().str());
  CHECK(kernelSymbol(symbol)(operands, result.data(), params.data(), nullptr) == jit::kJitOk);
  checkMatches(result, values[c.id()], dt == DType::i32, std::fmax(1.0, double(k)));
}

} // namespace

TEST_CASE("JitKernels: matmul on both sides of the BLAS threshold, every transpose") {
  for (DType dt : {DType::f32, DType::f64, DType::i32})
    for (bool transA : {false, true})
      for (bool transB : {false, true})
        for (int64_t threshold : {int64_t{0}, std::numeric_limits<int64_t>::max()}) {
          checkMatmul(dt, {}, {}, 5, 7, 6, transA, transB, threshold);
          checkMatmul(dt, {2, 1}, {3}, 4, 3, 5, transA, transB, threshold);
          checkMatmul(dt, {3}, {}, 1, 6, 4, transA, transB, threshold);
          checkMatmul(dt, {2}, {2}, 3, 2, 0, transA, transB, threshold); // k = 0: zeros
          checkMatmul(dt, {}, {}, 33, 40, 37, transA, transB, threshold);
        }
}

namespace {

// A well-conditioned random matrix that needs pivoting: a diagonally
// dominant one with its rows shuffled.
Tensor shuffledDominantMatrix(DType dt, int64_t n) {
  std::vector<int64_t> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    rows[i] = i;
  std::shuffle(rows.begin(), rows.end(), rng());
  Tensor dominant = randomTensor({dt, {n, n}}), A({dt, {n, n}});
  for (int64_t i = 0; i < n; ++i)
    dominant.set(i * n + i, dominant.at(i * n + i) + 4.0 * static_cast<double>(n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      A.set(rows[i] * n + j, dominant.at(i * n + j));
  return A;
}

struct SolveCall {
  DType dt;
  int64_t n, nrhs;
  bool transposed;
  std::vector<Chunk> scratch;

  SolveCall(DType t, int64_t size, int64_t rhs, bool trans)
      : dt(t), n(size), nrhs(rhs), transposed(trans),
        scratch(garbage(size * size * static_cast<int64_t>(dtypeSize(t)) + 4 * size)) {}

  KernelRun run(const Tensor *A, const Tensor &b, bool factorized) {
    std::vector<int64_t> params = {n, nrhs, transposed, factorized};
    void *operands[] = {A ? const_cast<void *>(A->data()) : nullptr,
                        const_cast<void *>(b.data())};
    Tensor x(b.type());
    std::memset(x.data(), 0xA5, x.byteSize());
    int32_t status = kernelSymbol("cj_solve_" + std::string(dtypeName(dt)))(
        operands, x.data(), params.data(), scratch.data());
    return {std::move(x), status};
  }
};

// The interpreter's solution of op(A) x = b.
Tensor referenceSolve(const Tensor &A, const Tensor &b, bool transposed) {
  Graph g;
  Value a = input(g, "A", A.type());
  output(solve(transposed ? transpose(a) : a, input(g, "b", b.type())));
  return runtime::interpret(g, {{"A", A}, {"b", b}}).outputs.at(0);
}

} // namespace

TEST_CASE("JitKernels: solve with vector and matrix right-hand sides, plain and transposed") {
  for (DType dt : kFloats)
    for (int64_t n : {1, 4, 9})
      for (Shape bShape : {Shape{n}, Shape{n, 1}, Shape{n, 3}})
        for (bool transposed : {false, true}) {
          INFO(dtypeName(dt) << " n " << n << " b " << shapeStr(bShape) << " transposed "
                             << transposed);
          Tensor A = shuffledDominantMatrix(dt, n), b = randomTensor({dt, bShape});
          SolveCall call(dt, n, bShape.size() == 1 ? 1 : bShape[1], transposed);
          KernelRun r = call.run(&A, b, false);
          CHECK(r.status == jit::kJitOk);
          checkMatches(r.result, referenceSolve(A, b, transposed), false);
          // A factorized call reuses the LU in scratch (A is not read) and
          // gives what a fresh factorization gives.
          Tensor b2 = randomTensor({dt, bShape});
          KernelRun reused = call.run(nullptr, b2, true);
          CHECK(reused.status == jit::kJitOk);
          SolveCall fresh(dt, n, call.nrhs, transposed);
          KernelRun again = fresh.run(&A, b2, false);
          CHECK(reused.result == again.result);
          checkMatches(reused.result, referenceSolve(A, b2, transposed), false);
        }
}

TEST_CASE("JitKernels: solve reports a singular matrix") {
  for (DType dt : kFloats) {
    Tensor A({dt, {2, 2}}, {1, 2, 2, 4}), b({dt, {2}}, {1, 1});
    SolveCall call(dt, 2, 1, false);
    CHECK(call.run(&A, b, false).status == jit::kJitSingularMatrix);
    CHECK(call.run(nullptr, b, true).status == jit::kJitSingularMatrix);
    Tensor zeros({dt, {3, 3}});
    Tensor b3 = randomTensor({dt, {3, 2}});
    SolveCall transposed(dt, 3, 2, true);
    CHECK(transposed.run(&zeros, b3, false).status == jit::kJitSingularMatrix);
  }
}
