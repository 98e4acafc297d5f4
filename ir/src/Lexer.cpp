#include "Lexer.h"

#include <fmt/format.h>

namespace chainjit::ir::text {

bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isIdentChar(char c) {
  return isIdentStart(c) || (c >= '0' && c <= '9') || c == '.';
}
static bool isDigit(char c) { return c >= '0' && c <= '9'; }

static int hexValue(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Long spellings (a 10 kB string) are cut so that messages stay readable.
std::string describe(const Token &t) {
  if (t.kind == Tok::End)
    return "end of file";
  std::string_view s = t.spelling;
  if (s.size() > 40)
    return "'" + std::string(s.substr(0, 37)) + "...'";
  return "'" + std::string(s) + "'";
}

void Lexer::advance() {
  if (peek() == '\n') {
    ++line_;
    col_ = 1;
  } else {
    ++col_;
  }
  ++pos_;
}

void Lexer::fail(const std::string &msg, int line, int col) const {
  throw Error(msg, loc(line, col));
}

void Lexer::skipSpaceAndComments() {
  while (!atEnd()) {
    char c = peek();
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
        c == '\v') {
      advance();
    } else if (c == '#') {
      while (!atEnd() && peek() != '\n')
        advance();
    } else {
      return;
    }
  }
}

Token Lexer::next() {
  skipSpaceAndComments();
  Token t;
  t.line = line_;
  t.col = col_;
  if (atEnd())
    return t;
  size_t start = pos_;
  char c = peek();
  auto single = [&](Tok k) {
    t.kind = k;
    advance();
    finish(t, start);
    return t;
  };
  switch (c) {
  case '{': return single(Tok::LBrace);
  case '}': return single(Tok::RBrace);
  case '(': return single(Tok::LParen);
  case ')': return single(Tok::RParen);
  case '[': return single(Tok::LBracket);
  case ']': return single(Tok::RBracket);
  case ',': return single(Tok::Comma);
  case ':': return single(Tok::Colon);
  case '=': return single(Tok::Equal);
  case ';': return single(Tok::Semicolon);
  case '@': return single(Tok::At);
  case '%': return lexValueName(t);
  case '"': return lexString(t);
  default: break;
  }
  if (isDigit(c) || c == '-')
    return lexNumber(t);
  if (isIdentStart(c)) {
    while (isIdentChar(peek()))
      advance();
    t.kind = Tok::Ident;
    finish(t, start);
    t.text = std::string(t.spelling);
    return t;
  }
  if (c >= 0x20 && c < 0x7f)
    fail(fmt::format("unexpected character '{}'", c), t.line, t.col);
  fail(fmt::format("unexpected byte 0x{:02x}", static_cast<unsigned char>(c)),
       t.line, t.col);
}

// -?DIGITS(.DIGITS)?([eE][+-]?DIGITS)?, or -inf / -nan. The value is
// converted later, when the parser knows which type it must fit.
Token Lexer::lexNumber(Token t) {
  size_t start = pos_;
  auto badNumber = [&](const char *why) {
    while (isIdentChar(peek()) || peek() == '-' || peek() == '+')
      advance();
    fail(fmt::format("bad number '{}': {}", src_.substr(start, pos_ - start),
                     why),
         t.line, t.col);
  };
  if (peek() == '-') {
    advance();
    for (std::string_view word : {"inf", "nan"})
      if (src_.substr(pos_, 3) == word && !isIdentChar(peek(3))) {
        for (int i = 0; i < 3; ++i)
          advance();
        t.kind = Tok::Float;
        finish(t, start);
        t.text = std::string(t.spelling);
        return t;
      }
    if (!isDigit(peek()))
      fail("unexpected character '-'", t.line, t.col);
  }
  bool integer = true;
  while (isDigit(peek()))
    advance();
  if (peek() == '.') {
    advance();
    if (!isDigit(peek()))
      badNumber("expected a digit after '.'");
    while (isDigit(peek()))
      advance();
    integer = false;
  }
  if (peek() == 'e' || peek() == 'E') {
    advance();
    if (peek() == '+' || peek() == '-')
      advance();
    if (!isDigit(peek()))
      badNumber("expected the digits of the exponent");
    while (isDigit(peek()))
      advance();
    integer = false;
  }
  if (isIdentChar(peek()))
    badNumber("unexpected characters after the number");
  t.kind = integer ? Tok::Int : Tok::Float;
  finish(t, start);
  t.text = std::string(t.spelling);
  return t;
}

// %ident or %digits; "%1a" would read as two tokens otherwise, so it is an
// error here.
Token Lexer::lexValueName(Token t) {
  size_t start = pos_;
  advance(); // '%'
  if (isDigit(peek())) {
    while (isDigit(peek()))
      advance();
    if (isIdentChar(peek())) {
      while (isIdentChar(peek()))
        advance();
      fail(fmt::format("bad value name '{}': a name is an identifier or all "
                       "digits",
                       src_.substr(start, pos_ - start)),
           t.line, t.col);
    }
  } else if (isIdentStart(peek())) {
    while (isIdentChar(peek()))
      advance();
  } else {
    fail("expected a value name after '%'", t.line, t.col);
  }
  t.kind = Tok::Value;
  finish(t, start);
  t.text = std::string(t.spelling.substr(1));
  return t;
}

// "..." on one line, with the escapes \" \\ \n \t \xHH.
Token Lexer::lexString(Token t) {
  size_t start = pos_;
  advance(); // '"'
  std::string text;
  for (;;) {
    if (atEnd() || peek() == '\n')
      fail("unterminated string", t.line, t.col);
    char c = peek();
    if (c == '"') {
      advance();
      break;
    }
    if (c != '\\') {
      text += c;
      advance();
      continue;
    }
    int line = line_, col = col_;
    advance();
    char e = peek();
    if (e == '"' || e == '\\') {
      text += e;
    } else if (e == 'n') {
      text += '\n';
    } else if (e == 't') {
      text += '\t';
    } else if (e == 'x' && hexValue(peek(1)) >= 0 && hexValue(peek(2)) >= 0) {
      text += static_cast<char>(hexValue(peek(1)) * 16 + hexValue(peek(2)));
      advance();
      advance();
    } else if (e == 'x') {
      fail("expected two hex digits after '\\x'", line, col);
    } else if (atEnd() || e == '\n') {
      fail("unterminated string", t.line, t.col);
    } else {
      fail(e >= 0x20 && e < 0x7f
               ? fmt::format("unknown escape '\\{}' in a string "
                             "(expected \\\", \\\\, \\n, \\t or \\xHH)",
                             e)
               : std::string("unknown escape in a string"),
           line, col);
    }
    advance();
  }
  t.kind = Tok::String;
  finish(t, start);
  t.text = std::move(text);
  return t;
}

Token TokenStream::take() {
  Token t = std::move(cur_);
  cur_ = lexer_.next();
  return t;
}

bool TokenStream::accept(Tok k) {
  if (!is(k))
    return false;
  take();
  return true;
}

Token TokenStream::expect(Tok k, std::string_view what) {
  if (!is(k))
    failExpected(what);
  return take();
}

void TokenStream::expectIdent(std::string_view word) {
  if (!isIdent(word))
    failExpected("'" + std::string(word) + "'");
  take();
}

void TokenStream::failExpected(std::string_view what) const {
  failAt(cur_, "expected " + std::string(what) + ", got " + describe(cur_));
}

void TokenStream::failAt(const Token &t, const std::string &msg) const {
  throw Error(msg, loc(t));
}

} // namespace chainjit::ir::text
