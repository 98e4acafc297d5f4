// attachLoss: turns an imported model (logits as its first output) into a
// trainable graph, as chainjit train expects it (docs/training.md): the
// scalar loss first, the original outputs after it as the prediction.
#include "chainjit/frontends/Onnx.h"

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Verifier.h"

namespace chainjit::frontends {

void attachLoss(OnnxImport &model, std::string_view loss, const std::string &labels) {
  ir::Graph &g = model.graph;
  if (loss != "cross_entropy")
    throw Error("the loss '" + std::string(loss) + "' is not supported (cross_entropy is)");
  if (g.outputs().empty())
    throw Error("the model has no output to attach a loss to");
  if (!ir::isValidValueName(labels))
    throw Error("the labels name '" + labels + "' is not a valid value name");
  if (g.find(labels))
    throw Error("the labels name '" + labels + "' is already a value of the model");
  if (g.find("loss"))
    throw Error("the model already has a value named 'loss'");
  ir::Value logits(g, g.outputs().front());
  ir::TensorType t = logits.type();
  if (!ir::isFloat(t.dtype) || t.rank() != 2)
    throw Error("cross_entropy needs the first output to be float logits [N, C], but '" +
                g.node(logits.id()).label(logits.id()) + "' is " + t.str());
  ir::Value y = ir::input(g, labels, ir::i32({t.shape[0]}));
  ir::Value l = ir::crossEntropy(logits, y).named("loss");
  // The loss goes first: rebuild the output list with it in front.
  std::vector<ir::NodeId> outs = g.outputs();
  ir::Graph rebuilt(g.name());
  // Graph has no way to reorder outputs, so copy the nodes as they are and
  // add the outputs in the new order.
  for (const ir::Node &n : g.nodes())
    rebuilt.appendUnchecked(n);
  rebuilt.copyFunctionsFrom(g);
  rebuilt.addOutput(l.id());
  for (ir::NodeId o : outs)
    rebuilt.addOutput(o);
  for (const ir::ParamUpdate &u : g.updates())
    rebuilt.addUpdate(u.param, u.value);
  ir::verifyOrThrow(rebuilt);
  g = std::move(rebuilt);
}

} // namespace chainjit::frontends
