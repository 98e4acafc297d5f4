// scan: a loop over a leading time axis with a body written once (an LSTM
// cell run over T steps).
//
//   Function cell = ...;      // (h, x_t, W) -> (h', y_t)
//   auto r = scan(cell, {h0}, {xs}, {W});  // r[0]: final h, r[1]: ys [T, ..]
//
// The op itself (ir/ops/ControlOps.cpp) has one flat result packing the final
// carries and the stacked ys; scan() and unpackScan() take them out with slice
// + reshape, so users never see the packing. The text form writes
// `%hT, %ys = scan @cell(%h0 ; %xs ; %W)`.
#pragma once

#include "chainjit/ir/Builder.h"
#include "chainjit/ir/Function.h"

#include <memory>
#include <span>
#include <vector>

namespace chainjit::ir {

// Where each piece of a scan's flat result lies, and the checked signature.
struct ScanLayout {
  int64_t carries = 0, sequences = 0, invariants = 0;
  int64_t length = 0; // T
  bool reverse = false;
  DType dtype = DType::f32;          // of the carries, the ys and the result
  std::vector<TensorType> carryTypes; // as passed and returned by the body
  std::vector<TensorType> yTypes;     // one step's y (the body's extra results)
  // Each piece of the result, in order: the carries, then each y stacked
  // [T, ..]: its offset into the flat result and its shape.
  std::vector<int64_t> offsets;
  std::vector<Shape> shapes;
  int64_t totalSize = 0;

  size_t numYs() const { return yTypes.size(); }
};

// Checks `body` against the operand types and the scan's attributes (carry
// types kept by the body, sequence lengths and slices, invariants, counts)
// and returns the layout; throws chainjit::Error saying what is wrong.
ScanLayout scanLayout(const Function &body, std::span<const TensorType> operands,
                      const Attrs &attrs);
// The layout of scan node `id` of g (its body resolved in g's table).
ScanLayout scanLayout(const Graph &g, NodeId id);

// Adds a scan node to the graph of the operands (body added to its function
// table) and returns the final carries, then each stacked y [T, ..]. `length`
// is needed only without sequences (0: the sequences' leading dimension).
std::vector<Value> scan(const Function &body, const std::vector<Value> &carries,
                        const std::vector<Value> &sequences,
                        const std::vector<Value> &invariants, bool reverse = false,
                        int64_t length = 0);
std::vector<Value> scan(std::shared_ptr<const Function> body, const std::vector<Value> &carries,
                        const std::vector<Value> &sequences,
                        const std::vector<Value> &invariants, bool reverse = false,
                        int64_t length = 0);

// The pieces of a scan node's flat result: final carries, then stacked ys.
std::vector<Value> unpackScan(Value packed);
// Piece `i` of a flat result with layout `l` (slice + reshape).
Value scanPiece(Value packed, const ScanLayout &l, size_t i);

} // namespace chainjit::ir
