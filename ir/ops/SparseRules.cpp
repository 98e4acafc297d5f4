// Derivative rules of the CSR sparse products (spmm, sddmm).
#include "RuleFamilies.h"

namespace chainjit::ir::rules {

// Placeholders until the rules land: no rule yet (a clear error when used).
std::vector<DerivativeRules> sparseRules() { return {{OpKind::SpMM}, {OpKind::SDDMM}}; }

} // namespace chainjit::ir::rules
