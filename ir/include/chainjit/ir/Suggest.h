// "Did you mean ...?" for a name that is not known: the known name closest to
// it by edit distance, when it is close enough to be a typo. Shared by every
// message that names an unknown op, value, attribute or output.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::ir {

// Edits (insert, delete, replace, swap two neighbours) that turn a into b.
size_t editDistance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if at most about a third of its letters
// differ (so "tahn" finds "tanh" but "frobnicate" finds nothing).
std::optional<std::string> closestName(std::string_view word,
                                       const std::vector<std::string> &candidates);

// " (did you mean 'tanh'?)" with the closest candidate in quotes after
// `prefix` (e.g. "%"), or "" when none is close.
std::string didYouMean(std::string_view word, const std::vector<std::string> &candidates,
                       std::string_view prefix = "");

} // namespace chainjit::ir
