// Internal to ir/: how numbers are written in the .cj text form, both ways.
//
// Printing uses the shortest decimal form that reads back to the same bits
// for the value's own type (f32 values as float, f64 as double), so a printed
// graph parses back exactly. Reading converts a token for the type it must
// fit and reports a value that does not fit as an error, never silently.
#pragma once

#include "Lexer.h"

#include <cstdint>
#include <string>

namespace chainjit::ir::text {

// Always has '.', 'e', or is nan/-nan/inf/-inf, so it reads back as a float.
std::string formatF32(float v);
std::string formatF64(double v);

// Int and Float tokens, and the words inf / nan.
bool isNumber(const Token &t);

// Each throws chainjit::Error at `loc` naming the number and the type it
// does not fit. The integer forms accept Int tokens only.
int64_t toInt64(const Token &t, const SourceLoc &loc);
int32_t toInt32(const Token &t, const SourceLoc &loc);
double toF64(const Token &t, const SourceLoc &loc);
float toF32(const Token &t, const SourceLoc &loc);

} // namespace chainjit::ir::text
