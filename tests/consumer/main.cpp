// Builds a small graph with the builder API, prints it, checks that the text
// parses back, evaluates it with the interpreter and checks the value.
#include <chainjit/chainjit.h>

#include <cmath>
#include <iostream>

using namespace chainjit;
using namespace chainjit::ir;

int main() {
  try {
    Graph g("consumer");
    Value x = input(g, "x", f32({2, 2}));
    Value W = param(g, "W", f32({2, 2}), {{"init", "ones"}});
    Value y = (matmul(x, W) + 1.0).named("y");
    output(sum(y).named("total"));

    std::string text = printGraph(g);
    std::cout << text;
    if (printGraph(parseGraph(text, "consumer.cj")) != text) {
      std::cerr << "consumer: the printed graph does not parse back the same\n";
      return 1;
    }

    runtime::Bindings bindings;
    bindings["x"] = Tensor(f32({2, 2}), {1, 2, 3, 4});
    runtime::EvalResult r = runtime::interpret(g, bindings);
    // x @ ones = [[3, 3], [7, 7]]; + 1 = [[4, 4], [8, 8]]; sum = 24.
    double total = r.outputs.at(0).at(0);
    std::cout << "total = " << runtime::formatTensor(r.outputs.at(0)) << "\n";
    if (std::fabs(total - 24.0) > 1e-6) {
      std::cerr << "consumer: expected 24, got " << total << "\n";
      return 1;
    }
    std::cout << "consumer: ok\n";
    return 0;
  } catch (const Error &e) {
    std::cerr << "consumer: " << e.what() << "\n";
    return 1;
  }
}
