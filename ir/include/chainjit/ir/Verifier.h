// The verifier: checks that a graph is well formed and reports every problem
// it finds, each with the node's name (and file:line:col for parsed text).
#pragma once

#include "chainjit/ir/Error.h"
#include "chainjit/ir/Graph.h"

#include <vector>

namespace chainjit::ir {

// Checks: operands exist and come before their users (acyclicity, with the
// cycle named if there is one), arity, attribute names/kinds/values, result
// types against the op's type rule, const values against their declared type,
// param attributes, unique names, outputs and updates.
std::vector<Diagnostic> verify(const Graph &g);

// Throws chainjit::Error carrying every diagnostic if verify() finds any.
void verifyOrThrow(const Graph &g);

} // namespace chainjit::ir
