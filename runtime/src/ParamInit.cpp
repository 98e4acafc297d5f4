// Initial values of params from their `init`, `scale` and `seed` attributes.
// The stream of random numbers is the counter-based generator keyed by the
// seed and a hash of the param's name, so two params with the default seed
// still differ, and a value depends on nothing but the graph text.
#include "chainjit/ir/CounterRng.h"
#include "chainjit/runtime/Interpreter.h"

#include <cmath>
#include <numbers>

namespace chainjit::runtime {

static uint64_t fnv1a(const std::string &s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s)
    h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// Fan-in and fan-out as the usual initializers define them: [in, out] for a
// matrix, [out, in, kh, kw] for a convolution weight.
static std::pair<double, double> fans(const ir::Shape &s) {
  if (s.empty())
    return {1, 1};
  if (s.size() == 1)
    return {double(s[0]), double(s[0])};
  if (s.size() == 2)
    return {double(s[0]), double(s[1])};
  double receptive = 1;
  for (size_t i = 2; i < s.size(); ++i)
    receptive *= double(s[i]);
  return {double(s[1]) * receptive, double(s[0]) * receptive};
}

ir::Tensor initialParamValue(const ir::Graph &g, ir::NodeId id) {
  const ir::Node &n = g.node(id);
  if (n.kind != ir::OpKind::Param)
    throw Error(n.label(id) + " is not a param");
  const std::string &init = n.attrs.getString("init");
  double scale = n.attrs.getFloat("scale");
  uint64_t seed = static_cast<uint64_t>(n.attrs.getInt("seed")) ^ fnv1a(n.name);
  auto [fanIn, fanOut] = fans(n.type.shape);

  auto uniform = [&](int64_t i, double halfWidth) {
    return (2.0 * ir::counterUniform(seed, 0, i) - 1.0) * halfWidth;
  };
  auto normal = [&](int64_t i, double stddev) { // Box-Muller
    double u1 = 1.0 - ir::counterUniform(seed, 0, i); // in (0, 1]
    double u2 = ir::counterUniform(seed, 1, i);
    return stddev * std::sqrt(-2.0 * std::log(u1)) *
           std::cos(2.0 * std::numbers::pi * u2);
  };

  ir::Tensor t(n.type);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = 0;
    if (init == "zeros")
      v = 0;
    else if (init == "ones")
      v = 1;
    else if (init == "const")
      v = scale;
    else if (init == "uniform")
      v = uniform(i, scale);
    else if (init == "normal")
      v = normal(i, scale);
    else if (init == "glorot")
      v = uniform(i, scale * std::sqrt(6.0 / (fanIn + fanOut)));
    else if (init == "he")
      v = normal(i, scale * std::sqrt(2.0 / fanIn));
    else
      throw Error("unknown initializer '" + init + "'", n.loc);
    t.set(i, v);
  }
  return t;
}

} // namespace chainjit::runtime
