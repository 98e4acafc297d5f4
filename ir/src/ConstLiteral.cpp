#include "ConstLiteral.h"

#include "TextNumbers.h"

#include <fmt/format.h>

namespace chainjit::ir::text {

namespace {

// The reader walks nested lists with an explicit stack rather than recursion,
// so a type of very high rank cannot exhaust the call stack.
class LiteralReader {
public:
  LiteralReader(TokenStream &ts, const TensorType &type)
      : ts_(ts), type_(type), shape_(type.shape), tensor_(type) {}

  Tensor readSplat() {
    double v = readElement();
    for (int64_t i = 0; i < tensor_.numel(); ++i)
      tensor_.set(i, v);
    return std::move(tensor_);
  }

  Tensor readNested() {
    ts_.take(); // '['
    open_.push_back(0);
    for (;;) {
      size_t d = open_.size() - 1;
      if (ts_.is(Tok::RBracket)) {
        if (open_[d] > 0) // "[1, ]"
          ts_.failExpected(elementWanted(d));
        if (shape_[d] != 0)
          tooFew(d);
        ts_.take();
        open_.pop_back();
        if (open_.empty() || !afterElement())
          break;
        continue;
      }
      if (open_[d] >= shape_[d])
        ts_.failAt(ts_.cur(),
                   fmt::format("too many elements: dimension {} of {} has {}",
                               d, type_.str(), shape_[d]));
      if (d + 1 < shape_.size()) {
        ts_.expect(Tok::LBracket, elementWanted(d));
        open_.push_back(0);
        continue;
      }
      tensor_.set(next_++, readElement());
      if (!afterElement())
        break;
    }
    return std::move(tensor_);
  }

private:
  // After an element of the innermost open list: a ',' (returns true: read
  // the next element) or ']' closing that list and maybe its parents
  // (returns false when the outermost list is closed).
  bool afterElement() {
    for (;;) {
      size_t d = open_.size() - 1;
      ++open_[d];
      if (ts_.accept(Tok::Comma))
        return true;
      if (!ts_.is(Tok::RBracket))
        ts_.failExpected("',' or ']'");
      if (open_[d] < shape_[d])
        tooFew(d);
      ts_.take();
      open_.pop_back();
      if (open_.empty())
        return false;
    }
  }

  [[noreturn]] void tooFew(size_t d) const {
    ts_.failAt(ts_.cur(),
               fmt::format("too few elements: dimension {} of {} has {}, got {}",
                           d, type_.str(), shape_[d], open_[d]));
  }

  std::string elementWanted(size_t d) const {
    if (d + 1 < shape_.size())
      return fmt::format("'[' (a list for dimension {} of {})", d + 1,
                         type_.str());
    return "an element of " + type_.str();
  }

  double readElement() {
    const Token &t = ts_.cur();
    SourceLoc at = ts_.loc();
    switch (type_.dtype) {
    case DType::f32:
      if (!isNumber(t))
        ts_.failExpected("a number (an element of " + type_.str() + ")");
      return toF32(ts_.take(), at);
    case DType::f64:
      if (!isNumber(t))
        ts_.failExpected("a number (an element of " + type_.str() + ")");
      return toF64(ts_.take(), at);
    case DType::i32:
      if (t.kind != Tok::Int)
        ts_.failExpected("an integer (an element of " + type_.str() + ")");
      return toInt32(ts_.take(), at);
    case DType::boolean:
      if (!ts_.isIdent("true") && !ts_.isIdent("false"))
        ts_.failExpected("true or false (an element of " + type_.str() + ")");
      return ts_.take().text == "true" ? 1.0 : 0.0;
    }
    ts_.failExpected("an element");
  }

  TokenStream &ts_;
  const TensorType &type_;
  const Shape &shape_;
  Tensor tensor_;
  std::vector<int64_t> open_; // elements read so far in each open list
  int64_t next_ = 0;          // flat index of the next element
};

} // namespace

Tensor readConstLiteral(TokenStream &ts, const TensorType &type,
                        const SourceLoc &typeLoc) {
  if (type.numel() > kMaxConstElements)
    throw Error(fmt::format("a const may have at most {} elements, {} has {}",
                            kMaxConstElements, type.str(), type.numel()),
                typeLoc);
  LiteralReader reader(ts, type);
  if (type.rank() == 0 || !ts.is(Tok::LBracket))
    return reader.readSplat();
  return reader.readNested();
}

} // namespace chainjit::ir::text
