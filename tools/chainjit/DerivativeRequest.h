// What every command that differentiates a graph is asked: the graph file,
// the value to differentiate (--of), the values it is differentiated with
// respect to (--wrt) and the mode expansion (--expand). Shared by the
// derivative commands and `cost FILE.cj`, so that names are checked and
// errors read the same everywhere.
#pragma once

#include "Commands.h"

#include "chainjit/ir/Graph.h"

#include <string>
#include <vector>

namespace chainjit::cli {

struct DerivativeRequest {
  std::string file;
  std::string of;
  std::vector<std::string> wrt;
  std::string expand = "eval"; // train or eval
};

// Strips a leading '%' from the names; an empty name or a --wrt value given
// twice is a UsageError.
void normalizeNames(DerivativeRequest &r);

// Parses the file, expands its train or eval mode, and checks that --of and
// every --wrt name a value of the expanded graph (a chainjit::Error naming
// the flag and listing what the graph has otherwise).
ir::Graph loadExpandedGraph(const DerivativeRequest &r);

} // namespace chainjit::cli
