// Internal to ir/: the op definitions of each family, and the small checks
// their type rules share.
#pragma once

#include "chainjit/ir/Error.h"
#include "chainjit/ir/Op.h"

#include <string>
#include <vector>

namespace chainjit::ir::ops {

std::vector<OpDef> sourceOps();
std::vector<OpDef> elementwiseOps();
std::vector<OpDef> shapeOps();
std::vector<OpDef> linalgOps();
std::vector<OpDef> reduceOps();
std::vector<OpDef> lossOps();
std::vector<OpDef> nnOps();
std::vector<OpDef> indexOps();
std::vector<OpDef> sparseOps();
std::vector<OpDef> controlOps();

// --- checks used by type rules; each throws chainjit::Error ---
void requireFloat(const TensorType &t, std::string_view what);
void requireNumeric(const TensorType &t, std::string_view what); // not bool
void requireSameDType(const TensorType &a, const TensorType &b);
// i32 indices (gather, scatter_add, one_hot, CSR structure).
void requireIndices(const TensorType &t, std::string_view what);
void requireRank(const TensorType &t, int64_t rank, std::string_view what);
// An axis in [-rank, rank) made non-negative.
int64_t normalizeAxis(int64_t axis, int64_t rank);
// Sorted, unique, non-negative axes; an empty list means all axes.
Ints normalizeAxes(const Ints &axes, int64_t rank);
// A list attribute of `n` positive entries ("stride", "kernel"...).
void requirePositiveList(const Ints &v, size_t n, std::string_view what,
                         bool allowZero = false);
Shape broadcastOrThrow(const Shape &a, const Shape &b);

} // namespace chainjit::ir::ops
