// The .cj text form: what the printer writes (golden text), a graph using
// every op of ops.def round-tripping exactly, exact numbers and strings, and
// the identifier rule for names.
#include "FileTesting.h"
#include "RoundTrip.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"

#include "chainjit/ir/Scan.h"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <set>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkRoundTrip;

TEST_CASE("text form: the printer's canonical form") {
  Graph g("mlp");
  Value x = input(g, "x", f32({4, 3}));
  Value y = input(g, "y", i32({4}));
  Value W = param(g, "W", f32({3, 2}), {{"init", "glorot"}, {"seed", int64_t{1}}});
  Value b = param(g, "b", f32({2}), {{"init", "zeros"}}); // the default: omitted
  Value h = relu(matmul(x, W) + b).named("h");
  Value s = sum(h, {1}); // keepdims = false is the default: omitted
  Value logits = (h * constant(g, Tensor(f32({2}), {0.5, -2.0}))).named("logits");
  output(crossEntropy(logits, y).named("loss"));
  output(s);
  update(b, b - scalar(g, 0.25));

  CHECK(printGraph(g) == R"(graph mlp {
  input %x : f32[4, 3]
  input %y : i32[4]
  param %W : f32[3, 2] {init = "glorot", seed = 1}
  param %b : f32[2]
  %0 = matmul(%x, %W) : f32[4, 2]
  %1 = add(%0, %b) : f32[4, 2]
  %h = relu(%1) : f32[4, 2]
  %2 = sum(%h) {axes = [1]} : f32[4]
  const %3 : f32[2] = [0.5, -2.0]
  %logits = mul(%h, %3) : f32[4, 2]
  %loss = cross_entropy(%logits, %y) : f32[]
  const %4 : f32[] = 0.25
  %5 = sub(%b, %4) : f32[2]
  output %loss
  output %2
  update %b = %5
}
)");
  checkRoundTrip(g);
}

TEST_CASE("text form: consts print as splats, nested lists, or empty lists") {
  Graph g("consts");
  constant(g, Tensor::filled(f64({2, 3}), 1.5), "splat");
  constant(g, Tensor(i32({2, 2}), {1, 2, 3, 4}), "nested");
  constant(g, Tensor(boolean({2, 1, 2}), {1, 0, 0, 1}), "mask");
  constant(g, Tensor(f32({2, 0, 3})), "empty");
  constant(g, Tensor(f32({0})), "none");
  Value s = constant(g, Tensor::scalar(DType::boolean, 1), "t");
  output(s);
  std::string text = checkRoundTrip(g);
  CHECK(text.find("const %splat : f64[2, 3] = 1.5\n") != std::string::npos);
  CHECK(text.find("const %nested : i32[2, 2] = [[1, 2], [3, 4]]\n") != std::string::npos);
  CHECK(text.find("const %mask : bool[2, 1, 2] = [[[true, false]], [[false, true]]]\n") !=
        std::string::npos);
  CHECK(text.find("const %empty : f32[2, 0, 3] = 0.0\n") != std::string::npos);
  CHECK(text.find("const %none : f32[0] = 0.0\n") != std::string::npos);
  CHECK(text.find("const %t : bool[] = true\n") != std::string::npos);
}

// Found by fuzz.parse_cj: f32[100000, 100, 0] printed ten million "[]" (40 MB
// of text), and the round trip took longer than the fuzzer's timeout.
TEST_CASE("text form: a const with no elements prints short whatever its shape") {
  Graph g = parseGraph(R"(graph g {
  const %huge : f32[100000, 100, 0] = 0.0
  const %lists : i32[2, 0, 3] = [[], []]
  const %flags : bool[4, 0] = [[], [], [], []]
  output %huge
  output %lists
  output %flags
})",
                       "empty.cj");
  std::string text = checkRoundTrip(g);
  CHECK(text.size() < 200);
  CHECK(text.find("const %huge : f32[100000, 100, 0] = 0.0\n") != std::string::npos);
  CHECK(text.find("const %lists : i32[2, 0, 3] = 0\n") != std::string::npos);
  CHECK(text.find("const %flags : bool[4, 0] = false\n") != std::string::npos);
  CHECK_THROWS_WITH_AS(parseGraph("graph g {\n  const %c : f32[2, 0] = [[]]\n  output %c\n}\n",
                                  "few.cj"),
                       doctest::Contains("few.cj:2:29: error: too few elements: dimension 0 of f32[2, 0] has 2, got 1"),
                       Error);
}

// Floats print in the shortest form that reads back to the same bits in the
// value's own dtype, always with '.', 'e', or as nan/inf.
TEST_CASE("text form: floats are exact in their own dtype") {
  const float f9 = std::bit_cast<float>(uint32_t{0x41230db4}); // 10.1908455
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Graph g("floats");
  constant(g, Tensor(f32({8}), {0.1, 1.0, 1e-5, 16777216.0, f9, nan, -inf,
                                std::numeric_limits<float>::denorm_min()}),
           "f");
  constant(g, Tensor(f64({7}), {0.1, 1.0 / 3.0, -0.0, 1e300, 5e-324, inf, -nan}),
           "d");
  // Float attributes too: nan equals itself, -0.0 stays -0.0.
  Value x = input(g, "x", f64({2}));
  output(pow(x, nan));
  output(pow(x, -0.0));
  output(pow(x, 1e-7));
  std::string text = checkRoundTrip(g);
  CHECK(text.find("pow(%x) {exponent = nan}") != std::string::npos);
  CHECK(text.find("pow(%x) {exponent = -0.0}") != std::string::npos);
  CHECK(text.find("pow(%x) {exponent = 1e-07}") != std::string::npos);
  CHECK(text.find("[0.1, 1.0, 1e-05, 16777216.0, 10.1908455, nan, -inf, 1e-45]") !=
        std::string::npos);
  CHECK(text.find("[0.1, 0.3333333333333333, -0.0, 1e+300, 5e-324, inf, -nan]") !=
        std::string::npos);
}

TEST_CASE("text form: strings and graph names are escaped and read back") {
  Graph g("not an identifier: \"q\" \\ \n\t\x01");
  Value p = param(g, "p", f32({2}), {{"init", "he"}, {"scale", 2.0}});
  output(p);
  std::string text = checkRoundTrip(g);
  CHECK(text.rfind(R"(graph "not an identifier: \"q\" \\ \n\t\x01" {)", 0) == 0);
  CHECK(text.find("param %p : f32[2] {init = \"he\", scale = 2.0}") != std::string::npos);

  // The escapes decode when parsed.
  Graph e = parseGraph("graph g { param %p : f32[] {init = \"gl\\x6frot\"} output %p }");
  CHECK(e.node(0).attrs.getString("init") == "glorot");
}

// Builds one graph that uses every op of ops.def, with non-default
// attributes, consts of every dtype and special float values.
static Graph everyOpGraph() {
  Graph g("every_op");
  Value x = input(g, "x", f32({2, 3}));
  Value y = input(g, "y", f32({2, 3}));
  Value labels = input(g, "labels", i32({2}));
  Value step = input(g, "step", i32());
  Value img = input(g, "img", f64({1, 2, 5, 5}));
  Value W = param(g, "W", f32({3, 4}),
                  {{"init", "glorot"}, {"seed", int64_t{7}}, {"scale", 0.5}});
  Value gamma = param(g, "gamma", f32({3}), {{"init", "ones"}});
  Value beta = param(g, "beta", f32({3}));
  Value rm = param(g, "running_mean", f32({3}), {{"trainable", false}});
  Value rv = param(g, "running_var", f32({3}),
                   {{"init", "ones"}, {"trainable", false}});
  Value count = param(g, "count", i32(), {{"trainable", false}, {"init", "const"}});
  Value k = param(g, "kernel", f64({3, 2, 3, 3}), {{"init", "he"}});

  const float f9 = std::bit_cast<float>(uint32_t{0x41230db4});
  Value c32 = constant(g, Tensor(f32({2, 3}), {0.1, f9, 16777217.0, 3.4028234663852886e38,
                                               -1e-30, 7.0}),
                       "c32");
  Value special = constant(
      g, Tensor(f64({5}), {std::numeric_limits<double>::quiet_NaN(),
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(), -0.0, 0.1}),
      "special");
  Value mask = constant(g, Tensor(boolean({2, 3}), {1, 0, 1, 0, 0, 1}), "mask");
  Value ints = constant(g, Tensor(i32({3}), {-2147483648.0, 0, 2147483647.0}));
  Value half = scalar(g, 0.5);

  // Elementwise, unary (cast to every dtype).
  Value u = neg(x);
  u = exp(u) + log(sqrt(abs(y) + half));
  u = pow(u, 1.5) + sign(x) + relu(x) + sigmoid(x) + tanh(x) + softplus(x);
  Value toF64 = cast(u, DType::f64), toI32 = cast(u, DType::i32);
  Value toBool = cast(x, DType::boolean), toF32 = cast(toF64, DType::f32);
  // Elementwise, binary and where.
  Value v = (u - c32) * toF32 / maximum(x, minimum(y, half));
  Value cmp = where(less(x, y), v, where(lessEqual(x, y), x, y));
  cmp = where(greater(x, y), cmp, where(greaterEqual(x, y), x, y));
  cmp = where(equal(x, y), cmp, where(notEqual(toBool, mask), x, y));
  Value intsSum = add(toI32, reshape(concat({ints, ints}), {2, 3}));
  // Shape ops.
  Value r = reshape(cmp, {3, -1});
  Value t = transpose(r, {1, 0});
  Value bc = broadcastTo(t, {4, 2, 3});
  Value cat = concat({t, t, x}, -1);
  Value sl = slice(cat, {0, 1}, {2, 9}, {1, 3});
  Value pd = pad(sl, {1, 0}, {0, 2}, {1, 0});
  // Linear algebra.
  Value mm = matmul(x, W);
  Value A = constant(g, Tensor(f32({2, 2}), {4, 1, 1, 3}), "A");
  Value sol = solve(A, mm);
  // Reductions.
  Value red = sum(bc, {0}) + mean(bc, {0}, false) + max(bc, {-3});
  Value am = argmax(sl, 1, true);
  Value sm = softmax(red, 0) + logSoftmax(red);
  // Losses.
  Value ce = crossEntropy(mm, labels);
  Value ce2 = crossEntropy(x, softmax(y));
  Value l2 = mse(x, y);
  // Layers.
  Value conv = conv2d(img, k, {2, 1}, {1, 0}, {1, 2});
  Value mp = maxPool2d(img, {2, 2});
  Value mpg = maxPool2dGrad(img, mp, {2, 2});
  Value convT = convTranspose2d(conv, k, {2, 1}, {1, 0}, {1, 2}, {1, 0});
  Value convW = conv2dWeightGrad(img, conv, {3, 3}, {2, 1}, {1, 0}, {1, 2});
  Value ap = avgPool2d(img, {3, 3}, {1, 2}, {1, 1});
  Value cols = unfold2d(img, {2, 3}, {1, 2}, {1, 0}, {2, 1},
                        -std::numeric_limits<double>::infinity());
  Value folded = fold2d(cols, {5, 5}, {2, 3}, {1, 2}, {1, 0}, {2, 1});
  Value mask2 = bernoulli(step, {2, 3}, 0.25, 42, DType::f64);
  Value drop = dropout(x, step, 0.5, 3);
  Value bn = batchNorm(x, gamma, beta, rm, rv, 1e-3, 0.2);
  // Indexing.
  Value ids = constant(g, Tensor(i32({2}), {1, 0}), "ids");
  output(scatterAdd(gather(x, ids, 1), ids, 3, -1));
  output(oneHot(ids, 4, DType::f64) + iota(g, {2, 4}, 1, DType::f64));
  // Sparse (CSR) products: a 2 x 3 matrix with 3 entries.
  Value rowPtr = constant(g, Tensor(i32({3}), {0, 2, 3}), "row_ptr");
  Value colIdx = constant(g, Tensor(i32({3}), {0, 2, 1}), "col_idx");
  Value spv = reshape(slice(x, {0, 0}, {1, 3}), {3});
  Value sp = spmm({rowPtr, colIdx, spv, -1}, transpose(y));        // [2, 2]
  Value spT = spmm({rowPtr, colIdx, spv, 3}, x, true);              // [3, 3]
  Value sdd = sddmm(rowPtr, colIdx, sp, slice(spT, {0, 0}, {3, 2})); // [3]

  for (Value o : {sol,   am, sm,     ce,    ce2,  l2, conv,    mp,      mpg, convT,
                  convW, ap, folded, mask2, drop, bn, intsSum, special, pd,  sdd})
    output(o);
  // Normalization and activations.
  output(erf(x) + gelu(x) + gelu(y, true) + layerNorm(x, gamma, beta, -1, 1e-3));
  output(variance(x, {0}, true, 1) + layerNorm(x));
  // Control: a scan over the rows of x (the body's function prints first).
  Graph body("rowsum");
  Value acc = input(body, "acc", f32({3}));
  Value row = input(body, "row", f32({3}));
  output((acc + row).named("next"));
  output(tanh(row));
  std::vector<Value> sc = scan(Function("rowsum", std::move(body)), {sum(x, {0})}, {x}, {}, true);
  output(sc[0] + sum(sc[1], {0}));
  update(rm, mean(x, {0}));
  update(count, count + scalar(g, 1, DType::i32));
  return g;
}

TEST_CASE("text form: a graph with every op round-trips exactly") {
  Graph g = everyOpGraph();
  std::set<OpKind> used;
  for (const Node &n : g.nodes())
    used.insert(n.kind);
  CHECK(used.size() == kNumOpKinds);
  std::string text = checkRoundTrip(g);
  CHECK(text.find("cast(%") != std::string::npos);
  for (const char *dtype : {"dtype = f32}", "dtype = f64}", "dtype = i32}", "dtype = bool}"})
    CHECK(text.find(dtype) != std::string::npos);
  CHECK(text.find("[-2147483648, 0, 2147483647]") != std::string::npos);
  CHECK(text.find("= [nan, inf, -inf, -0.0, 0.1]") != std::string::npos);
  CHECK(text.find("10.1908455") != std::string::npos);
  CHECK(text.find("pad_value = -inf") != std::string::npos);
}

TEST_CASE("text form: names are identifiers") {
  Graph g;
  Value x = input(g, "x.1_b", f32());
  CHECK_THROWS_WITH_AS(input(g, "1x", f32()), doctest::Contains("invalid value name '1x'"),
                       Error);
  CHECK_THROWS_WITH_AS(input(g, "a b", f32()), doctest::Contains("invalid value name"), Error);
  CHECK_THROWS_WITH_AS(neg(x).named("%y"), doctest::Contains("invalid value name"), Error);
  CHECK_THROWS_WITH_AS(neg(x).named("7"), doctest::Contains("invalid value name"), Error);
  CHECK_THROWS_WITH_AS(constant(g, Tensor(f32()), "-"), doctest::Contains("invalid value name"),
                       Error);
  Value n = neg(x).named("_y.z9");
  n.named(""); // unnaming is allowed
  CHECK(g.node(n.id()).name.empty());
  CHECK(isValidValueName("_"));
  CHECK_FALSE(isValidValueName(""));
  CHECK_FALSE(isValidValueName(".a"));
}

TEST_CASE("text form: parse errors name the file, line and column") {
  CHECK_THROWS_WITH_AS(parseGraph("graph g {\n  input %x : f16[2]\n}", "t.cj"),
                       "t.cj:2:14: error: unknown dtype 'f16' (expected f32, f64, i32 or bool)",
                       Error);
  CHECK_THROWS_WITH_AS(parseGraphFile("/nonexistent/dir/g.cj"),
                       doctest::Contains("/nonexistent/dir/g.cj: error: cannot open the file"),
                       Error);
  CHECK_THROWS_WITH_AS(parseGraphFile(CHAINJIT_TESTS_DIR), doctest::Contains("directory"), Error);
}

// --- nested applications and functions ---

TEST_CASE("text form: nested applications parse as the equivalent flat file") {
  const char *nested = R"(graph g {
  input %x : f32[2, 3]
  input %W : f32[3, 4]
  input %b : f32[4]
  %h = tanh(add(matmul(%x, %W), %b))
  %r = add(reshape(%h) {shape = [4, 2]}, sum(%x) {axes = [1]}) : f32[4, 2]
  output %r
})";
  const char *flat = R"(graph g {
  input %x : f32[2, 3]
  input %W : f32[3, 4]
  input %b : f32[4]
  %0 = matmul(%x, %W)
  %1 = add(%0, %b)
  %h = tanh(%1)
  %2 = reshape(%h) {shape = [4, 2]}
  %3 = sum(%x) {axes = [1]}
  %r = add(%2, %3)
  output %r
})";
  Graph g = parseGraph(nested, "n.cj");
  CHECK(printGraph(g) == printGraph(parseGraph(flat)));
  checkRoundTrip(g);
  // Each nested node is located at its own op's name; the statement's node
  // at the statement.
  auto at = [&](NodeId id) { return std::pair(g.node(id).loc.line, g.node(id).loc.col); };
  CHECK(at(3) == std::pair(5, 17)); // matmul
  CHECK(at(4) == std::pair(5, 13)); // add
  CHECK(at(5) == std::pair(5, 3));  // %h = tanh(...)
  CHECK(at(6) == std::pair(6, 12)); // reshape
  CHECK(at(7) == std::pair(6, 42)); // sum
  // A return may nest too; an error in a nested application points at it.
  CHECK(chainjit::testing::errorOf([] {
          parseGraph("graph g {\n  input %x : f32[2]\n  %y = neg(exp(add(%x, %q)))\n"
                     "  output %y\n}",
                     "t.cj");
        }) == "t.cj:3:24: error: undefined value %q");
}

// Functions defined after the graph, calling each other in any order, with
// several results, nested calls and a parameter passed through.
static const char *kFunctionsFile = R"(graph g {
  input %x : f32[4, 3]
  param %W : f32[3, 3]
  param %b : f32[3]
  %h = dense(%x, %W, %b)
  %a, %c = cell(%x, %h)
  %s = add(twice(%a), first(%c, %x))
  output %s
}
func twice(%u : f32[4, 3]) {
  return add(cell_out(%u), cell_out(%u))
}
func dense(%x : f32[4, 3], %W : f32[3, 3], %b : f32[3]) {
  %z = matmul(%x, %W)
  %y = add(%z, %b)
  return %y
}
func cell(%x : f32[4, 3], %h : f32[4, 3]) {
  %s = mul(%x, sigmoid(%h))
  return %s, tanh(%s)
}
func cell_out(%u : f32[4, 3]) {
  %p, %q = cell(%u, %u)
  return %q
}
func first(%p : f32[4, 3], %q : f32[4, 3]) {
  return %p
}
)";

TEST_CASE("text form: calls are inlined, with names derived from the call") {
  TextModule m = parseModule(kFunctionsFile, "f.cj");
  REQUIRE(m.graph);
  // Functions come in file order.
  CHECK(m.functions.names() ==
        std::vector<std::string>{"twice", "dense", "cell", "cell_out", "first"});
  // %h.z is dense's %z in the call whose result is %h; nested calls, which
  // name no result, take the function's name and a number (twice_1); names
  // compose through calls in bodies; first() returns its parameter, so %c
  // itself is used.
  CHECK(printGraph(*m.graph) == R"(graph g {
  input %x : f32[4, 3]
  param %W : f32[3, 3]
  param %b : f32[3]
  %h.z = matmul(%x, %W) : f32[4, 3]
  %h = add(%h.z, %b) : f32[4, 3]
  %0 = sigmoid(%h) : f32[4, 3]
  %a = mul(%x, %0) : f32[4, 3]
  %c = tanh(%a) : f32[4, 3]
  %1 = sigmoid(%a) : f32[4, 3]
  %twice_1.cell_out_1.p = mul(%a, %1) : f32[4, 3]
  %twice_1.cell_out_1.q = tanh(%twice_1.cell_out_1.p) : f32[4, 3]
  %2 = sigmoid(%a) : f32[4, 3]
  %twice_1.cell_out_2.p = mul(%a, %2) : f32[4, 3]
  %twice_1.cell_out_2.q = tanh(%twice_1.cell_out_2.p) : f32[4, 3]
  %3 = add(%twice_1.cell_out_1.q, %twice_1.cell_out_2.q) : f32[4, 3]
  %s = add(%3, %c) : f32[4, 3]
  output %s
}
)");
  checkRoundTrip(*m.graph);
  // Inlined nodes keep their place in the body: %h.z is dense's %z.
  const Node &z = m.graph->node(m.graph->lookup("h.z"));
  CHECK(z.loc.file == "f.cj");
  CHECK(std::pair(z.loc.line, z.loc.col) == std::pair(14, 3));
  // The graph alone, through parseGraph, is the same.
  CHECK(printGraph(parseGraph(kFunctionsFile, "f.cj")) == printGraph(*m.graph));
}

TEST_CASE("text form: functions print as func text and parse back") {
  FunctionLibrary lib = parseFunctions(kFunctionsFile, "f.cj");
  const Function *cell = lib.find("cell");
  REQUIRE(cell);
  CHECK(cell->arity() == 2);
  CHECK(cell->numResults() == 2);
  CHECK(cell->resultType(1) == f32({4, 3}));
  std::string text = printFunction(*cell);
  CHECK(text == R"(func cell(%x : f32[4, 3], %h : f32[4, 3]) {
  %0 = sigmoid(%h) : f32[4, 3]
  %s = mul(%x, %0) : f32[4, 3]
  %1 = tanh(%s) : f32[4, 3]
  return %s, %1
}
)");
  // A file of functions only: parseFunctions reads it, parseGraph wants a graph.
  FunctionLibrary back = parseFunctions(text, "cell.cj");
  REQUIRE(back.find("cell"));
  CHECK(printFunction(*back.find("cell")) == text);
  CHECK(!parseModule(text).graph);
  CHECK(chainjit::testing::errorOf([&] { parseGraph(text, "cell.cj"); }) ==
        "cell.cj:7:1: error: expected 'graph' (the file holds no graph), got end of file");
  // Every function of the file round-trips, its inlined calls included.
  for (const Function &f : lib.functions()) {
    CAPTURE(f.name());
    std::string t = printFunction(f);
    CHECK(printFunction(*parseFunctions(t).find(f.name())) == t);
  }
}

TEST_CASE("text form: an error met while inlining names the body and the call") {
  const char *text = R"(func f(%x : f32[2]) {
  %t = neg(%x)
  return exp(%t)
}
graph g {
  input %x : f32[2]
  %h.t = tanh(%x)
  %h = f(%h.t)
  output %h
})";
  CHECK(chainjit::testing::errorOf([&] { parseGraph(text, "t.cj"); }) ==
        "t.cj:2:3: error: value %h.t is already defined (in a call of 'f' at t.cj:8:8)");
}
