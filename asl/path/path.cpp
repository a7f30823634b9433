#include "asl/path/path.hpp"

#include <cassert>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "asl/core/error.hpp"

namespace stepd::asl {

namespace path_detail {

struct FilterExpr;

enum class StepKind : std::uint8_t {
  Name,      // .a ['a']
  Names,     // ['a','b']
  Index,     // [0] [-1]
  Indexes,   // [0,2]
  Wildcard,  // * [*]
  Slice,     // [1:3] [::2]
  Filter,    // [?(...)]
  Function,  // .length()
};

struct Step {
  StepKind kind = StepKind::Name;
  bool scan = false;                  // preceded by ".." (deep scan)
  char quote = '\'';                  // delimiter used in the source, kept for the normalized form
  std::size_t offset = 0;             // where the step starts in the text (for messages)
  std::string name;                   // Name, Function
  std::vector<std::string> names;     // Names
  std::int64_t index = 0;             // Index
  std::vector<std::int64_t> indexes;  // Indexes
  std::optional<std::int64_t> start, end;  // Slice
  std::int64_t stride = 1;                 // Slice
  std::shared_ptr<const FilterExpr> filter;
};

using Steps = std::vector<Step>;

enum class CmpOp : std::uint8_t { Eq, Ne, Lt, Le, Gt, Ge };

// An operand of a comparison: a literal, or "@" followed by relative steps.
struct Operand {
  bool is_literal = false;
  Json literal;
  Steps rel;
  bool rel_definite = true;
};

struct FilterExpr {
  enum class Op : std::uint8_t { Or, And, Not, Exists, Compare } op = Op::Exists;
  std::unique_ptr<FilterExpr> lhs, rhs;  // Or, And; Not uses lhs
  Operand a, b;                          // Exists uses a; Compare uses a, b
  CmpOp cmp = CmpOp::Eq;
};

struct Program {
  std::string text;
  Path::Root root = Path::Root::Input;
  std::string variable;
  Steps steps;
  bool definite = true;     // names and indexes only
  bool merge_leaf = false;  // definite prefix, then a union of names as the last step
  bool function = false;    // ends in a function call: never matches
  bool reference = false;   // compiled by parse_reference
};

namespace {

// ---------------------------------------------------------------------------------------------
// Parsing

class ParseError : public std::exception {
 public:
  explicit ParseError(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  std::string message_;
};

std::string describe_char(char c) {
  std::string out = "'";
  out += c;
  out += "'";
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  [[noreturn]] void fail(const std::string& what, std::size_t at) const {
    throw ParseError(what + " at offset " + std::to_string(at));
  }

  bool at_end() const { return pos_ >= s_.size(); }
  char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0';
  }
  void skip_spaces() {
    while (!at_end() && is_space(s_[pos_])) ++pos_;
  }
  [[noreturn]] void fail_unexpected(const std::string& expected) const {
    if (at_end()) fail("unexpected end of path, expected " + expected, pos_);
    fail("unexpected " + describe_char(s_[pos_]) + ", expected " + expected, pos_);
  }
  void expect(char c, const std::string& expected) {
    skip_spaces();
    if (peek() != c || at_end()) fail_unexpected(expected);
    ++pos_;
  }

  void parse_root(Program& p) {
    if (s_.empty()) fail("empty path: a path starts with '$'", 0);
    if (s_[0] != '$') fail("a path starts with '$', found " + describe_char(s_[0]), 0);
    pos_ = 1;
    if (peek() == '$') {
      p.root = Path::Root::Context;
      pos_ = 2;
      return;
    }
    if (at_end() || peek() == '.' || peek() == '[') {
      p.root = Path::Root::Input;
      return;
    }
    std::size_t start = pos_;
    while (!at_end() && peek() != '.' && peek() != '[') ++pos_;
    std::string_view name = s_.substr(start, pos_ - start);
    for (std::size_t i = 0; i < name.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(name[i]);
      bool ok = c >= 0x80 || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (i > 0 && is_digit(static_cast<char>(c)));
      if (!ok) {
        fail("invalid character " + describe_char(name[i]) + " in variable name '" +
                 std::string(name) +
                 "': a variable name has letters, digits and '_' and does not start with a digit",
             start + i);
      }
    }
    p.root = Path::Root::Variable;
    p.variable = std::string(name);
  }

  // Parses steps until the end of the text (top level) or until a character that cannot
  // continue a relative path inside a filter.
  Steps parse_steps(bool in_filter) {
    Steps steps;
    while (!at_end()) {
      char c = peek();
      if (in_filter && c != '.' && c != '[') break;
      if (!steps.empty() && steps.back().kind == StepKind::Function) {
        fail("a function call must be the last step of a path; unexpected " + describe_char(c),
             pos_);
      }
      std::size_t start = pos_;
      if (c == '.') {
        bool scan = peek(1) == '.';
        pos_ += scan ? 2 : 1;
        if (at_end()) {
          fail(std::string("path ends with '") + (scan ? ".." : ".") + "'", start);
        }
        char n = peek();
        if (n == '.') fail("unexpected '.'", pos_);
        if (n == '[') {
          Step st = parse_bracket();
          st.scan = scan;
          st.offset = start;
          steps.push_back(std::move(st));
        } else if (n == '*') {
          ++pos_;
          Step st;
          st.kind = StepKind::Wildcard;
          st.scan = scan;
          st.offset = start;
          steps.push_back(std::move(st));
        } else {
          Step st = parse_dot_name(in_filter);
          st.scan = scan;
          st.offset = start;
          if (scan && st.kind == StepKind::Function) {
            fail("a function cannot follow '..'", start);
          }
          steps.push_back(std::move(st));
        }
      } else if (c == '[') {
        Step st = parse_bracket();
        st.offset = start;
        steps.push_back(std::move(st));
      } else {
        fail("unexpected " + describe_char(c) + ", expected '.' or '['", pos_);
      }
    }
    return steps;
  }

  static bool ends_name(char c, bool in_filter) {
    switch (c) {
      case '.':
      case '[':
      case ']':
      case '(':
      case ')':
        return true;
      case '=':
      case '!':
      case '<':
      case '>':
      case '&':
      case '|':
      case ',':
        return in_filter;
      default:
        return is_space(c);
    }
  }

  Step parse_dot_name(bool in_filter) {
    std::size_t start = pos_;
    while (!at_end() && !ends_name(peek(), in_filter)) ++pos_;
    if (pos_ == start) {
      if (is_space(peek())) {
        fail("unexpected whitespace; a name with spaces needs bracket notation ['a b']", pos_);
      }
      fail_unexpected("a name after '.'");
    }
    Step st;
    st.name = std::string(s_.substr(start, pos_ - start));
    if (!in_filter && !at_end() && is_space(peek())) {
      fail("unexpected whitespace after name '" + st.name +
               "'; a name with spaces needs bracket notation ['a b']",
           pos_);
    }
    if (peek() == '(') {
      std::size_t open = pos_;
      ++pos_;
      skip_spaces();
      if (peek() != ')') fail("function arguments are not supported in '" + st.name + "('", open);
      ++pos_;
      st.kind = StepKind::Function;
      return st;
    }
    if (peek() == ']' || peek() == ')') {
      if (!in_filter || peek() == ']') fail("unexpected " + describe_char(peek()), pos_);
    }
    st.kind = StepKind::Name;
    return st;
  }

  std::int64_t parse_int() {
    std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (!is_digit(peek())) fail_unexpected("a digit");
    while (is_digit(peek())) ++pos_;
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s_.data() + start, s_.data() + pos_, v);
    if (ec != std::errc() || ptr != s_.data() + pos_) {
      fail("index '" + std::string(s_.substr(start, pos_ - start)) + "' is out of range", start);
    }
    return v;
  }

  std::string parse_quoted_name() {
    char q = peek();
    std::size_t open = pos_;
    ++pos_;
    std::size_t start = pos_;
    // AWS: a backslash keeps the next character from closing the name; both stay as written.
    while (!at_end() && peek() != q) {
      if (peek() == '\\') ++pos_;
      ++pos_;
    }
    if (at_end()) fail(std::string("missing closing ") + q + " for the name opened", open);
    std::string name(s_.substr(start, pos_ - start));
    ++pos_;
    return name;
  }

  Step parse_bracket() {
    std::size_t open = pos_;
    ++pos_;  // '['
    skip_spaces();
    Step st;
    char c = peek();
    if (at_end()) fail("missing ']' for the '[' opened", open);
    if (c == '\'' || c == '"') {
      st.quote = c;
      std::vector<std::string> names;
      while (true) {
        skip_spaces();
        if (peek() != '\'' && peek() != '"') fail_unexpected("a quoted name");
        names.push_back(parse_quoted_name());
        skip_spaces();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        if (peek() == ']') {
          ++pos_;
          break;
        }
        fail_unexpected("',' or ']' after a quoted name");
      }
      if (names.size() == 1) {
        st.kind = StepKind::Name;
        st.name = std::move(names[0]);
      } else {
        st.kind = StepKind::Names;
        st.names = std::move(names);
      }
      return st;
    }
    if (c == '*') {
      ++pos_;
      expect(']', "']' after '[*'");
      st.kind = StepKind::Wildcard;
      return st;
    }
    if (c == '?') {
      ++pos_;
      expect('(', "'(' after '[?'");
      st.filter = parse_or();
      expect(')', "')' or a logical operator in the filter");
      expect(']', "']' after the filter");
      st.kind = StepKind::Filter;
      return st;
    }
    if (is_digit(c) || c == '-' || c == ':') {
      std::optional<std::int64_t> first;
      if (c != ':') first = parse_int();
      skip_spaces();
      if (peek() == ':') {
        st.kind = StepKind::Slice;
        st.start = first;
        ++pos_;
        skip_spaces();
        if (is_digit(peek()) || peek() == '-') st.end = parse_int();
        skip_spaces();
        if (peek() == ':') {
          ++pos_;
          skip_spaces();
          if (is_digit(peek()) || peek() == '-') {
            std::size_t at = pos_;
            st.stride = parse_int();
            if (st.stride <= 0) fail("a slice step must be greater than 0", at);
          }
        }
        expect(']', "']' to close the slice");
        return st;
      }
      std::vector<std::int64_t> idx{*first};
      while (peek() == ',') {
        ++pos_;
        skip_spaces();
        idx.push_back(parse_int());
        skip_spaces();
      }
      expect(']', "',' or ']' after an index");
      if (idx.size() == 1) {
        st.kind = StepKind::Index;
        st.index = idx[0];
      } else {
        st.kind = StepKind::Indexes;
        st.indexes = std::move(idx);
      }
      return st;
    }
    if (c == ']') fail("empty brackets '[]'", open);
    fail("unexpected " + describe_char(c) +
             " after '[', expected a quoted name, an index, a slice, '*' or a filter '?(...)'",
         pos_);
  }

  // ---- filter expressions

  std::unique_ptr<FilterExpr> parse_or() {
    auto lhs = parse_and();
    while (true) {
      skip_spaces();
      if (peek() == '|' && peek(1) == '|') {
        pos_ += 2;
        auto e = std::make_unique<FilterExpr>();
        e->op = FilterExpr::Op::Or;
        e->lhs = std::move(lhs);
        e->rhs = parse_and();
        lhs = std::move(e);
      } else {
        return lhs;
      }
    }
  }

  std::unique_ptr<FilterExpr> parse_and() {
    auto lhs = parse_unary();
    while (true) {
      skip_spaces();
      if (peek() == '&' && peek(1) == '&') {
        pos_ += 2;
        auto e = std::make_unique<FilterExpr>();
        e->op = FilterExpr::Op::And;
        e->lhs = std::move(lhs);
        e->rhs = parse_unary();
        lhs = std::move(e);
      } else {
        return lhs;
      }
    }
  }

  std::unique_ptr<FilterExpr> parse_unary() {
    skip_spaces();
    if (peek() == '!' && peek(1) != '=') {
      ++pos_;
      auto e = std::make_unique<FilterExpr>();
      e->op = FilterExpr::Op::Not;
      e->lhs = parse_unary();
      return e;
    }
    if (peek() == '(') {
      ++pos_;
      auto inner = parse_or();
      expect(')', "')' or a logical operator");
      return inner;
    }
    std::size_t start = pos_;
    Operand a = parse_operand();
    skip_spaces();
    std::optional<CmpOp> op = parse_cmp();
    if (!op) {
      if (a.is_literal) {
        fail("a literal alone is not a condition; compare it with == != < <= > >=", start);
      }
      auto e = std::make_unique<FilterExpr>();
      e->op = FilterExpr::Op::Exists;
      e->a = std::move(a);
      return e;
    }
    skip_spaces();
    auto e = std::make_unique<FilterExpr>();
    e->op = FilterExpr::Op::Compare;
    e->cmp = *op;
    e->a = std::move(a);
    e->b = parse_operand();
    return e;
  }

  std::optional<CmpOp> parse_cmp() {
    char c = peek(), n = peek(1);
    if (c == '=' && n == '=') return pos_ += 2, CmpOp::Eq;
    if (c == '!' && n == '=') return pos_ += 2, CmpOp::Ne;
    if (c == '<' && n == '=') return pos_ += 2, CmpOp::Le;
    if (c == '>' && n == '=') return pos_ += 2, CmpOp::Ge;
    if (c == '<') return pos_ += 1, CmpOp::Lt;
    if (c == '>') return pos_ += 1, CmpOp::Gt;
    if (c == '=' && n == '~') fail("regular expressions (=~) are not supported in filters", pos_);
    if (c == '=') fail("unexpected '=', use '==' to compare", pos_);
    static constexpr std::string_view kLexical[] = {"nin",    "in",   "subsetof", "anyof",
                                                    "noneof", "size", "empty",    "contains"};
    for (std::string_view word : kLexical) {
      if (s_.substr(pos_, word.size()) == word) {
        char after = pos_ + word.size() < s_.size() ? s_[pos_ + word.size()] : ' ';
        if (is_space(after) || after == '\'' || after == '"' || after == '[' || after == '@') {
          fail("the operator '" + std::string(word) + "' is not supported in filters", pos_);
        }
      }
    }
    return std::nullopt;
  }

  Operand parse_operand() {
    skip_spaces();
    Operand o;
    char c = peek();
    std::size_t start = pos_;
    if (c == '@') {
      ++pos_;
      o.rel = parse_steps(/*in_filter=*/true);
      o.rel_definite = true;
      for (const Step& st : o.rel) {
        if (st.scan || (st.kind != StepKind::Name && st.kind != StepKind::Index)) {
          o.rel_definite = false;
        }
        if (st.kind == StepKind::Function)
          fail("functions are not supported in filters", st.offset);
      }
      return o;
    }
    if (c == '$') {
      fail("a filter can only refer to the current item '@', not to '$'", pos_);
    }
    o.is_literal = true;
    if (c == '\'' || c == '"') {
      o.literal = parse_string_literal();
      return o;
    }
    if (is_digit(c) || c == '-') {
      o.literal = parse_number_literal();
      return o;
    }
    for (auto [word, value] : {std::pair<std::string_view, Json>{"true", Json(true)},
                               {"false", Json(false)},
                               {"null", Json(nullptr)}}) {
      if (s_.substr(pos_, word.size()) == word) {
        char after = pos_ + word.size() < s_.size() ? s_[pos_ + word.size()] : ')';
        if (!std::isalnum(static_cast<unsigned char>(after)) && after != '_') {
          pos_ += word.size();
          o.literal = value;
          return o;
        }
      }
    }
    if (at_end()) fail("unexpected end of path, expected '@' or a literal in the filter", start);
    fail("unexpected " + describe_char(c) +
             " in the filter, expected '@', a number, a quoted string, true, false or null",
         start);
  }

  Json parse_number_literal() {
    std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (!is_digit(peek())) fail_unexpected("a digit");
    while (is_digit(peek())) ++pos_;
    bool is_float = false;
    if (peek() == '.' && is_digit(peek(1))) {
      is_float = true;
      ++pos_;
      while (is_digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      std::size_t save = pos_;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (is_digit(peek())) {
        is_float = true;
        while (is_digit(peek())) ++pos_;
      } else {
        pos_ = save;
      }
    }
    std::string_view digits = s_.substr(start, pos_ - start);
    if (!is_float) {
      std::int64_t v = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc() && ptr == digits.data() + digits.size()) return Json(v);
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) {
      fail("number '" + std::string(digits) + "' is out of range", start);
    }
    return Json(d);
  }

  Json parse_string_literal() {
    char q = peek();
    std::size_t open = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (at_end()) fail(std::string("missing closing ") + q + " for the string opened", open);
      char c = s_[pos_++];
      if (c == q) break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) fail(std::string("missing closing ") + q + " for the string opened", open);
      char e = s_[pos_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (pos_ + 4 > s_.size()) fail("incomplete \\u escape", pos_ - 2);
          auto [ptr, ec] = std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, cp, 16);
          if (ec != std::errc() || ptr != s_.data() + pos_ + 4) {
            fail("invalid \\u escape", pos_ - 2);
          }
          pos_ += 4;
          append_utf8(out, cp);
          break;
        }
        default:
          out += e;
          break;  // \\ \' \" \/ and anything else: the character itself
      }
    }
    return Json(std::move(out));
  }

  std::size_t pos() const { return pos_; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool is_simple(const Step& st) {
  return !st.scan && (st.kind == StepKind::Name || st.kind == StepKind::Index);
}

// ---------------------------------------------------------------------------------------------
// Evaluation

const Json* member(const Json& node, std::string_view name) {
  if (!node.is_object()) return nullptr;
  const auto& obj = node.get_ref<const Json::object_t&>();
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &it->second;
}

const Json* element(const Json& node, std::int64_t index) {
  if (!node.is_array()) return nullptr;
  const auto n = static_cast<std::int64_t>(node.size());
  if (index < 0) index += n;
  if (index < 0 || index >= n) return nullptr;
  return &node[static_cast<std::size_t>(index)];
}

const Json* walk_definite(const Steps& steps, std::size_t count, const Json* node) {
  for (std::size_t i = 0; i < count && node != nullptr; ++i) {
    const Step& st = steps[i];
    node = st.kind == StepKind::Name ? member(*node, st.name) : element(*node, st.index);
  }
  return node;
}

bool filter_matches(const FilterExpr& e, const Json& item);

class Collector {
 public:
  explicit Collector(Json& out) : out_(out) {}

  void run(const Steps& steps, std::size_t i, const Json& node) {
    if (i == steps.size()) {
      out_.push_back(node);
      return;
    }
    const Step& st = steps[i];
    if (st.scan) {
      scan(steps, i, node);
    } else {
      apply(steps, i, node);
    }
  }

 private:
  // Applies step i (without its scan flag) to node and continues with the rest.
  void apply(const Steps& steps, std::size_t i, const Json& node) {
    const Step& st = steps[i];
    const bool leaf = i + 1 == steps.size();
    switch (st.kind) {
      case StepKind::Name:
        if (const Json* m = member(node, st.name)) run(steps, i + 1, *m);
        return;
      case StepKind::Names:
        if (!node.is_object()) return;
        if (leaf) {
          // Jayway: a union of names as the last step merges the members into one object.
          Json merged = Json::object();
          for (const std::string& n : st.names) {
            if (const Json* m = member(node, n)) merged[n] = *m;
          }
          out_.push_back(std::move(merged));
          return;
        }
        for (const std::string& n : st.names) {
          if (const Json* m = member(node, n)) run(steps, i + 1, *m);
        }
        return;
      case StepKind::Index:
        if (const Json* m = element(node, st.index)) run(steps, i + 1, *m);
        return;
      case StepKind::Indexes:
        for (std::int64_t idx : st.indexes) {
          if (const Json* m = element(node, idx)) run(steps, i + 1, *m);
        }
        return;
      case StepKind::Wildcard:
        if (node.is_object() || node.is_array()) {
          for (const Json& child : node) run(steps, i + 1, child);
        }
        return;
      case StepKind::Slice: {
        if (!node.is_array()) return;
        const auto n = static_cast<std::int64_t>(node.size());
        auto clamp = [n](std::int64_t v) {
          if (v < 0) v += n;
          return v < 0 ? 0 : (v > n ? n : v);
        };
        std::int64_t from = st.start ? clamp(*st.start) : 0;
        std::int64_t to = st.end ? clamp(*st.end) : n;
        for (std::int64_t k = from; k < to; k += st.stride) {
          run(steps, i + 1, node[static_cast<std::size_t>(k)]);
        }
        return;
      }
      case StepKind::Filter:
        // Jayway: on an array the filter tests each element; on an object, the object itself.
        // AWS: "@" matches objects only, never scalars.
        if (node.is_array()) {
          for (const Json& child : node) {
            if (child.is_object() && filter_matches(*st.filter, child)) run(steps, i + 1, child);
          }
        } else if (node.is_object() && filter_matches(*st.filter, node)) {
          run(steps, i + 1, node);
        }
        return;
      case StepKind::Function:
        return;  // AWS: a function call never matches
    }
  }

  // Deep scan: applies step i at node and at every descendant, in document order (the node
  // first, then each child's subtree), as Jayway walks.
  void scan(const Steps& steps, std::size_t i, const Json& node) {
    const Step& st = steps[i];
    bool applies = false;
    switch (st.kind) {
      case StepKind::Name:
        applies = node.is_object();
        break;
      case StepKind::Names:
        applies = node.is_object();
        if (applies) {
          for (const std::string& n : st.names) applies = applies && member(node, n) != nullptr;
        }
        break;
      case StepKind::Index:
      case StepKind::Indexes:
      case StepKind::Slice:
        applies = node.is_array();
        break;
      case StepKind::Wildcard:
        applies = node.is_object() || node.is_array();
        break;
      case StepKind::Filter:
        // Jayway: under a deep scan the filter tests each object itself (array elements are
        // reached as the walk descends), so "$..[?(@.a)]" lists every matching object once.
        applies = node.is_object();
        break;
      case StepKind::Function:
        break;
    }
    if (applies) apply(steps, i, node);
    if (node.is_object() || node.is_array()) {
      for (const Json& child : node) scan(steps, i, child);
    }
  }

  Json& out_;
};

// The value of an operand for one item: a pointer into the item or the literal, or nullptr
// when the path is absent (Jayway's UNDEFINED). Indefinite relative paths give an array of
// their matches, held in scratch.
const Json* operand_value(const Operand& o, const Json& item, Json& scratch) {
  if (o.is_literal) return &o.literal;
  if (o.rel_definite) return walk_definite(o.rel, o.rel.size(), &item);
  scratch = Json::array();
  Collector(scratch).run(o.rel, 0, item);
  return &scratch;
}

bool as_number(const Json& v, double& out) {
  if (v.is_number()) {
    out = v.get<double>();
    return true;
  }
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.empty()) return false;
    const char* b = s.data();
    const char* e = b + s.size();
    auto [ptr, ec] = std::from_chars(b, e, out);
    return ec == std::errc() && ptr == e;
  }
  return false;
}

bool values_equal(const Json& a, const Json& b) {
  if (a.is_number() != b.is_number() && (a.is_string() || b.is_string()) &&
      (a.is_number() || b.is_number())) {
    // Jayway compares a number with a numeric string by value.
    double x = 0, y = 0;
    return as_number(a, x) && as_number(b, y) && x == y;
  }
  return a == b;
}

bool compare(CmpOp op, const Json* a, const Json* b) {
  if (a == nullptr || b == nullptr) return op == CmpOp::Ne;
  switch (op) {
    case CmpOp::Eq:
      return values_equal(*a, *b);
    case CmpOp::Ne:
      return !values_equal(*a, *b);
    default:
      break;
  }
  int c = 0;
  if (a->is_number() && b->is_number()) {
    if (a->is_number_float() || b->is_number_float()) {
      double x = a->get<double>(), y = b->get<double>();
      c = x < y ? -1 : (x > y ? 1 : 0);
    } else if (a->is_number_unsigned() || b->is_number_unsigned()) {
      // Mixed signedness: compare through double (values beyond 2^53 are rare here).
      double x = a->get<double>(), y = b->get<double>();
      c = x < y ? -1 : (x > y ? 1 : 0);
    } else {
      std::int64_t x = a->get<std::int64_t>(), y = b->get<std::int64_t>();
      c = x < y ? -1 : (x > y ? 1 : 0);
    }
  } else if (a->is_string() && b->is_string()) {
    c = a->get_ref<const std::string&>().compare(b->get_ref<const std::string&>());
    c = c < 0 ? -1 : (c > 0 ? 1 : 0);
  } else {
    return false;
  }
  switch (op) {
    case CmpOp::Lt:
      return c < 0;
    case CmpOp::Le:
      return c <= 0;
    case CmpOp::Gt:
      return c > 0;
    case CmpOp::Ge:
      return c >= 0;
    default:
      return false;
  }
}

bool filter_matches(const FilterExpr& e, const Json& item) {
  switch (e.op) {
    case FilterExpr::Op::Or:
      return filter_matches(*e.lhs, item) || filter_matches(*e.rhs, item);
    case FilterExpr::Op::And:
      return filter_matches(*e.lhs, item) && filter_matches(*e.rhs, item);
    case FilterExpr::Op::Not:
      return !filter_matches(*e.lhs, item);
    case FilterExpr::Op::Exists: {
      Json scratch;
      const Json* v = operand_value(e.a, item, scratch);
      if (v == nullptr) return false;
      return e.a.rel_definite || !v->empty();
    }
    case FilterExpr::Op::Compare: {
      Json sa, sb;
      const Json* a = operand_value(e.a, item, sa);
      const Json* b = operand_value(e.b, item, sb);
      return compare(e.cmp, a, b);
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Normalized form

void append_step(std::string& out, const Step& st) {
  if (st.scan) out += "..";
  switch (st.kind) {
    case StepKind::Name:
      out += '[';
      out += st.quote;
      out += st.name;
      out += st.quote;
      out += ']';
      break;
    case StepKind::Names:
      out += '[';
      for (std::size_t i = 0; i < st.names.size(); ++i) {
        if (i) out += ',';
        out += st.quote;
        out += st.names[i];
        out += st.quote;
      }
      out += ']';
      break;
    case StepKind::Index:
      out += '[' + std::to_string(st.index) + ']';
      break;
    case StepKind::Indexes:
      out += '[';
      for (std::size_t i = 0; i < st.indexes.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(st.indexes[i]);
      }
      out += ']';
      break;
    case StepKind::Wildcard:
      out += "[*]";
      break;
    case StepKind::Slice:
      out += '[';
      if (st.start) out += std::to_string(*st.start);
      out += ':';
      if (st.end) out += std::to_string(*st.end);
      if (st.stride != 1) out += ':' + std::to_string(st.stride);
      out += ']';
      break;
    case StepKind::Filter:
      out += "[?]";
      break;
    case StepKind::Function:
      out += '.' + st.name + "()";
      break;
  }
}

std::string normalized_prefix(const Steps& steps, std::size_t count) {
  std::string out = "$";
  for (std::size_t i = 0; i < count; ++i) append_step(out, steps[i]);
  return out;
}

std::string step_description(const Step& st) {
  if (st.scan) return "deep scan '..'";
  switch (st.kind) {
    case StepKind::Names:
      return "a union of names";
    case StepKind::Index:
      return "a negative index";
    case StepKind::Indexes:
      return "a union of indexes";
    case StepKind::Wildcard:
      return "a wildcard '*'";
    case StepKind::Slice:
      return "a slice";
    case StepKind::Filter:
      return "a filter";
    case StepKind::Function:
      return "a function call";
    default:
      return "this step";
  }
}

}  // namespace
}  // namespace path_detail

using path_detail::Program;
using path_detail::Step;
using path_detail::StepKind;

Path::Path() : program_(std::make_unique<Program>()) {}
Path::Path(Path&&) noexcept = default;
Path& Path::operator=(Path&&) noexcept = default;
Path::Path(const Path& other) : program_(std::make_unique<Program>(*other.program_)) {}
Path& Path::operator=(const Path& other) {
  if (this != &other) program_ = std::make_unique<Program>(*other.program_);
  return *this;
}
Path::~Path() = default;

std::optional<Path> Path::parse(std::string_view text, std::string* error) {
  Path path;
  Program& p = *path.program_;
  p.text = std::string(text);
  try {
    path_detail::Parser parser(text);
    parser.parse_root(p);
    p.steps = parser.parse_steps(/*in_filter=*/false);
  } catch (const path_detail::ParseError& e) {
    if (error != nullptr) *error = e.message_;
    return std::nullopt;
  }
  for (const Step& st : p.steps) {
    if (!path_detail::is_simple(st)) p.definite = false;
  }
  if (!p.steps.empty()) {
    const Step& last = p.steps.back();
    p.function = last.kind == StepKind::Function;
    if (last.kind == StepKind::Names && !last.scan) {
      p.merge_leaf = true;
      for (std::size_t i = 0; i + 1 < p.steps.size(); ++i) {
        if (!path_detail::is_simple(p.steps[i])) p.merge_leaf = false;
      }
    }
  }
  return path;
}

std::optional<Path> Path::parse_reference(std::string_view text, std::string* error) {
  std::optional<Path> path = parse(text, error);
  if (!path) return std::nullopt;
  Program& p = *path->program_;
  auto reject = [&](std::string message) -> std::optional<Path> {
    if (error != nullptr) *error = std::move(message);
    return std::nullopt;
  };
  if (p.root == Root::Context) {
    return reject("a reference path cannot refer to the context object '$$' at offset 0");
  }
  if (p.root == Root::Variable) {
    return reject("a reference path cannot refer to the variable '$" + p.variable +
                  "' at offset 0");
  }
  for (const Step& st : p.steps) {
    bool ok =
        !st.scan && (st.kind == StepKind::Name || (st.kind == StepKind::Index && st.index >= 0));
    if (!ok) {
      return reject("a reference path has only names and non-negative indexes; found " +
                    path_detail::step_description(st) + " at offset " + std::to_string(st.offset));
    }
  }
  p.reference = true;
  return path;
}

const std::string& Path::text() const { return program_->text; }
Path::Root Path::root() const { return program_->root; }
const std::string& Path::variable() const { return program_->variable; }
bool Path::is_root_only() const { return program_->steps.empty(); }
bool Path::is_definite() const { return program_->definite; }
bool Path::is_reference() const { return program_->reference; }

const Json& Path::resolve_root(const EvalContext& ctx) const {
  switch (program_->root) {
    case Root::Input:
      if (ctx.input == nullptr) throw std::logic_error("Path '" + text() + "': no input given");
      return *ctx.input;
    case Root::Context:
      if (ctx.context == nullptr) {
        throw std::logic_error("Path '" + text() + "': the context object '$$' was not built");
      }
      return *ctx.context;
    case Root::Variable: {
      const Json* v = ctx.variables != nullptr ? ctx.variables->find(program_->variable) : nullptr;
      if (v == nullptr) {
        throw StatesException(errors::kRuntime,
                              "The variable '$" + program_->variable + "' is not defined");
      }
      return *v;
    }
  }
  throw std::logic_error("unknown path root");
}

const Json* Path::find_definite(const Json& root) const {
  assert(program_->definite);
  return path_detail::walk_definite(program_->steps, program_->steps.size(), &root);
}

const Json* Path::find_definite(const EvalContext& ctx) const {
  return find_definite(resolve_root(ctx));
}

std::optional<Json> Path::evaluate(const EvalContext& ctx) const {
  return evaluate_on(resolve_root(ctx));
}

std::optional<Json> Path::evaluate_on(const Json& root) const {
  const Program& p = *program_;
  if (p.definite) {
    const Json* node = path_detail::walk_definite(p.steps, p.steps.size(), &root);
    if (node == nullptr) return std::nullopt;
    return *node;
  }
  if (p.function) return std::nullopt;
  Json out = Json::array();
  path_detail::Collector(out).run(p.steps, 0, root);
  if (p.merge_leaf) {
    if (out.empty()) return std::nullopt;
    return std::move(out[0]);
  }
  return out;
}

void Path::assign(Json& target, Json value) const {
  const Program& p = *program_;
  assert(p.reference);
  Json* node = &target;
  auto failure = [&]() {
    return StatesException(
        errors::kResultPathMatchFailure,
        "Unable to apply ReferencePath " + p.text + " to input " + dump_compact(target));
  };
  // Check first so that a failure leaves target unchanged.
  {
    const Json* probe = &target;
    for (const Step& st : p.steps) {
      if (probe == nullptr) {
        if (st.kind == StepKind::Index) throw failure();
        continue;  // members created from here on
      }
      if (st.kind == StepKind::Name) {
        if (!probe->is_object()) throw failure();
        probe = path_detail::member(*probe, st.name);
      } else {
        if (!probe->is_array() || st.index >= static_cast<std::int64_t>(probe->size())) {
          throw failure();
        }
        probe = &(*probe)[static_cast<std::size_t>(st.index)];
      }
    }
  }
  for (const Step& st : p.steps) {
    if (st.kind == StepKind::Name) {
      node = &(*node)[st.name];  // creates a null member when absent
      if (node->is_null() && &st != &p.steps.back()) *node = Json::object();
    } else {
      node = &(*node)[static_cast<std::size_t>(st.index)];
    }
  }
  *node = std::move(value);
}

std::string Path::normalized() const {
  return path_detail::normalized_prefix(program_->steps, program_->steps.size());
}

std::string Path::not_found_reason(const Json& root) const {
  const Program& p = *program_;
  if (p.definite) {
    const Json* node = &root;
    for (std::size_t i = 0; i + 1 < p.steps.size(); ++i) {
      const Step& st = p.steps[i];
      if (st.kind == StepKind::Name && node->is_object()) {
        node = path_detail::member(*node, st.name);
        if (node == nullptr) {
          return "Missing property in path " + path_detail::normalized_prefix(p.steps, i + 1);
        }
      } else {
        break;
      }
    }
  }
  return "No results for path: " + normalized();
}

std::string Path::invalid_path_cause(const Json& root) const {
  return "Invalid path '" + text() + "' : " + not_found_reason(root);
}

std::string Path::not_found_cause(std::string_view field, const Json& input) const {
  std::string out = "The JSONPath '" + text() + "' specified for the field '";
  out += field;
  out += "' could not be found in the input '" + dump_compact(input) + "'";
  return out;
}

}  // namespace stepd::asl
