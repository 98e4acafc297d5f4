// Argument checks shared by the layers: each error names the layer and its
// prefix ("nn.LSTM 'enc': ...") and says what was expected.
#pragma once

#include "chainjit/ir/Builder.h"

#include <string>

namespace chainjit::nn::detail {

[[noreturn]] void fail(const char *layer, const std::string &prefix, const std::string &what);
void checkPositive(const char *layer, const std::string &prefix, const char *what, int64_t v);
// x's last axis has size `size`.
void checkLastAxis(const char *layer, const std::string &prefix, ir::Value x, int64_t size,
                   const char *what = "input");
// x has exactly `rank` axes.
void checkRank(const char *layer, const std::string &prefix, ir::Value x, size_t rank,
               const char *what, const char *layout);
// x is a float tensor (f32 or f64) of dtype `dtype`.
void checkDType(const char *layer, const std::string &prefix, ir::Value x, ir::DType dtype,
                const char *what = "input");

} // namespace chainjit::nn::detail
