// The parameters of a model as the optimizers see them: one tensor per
// param, in the model's graph order (f32 or f64, mixed allowed), and the
// little vector algebra the update rules need. Every operation treats the
// set as one flat vector of all entries, param after param; a set passed
// together with another must have the same layout (count, dtypes, shapes),
// otherwise chainjit::Error says which param differs.
#pragma once

#include "chainjit/ir/Tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace chainjit::runtime::train {

using ParamSet = std::vector<ir::Tensor>;

// Zeros with the layout of `x`.
ParamSet zerosLike(const ParamSet &x);
// The number of entries over all params.
int64_t totalSize(const ParamSet &x);
// Throws unless `a` and `b` have the same layout; `what` names the caller.
void requireSameLayout(const ParamSet &a, const ParamSet &b, const std::string &what);

// y += a * x.
void axpy(double a, const ParamSet &x, ParamSet &y);
// x *= a.
void scale(ParamSet &x, double a);
// Sum over all entries of x_i * y_i (accumulated in double).
double dot(const ParamSet &x, const ParamSet &y);
// The Euclidean norm over all entries.
double norm(const ParamSet &x);

// All entries as doubles, param after param (row-major within a param).
std::vector<double> flatten(const ParamSet &x);
// Writes `flat` (totalSize(x) entries) back into x's tensors, rounding to
// each param's dtype.
void unflatten(const std::vector<double> &flat, ParamSet &x);

} // namespace chainjit::runtime::train
