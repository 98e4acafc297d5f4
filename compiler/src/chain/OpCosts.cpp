// The cost model, once per op: fused multiply-adds of one tangent and one
// adjoint direction through the op, the bytes of forward values its adjoint
// reads, and the structure of its Jacobian. Data movement (reshape,
// transpose, slices) costs no arithmetic; piecewise-constant ops have zero
// derivatives and cost nothing.
#include "chainjit/compiler/ChainExtraction.h"

#include "chainjit/ir/Error.h"
#include "chainjit/ir/Scan.h"

namespace chainjit::compiler {

using namespace ir;
using S = JacobianStructure;

namespace {

double bytes(const TensorType &t) { return double(t.numel()) * double(dtypeSize(t.dtype)); }

int activeCount(const std::vector<bool> &active) {
  int n = 0;
  for (bool a : active)
    n += a;
  return n;
}

} // namespace

OpCost opCost(const Graph &g, NodeId id, const std::vector<bool> &active) {
  const Node &n = g.node(id);
  const double out = double(n.type.numel());
  auto operandType = [&](size_t i) { return g.type(n.operands.at(i)); };
  // Tape: the computed values an adjoint rule reads. Inputs, params and
  // consts are there anyway; only intermediate values must be kept.
  auto kept = [&](NodeId v) { return isSource(g.node(v).kind) ? 0.0 : bytes(g.type(v)); };
  auto operandTape = [&](size_t i) { return i < n.operands.size() ? kept(n.operands[i]) : 0.0; };
  auto resultTape = [&] { return kept(id); };
  // The operands an adjoint needs besides the active one: for a product,
  // the other factor of each active operand.
  auto otherOperandsTape = [&] {
    double b = 0;
    for (size_t i = 0; i < n.operands.size(); ++i)
      for (size_t j = 0; j < n.operands.size(); ++j)
        if (j != i && i < active.size() && active[i])
          b += operandTape(j);
    return b;
  };
  // An elementwise op is diagonal in an operand of its own shape.
  auto elementwiseStructure = [&] {
    for (size_t i = 0; i < n.operands.size(); ++i)
      if (i < active.size() && active[i] && operandType(i).shape != n.type.shape)
        return S::Dense;
    return activeCount(active) == 1 ? S::Diagonal : S::Dense;
  };
  switch (n.kind) {
  case OpKind::Input:
  case OpKind::Param:
  case OpKind::Const:
    return {0, 0, 0, S::Identity};
  case OpKind::Sign:
  case OpKind::Less:
  case OpKind::LessEqual:
  case OpKind::Greater:
  case OpKind::GreaterEqual:
  case OpKind::Equal:
  case OpKind::NotEqual:
  case OpKind::ArgMax:
  case OpKind::Bernoulli:
    return {0, 0, 0, S::Dense}; // zero derivative
  case OpKind::Neg:
  case OpKind::Cast:
    return {out, out, 0, elementwiseStructure()};
  case OpKind::Exp: // f' from the result
  case OpKind::Sqrt:
  case OpKind::Sigmoid:
  case OpKind::Tanh:
    return {out, out, resultTape(), elementwiseStructure()};
  case OpKind::Log: // f' from the operand
  case OpKind::Abs:
  case OpKind::Pow:
  case OpKind::Relu:
  case OpKind::Softplus:
    return {out, out, operandTape(0), elementwiseStructure()};
  case OpKind::Mul:
    return {out * activeCount(active), out * activeCount(active), otherOperandsTape(),
            elementwiseStructure()};
  case OpKind::Div: // reads b and the result
    return {out * activeCount(active), out * activeCount(active),
            operandTape(1) + resultTape(), elementwiseStructure()};
  case OpKind::Maximum:
  case OpKind::Minimum: // which operand won
    return {out * activeCount(active), out * activeCount(active),
            operandTape(0) + operandTape(1), elementwiseStructure()};
  case OpKind::Where: // the condition
    return {out * activeCount(active), out * activeCount(active), operandTape(0),
            elementwiseStructure()};
  case OpKind::Add:
  case OpKind::Sub:
    return {out, out, 0, elementwiseStructure()};
  case OpKind::Reshape:
    return {0, 0, 0, S::Identity};
  case OpKind::Transpose:
    return {0, 0, 0, S::Permutation};
  case OpKind::BroadcastTo:
  case OpKind::Concat:
  case OpKind::Slice:
  case OpKind::Pad:
  case OpKind::Unfold2d:
    return {0, out, 0, S::Dense}; // the adjoint of a broadcast or unfold sums
  case OpKind::Fold2d: // fold sums windows; its adjoint (unfold) only moves data
    return {double(operandType(0).numel()), 0, 0, S::Dense};
  case OpKind::MatMul: {
    TensorType a = operandType(0), b = operandType(1);
    double k = double(a.shape.back());
    double perOperand = out * k; // every result element is a length-k dot product
    return {perOperand * activeCount(active), perOperand * activeCount(active),
            otherOperandsTape(), S::Dense};
  }
  case OpKind::Solve: {
    // With A factorized once, each direction costs two triangular solves
    // (n^2 per right-hand side), plus dA y when A is active.
    double nn = double(operandType(0).shape[0]) * double(operandType(0).shape[0]);
    double rhs = out / double(operandType(0).shape[0]);
    double perDirection = nn * rhs * (active.size() > 0 && active[0] ? 2 : 1);
    return {perDirection, perDirection, operandTape(0) + resultTape(), S::Dense};
  }
  case OpKind::Sum:
  case OpKind::Mean:
    return {double(operandType(0).numel()), double(operandType(0).numel()), 0, S::Dense};
  case OpKind::Softmax:
  case OpKind::LogSoftmax: // from the result alone
    return {2 * double(operandType(0).numel()), 2 * double(operandType(0).numel()),
            resultTape(), S::Dense};
  case OpKind::Max:
  case OpKind::MaxPool2d:     // where the maxima were
  case OpKind::MaxPool2dGrad: // linear in its output_grad, the maxima found again
    return {2 * double(operandType(0).numel()), 2 * double(operandType(0).numel()),
            operandTape(0) + resultTape(), S::Dense};
  case OpKind::AvgPool2d:
    return {double(operandType(0).numel()), double(operandType(0).numel()), 0, S::Dense};
  case OpKind::CrossEntropy:
  case OpKind::Mse:
    return {2 * double(operandType(0).numel()), 2 * double(operandType(0).numel()),
            operandTape(0) + operandTape(1), S::Dense};
  case OpKind::Conv2d:
  case OpKind::ConvTranspose2d:
  case OpKind::Conv2dWeightGrad: {
    // Bilinear, like matmul: one multiply-add per (window, tap, output
    // channel), whichever of the three (forward, input or weight adjoint).
    const Shape w = n.kind == OpKind::Conv2dWeightGrad ? n.type.shape : operandType(1).shape;
    const Shape windows = n.kind == OpKind::Conv2d            ? n.type.shape
                          : n.kind == OpKind::ConvTranspose2d ? operandType(0).shape
                                                              : operandType(1).shape;
    double perOperand =
        double(windows[0] * windows[2] * windows[3]) * double(w[0] * w[1] * w[2] * w[3]);
    return {perOperand * activeCount(active), perOperand * activeCount(active),
            otherOperandsTape(), S::Dense};
  }
  // Indexing. gather and scatter_add move data and multiply nothing; the
  // additions of a scatter_add (gather's adjoint, scatter_add's tangent) are
  // charged one per element of the updates, as for broadcast_to and fold2d.
  // Their Jacobians are 0/1 selection matrices: one 1 per row for gather (a
  // permutation when the indices are one), the transpose of that for
  // scatter_add. Permutation is the closest structure: like a permutation,
  // each is accumulated without arithmetic, by pushing the identity through
  // the op (gather) or through its adjoint (a gather). The adjoints read the
  // indices. iota and one_hot have zero derivatives.
  case OpKind::Gather:
    return {0, out, operandTape(1), S::Permutation};
  case OpKind::ScatterAdd:
    return {double(operandType(0).numel()), 0, operandTape(1), S::Permutation};
  case OpKind::Iota:
  case OpKind::OneHot:
    return {0, 0, 0, S::Dense}; // zero derivative
  // Normalization and activations (issue 10).
  case OpKind::Erf: // f' from the operand: e^(-x^2), Phi(x) + x phi(x)
  case OpKind::Gelu:
    return {out, out, operandTape(0), elementwiseStructure()};
  case OpKind::Variance: // 2/(n-c) sum((x - mean) dx): centring, then a product
    return {2 * double(operandType(0).numel()), 2 * double(operandType(0).numel()),
            operandTape(0), S::Dense};
  case OpKind::LayerNorm: { // r (dx - mean(dx) - xhat mean(xhat dx)), scale and shift
    double perOperand = 5 * double(operandType(0).numel());
    return {perOperand * activeCount(active), perOperand * activeCount(active),
            operandTape(0) + operandTape(1), S::Dense};
  }
  case OpKind::SpMM:
  case OpKind::SDDMM: {
    // CSR products: each of the nnz entries meets one row of N dense values,
    // so nnz * N per active operand and direction (the row_ptr/col_idx
    // operands are integers, never active). Structure Dense (conservative):
    // with respect to the dense operand the Jacobian is A (x) I_N, whose N
    // blocks interleave in row-major order rather than forming the
    // contiguous equal blocks BlockDiagonal means, and A's own pattern is
    // data; with respect to the values, rows own unequal runs of entries.
    double perOperand = double(operandType(1).numel()) * double(operandType(3).shape[1]);
    return {perOperand * activeCount(active), perOperand * activeCount(active),
            otherOperandsTape(), S::Dense};
  }
  case OpKind::Scan: { // T steps of the body; the adjoint's tape is every step's carries
    ScanLayout l = scanLayout(g, id);
    const Graph &body = g.findFunction(n.attrs.getString("body"))->body();
    // Active in the body: the carries (they chain the steps) and the
    // parameters of active operands, and whatever depends on them.
    std::vector<bool> live(body.size(), false);
    NodeId p = 0;
    for (NodeId b = 0; b < body.size(); ++b) {
      const Node &bn = body.node(b);
      if (bn.kind == OpKind::Input) {
        live[b] = p < l.carries || (p < active.size() && active[p]);
        ++p;
      }
      for (NodeId o : bn.operands)
        live[b] = live[b] || live[o];
    }
    OpCost step{0, 0, 0, S::Dense};
    for (NodeId b = 0; b < body.size(); ++b) {
      if (!live[b] || isSource(body.node(b).kind))
        continue;
      std::vector<bool> act;
      for (NodeId o : body.node(b).operands)
        act.push_back(live[o]);
      OpCost c = opCost(body, b, act);
      step.tangent += c.tangent;
      step.adjoint += c.adjoint;
    }
    double T = double(l.length), carryBytes = 0;
    for (const TensorType &c : l.carryTypes)
      carryBytes += bytes(c);
    return {T * step.tangent, T * step.adjoint, T * carryBytes, S::Dense};
  }
  case OpKind::Dropout:
  case OpKind::BatchNorm:
    throw Error(std::string(opName(n.kind)) +
                    " must be expanded for train or eval mode before its cost is known",
                n.loc);
  }
  throw Error("internal: op '" + std::string(opName(n.kind)) + "' has no cost entry");
}

} // namespace chainjit::compiler
