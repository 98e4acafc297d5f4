// input, param, const: the values a graph starts from. Their types are given,
// not inferred.
#include "OpFamilies.h"

namespace chainjit::ir {

const std::vector<std::string_view> &paramInitializers() {
  static const std::vector<std::string_view> names = {
      "zeros", "ones", "const", "uniform", "normal", "glorot", "he"};
  return names;
}

namespace ops {

std::vector<OpDef> sourceOps() {
  return {
      {OpKind::Input, OpFamily::Source, 0, 0, {}, {}, nullptr,
       "data fed to the graph on every call"},
      {OpKind::Param, OpFamily::Source, 0, 0, {},
       {{"init", AttrKind::String, std::string("zeros")},
        {"scale", AttrKind::Float, 1.0},
        {"seed", AttrKind::Int, int64_t{0}},
        {"trainable", AttrKind::Bool, true}},
       nullptr,
       "state that persists between calls: trainable weights, running statistics"},
      {OpKind::Const, OpFamily::Source, 0, 0, {}, {}, nullptr,
       "a literal tensor"},
  };
}

} // namespace ops
} // namespace chainjit::ir
