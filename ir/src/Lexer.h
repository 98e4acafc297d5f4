// Internal to ir/: the tokens of the .cj text form, and a token stream with
// the expect/accept helpers the parser is written with.
//
// Tokens are produced on demand, one at a time, so that the first error in
// file order is the one reported, whether it is lexical or syntactic.
#pragma once

#include "chainjit/ir/Error.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace chainjit::ir::text {

enum class Tok : uint8_t {
  End,
  Ident,    // graph, input, f32, true, nan, relu, ...
  Value,    // %name or %123; text is the part after '%'
  Int,      // -12
  Float,    // 0.5, 1e-05, -inf, -nan (bare inf/nan are Ident)
  String,   // text is the decoded contents
  LBrace, RBrace, LParen, RParen, LBracket, RBracket, Comma, Colon, Equal,
  Semicolon, At, // scan's sugar: scan @body(carries ; sequences ; invariants)
};

struct Token {
  Tok kind = Tok::End;
  std::string text;          // decoded: see Tok
  std::string_view spelling; // the source characters, for messages
  int line = 1;
  int col = 1;
};

// Splits the source into tokens. Throws chainjit::Error at the first
// character that cannot start or continue a token.
class Lexer {
public:
  Lexer(std::string_view src, std::string file)
      : src_(src), file_(std::move(file)) {}

  Token next();
  SourceLoc loc(int line, int col) const { return {file_, line, col, {}}; }

private:
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }
  bool atEnd() const { return pos_ >= src_.size(); }
  void advance();
  void skipSpaceAndComments();
  [[noreturn]] void fail(const std::string &msg, int line, int col) const;

  Token lexNumber(Token t);
  Token lexValueName(Token t);
  Token lexString(Token t);
  void finish(Token &t, size_t start) const {
    t.spelling = src_.substr(start, pos_ - start);
  }

  std::string_view src_;
  std::string file_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
};

// The parser's view: the current token and helpers that consume it or throw
// "expected X, got 'Y'" at its position.
class TokenStream {
public:
  TokenStream(std::string_view src, std::string file)
      : lexer_(src, std::move(file)) {
    cur_ = lexer_.next();
  }

  const Token &cur() const { return cur_; }
  bool is(Tok k) const { return cur_.kind == k; }
  bool isIdent(std::string_view word) const {
    return cur_.kind == Tok::Ident && cur_.text == word;
  }
  SourceLoc loc() const { return loc(cur_); }
  SourceLoc loc(const Token &t) const { return lexer_.loc(t.line, t.col); }

  // Returns the current token and moves to the next one.
  Token take();
  // Consumes the current token if it is `k`.
  bool accept(Tok k);
  // Consumes a token of kind `k` or throws "expected <what>, got ...".
  Token expect(Tok k, std::string_view what);
  void expectIdent(std::string_view word);

  [[noreturn]] void failExpected(std::string_view what) const;
  [[noreturn]] void failAt(const Token &t, const std::string &msg) const;

private:
  Lexer lexer_;
  Token cur_;
};

// "'relu'", "end of file": how a token is named in messages.
std::string describe(const Token &t);

// [A-Za-z_][A-Za-z0-9_.]*, the names of values and graphs.
bool isIdentStart(char c);
bool isIdentChar(char c);

} // namespace chainjit::ir::text
