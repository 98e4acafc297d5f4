// The symbols of a token model: the text of each token id, and which ids
// are the special tokens <pad>, <begin> and <end>. A vocabulary file is
// UTF-8 text with one symbol per line, line k (0-based) the symbol of id k,
// as examples/make_char_words.py writes it:
//
//   <pad>
//   <begin>
//   <end>
//   a
//   ...
//
// <begin> and <end> must be there (a sequence starts after <begin> and is
// over at <end>); <pad> is optional. Every other line is a symbol of one or
// more characters; symbols are distinct and not empty.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chainjit::runtime {

class Vocabulary {
public:
  // From the symbols in id order; `where` names their source in errors
  // (the file, or "vocabulary"). Throws chainjit::Error on an empty or
  // repeated symbol, a missing <begin> or <end>, or no ordinary symbol.
  explicit Vocabulary(std::vector<std::string> symbols, const std::string &where = "vocabulary");
  // Reads a vocabulary file (above); errors name the file and the line.
  static Vocabulary load(const std::string &path);

  int64_t size() const { return static_cast<int64_t>(symbols_.size()); }
  const std::string &symbol(int32_t id) const;
  int32_t begin() const { return begin_; }
  int32_t end() const { return end_; }
  std::optional<int32_t> pad() const { return pad_; }
  // <pad>, <begin> or <end>: never part of a sequence's text.
  bool isSpecial(int32_t id) const;
  // The ids of `text`, the longest symbol first at each position. Throws
  // naming `what` and the byte position of a character no symbol starts with.
  std::vector<int32_t> encode(std::string_view text, const std::string &what = "text") const;
  // The symbols of `ids` joined, the special ones left out. An id outside
  // the vocabulary is an error.
  std::string decode(const std::vector<int32_t> &ids) const;
  const std::string &source() const { return where_; }

private:
  std::vector<std::string> symbols_;
  std::string where_;
  int32_t begin_ = -1, end_ = -1;
  std::optional<int32_t> pad_;
};

} // namespace chainjit::runtime
