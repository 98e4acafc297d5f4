// The JIT engine compiles LLVM IR for the host at O3 and runs it, and
// generated code can call OpenBLAS (the symbol resolution pitfall of
// ../shared/design/llvm-jit-notes.md).
#include "../../compiler/src/jit/CallJitCode.h"
#include "chainjit/compiler/JitEngine.h"
#include "chainjit/ir/Error.h"

#include <doctest/doctest.h>

#include <vector>

using namespace chainjit;

TEST_CASE("jit engine: a vectorizable loop compiled at O3 gives exact results") {
  compiler::JitEngine jit;
  CHECK(!jit.targetDescription().empty());
  const char *ir = R"(
define void @axpy(ptr noalias %x, ptr noalias %y, double %a, i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %next, %loop ]
  %px = getelementptr double, ptr %x, i64 %i
  %py = getelementptr double, ptr %y, i64 %i
  %vx = load double, ptr %px
  %vy = load double, ptr %py
  %ax = fmul double %a, %vx
  %s = fadd double %ax, %vy
  store double %s, ptr %py
  %next = add i64 %i, 1
  %done = icmp eq i64 %next, %n
  br i1 %done, label %exit, label %loop
exit:
  ret void
}
)";
  auto axpy = reinterpret_cast<void (*)(const double *, double *, double, int64_t)>(
      jit.compileIR(ir, "axpy"));
  std::vector<double> x(1000), y(1000);
  for (int i = 0; i < 1000; ++i) {
    x[i] = i * 0.5;
    y[i] = 1000 - i;
  }
  compiler::jit::callJitCode(axpy, x.data(), y.data(), 2.0, int64_t{1000});
  for (int i = 0; i < 1000; ++i)
    CHECK(y[i] == 1000.0); // 2 * (i / 2) + (1000 - i), exact in f64
}

TEST_CASE("jit engine: generated code calls cblas_ddot from OpenBLAS") {
  compiler::JitEngine jit;
  const char *ir = R"(
declare double @cblas_ddot(i32, ptr, i32, ptr, i32)
define double @dot(ptr %x, ptr %y, i32 %n) {
  %r = call double @cblas_ddot(i32 %n, ptr %x, i32 1, ptr %y, i32 1)
  ret double %r
}
)";
  auto dot = reinterpret_cast<double (*)(const double *, const double *, int)>(
      jit.compileIR(ir, "dot"));
  std::vector<double> x{1, 2, 3}, y{4, 5, 6};
  CHECK(compiler::jit::callJitCode(dot, x.data(), y.data(), 3) == 32.0);
}

TEST_CASE("jit engine: bad IR and unknown symbols are clear errors") {
  compiler::JitEngine jit;
  CHECK_THROWS_WITH_AS(jit.compileIR("define void @f( {", "f"), doctest::Contains("LLVM IR: 1:"),
                       Error);
  CHECK_THROWS_WITH_AS(jit.compileIR("define void @g() {\n  ret void\n}\n", "nope"),
                       doctest::Contains("nope"), Error);
}
