// A seeded generator of random well-formed graphs, for property tests: the
// text form round trip now, derivative checks later.
//
//   RandomGraphOptions o;
//   o.dtype = ir::DType::f64;
//   o.smoothOnly = true;      // only ops that are differentiable where used
//   ir::Graph g = randomGraph(seed, o);
//
// Every graph it returns passes the verifier (randomGraph checks). Values of
// the main dtype form a pool; each step takes operands from the pool (recent
// ones more often, so graphs get deep as well as wide), shapes what it needs
// with consts, params or shape ops, and adds its result to the pool. The
// sequence of graphs depends only on the seed and the options: the generator
// draws raw 64-bit numbers from std::mt19937_64 (whose output the standard
// fixes) and maps them itself, not through std distributions (whose output
// differs between standard libraries).
#pragma once

#include "ConvCases.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Scan.h"
#include "chainjit/ir/Verifier.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace chainjit::testing {

struct RandomGraphOptions {
  // Op steps after the sources; a step may add helper nodes (consts, casts,
  // reshapes), so graphs have more nodes than this.
  int numOps = 12;
  ir::DType dtype = ir::DType::f64; // of every float value; f32 or f64
  // Only ops that are differentiable at the values they meet: no relu, abs,
  // sign, maximum/minimum, max, argmax, comparisons, where, cast, max_pool2d,
  // dropout, bernoulli. With safeDomains, every op then has finite
  // derivatives at the generated values.
  bool smoothOnly = false;
  // log, sqrt, div and fractional pow get operands kept positive (softplus +
  // 0.5), exp an operand kept small (tanh); solve gets a diagonally dominant
  // matrix either way.
  bool safeDomains = true;

  // Op families.
  bool elementwise = true; // unary maps, binary arithmetic with broadcasting
  bool reductions = true;  // sum, mean, max, argmax, softmax, log_softmax
  bool shapes = true;      // reshape, transpose, broadcast_to, concat, slice, pad
  bool linalg = true;      // matmul, solve, spmm, sddmm
  bool losses = true;      // mse, cross_entropy
  bool nn =
      false; // conv2d and its adjoints, pools, unfold2d/fold2d, batch_norm, dropout, bernoulli
  bool comparisons = true; // comparisons + where, cast, bool and i32 consts
  bool indexing = true;    // gather, scatter_add, iota, one_hot (indices in range)
  bool normalization = true; // erf, gelu (both forms), variance, layer_norm
  // scan over a small body (off by default, which keeps the seeds' graphs).
  bool scans = false;

  int maxRank = 3; // at least 2: layers and losses make matrices
  int64_t maxDim = 4;
  int maxInputs = 2; // at least one input is always made
  int maxParams = 2;
  int maxConsts = 2;
  double namedFraction = 0.5; // of op results and consts; sources are named
  int maxOutputs = 3;
  // One output: the sum of the last value (for reverse-mode checks).
  bool scalarOutput = false;
  bool updates = false; // add `update` statements for some params
  // nan, inf, -0.0, subnormals and extreme magnitudes in consts: for the text
  // form, useless for numerics.
  bool specialFloats = false;
};

class RandomGraphGenerator {
public:
  RandomGraphGenerator(uint64_t seed, RandomGraphOptions options)
      : rng_(seed), o_(options), g_("random") {}

  ir::Graph generate() {
    makeSources();
    for (int step = 0; step < o_.numOps; ++step)
      addStep();
    addResults();
    ir::verifyOrThrow(g_);
    return std::move(g_);
  }

private:
  using Value = ir::Value;
  using Shape = ir::Shape;
  using Ints = ir::Ints;

  // --- randomness ---
  int64_t uniform(int64_t lo, int64_t hi) { // inclusive
    return lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo + 1));
  }
  double real(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  }
  bool chance(double p) { return real(0, 1) < p; }
  template <typename T> const T &pick(const std::vector<T> &v) {
    return v[static_cast<size_t>(uniform(0, static_cast<int64_t>(v.size()) - 1))];
  }

  Shape randomShape(int minRank = 0) {
    Shape s(static_cast<size_t>(uniform(minRank, std::max(minRank, o_.maxRank))));
    for (int64_t &d : s)
      d = uniform(1, o_.maxDim);
    return s;
  }

  // --- names ---
  // Unique (one counter for all) and in every style a name may take.
  std::string freshName(const std::string &stem) {
    std::string n = std::to_string(nextName_++);
    switch (uniform(0, 3)) {
    case 0: return stem + n;
    case 1: return stem + "_" + n;
    case 2: return stem + "." + n;
    default: return "_" + stem + n;
    }
  }
  Value maybeNamed(Value v) {
    return chance(o_.namedFraction) ? v.named(freshName("v")) : v;
  }

  // --- the pool of main-dtype values ---
  Value val(ir::NodeId id) { return {g_, id}; }
  Value addToPool(Value v) {
    pool_.push_back(v.id());
    return v;
  }
  // Recent values half of the time, so that chains get long.
  Value pickValue() {
    size_t n = pool_.size();
    if (n > 3 && chance(0.5))
      return val(pool_[n - 1 - static_cast<size_t>(uniform(0, 2))]);
    return val(pick(pool_));
  }
  template <typename Pred> std::vector<ir::NodeId> poolWhere(Pred p) {
    std::vector<ir::NodeId> r;
    for (ir::NodeId id : pool_)
      if (p(g_.type(id)))
        r.push_back(id);
    return r;
  }

  // --- sources ---
  double randomElement(ir::DType dt) {
    if (dt == ir::DType::boolean)
      return chance(0.5);
    if (dt == ir::DType::i32)
      return static_cast<double>(uniform(-1000, 1000));
    if (o_.specialFloats && chance(0.2)) {
      static const double special[] = {
          std::numeric_limits<double>::quiet_NaN(),
          std::numeric_limits<double>::infinity(),
          -std::numeric_limits<double>::infinity(), -0.0, 1e-310, 1e-40,
          3.4028234663852886e38, 1e300, -2.5e-7, 16777217.0};
      return special[uniform(0, 9)];
    }
    return real(-2, 2);
  }

  Value constOf(const ir::TensorType &t) {
    ir::Tensor v(t);
    if (chance(0.3)) {
      v = ir::Tensor::filled(t, randomElement(t.dtype));
    } else {
      for (int64_t i = 0; i < v.numel(); ++i)
        v.set(i, randomElement(t.dtype));
    }
    std::string name = chance(o_.namedFraction) ? freshName("c") : "";
    return ir::constant(g_, std::move(v), name);
  }
  Value floatConst(Shape s) { return constOf({o_.dtype, std::move(s)}); }
  Value scalarConst(double x) { return ir::scalar(g_, x, o_.dtype); }

  Value newParam(Shape s) {
    static const char *inits[] = {"zeros", "ones", "const", "uniform",
                                  "normal", "glorot", "he"};
    ir::Attrs a;
    if (chance(0.7))
      a.set("init", std::string(inits[uniform(0, 6)]));
    if (chance(0.3))
      a.set("scale", real(0.01, 2));
    if (chance(0.3))
      a.set("seed", uniform(0, 1000));
    if (chance(0.1))
      a.set("trainable", false);
    return ir::param(g_, freshName("p"), {o_.dtype, std::move(s)}, a);
  }
  Value newInput(Shape s) {
    return ir::input(g_, freshName("x"), {o_.dtype, std::move(s)});
  }

  void makeSources() {
    int64_t inputs = uniform(1, std::max(1, o_.maxInputs));
    for (int64_t i = 0; i < inputs; ++i)
      addToPool(newInput(randomShape()));
    for (int64_t i = uniform(0, o_.maxParams); i > 0; --i)
      addToPool(newParam(randomShape()));
    for (int64_t i = uniform(0, o_.maxConsts); i > 0; --i)
      addToPool(floatConst(randomShape()));
  }

  // A value of shape `s`: one from the pool if there is one, else a new
  // param, input or const.
  Value valueOfShape(const Shape &s) {
    auto same = poolWhere([&](const ir::TensorType &t) { return t.shape == s; });
    if (!same.empty() && chance(0.6))
      return val(pick(same));
    int64_t r = uniform(0, 2);
    return r == 0 ? newParam(s) : r == 1 ? newInput(s) : floatConst(s);
  }

  // --- steps ---
  void addStep() {
    struct Family {
      bool on;
      bool (RandomGraphGenerator::*add)();
    };
    const Family families[] = {
        {o_.elementwise, &RandomGraphGenerator::addUnary},
        {o_.elementwise, &RandomGraphGenerator::addBinary},
        {o_.reductions, &RandomGraphGenerator::addReduction},
        {o_.shapes, &RandomGraphGenerator::addShapeOp},
        {o_.linalg, &RandomGraphGenerator::addLinAlg},
        {o_.losses, &RandomGraphGenerator::addLoss},
        {o_.nn, &RandomGraphGenerator::addNN},
        {o_.comparisons && !o_.smoothOnly, &RandomGraphGenerator::addSelection},
        {o_.indexing, &RandomGraphGenerator::addIndexing},
        {o_.normalization, &RandomGraphGenerator::addNormalization},
        {o_.scans, &RandomGraphGenerator::addScan},
    };
    std::vector<const Family *> on;
    for (const Family &f : families)
      if (f.on)
        on.push_back(&f);
    // A family may not fit the pool (softmax of scalars only): try others,
    // then fall back to a unary map, which always fits.
    for (int attempt = 0; attempt < 4 && !on.empty(); ++attempt)
      if ((this->*(pick(on)->add))())
        return;
    addUnary();
  }

  // Keeps log, sqrt, div and fractional pow away from their singularities.
  Value positive(Value x) {
    return o_.safeDomains ? ir::softplus(x) + scalarConst(0.5) : x;
  }

  bool addUnary() {
    Value x = pickValue();
    Value y = x;
    switch (uniform(0, o_.smoothOnly ? 7 : 10)) {
    case 0: y = ir::neg(x); break;
    case 1: y = ir::exp(o_.safeDomains ? ir::tanh(x) : x); break;
    case 2: y = ir::log(positive(x)); break;
    case 3: y = ir::sqrt(positive(x)); break;
    case 4: {
      static const double exps[] = {2.0, 3.0, 0.5, -1.0, 1.5};
      double e = exps[uniform(0, 4)];
      y = ir::pow(e == 2.0 || e == 3.0 ? x : positive(x), e);
      break;
    }
    case 5: y = ir::sigmoid(x); break;
    case 6: y = ir::tanh(x); break;
    case 7: y = ir::softplus(x); break;
    case 8: y = ir::relu(x); break;
    case 9: y = ir::abs(x); break;
    default: y = ir::sign(x); break;
    }
    addToPool(maybeNamed(y));
    return true;
  }

  // A shape that broadcasts with `s`: a suffix of it with some axes set to
  // 1; with `grow`, leading axes may be added (within maxRank) when the
  // suffix is all of `s`.
  Shape broadcastPartner(const Shape &s, bool grow = true) {
    size_t keep = static_cast<size_t>(uniform(0, static_cast<int64_t>(s.size())));
    Shape r(s.end() - static_cast<std::ptrdiff_t>(keep), s.end());
    for (int64_t &d : r)
      if (chance(0.3))
        d = 1;
    while (grow && keep == s.size() && static_cast<int>(r.size()) < o_.maxRank &&
           chance(0.3))
      r.insert(r.begin(), uniform(1, o_.maxDim));
    return r;
  }

  // Another operand for an elementwise op with `a`: from the pool when one
  // broadcasts, else a fresh value of a broadcast-compatible shape.
  Value partnerOf(Value a) {
    auto fits = poolWhere([&](const ir::TensorType &t) {
      auto s = ir::broadcastShapes(a.shape(), t.shape);
      return s && static_cast<int>(s->size()) <= o_.maxRank;
    });
    if (!fits.empty() && chance(0.6))
      return val(pick(fits));
    return chance(0.3) ? scalarConst(real(-2, 2))
                       : valueOfShape(broadcastPartner(a.shape()));
  }

  bool addBinary() {
    Value a = pickValue();
    Value b = partnerOf(a);
    if (chance(0.5))
      std::swap(a, b);
    Value y = a;
    switch (uniform(0, o_.smoothOnly ? 3 : 5)) {
    case 0: y = a + b; break;
    case 1: y = a - b; break;
    case 2: y = a * b; break;
    case 3: y = a / positive(b); break;
    case 4: y = ir::maximum(a, b); break;
    default: y = ir::minimum(a, b); break;
    }
    addToPool(maybeNamed(y));
    return true;
  }

  Ints randomAxes(int64_t rank) {
    Ints axes;
    for (int64_t d = 0; d < rank; ++d)
      if (chance(0.5))
        axes.push_back(chance(0.3) ? d - rank : d);
    return axes;
  }
  int64_t randomAxis(int64_t rank) {
    int64_t a = uniform(0, rank - 1);
    return chance(0.3) ? a - rank : a;
  }

  bool addReduction() {
    Value x = pickValue();
    int64_t r = x.type().rank();
    bool keep = chance(0.3);
    Value y = x;
    switch (uniform(0, o_.smoothOnly ? 3 : 5)) {
    case 0: y = ir::sum(x, randomAxes(r), keep); break;
    case 1: y = ir::mean(x, randomAxes(r), keep); break;
    case 2:
      if (r == 0)
        return false;
      y = ir::softmax(x, randomAxis(r));
      break;
    case 3:
      if (r == 0)
        return false;
      y = ir::logSoftmax(x, randomAxis(r));
      break;
    case 4: y = ir::max(x, randomAxes(r), keep); break;
    default:
      if (r == 0)
        return false;
      y = ir::cast(ir::argmax(x, randomAxis(r), keep), o_.dtype);
      break;
    }
    addToPool(maybeNamed(y));
    return true;
  }

  // A random shape with `n` elements: its prime factors dealt out to up to
  // maxRank axes.
  Shape shapeWithElements(int64_t n) {
    int64_t rank = n == 1 ? uniform(0, o_.maxRank) : uniform(1, o_.maxRank);
    Shape s(static_cast<size_t>(rank), 1);
    for (int64_t p = 2; n > 1; ++p)
      while (n % p == 0) {
        s[static_cast<size_t>(uniform(0, rank - 1))] *= p;
        n /= p;
      }
    return s;
  }

  bool addShapeOp() {
    Value x = pickValue();
    const Shape s = x.shape();
    int64_t r = x.type().rank();
    Value y = x;
    switch (uniform(0, 5)) {
    case 0: {
      Shape to = shapeWithElements(x.type().numel());
      if (!to.empty() && chance(0.3))
        to[static_cast<size_t>(uniform(0, static_cast<int64_t>(to.size()) - 1))] = -1;
      y = ir::reshape(x, to);
      break;
    }
    case 1: {
      Ints perm;
      if (chance(0.7)) {
        for (int64_t d = 0; d < r; ++d)
          perm.push_back(d);
        for (int64_t i = r - 1; i > 0; --i)
          std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(uniform(0, i))]);
      }
      y = ir::transpose(x, perm);
      break;
    }
    case 2: {
      Shape to = s;
      for (int64_t &d : to)
        if (d == 1 && chance(0.5))
          d = uniform(1, o_.maxDim);
      while (static_cast<int>(to.size()) < o_.maxRank && chance(0.5))
        to.insert(to.begin(), uniform(1, o_.maxDim));
      y = ir::broadcastTo(x, to);
      break;
    }
    case 3: {
      if (r == 0)
        return false;
      int64_t axis = randomAxis(r);
      size_t ax = static_cast<size_t>(axis < 0 ? axis + r : axis);
      std::vector<Value> parts{x};
      for (int64_t k = uniform(1, 2); k > 0; --k) {
        auto fits = poolWhere([&](const ir::TensorType &t) {
          if (t.rank() != r)
            return false;
          for (size_t d = 0; d < s.size(); ++d)
            if (d != ax && t.shape[d] != s[d])
              return false;
          return true;
        });
        if (!fits.empty() && chance(0.5)) {
          parts.push_back(val(pick(fits)));
        } else {
          Shape part = s;
          part[ax] = uniform(1, o_.maxDim);
          parts.push_back(valueOfShape(part));
        }
      }
      y = ir::concat(parts, axis);
      break;
    }
    case 4: {
      Ints low, high, interior;
      bool withInterior = chance(0.5);
      for (size_t d = 0; d < s.size(); ++d) {
        low.push_back(uniform(0, 2));
        high.push_back(uniform(0, 2));
        if (withInterior)
          interior.push_back(uniform(0, 1));
      }
      y = ir::pad(x, low, high, interior);
      break;
    }
    default: {
      Ints starts, ends, strides;
      bool withStrides = chance(0.5);
      for (int64_t d : s) {
        int64_t b = uniform(0, d - 1);
        starts.push_back(b);
        ends.push_back(uniform(b + 1, d));
        if (withStrides)
          strides.push_back(uniform(1, 2));
      }
      y = ir::slice(x, starts, ends, strides);
      break;
    }
    }
    addToPool(maybeNamed(y));
    return true;
  }

  bool addLinAlg() {
    if (chance(0.7))
      return addMatmul();
    if (chance(0.5))
      return addSparse();
    return addSolve();
  }

  // spmm (A · dense or A^T · dense) or sddmm with a random CSR structure
  // (valid: consts, at least one entry) and a pool value as the dense side.
  bool addSparse() {
    Value d = asMatrix(pickValue());
    const int64_t r = d.shape()[0], n = d.shape()[1];
    const bool transposed = chance(0.3), sampled = !transposed && chance(0.3);
    // Non-transposed A is m x r; transposed A (and sddmm's) has r rows.
    int64_t rows = transposed || sampled ? r : uniform(1, o_.maxDim);
    int64_t cols = transposed || sampled ? uniform(1, o_.maxDim) : r;
    std::vector<double> rowPtr{0}, colIdx;
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t e = uniform(i == 0 ? 1 : 0, cols); e > 0; --e)
        colIdx.push_back(static_cast<double>(uniform(0, cols - 1)));
      rowPtr.push_back(static_cast<double>(colIdx.size()));
    }
    const auto nnz = static_cast<int64_t>(colIdx.size());
    Value rp = ir::constant(g_, ir::Tensor(ir::i32({rows + 1}), rowPtr));
    Value ci = ir::constant(g_, ir::Tensor(ir::i32({nnz}), colIdx));
    if (sampled) {
      addToPool(maybeNamed(ir::sddmm(rp, ci, d, valueOfShape({cols, n}))));
      return true;
    }
    ir::CsrMatrix a{rp, ci, valueOfShape({nnz}), transposed || chance(0.5) ? cols : -1};
    addToPool(maybeNamed(ir::spmm(a, d, transposed)));
    return true;
  }

  bool addMatmul() {
    auto ranked = poolWhere([](const ir::TensorType &t) { return t.rank() >= 1; });
    if (ranked.empty())
      return false;
    Value a = val(pick(ranked));
    const Shape &sa = a.shape();
    int64_t k = sa.back(), n = uniform(1, o_.maxDim);
    Shape sb;
    switch (uniform(0, sa.size() >= 2 ? 2 : 1)) {
    case 0: sb = {k}; break;
    case 1: sb = {k, n}; break;
    default:
      sb.assign(sa.begin(), sa.end() - 2);
      sb.push_back(k);
      sb.push_back(n);
      break;
    }
    Value b = valueOfShape(sb);
    addToPool(maybeNamed(ir::matmul(a, b)));
    return true;
  }

  // A diagonally dominant A (well conditioned), sometimes plus a small
  // function of a pool value so that A is not just a constant.
  bool addSolve() {
    auto rhs = poolWhere([](const ir::TensorType &t) {
      return t.rank() == 1 || t.rank() == 2;
    });
    if (rhs.empty())
      return false;
    Value b = val(pick(rhs));
    int64_t n = b.shape()[0];
    ir::Tensor a0({o_.dtype, {n, n}});
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        a0.set(i * n + j, (i == j ? static_cast<double>(n) + 1 : 0) + real(-0.5, 0.5));
    Value A = ir::constant(g_, std::move(a0));
    auto square = poolWhere([&](const ir::TensorType &t) { return t.shape == Shape{n, n}; });
    if (!square.empty() && chance(0.5))
      A = A + ir::tanh(val(pick(square))) * scalarConst(0.1);
    addToPool(maybeNamed(ir::solve(A, b)));
    return true;
  }

  // logits as [N, C]: a rank-2 value, or any value reshaped.
  Value asMatrix(Value x) {
    if (x.type().rank() == 2)
      return x;
    int64_t m = x.type().numel();
    int64_t last = x.type().rank() >= 1 ? x.shape().back() : 1;
    return ir::reshape(x, {m / last, last});
  }

  bool addLoss() {
    Value x = pickValue();
    if (chance(0.5)) {
      auto same = poolWhere([&](const ir::TensorType &t) { return t == x.type(); });
      Value t = same.size() > 1 && chance(0.7) ? val(pick(same)) : floatConst(x.shape());
      addToPool(maybeNamed(ir::mse(x, t)));
      return true;
    }
    Value logits = asMatrix(x);
    int64_t rows = logits.shape()[0], classes = logits.shape()[1];
    Value target = logits;
    if (chance(0.5)) {
      ir::Tensor labels(ir::i32({rows}));
      for (int64_t i = 0; i < rows; ++i)
        labels.set(i, static_cast<double>(uniform(0, classes - 1)));
      target = ir::constant(g_, std::move(labels));
    } else {
      target = ir::softmax(valueOfShape(logits.shape()), -1);
    }
    addToPool(maybeNamed(ir::crossEntropy(logits, target)));
    return true;
  }

  // x as an NCHW image [1, 1, h, w] with h * w = numel(x).
  Value asImage(Value x) {
    int64_t m = x.type().numel();
    std::vector<int64_t> divisors;
    for (int64_t d = 1; d <= m; ++d)
      if (m % d == 0)
        divisors.push_back(d);
    int64_t h = pick(divisors);
    return ir::reshape(x, {1, 1, h, m / h});
  }
  // Back into the pool's ranks.
  Value flatten(Value y) {
    const Shape &s = y.shape();
    return ir::reshape(y, {s[0] * s[1], s[2] * s[3]});
  }

  Value counter() {
    if (!counter_)
      counter_ = ir::input(g_, freshName("step"), ir::i32()).id();
    return val(*counter_);
  }

  bool addNN() {
    Value x = pickValue();
    switch (uniform(0, o_.smoothOnly ? 2 : 5)) {
    case 0: {
      Value img = asImage(x);
      int64_t h = img.shape()[2], w = img.shape()[3];
      int64_t kh = uniform(1, std::min<int64_t>(h, 3)), kw = uniform(1, std::min<int64_t>(w, 3));
      Ints pad{uniform(0, 1), uniform(0, 1)};
      Ints dil{1, 1};
      if (2 * (kh - 1) + 1 <= h + 2 * pad[0] && 2 * (kw - 1) + 1 <= w + 2 * pad[1] && chance(0.3))
        dil = {2, 2};
      if (chance(0.25)) { // im2col, and sometimes back again
        Ints stride{uniform(1, 2), uniform(1, 2)};
        Value cols = ir::unfold2d(img, {kh, kw}, stride, pad, dil,
                                  chance(0.5) ? 0.0 : real(-1, 1));
        if (chance(0.5)) {
          addToPool(maybeNamed(flatten(ir::fold2d(cols, {h, w}, {kh, kw}, stride, pad, dil))));
        } else {
          const Shape s = cols.shape();
          addToPool(maybeNamed(ir::reshape(cols, {s[1], s[2]})));
        }
        return true;
      }
      Value wgt = newParam({uniform(1, 3), 1, kh, kw});
      const Ints stride{uniform(1, 2), uniform(1, 2)};
      Value y = ir::conv2d(img, wgt, stride, pad, dil);
      if (chance(0.3)) { // the adjoints: conv2d's output back onto the image, and its weight
        Value back = ir::convTranspose2d(
            y, wgt, stride, pad, dil,
            outputPaddingFor(img.shape(), wgt.shape(), y.shape(), stride, pad, dil));
        addToPool(maybeNamed(flatten(
            chance(0.5) ? back : ir::conv2dWeightGrad(back, y, {kh, kw}, stride, pad, dil))));
        return true;
      }
      addToPool(maybeNamed(flatten(y)));
      return true;
    }
    case 1: {
      Value m = asMatrix(x);
      ir::TensorType channel{o_.dtype, {m.shape()[1]}};
      Value gamma = ir::param(g_, freshName("gamma"), channel, {{"init", "ones"}});
      Value beta = ir::param(g_, freshName("beta"), channel);
      Value rm = ir::param(g_, freshName("rmean"), channel, {{"trainable", false}});
      Value rv = ir::param(g_, freshName("rvar"), channel,
                           {{"init", "ones"}, {"trainable", false}});
      addToPool(maybeNamed(ir::batchNorm(m, gamma, beta, rm, rv, real(1e-6, 1e-2), real(0, 1))));
      return true;
    }
    case 2:
    case 3: {
      Value img = asImage(x);
      int64_t h = img.shape()[2], w = img.shape()[3];
      Ints k{uniform(1, std::min<int64_t>(h, 3)), uniform(1, std::min<int64_t>(w, 3))};
      Ints pad{uniform(0, k[0] / 2), uniform(0, k[1] / 2)};
      Ints stride = chance(0.5) ? Ints{} : Ints{uniform(1, 2), uniform(1, 2)};
      Value y = o_.smoothOnly || chance(0.5) ? ir::avgPool2d(img, k, stride, pad)
                                             : ir::maxPool2d(img, k, stride, pad);
      if (!o_.smoothOnly && chance(0.2)) // max_pool2d's adjoint, with y as the windows' shares
        y = ir::maxPool2dGrad(img, y, k, stride, pad);
      addToPool(maybeNamed(flatten(y)));
      return true;
    }
    case 4:
      addToPool(maybeNamed(ir::dropout(x, counter(), real(0, 0.9), uniform(0, 99))));
      return true;
    default:
      addToPool(maybeNamed(ir::bernoulli(counter(), randomShape(), real(0, 1),
                                         uniform(0, 99), o_.dtype)));
      return true;
    }
  }

  // erf, gelu, variance (a correction that leaves n - correction > 0) and
  // layer_norm over trailing axes with optional scale and shift params. eps
  // stays >= 1e-3: 1/sqrt(eps) amplifies rounding in nearly constant rows,
  // and f32 comparisons of the two backends would see it.
  bool addNormalization() {
    Value x = pickValue();
    int64_t r = x.type().rank();
    Value y = x;
    switch (uniform(0, 4)) {
    case 0: y = ir::erf(x); break;
    case 1: y = ir::gelu(x, chance(0.5)); break;
    case 2: {
      Ints axes = randomAxes(r);
      int64_t n = 1;
      for (int64_t d = 0; d < r; ++d)
        if (axes.empty() || std::count(axes.begin(), axes.end(), d) ||
            std::count(axes.begin(), axes.end(), d - r))
          n *= x.shape()[static_cast<size_t>(d)];
      y = ir::variance(x, axes, chance(0.3), n > 1 && chance(0.5) ? 1 : 0);
      break;
    }
    default: {
      if (r == 0)
        return false;
      int64_t axis = randomAxis(r);
      size_t first = static_cast<size_t>(axis < 0 ? axis + r : axis);
      const Shape xs = x.shape();
      Shape normalized(xs.begin() + static_cast<std::ptrdiff_t>(first), xs.end());
      std::optional<Value> scale, shift;
      if (chance(0.6))
        scale = newParam(normalized);
      if (scale && chance(0.6))
        shift = newParam(normalized);
      y = ir::layerNorm(x, scale, shift, axis, real(1e-3, 0.1));
      break;
    }
    }
    addToPool(maybeNamed(y));
    return true;
  }

  // A scan: carry x, invariant w (x's type), 1-3 steps, either direction;
  // body (c, w) -> (tanh(c * w), c + w). Both results join the pool.
  bool addScan() {
    Value x = pickValue();
    ir::Graph body("step" + std::to_string(scans_));
    Value c = ir::input(body, "c", x.type());
    Value w = ir::input(body, "w", x.type());
    ir::output(ir::tanh(c * w));
    ir::output(c + w);
    ir::Function f("step" + std::to_string(scans_++), std::move(body));
    Value inv = pickValue();
    if (inv.type() != x.type())
      inv = x;
    std::vector<Value> r = ir::scan(f, {x}, {}, {inv}, chance(0.5), uniform(1, 3));
    addToPool(maybeNamed(r[0]));
    addToPool(maybeNamed(r[1]));
    return true;
  }

  // Comparisons, where (with computed or constant masks), and casts through
  // the other dtypes and back.
  bool addSelection() {
    Value a = pickValue();
    Value b = partnerOf(a);
    Value y = a;
    switch (uniform(0, 2)) {
    case 0: {
      static const ir::OpKind cmps[] = {ir::OpKind::Less, ir::OpKind::LessEqual,
                                        ir::OpKind::Greater, ir::OpKind::GreaterEqual,
                                        ir::OpKind::Equal, ir::OpKind::NotEqual};
      Value cond = ir::apply(cmps[uniform(0, 5)], {a, b});
      y = ir::where(cond, a, b);
      break;
    }
    case 1: {
      // A suffix of the result's shape fits both a and b.
      Shape both = *ir::broadcastShapes(a.shape(), b.shape());
      Value mask = constOf(ir::boolean(broadcastPartner(both, /*grow=*/false)));
      y = ir::where(mask, a, b);
      break;
    }
    default: {
      static const ir::DType dts[] = {ir::DType::f32, ir::DType::f64,
                                      ir::DType::i32, ir::DType::boolean};
      y = ir::cast(ir::cast(a, dts[uniform(0, 3)]), o_.dtype);
      if (chance(0.3)) // i32 values meet i32 consts too
        y = ir::cast(ir::cast(a, ir::DType::i32) + constOf(ir::i32(broadcastPartner(a.shape()))),
                     o_.dtype);
      break;
    }
    }
    addToPool(maybeNamed(y));
    return true;
  }

  // --- indexing ---
  // An i32 const of shape `s` with entries in [0, bound) (repeats likely).
  Value indicesOf(const Shape &s, int64_t bound) {
    ir::Tensor t(ir::i32(s));
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, static_cast<double>(uniform(0, bound - 1)));
    return ir::constant(g_, std::move(t), chance(o_.namedFraction) ? freshName("ids") : "");
  }

  // gather and scatter_add (linear, so smooth) by const indices; one_hot and
  // iota as constant factors; a causal mask (iota + greater_equal) with where.
  bool addIndexing() {
    Value x = pickValue();
    const Shape s = x.shape();
    const int64_t r = x.type().rank();
    Value y = x;
    switch (uniform(0, o_.smoothOnly || !o_.comparisons ? 3 : 4)) {
    case 0: { // gather: rank r - 1 + rank(indices)
      if (r == 0)
        return false;
      int64_t axis = randomAxis(r);
      int64_t extent = s[static_cast<size_t>(axis < 0 ? axis + r : axis)];
      Shape is(static_cast<size_t>(uniform(0, std::clamp<int64_t>(o_.maxRank - r + 1, 0, 2))));
      for (int64_t &d : is)
        d = uniform(1, o_.maxDim);
      y = ir::gather(x, indicesOf(is, extent), axis);
      break;
    }
    case 1: { // scatter_add: indices over 1 or 2 axes from `axis` (one new axis for a scalar)
      int64_t size = uniform(1, o_.maxDim);
      if (r == 0) {
        y = ir::scatterAdd(x, indicesOf({}, size), size, 0);
        break;
      }
      int64_t axis = uniform(0, r - 1), k = uniform(1, std::min<int64_t>(2, r - axis));
      Shape is(s.begin() + axis, s.begin() + axis + k);
      int64_t resultRank = r - k + 1;
      y = ir::scatterAdd(x, indicesOf(is, size), size, chance(0.3) ? axis - resultRank : axis);
      break;
    }
    case 2: { // one_hot along the last axis, as a 0/1 factor
      if (r == 0)
        return false;
      Shape is(s.begin(), s.end() - 1);
      y = x * ir::oneHot(indicesOf(is, s.back()), s.back(), o_.dtype);
      break;
    }
    case 3: // x plus each element's index along an axis
      if (r == 0)
        return false;
      y = x + ir::iota(g_, s, randomAxis(r), o_.dtype);
      break;
    default: { // a causal mask over the last two axes
      if (r < 2)
        return false;
      Value rows = ir::iota(g_, s, r - 2), cols = ir::iota(g_, s, r - 1);
      y = ir::where(ir::greaterEqual(rows, cols), x, partnerOf(x));
      break;
    }
    }
    addToPool(maybeNamed(y));
    return true;
  }

  // --- outputs and updates ---
  void addResults() {
    Value last = val(pool_.back());
    if (o_.scalarOutput) {
      ir::output(ir::sum(last));
    } else {
      std::vector<ir::NodeId> outs{last.id()};
      for (int64_t i = uniform(0, std::max(0, o_.maxOutputs - 1)); i > 0; --i)
        outs.push_back(pickValue().id());
      for (ir::NodeId id : outs)
        ir::output(val(id));
    }
    if (!o_.updates)
      return;
    for (ir::NodeId p : g_.params()) {
      if (!chance(0.5))
        continue;
      Value param = val(p);
      auto same = poolWhere([&](const ir::TensorType &t) { return t == param.type(); });
      same.erase(std::remove(same.begin(), same.end(), p), same.end());
      Value next = !same.empty() ? val(pick(same)) : param - scalarConst(0.1) * param;
      ir::update(param, next);
    }
  }

  std::mt19937_64 rng_;
  RandomGraphOptions o_;
  ir::Graph g_;
  std::vector<ir::NodeId> pool_;
  int scans_ = 0; // bodies made so far: step0, step1, ...
  std::optional<ir::NodeId> counter_;
  int nextName_ = 0;
};

// The graph for `seed` under `options`; the same arguments give the same graph.
inline ir::Graph randomGraph(uint64_t seed, const RandomGraphOptions &options = {}) {
  return RandomGraphGenerator(seed, options).generate();
}

} // namespace chainjit::testing
