// Derivative rules of the indexing ops (gather, scatter_add, iota, one_hot).
#include "RuleFamilies.h"

namespace chainjit::ir::rules {

// Placeholders until the rules land: no rule yet (a clear error when used).
std::vector<DerivativeRules> indexRules() {
  return {{OpKind::Gather}, {OpKind::ScatterAdd}, {OpKind::Iota}, {OpKind::OneHot}};
}

} // namespace chainjit::ir::rules
