// Vocabulary files and the text of token ids. See Vocabulary.h.
#include "chainjit/runtime/Vocabulary.h"

#include "chainjit/ir/Error.h"
#include "data/FileBytes.h"

#include <filesystem>
#include <map>

namespace chainjit::runtime {

namespace {

// A vocabulary larger than this is no vocabulary file (the ids are i32, and
// a sampler keeps one probability per symbol).
constexpr size_t kMaxSymbols = size_t(1) << 24;

} // namespace

Vocabulary::Vocabulary(std::vector<std::string> symbols, const std::string &where)
    : symbols_(std::move(symbols)), where_(where) {
  // `line` is 1-based for a file's messages: the symbol of id k is on line k + 1.
  auto fail = [&](size_t id, const std::string &message) {
    throw Error(message + " (line " + std::to_string(id + 1) + ", id " + std::to_string(id) + ")",
                SourceLoc{where_});
  };
  if (symbols_.size() > kMaxSymbols)
    throw Error("has " + std::to_string(symbols_.size()) +
                    " symbols, more than a vocabulary may (" + std::to_string(kMaxSymbols) + ")",
                SourceLoc{where_});
  std::map<std::string_view, size_t> seen;
  for (size_t id = 0; id < symbols_.size(); ++id) {
    const std::string &s = symbols_[id];
    if (s.empty())
      fail(id, "empty symbol");
    auto [at, fresh] = seen.emplace(s, id);
    if (!fresh)
      fail(id, "symbol '" + s + "' is repeated (first at id " + std::to_string(at->second) + ")");
    if (s == "<begin>")
      begin_ = static_cast<int32_t>(id);
    else if (s == "<end>")
      end_ = static_cast<int32_t>(id);
    else if (s == "<pad>")
      pad_ = static_cast<int32_t>(id);
  }
  if (begin_ < 0 || end_ < 0)
    throw Error(std::string("has no ") + (begin_ < 0 ? "<begin>" : "<end>") +
                    " symbol (a line '<begin>' and a line '<end>' mark where a sequence "
                    "starts and ends)",
                SourceLoc{where_});
  if (symbols_.size() == static_cast<size_t>(2 + (pad_ ? 1 : 0)))
    throw Error("has only special symbols, nothing to write a sequence with", SourceLoc{where_});
}

Vocabulary Vocabulary::load(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    detail::failIn(path, "no such vocabulary file");
  if (std::filesystem::is_directory(path, ec))
    detail::failIn(path, "is a directory, not a vocabulary file");
  std::string bytes = detail::readFileBytes(path);
  std::vector<std::string> symbols;
  size_t at = 0;
  while (at < bytes.size()) {
    size_t nl = bytes.find('\n', at);
    size_t stop = nl == std::string::npos ? bytes.size() : nl;
    std::string line = bytes.substr(at, stop - at);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find('\0') != std::string::npos)
      detail::failIn(path, "line " + std::to_string(symbols.size() + 1) +
                               " holds a NUL byte (a vocabulary is text)");
    symbols.push_back(std::move(line));
    if (symbols.size() > kMaxSymbols)
      detail::failIn(path, "more than " + std::to_string(kMaxSymbols) + " lines");
    at = stop + 1;
  }
  if (symbols.empty())
    detail::failIn(path, "the vocabulary file is empty");
  return Vocabulary(std::move(symbols), path);
}

const std::string &Vocabulary::symbol(int32_t id) const {
  if (id < 0 || id >= size())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                    std::to_string(size()) + ")",
                SourceLoc{where_});
  return symbols_[static_cast<size_t>(id)];
}

bool Vocabulary::isSpecial(int32_t id) const {
  return id == begin_ || id == end_ || (pad_ && id == *pad_);
}

std::vector<int32_t> Vocabulary::encode(std::string_view text, const std::string &what) const {
  std::vector<int32_t> ids;
  size_t at = 0;
  while (at < text.size()) {
    int32_t best = -1;
    size_t bestLength = 0;
    for (size_t id = 0; id < symbols_.size(); ++id) {
      const std::string &s = symbols_[id];
      if (isSpecial(static_cast<int32_t>(id)) || s.size() <= bestLength)
        continue;
      if (text.substr(at, s.size()) == s) {
        best = static_cast<int32_t>(id);
        bestLength = s.size();
      }
    }
    if (best < 0) {
      // The whole UTF-8 character, for the message.
      size_t length = 1;
      while (at + length < text.size() &&
             (static_cast<unsigned char>(text[at + length]) & 0xC0) == 0x80)
        ++length;
      throw Error(what + " '" + std::string(text) + "': '" + std::string(text.substr(at, length)) +
                  "' at byte " + std::to_string(at) + " is not in the vocabulary " + where_);
    }
    ids.push_back(best);
    at += bestLength;
  }
  return ids;
}

std::string Vocabulary::decode(const std::vector<int32_t> &ids) const {
  std::string text;
  for (int32_t id : ids)
    if (!isSpecial(id))
      text += symbol(id);
    else
      (void)symbol(id); // in range
  return text;
}

} // namespace chainjit::runtime
