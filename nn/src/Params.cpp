#include "chainjit/nn/Params.h"

namespace chainjit::nn {

std::string joinName(const std::string &prefix, const std::string &leaf) {
  return prefix.empty() ? leaf : prefix + "." + leaf;
}

ir::Value makeParam(ir::Graph &g, const std::string &prefix, const std::string &leaf,
                    ir::TensorType type, const Init &init) {
  ir::Attrs attrs{{"init", init.family}};
  if (init.scale != 1.0)
    attrs.set("scale", init.scale);
  return ir::param(g, joinName(prefix, leaf), std::move(type), std::move(attrs));
}

} // namespace chainjit::nn
