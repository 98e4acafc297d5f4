// scan on the JIT (compiler/src/jit/ScanLowering.h): one loop around the
// body's own function. The JIT equals the interpreter on scans in both
// directions, with several carries, sequences and invariants, one step, no
// carries, nested scans and random graphs with scans; run-time errors inside
// a body name the body's node as the interpreter does; the tangent and
// adjoint scans (first and second derivatives) agree with central finite
// differences computed on the JIT; the module does not grow with T; the plan
// listing shows the body; an AOT bundle holds the body's function.
#include "FileTesting.h"
#include "GradCheck.h"
#include "JitTesting.h"
#include "RandomGraph.h"

#include "chainjit/compiler/Aot.h"
#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/Jit.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Scan.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Interpreter.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkJitMatchesInterpreter;
using chainjit::testing::errorOf;
using chainjit::testing::finiteDifference;
using chainjit::testing::randomBindings;
using chainjit::testing::randomLike;
using chainjit::testing::relativeError;

namespace {

TensorType typed(DType t, Shape s) { return {t, std::move(s)}; }

// An LSTM cell: carries h, c [1, H]; step input x [1, I]; invariants W
// [I, 4H], U [H, 4H], b [4H]; per-step result h'.
Function lstmCell(int64_t H, int64_t I, DType dt) {
  Graph body("lstm");
  Value h = input(body, "h", typed(dt, {1, H}));
  Value c = input(body, "c", typed(dt, {1, H}));
  Value x = input(body, "x", typed(dt, {1, I}));
  Value W = input(body, "W", typed(dt, {I, 4 * H}));
  Value U = input(body, "U", typed(dt, {H, 4 * H}));
  Value b = input(body, "b", typed(dt, {4 * H}));
  Value z = (matmul(x, W) + matmul(h, U) + b).named("z");
  auto gate = [&](int64_t k) { return slice(z, {0, k * H}, {1, (k + 1) * H}); };
  Value cn = (sigmoid(gate(1)) * c + sigmoid(gate(0)) * tanh(gate(2))).named("cn");
  Value hn = (sigmoid(gate(3)) * tanh(cn)).named("hn");
  output(hn);
  output(cn);
  output(hn * 1.0);
  return Function("lstm", std::move(body));
}

// The LSTM over T steps; outputs hT, cT, ys and a scalar loss.
Graph lstmGraph(int64_t T, int64_t H, int64_t I, bool reverse, DType dt = DType::f64) {
  Graph g("lstm_net");
  Value h0 = input(g, "h0", typed(dt, {1, H}));
  Value c0 = input(g, "c0", typed(dt, {1, H}));
  Value xs = input(g, "xs", typed(dt, {T, 1, I}));
  Value W = param(g, "W", typed(dt, {I, 4 * H}));
  Value U = param(g, "U", typed(dt, {H, 4 * H}));
  Value b = param(g, "b", typed(dt, {4 * H}));
  std::vector<Value> r = scan(lstmCell(H, I, dt), {h0, c0}, {xs}, {W, U, b}, reverse);
  output(r[0].named("hT"));
  output(r[1].named("cT"));
  output(r[2].named("ys"));
  output((sum(r[2] * r[2]) + sum(r[1])).named("loss"));
  return g;
}

runtime::Bindings bindingsFor(const Graph &g, uint32_t seed) {
  return randomBindings(g, seed, -0.8, 0.8);
}

// Runs g on the JIT (no cache: every test compiles).
std::unique_ptr<runtime::Executable> onJit(const Graph &g, compiler::JitOptions o = {}) {
  o.useCache = false;
  return runtime::makeExecutable(g, runtime::Backend::Jit, o);
}

// Central difference of output `of` along `v`, every evaluation on the JIT.
std::vector<double> jitDifference(const runtime::Executable &f, const runtime::Bindings &b,
                                  const std::string &of, const std::map<std::string, Tensor> &v) {
  return finiteDifference(
      [&](const runtime::Bindings &bb) { return f.run(bb).output(of).toDoubles(); }, b, v);
}

// Two scans sharing a body shape: several carries (a [2] and m [2, 2]), two
// sequences (xs [T, 2] and i32 ids [T]), two invariants (w [2], table
// [4, 2]); results: a carry passed through unchanged, a sequence slice
// passed through as a y, a gather from the table.
Graph multiGraph(int64_t T, bool reverse) {
  Graph body("multi");
  Value a = input(body, "a", f64({2}));
  Value m = input(body, "m", f64({2, 2}));
  Value k = input(body, "k", f64({3}));
  Value x = input(body, "x", f64({2}));
  Value id = input(body, "id", typed(DType::i32, {}));
  Value w = input(body, "w", f64({2}));
  Value table = input(body, "table", f64({4, 2}));
  Value an = (a * w + x + gather(table, id)).named("an");
  Value mn = tanh(m + broadcastTo(an, {2, 2})).named("mn");
  output(an);
  output(mn);
  output(k);                   // a carry kept as it is
  output(x);                   // a step of a sequence, stacked again
  output(sum(mn, {1}).named("rows"));
  Function f("multi", std::move(body));
  Graph g("multi_net");
  Value a0 = input(g, "a0", f64({2}));
  Value m0 = input(g, "m0", f64({2, 2}));
  Value k0 = input(g, "k0", f64({3}));
  Value xs = input(g, "xs", f64({T, 2}));
  Value ids = input(g, "ids", typed(DType::i32, {T}));
  Value w0 = input(g, "w", f64({2}));
  Value table0 = input(g, "table", f64({4, 2}));
  std::vector<Value> r = scan(f, {a0, m0, k0}, {xs, ids}, {w0, table0}, reverse);
  for (size_t i = 0; i < r.size(); ++i)
    output(r[i].named("r" + std::to_string(i)));
  return g;
}

const char *kNested = R"(func inc(%s : f64[], %x : f64[]) {
  %t = add(%s, %x)
  return %t, mul(%t, %t)
}

func total(%r : f64[3]) {
  const %z : f64[] = 0.0
  %s, %sq = scan @inc(%z ; %r)
  return %s, %sq
}

graph g {
  input %rows : f64[2, 3]
  %r, %sqs = scan @total(; %rows) {reverse = true}
  output %r, %sqs
}
)";

// The number of instructions in a module's LLVM IR text.
size_t instructionCount(const std::string &ir) {
  std::istringstream in(ir);
  size_t count = 0;
  std::string line;
  bool inFunction = false;
  while (std::getline(in, line)) {
    if (line.rfind("define ", 0) == 0)
      inFunction = true;
    else if (line == "}")
      inFunction = false;
    else if (inFunction && line.size() > 2 && line[0] == ' ' && line[1] == ' ')
      ++count;
  }
  return count;
}

} // namespace

TEST_CASE("jit scan: an LSTM equals the interpreter in both directions, f64 and f32") {
  for (DType dt : {DType::f64, DType::f32})
    for (bool reverse : {false, true}) {
      CAPTURE(reverse);
      Graph g = lstmGraph(7, 3, 2, reverse, dt);
      checkJitMatchesInterpreter(g, bindingsFor(g, 1));
    }
}

TEST_CASE("jit scan: several carries, sequences and invariants, one step, both directions") {
  for (int64_t T : {1, 2, 5})
    for (bool reverse : {false, true}) {
      CAPTURE(T);
      CAPTURE(reverse);
      Graph g = multiGraph(T, reverse);
      runtime::Bindings b = randomBindings(g, 3, -1.0, 1.0, 4);
      checkJitMatchesInterpreter(g, b);
      // Without fusion and with the NaN checks the body runs kernel by kernel.
      compiler::JitOptions plain;
      plain.checkNumerics = true;
      checkJitMatchesInterpreter(g, b, plain);
    }
}

TEST_CASE("jit scan: no carries, no sequences, and a scan of a scan") {
  // Per-step results only.
  Graph body("sq");
  Value x = input(body, "x", f64({3}));
  Value w = input(body, "w", f64({3}));
  output((x * w).named("p"));
  Function sq("sq", std::move(body));
  Graph g("ys_only");
  Value xs = input(g, "xs", f64({4, 3}));
  Value w0 = input(g, "w", f64({3}));
  output(scan(sq, {}, {xs}, {w0})[0].named("ps"));
  checkJitMatchesInterpreter(g, randomBindings(g, 4));

  // Carries only, the length from the attribute.
  Graph twiceBody("twice");
  Value c = input(twiceBody, "c", f64({2}));
  output((c * 2.0 + 0.5).named("d"));
  Function twice("twice", std::move(twiceBody));
  Graph h("powers");
  Value c0 = input(h, "c0", f64({2}));
  output(scan(twice, {c0}, {}, {}, false, 9)[0].named("out"));
  checkJitMatchesInterpreter(h, randomBindings(h, 5));

  // A scan whose body scans (reverse outside, forward inside).
  Graph nested = parseGraph(kNested, "nested.cj");
  checkJitMatchesInterpreter(nested, randomBindings(nested, 6));
}

TEST_CASE("jit scan: derivatives of a scan whose body scans, on the JIT") {
  std::string text = kNested;
  text.replace(text.find("  output %r, %sqs"), std::string("  output %r, %sqs").size(),
               "  %loss = add(sum(mul(%r, %r)), sum(%sqs))\n  output %loss");
  Graph f = parseGraph(text, "nested_loss.cj");
  // JVP, VJP (their bodies hold the inner scan's tangent and adjoint scans)
  // against finite differences, each graph on the JIT against the interpreter.
  testing::checkDerivatives(f, randomBindings(f, 8), "loss", {"rows"});
}

TEST_CASE("jit scan: random graphs with scans equal the interpreter") {
  int withScan = 0;
  for (uint64_t seed = 0; seed < 24; ++seed) {
    CAPTURE(seed);
    testing::RandomGraphOptions o;
    o.scans = true;
    o.nn = false;
    Graph g = testing::randomGraph(seed, o);
    for (const Node &n : g.nodes())
      withScan += n.kind == OpKind::Scan;
    checkJitMatchesInterpreter(g, randomBindings(g, static_cast<uint32_t>(seed)));
  }
  CHECK(withScan >= 5); // the generator did make scans
}

TEST_CASE("jit scan: calls from several threads each use their own arena for the body") {
  Graph g = lstmGraph(20, 4, 3, false);
  auto jit = onJit(g);
  constexpr int kThreads = 4;
  std::vector<runtime::Bindings> inputs;
  std::vector<Tensor> want, got(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    inputs.push_back(bindingsFor(g, 100 + i));
    want.push_back(runtime::interpret(g, inputs[i]).output("ys"));
  }
  std::vector<std::thread> pool;
  for (int i = 0; i < kThreads; ++i)
    pool.emplace_back([&, i] {
      for (int rep = 0; rep < 20; ++rep)
        got[i] = jit->run(inputs[i]).output("ys");
    });
  for (std::thread &t : pool)
    t.join();
  for (int i = 0; i < kThreads; ++i)
    testing::checkSameTensor(got[i], want[i], "thread " + std::to_string(i));
}

TEST_CASE("jit scan: an index out of range inside the body is reported as by the interpreter") {
  Graph g = multiGraph(4, false);
  runtime::Bindings b = randomBindings(g, 7, -1.0, 1.0, 4);
  b["ids"] = Tensor(typed(DType::i32, {4}), {0, 3, 9, 1}); // 9: not a row of the table
  std::string want = errorOf([&] { runtime::interpret(g, b); });
  std::string got = errorOf([&] { onJit(g)->run(b); });
  CHECK(want.find("gather") != std::string::npos);
  CHECK(want.find("9") != std::string::npos);
  CHECK(got == want);
}

TEST_CASE("jit scan: check-numerics names the op inside the body") {
  Graph body("logs");
  Value s = input(body, "s", f64({}));
  Value x = input(body, "x", f64({}));
  Value lx = log(x).named("lx");
  output((s + lx).named("sn"));
  Function f("logs", std::move(body));
  Graph g("logsum");
  Value s0 = input(g, "s0", f64({}));
  Value xs = input(g, "xs", f64({4}));
  output(scan(f, {s0}, {xs}, {})[0].named("total"));
  compiler::JitOptions o;
  o.checkNumerics = true;
  runtime::Bindings b{{"s0", Tensor::scalar(DType::f64, 0.0)},
                      {"xs", Tensor(f64({4}), {1.0, 2.0, -1.0, 3.0})}};
  CHECK(errorOf([&] { onJit(g, o)->run(b); })
            .find("check-numerics: log %lx : f64[] is the first op that produced NaN or Inf") !=
        std::string::npos);
  b["xs"] = Tensor(f64({4}), {1.0, 2.0, 4.0, 3.0});
  CHECK(onJit(g, o)->run(b).output("total").at(0) == doctest::Approx(std::log(24.0)));
}

TEST_CASE("jit scan: the JVP and VJP scans of an LSTM agree with finite differences on the JIT") {
  for (bool reverse : {false, true}) {
    CAPTURE(reverse);
    Graph f = lstmGraph(4, 2, 3, reverse);
    runtime::Bindings b = bindingsFor(f, 11);
    const std::vector<std::string> wrt = {"h0", "xs", "W", "b"};
    const int64_t k = 2;
    std::mt19937 rng(13);
    auto fj = onJit(f);
    // JVP: k directions stacked along a leading axis.
    Graph jg = compiler::jvp(f, "loss", wrt, k);
    Graph vg = compiler::vjp(f, "loss", wrt, k);
    runtime::Bindings jb = b, vb = b;
    std::vector<std::map<std::string, Tensor>> dirs(k);
    for (const std::string &w : wrt) {
      TensorType t = f.type(f.lookup(w));
      Shape ks{k};
      ks.insert(ks.end(), t.shape.begin(), t.shape.end());
      Tensor stacked({t.dtype, ks});
      for (int64_t d = 0; d < k; ++d) {
        dirs[d][w] = randomLike(t, rng);
        for (int64_t i = 0; i < t.numel(); ++i)
          stacked.set(d * t.numel() + i, dirs[d][w].at(i));
      }
      jb["tangent." + w] = stacked;
    }
    Tensor seed = randomLike(f64({k}), rng);
    vb["adjoint.loss"] = seed;
    runtime::EvalResult tangent = onJit(jg)->run(jb);
    runtime::EvalResult adjoint = onJit(vg)->run(vb);
    for (int64_t d = 0; d < k; ++d) {
      double fd = jitDifference(*fj, b, "loss", dirs[d]).at(0);
      CHECK(relativeError(tangent.output("tangent.loss").at(d), fd) <= 1e-6);
      double dot = 0;
      for (const std::string &w : wrt) {
        const Tensor &a = adjoint.output("adjoint." + w);
        int64_t n = dirs[d][w].numel();
        for (int64_t i = 0; i < n; ++i)
          dot += a.at(d * n + i) * dirs[d][w].at(i);
      }
      CHECK(relativeError(dot, seed.at(d) * fd) <= 1e-6);
    }
    // And the derivative graphs equal the interpreter.
    checkJitMatchesInterpreter(jg, jb);
    checkJitMatchesInterpreter(vg, vb);
  }
}

TEST_CASE("jit scan: an SGD step through an LSTM scan (params read by the scans, updated)") {
  Graph f = lstmGraph(5, 3, 2, true);
  Graph step = compiler::grad(f, "loss", {"W", "U", "b"});
  for (const char *w : {"W", "U", "b"}) {
    Value p(step, step.lookup(w));
    update(p, p - Value(step, step.lookup("grad." + std::string(w))) * 0.1);
  }
  checkJitMatchesInterpreter(step, bindingsFor(step, 23));
}

TEST_CASE("jit scan: second derivatives of an LSTM (scans of scans) on the JIT") {
  Graph f = lstmGraph(3, 2, 2, false);
  runtime::Bindings b = bindingsFor(f, 17);
  const std::vector<std::string> wrt = {"c0", "W", "b"};
  // Hessian-vector products on the JIT against central differences of the
  // gradient on the JIT.
  Graph hg = compiler::hvp(f, "loss", wrt);
  Graph gg = compiler::grad(f, "loss", wrt);
  std::mt19937 rng(19);
  runtime::Bindings hb = b;
  std::map<std::string, Tensor> v;
  for (const std::string &w : wrt) {
    v[w] = randomLike(f.type(f.lookup(w)), rng);
    hb["direction." + w] = v[w];
  }
  runtime::EvalResult hv = onJit(hg)->run(hb);
  auto gj = onJit(gg);
  for (const std::string &w : wrt) {
    std::vector<double> got = hv.output("hvp." + w).toDoubles();
    std::vector<double> fd = jitDifference(*gj, b, "grad." + w, v);
    REQUIRE(got.size() == fd.size());
    for (size_t i = 0; i < fd.size(); ++i) {
      INFO("hvp." << w << "[" << i << "]");
      CHECK(relativeError(got[i], fd[i]) <= 1e-6);
    }
  }
  // Full Hessians in every Jacobian mode, each run on the JIT against the
  // interpreter, which agrees with central differences.
  testing::checkHessian(f, b, "loss", "c0", /*onJit=*/true);
}

TEST_CASE("jit scan: the module's size does not grow with T") {
  compiler::JitOptions o;
  o.useCache = false;
  Graph short_ = lstmGraph(10, 16, 8, false, DType::f32);
  Graph long_ = lstmGraph(1000, 16, 8, false, DType::f32);
  std::string irShort = compiler::emitGraph(short_, compiler::EmitKind::Llvm, o);
  std::string irLong = compiler::emitGraph(long_, compiler::EmitKind::Llvm, o);
  CHECK(instructionCount(irShort) > 50);
  CHECK(instructionCount(irShort) == instructionCount(irLong));
  // The objects differ at most in the encoding of a few constants.
  std::string objShort = compiler::emitGraph(short_, compiler::EmitKind::Obj, o);
  std::string objLong = compiler::emitGraph(long_, compiler::EmitKind::Obj, o);
  CHECK(objLong.size() <= objShort.size() + 64);
  CHECK(objShort.size() <= objLong.size() + 64);
}

TEST_CASE("jit scan: the plan lists the body's kernels under the scan") {
  Graph g = lstmGraph(5, 3, 2, true);
  std::string plan = compiler::emitGraph(g, compiler::EmitKind::Plan);
  CHECK(plan.find("= scan @arena+") != std::string::npos);
  CHECK(plan.find("-> 5 steps (reverse) of @lstm:\n  #0 ") != std::string::npos);
  CHECK(plan.find("\n  arena: ") != std::string::npos);
}

TEST_CASE("jit scan: an AOT bundle of an LSTM scan") {
  Graph g = lstmGraph(6, 4, 3, false, DType::f32);
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("chainjit_scan_aot_" + std::to_string(::getpid()));
  compiler::AotBundle bundle = compiler::writeAotBundle(g, {}, dir.string());
  std::string header = testing::readBytes((dir / "lstm_net.h").string());
  std::string archive = testing::readBytes((dir / "liblstm_net.a").string());
  std::filesystem::remove_all(dir);
  CHECK(bundle.workspaceBytes > 0);
  CHECK(header.find("int32_t lstm_net_run(const float *h0, const float *c0, const float *xs") !=
        std::string::npos);
  CHECK(archive.find("cj_scan.lstm") != std::string::npos); // the body's own function
  // The descriptor's node labels (run-time errors) include the body's nodes.
  CHECK(archive.find("%cn") != std::string::npos);
}
