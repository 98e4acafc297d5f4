// Internal to ir/: reading the literal of a `const` statement.
#pragma once

#include "Lexer.h"

#include "chainjit/ir/Tensor.h"

namespace chainjit::ir::text {

// The most elements a const may have. A splat like `= 0.0` is a few bytes of
// text for any shape, so without a bound a typo in a shape could ask for
// terabytes.
constexpr int64_t kMaxConstElements = int64_t{1} << 26;

// Reads a single number (a splat, for any shape) or a nested list matching
// `type`'s shape exactly, and converts each element to the dtype. `typeLoc`
// is where the type was written, for "too many elements" in the type itself.
Tensor readConstLiteral(TokenStream &ts, const TensorType &type,
                        const SourceLoc &typeLoc);

} // namespace chainjit::ir::text
