#include "chainjit/ir/Suggest.h"

#include <algorithm>
#include <numeric>

namespace chainjit::ir {

// Optimal string alignment distance: Levenshtein plus swapping two
// neighbouring letters as one edit, the commonest typo ("tahn").
size_t editDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  // Three rows: the one before the previous (for swaps), previous, current.
  std::vector<size_t> before(m + 1), prev(m + 1), cur(m + 1);
  std::iota(prev.begin(), prev.end(), size_t{0});
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::optional<std::string> closestName(std::string_view word,
                                       const std::vector<std::string> &candidates) {
  // A third of the letters, at least one; never as many as the word has,
  // which would make any short name "close" to any other.
  const size_t limit = std::min((word.size() + 2) / 3, word.size() - (word.empty() ? 0 : 1));
  std::optional<std::string> best;
  size_t bestDistance = limit + 1;
  for (const std::string &c : candidates) {
    if (c == word)
      continue;
    size_t d = editDistance(word, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best;
}

std::string didYouMean(std::string_view word, const std::vector<std::string> &candidates,
                       std::string_view prefix) {
  std::optional<std::string> best = closestName(word, candidates);
  if (!best)
    return {};
  return " (did you mean '" + std::string(prefix) + *best + "'?)";
}

} // namespace chainjit::ir
