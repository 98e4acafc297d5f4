#include "chainjit/compiler/JacobianChain.h"

#include "chainjit/ir/Error.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace chainjit::compiler {

std::string_view structureName(JacobianStructure s) {
  switch (s) {
  case JacobianStructure::Identity: return "identity";
  case JacobianStructure::Permutation: return "permutation";
  case JacobianStructure::Diagonal: return "diagonal";
  case JacobianStructure::BlockDiagonal: return "block-diagonal";
  case JacobianStructure::Dense: return "dense";
  }
  return "?";
}

JacobianStructure productStructure(JacobianStructure l, JacobianStructure r, int64_t lb,
                                   int64_t rb, int64_t *blocks) {
  using S = JacobianStructure;
  auto result = [&](S s, int64_t b) {
    if (blocks)
      *blocks = s == S::BlockDiagonal ? b : 1;
    return s;
  };
  if (l == S::Identity)
    return result(r, rb);
  if (r == S::Identity)
    return result(l, lb);
  // Diagonals compose to diagonals, and a diagonal keeps any block
  // partition; block-diagonal parts compose when their blocks match.
  // Anything else is treated as dense (a product of permutations is one, but
  // is multiplied as a dense matrix).
  if (l == S::Diagonal && r == S::Diagonal)
    return result(S::Diagonal, 1);
  if (l == S::Diagonal && r == S::BlockDiagonal)
    return result(r, rb);
  if (l == S::BlockDiagonal && r == S::Diagonal)
    return result(l, lb);
  if (l == S::BlockDiagonal && r == S::BlockDiagonal && lb == rb)
    return result(l, lb);
  return result(S::Dense, 1);
}

void JacobianChain::validate() const {
  if (factors.empty())
    throw Error("the Jacobian chain is empty");
  for (size_t l = 0; l < factors.size(); ++l) {
    const ChainFactor &f = factors[l];
    std::string name = f.label.empty() ? "F" + std::to_string(l + 1) : f.label;
    if (f.n <= 0 || f.m <= 0)
      throw Error("factor " + name + ": sizes must be positive, got n = " +
                  std::to_string(f.n) + ", m = " + std::to_string(f.m));
    if (!(f.tangentCost >= 0) || !(f.adjointCost >= 0) || !(f.tapeBytes >= 0) ||
        !(f.forwardCost >= 0) || !(f.inputBytes >= 0))
      throw Error("factor " + name + ": costs and tape must be non-negative numbers");
    if (f.blocks < 1 || f.n % f.blocks != 0 || f.m % f.blocks != 0)
      throw Error("factor " + name + ": " + std::to_string(f.blocks) +
                  " blocks do not divide n = " + std::to_string(f.n) + " and m = " +
                  std::to_string(f.m));
    if (f.steps < 1)
      throw Error("factor " + name + ": a recurrence needs at least one step, got " +
                  std::to_string(f.steps));
    if (l + 1 < factors.size() && f.m != factors[l + 1].n)
      throw Error("factor " + name + " has m = " + std::to_string(f.m) +
                  " but the next factor has n = " +
                  std::to_string(factors[l + 1].n));
  }
}

JacobianChain parseChainText(std::string_view text, const std::string &filename) {
  JacobianChain chain;
  std::istringstream in{std::string(text)};
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    std::string body = line.substr(0, line.find('#'));
    std::vector<std::pair<double, int>> fields; // value, column
    int64_t steps = 1;  // a trailing `xT`: T steps of a recurrence
    int stepsColumn = 0;
    size_t pos = 0;
    while (true) {
      pos = body.find_first_not_of(" \t\r", pos);
      if (pos == std::string::npos)
        break;
      size_t end = body.find_first_of(" \t\r", pos);
      std::string tok = body.substr(pos, end == std::string::npos ? end : end - pos);
      SourceLoc loc{filename, lineNo, static_cast<int>(pos) + 1, {}};
      if (stepsColumn)
        throw Error("nothing may follow the step count '" +
                        body.substr(size_t(stepsColumn - 1),
                                    body.find_first_of(" \t\r", size_t(stepsColumn - 1)) -
                                        size_t(stepsColumn - 1)) +
                        "'",
                    loc);
      size_t prefix = tok.rfind("x", 0) == 0 ? 1 : tok.rfind("\xc3\x97", 0) == 0 ? 2 : 0;
      if (prefix) { // xT or ×T
        std::string count = tok.substr(prefix);
        char *stop = nullptr;
        errno = 0;
        long long t = count.empty() ? 0 : std::strtoll(count.c_str(), &stop, 10);
        if (count.empty() || stop != count.c_str() + count.size() || errno == ERANGE ||
            t < 1 || t > (int64_t(1) << 40))
          throw Error("expected a step count 'xT' with T a positive integer, got '" + tok + "'",
                      loc);
        steps = t;
        stepsColumn = static_cast<int>(pos) + 1;
        pos = end;
        continue;
      }
      char *stop = nullptr;
      errno = 0;
      double v = std::strtod(tok.c_str(), &stop);
      if (stop != tok.c_str() + tok.size() || errno == ERANGE || !std::isfinite(v))
        throw Error("expected a number, got '" + tok + "'", loc);
      if (v < 0)
        throw Error("expected a non-negative number, got '" + tok + "'", loc);
      fields.emplace_back(v, static_cast<int>(pos) + 1);
      pos = end;
    }
    if (fields.empty())
      continue;
    if (fields.size() < 4 || fields.size() > 7)
      throw Error("expected 'n m t a [e [f [x]]]' (4 to 7 numbers), got " +
                      std::to_string(fields.size()),
                  SourceLoc{filename, lineNo, fields.front().second, {}});
    for (int i = 0; i < 2; ++i)
      if (fields[i].first != std::floor(fields[i].first) || fields[i].first < 1)
        throw Error(std::string(i == 0 ? "n" : "m") +
                        " must be a positive integer",
                    SourceLoc{filename, lineNo, fields[i].second, {}});
    ChainFactor f;
    f.n = static_cast<int64_t>(fields[0].first);
    f.m = static_cast<int64_t>(fields[1].first);
    f.tangentCost = fields[2].first;
    f.adjointCost = fields[3].first;
    f.tapeBytes = fields.size() >= 5 ? fields[4].first : 0;
    // Without the columns, a recomputation costs one tangent sweep's FMAs and
    // a checkpoint stores the input in doubles.
    f.forwardCost = fields.size() >= 6 ? fields[5].first : f.tangentCost;
    f.inputBytes = fields.size() >= 7 ? fields[6].first : 8.0 * double(f.n);
    f.label = "F" + std::to_string(chain.factors.size() + 1);
    if (stepsColumn) {
      // The numbers are one step's; the steps chain, so a step is square.
      if (f.n != f.m && steps > 1)
        throw Error("a step factor repeated " + std::to_string(steps) +
                        " times must be square, got n = " + std::to_string(f.n) +
                        ", m = " + std::to_string(f.m),
                    SourceLoc{filename, lineNo, stepsColumn, {}});
      f.steps = steps;
      f.step = {f.n, 0, 0, f.tangentCost, f.adjointCost, f.tapeBytes,
                JacobianStructure::Dense, ""};
      const double T = double(steps);
      f.tangentCost *= T;
      f.adjointCost *= T;
      f.tapeBytes *= T;
      f.forwardCost *= T;
      if (!std::isfinite(f.tangentCost) || !std::isfinite(f.adjointCost) ||
          !std::isfinite(f.tapeBytes) || !std::isfinite(f.forwardCost))
        throw Error("the costs of " + std::to_string(steps) +
                        " steps overflow a double; use smaller numbers",
                    SourceLoc{filename, lineNo, stepsColumn, {}});
    }
    if (!chain.factors.empty() && chain.factors.back().m != f.n)
      throw Error("n = " + std::to_string(f.n) +
                      " does not match the previous factor's m = " +
                      std::to_string(chain.factors.back().m),
                  SourceLoc{filename, lineNo, fields[0].second, {}});
    chain.factors.push_back(std::move(f));
  }
  if (chain.factors.empty())
    throw Error("no factors: expected lines of 'n m t a [e [f [x]]]'",
                SourceLoc{filename, 0, 0, {}});
  return chain;
}

JacobianChain parseChainFile(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    throw Error("cannot open the chain file", SourceLoc{path, 0, 0, {}});
  std::stringstream ss;
  ss << in.rdbuf();
  return parseChainText(ss.str(), path);
}

JacobianChain denseMatrixChain(const std::vector<int64_t> &dims) {
  if (dims.size() < 2)
    throw Error("a matrix chain needs at least two dimensions, got " +
                std::to_string(dims.size()));
  JacobianChain chain;
  size_t q = dims.size() - 1;
  // A_i is dims[i-1] x dims[i]; the chain applies A_q first, so F1 = A_q.
  for (size_t l = 0; l < q; ++l) {
    size_t i = q - l; // A_i
    ChainFactor f;
    f.m = dims[i - 1];
    f.n = dims[i];
    f.label = "A" + std::to_string(i);
    chain.factors.push_back(std::move(f));
  }
  chain.validate();
  return chain;
}

} // namespace chainjit::compiler
