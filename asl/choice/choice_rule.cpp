#include "asl/choice/choice_rule.hpp"

#include "asl/core/codes.hpp"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "asl/choice/timestamp.hpp"
#include "asl/path/path.hpp"

namespace stepd::asl {

namespace choice_detail {

// What a rule tests. Comparisons carry a Cmp; the Is* tests and the combinators do not.
enum class Kind : std::uint8_t {
  String,
  StringMatches,
  Numeric,
  Boolean,
  Timestamp,
  IsNull,
  IsPresent,
  IsNumeric,
  IsString,
  IsBoolean,
  IsTimestamp,
  And,
  Or,
  Not,
};

enum class Cmp : std::uint8_t { Eq, Lt, Gt, Le, Ge };

// A StringMatches pattern split at its unescaped "*": "log-*.txt" -> {"log-", ".txt"}.
// One segment means no wildcard (the text must equal it).
struct Glob {
  std::vector<std::string> segments;
};

struct Node {
  Kind kind = Kind::And;
  Cmp cmp = Cmp::Eq;
  bool expect = true;  // Is*: the operand (true / false)
  std::optional<Path> variable;
  std::optional<Path> operand_path;  // set for the ...Path operators
  Json literal;                      // String / Numeric / Boolean literal operand
  PreciseTimestamp timestamp;        // Timestamp literal operand, parsed at load
  Glob glob;                         // StringMatches
  std::vector<Node> children;        // And / Or (any number), Not (one)
};

}  // namespace choice_detail

namespace {

using choice_detail::Cmp;
using choice_detail::Glob;
using choice_detail::Kind;
using choice_detail::Node;

constexpr std::string_view kInvalidRule = codes::kInvalidChoiceRule;
constexpr std::string_view kWrongType = codes::kWrongType;
constexpr std::string_view kInvalidPath = codes::kInvalidPath;

// One row per operator name: the table of Choice operators.
struct OperatorInfo {
  std::string name;
  Kind kind;
  Cmp cmp;
  bool path;  // the operand is a path ("...Path")
};

const std::vector<OperatorInfo>& operators() {
  static const std::vector<OperatorInfo> table = [] {
    std::vector<OperatorInfo> t;
    struct CmpName {
      std::string_view suffix;
      Cmp cmp;
    };
    static constexpr CmpName kCmps[] = {{"Equals", Cmp::Eq},
                                        {"LessThan", Cmp::Lt},
                                        {"GreaterThan", Cmp::Gt},
                                        {"LessThanEquals", Cmp::Le},
                                        {"GreaterThanEquals", Cmp::Ge}};
    struct TypeName {
      std::string_view prefix;
      Kind kind;
    };
    static constexpr TypeName kTypes[] = {
        {"String", Kind::String}, {"Numeric", Kind::Numeric}, {"Timestamp", Kind::Timestamp}};
    for (const auto& type : kTypes) {
      for (const auto& c : kCmps) {
        std::string name = std::string(type.prefix) + std::string(c.suffix);
        t.push_back({name, type.kind, c.cmp, false});
        t.push_back({name + "Path", type.kind, c.cmp, true});
      }
    }
    t.push_back({"BooleanEquals", Kind::Boolean, Cmp::Eq, false});
    t.push_back({"BooleanEqualsPath", Kind::Boolean, Cmp::Eq, true});
    t.push_back({"StringMatches", Kind::StringMatches, Cmp::Eq, false});
    t.push_back({"IsNull", Kind::IsNull, Cmp::Eq, false});
    t.push_back({"IsPresent", Kind::IsPresent, Cmp::Eq, false});
    t.push_back({"IsNumeric", Kind::IsNumeric, Cmp::Eq, false});
    t.push_back({"IsString", Kind::IsString, Cmp::Eq, false});
    t.push_back({"IsBoolean", Kind::IsBoolean, Cmp::Eq, false});
    t.push_back({"IsTimestamp", Kind::IsTimestamp, Cmp::Eq, false});
    t.push_back({"And", Kind::And, Cmp::Eq, false});
    t.push_back({"Or", Kind::Or, Cmp::Eq, false});
    t.push_back({"Not", Kind::Not, Cmp::Eq, false});
    return t;
  }();
  return table;
}

const OperatorInfo* find_operator(std::string_view name) {
  for (const auto& op : operators()) {
    if (op.name == name) return &op;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Compilation

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
      char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (ca == cb ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_field_message(std::string_view key) {
  std::string msg = "unknown field '" + std::string(key) + "' in a Choice rule";
  std::string_view best;
  std::size_t best_distance = 4;  // suggest only close names
  auto consider = [&](std::string_view candidate) {
    std::size_t d = edit_distance(key, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  };
  for (const auto& op : operators()) consider(op.name);
  for (std::string_view f : {"Variable", "Next", "Comment", "Assign"}) consider(f);
  if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
  return msg;
}

Glob compile_glob(std::string_view pattern) {
  Glob glob;
  std::string current;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size() && (pattern[i + 1] == '*' || pattern[i + 1] == '\\')) {
      current += pattern[++i];  // "\*" is a literal star, "\\" a literal backslash
    } else if (c == '*') {
      glob.segments.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  glob.segments.push_back(std::move(current));
  return glob;
}

struct Compiler {
  Diagnostics& diags;

  std::optional<Path> compile_path(const Json& value, const std::string& pointer,
                                   std::string_view field) {
    if (!value.is_string()) {
      diags.error(pointer, std::string(kWrongType),
                  std::string(field) +
                      " must be a string holding a path (such as \"$.field\"), got " +
                      std::string(type_name(value)));
      return std::nullopt;
    }
    std::string error;
    auto path = Path::parse(value.get_ref<const std::string&>(), &error);
    if (!path) {
      diags.error(pointer, std::string(kInvalidPath),
                  std::string(field) + " must be a valid JSONPath: '" +
                      value.get_ref<const std::string&>() + "': " + error);
      return std::nullopt;
    }
    return path;
  }

  // Compiles `rule` into `out`. Returns false when a diagnostic was added.
  bool compile(const Json& rule, const std::string& pointer, bool top_level, Node& out) {
    if (!rule.is_object()) {
      diags.error(pointer, std::string(kInvalidRule),
                  "a Choice rule must be an object, got " + std::string(type_name(rule)));
      return false;
    }
    bool ok = true;
    const Json* variable = nullptr;
    std::vector<std::pair<const OperatorInfo*, const Json*>> ops;
    for (auto it = rule.begin(); it != rule.end(); ++it) {
      const std::string& key = it.key();
      if (key == "Comment") continue;
      if (key == "Next" || key == "Assign") {
        if (top_level) continue;
        diags.error(pointer + "/" + pointer_token(key), std::string(kInvalidRule),
                    key + " is only allowed in a top-level Choice rule, not inside And, Or or Not");
        ok = false;
        continue;
      }
      if (key == "Variable") {
        variable = &it.value();
        continue;
      }
      if (const OperatorInfo* op = find_operator(key)) {
        ops.emplace_back(op, &it.value());
        continue;
      }
      diags.error(pointer + "/" + pointer_token(key), codes::kUnknownField,
                  unknown_field_message(key));
      ok = false;
    }
    if (ops.size() != 1) {
      std::string msg = "must have exactly one comparison operator";
      if (ops.size() > 1) {
        msg += ", found " + std::to_string(ops.size()) + " (";
        for (std::size_t i = 0; i < ops.size(); ++i) {
          if (i > 0) msg += ", ";
          msg += ops[i].first->name;
        }
        msg += ")";
      }
      diags.error(pointer, std::string(kInvalidRule), msg);
      return false;
    }

    const OperatorInfo& op = *ops[0].first;
    const Json& operand = *ops[0].second;
    const std::string operand_pointer = pointer + "/" + pointer_token(op.name);
    out.kind = op.kind;
    out.cmp = op.cmp;

    if (op.kind == Kind::And || op.kind == Kind::Or || op.kind == Kind::Not) {
      if (variable != nullptr) {
        diags.error(
            pointer + "/Variable", std::string(kInvalidRule),
            "Variable is not allowed with " + op.name + ": put it in the nested Choice rules");
        ok = false;
      }
      if (op.kind == Kind::Not) {
        if (!operand.is_object()) {
          diags.error(operand_pointer, std::string(kInvalidRule),
                      "Not must be a Choice rule object, got " + std::string(type_name(operand)));
          return false;
        }
        out.children.resize(1);
        return compile(operand, operand_pointer, false, out.children[0]) && ok;
      }
      if (!operand.is_array() || operand.empty()) {
        diags.error(operand_pointer, std::string(kInvalidRule),
                    op.name + " must be a non-empty array of Choice rules, got " +
                        (operand.is_array() ? std::string("an empty array")
                                            : std::string(type_name(operand))));
        return false;
      }
      out.children.resize(operand.size());
      for (std::size_t i = 0; i < operand.size(); ++i) {
        ok = compile(operand[i], operand_pointer + "/" + std::to_string(i), false,
                     out.children[i]) &&
             ok;
      }
      return ok;
    }

    // A data test: Variable plus one operand.
    if (variable == nullptr) {
      diags.error(pointer, codes::kMissingField,
                  "missing Variable: " + op.name + " tests the value at the path in Variable");
      ok = false;
    } else {
      out.variable = compile_path(*variable, pointer + "/Variable", "Variable");
      if (!out.variable) ok = false;
    }

    if (op.path) {
      out.operand_path = compile_path(operand, operand_pointer, op.name);
      return out.operand_path.has_value() && ok;
    }
    switch (op.kind) {
      case Kind::String:
      case Kind::StringMatches:
        if (!operand.is_string()) {
          diags.error(operand_pointer, std::string(kWrongType),
                      op.name + " must be a string, got " + std::string(type_name(operand)));
          return false;
        }
        if (op.kind == Kind::StringMatches) {
          out.glob = compile_glob(operand.get_ref<const std::string&>());
        } else {
          out.literal = operand;
        }
        return ok;
      case Kind::Numeric:
        if (!operand.is_number()) {
          diags.error(operand_pointer, std::string(kWrongType),
                      op.name + " must be a number, got " + std::string(type_name(operand)));
          return false;
        }
        out.literal = operand;
        return ok;
      case Kind::Boolean:
        if (!operand.is_boolean()) {
          diags.error(operand_pointer, std::string(kWrongType),
                      op.name + " must be a boolean, got " + std::string(type_name(operand)));
          return false;
        }
        out.literal = operand;
        return ok;
      case Kind::Timestamp: {
        std::optional<PreciseTimestamp> ts;
        if (operand.is_string())
          ts = parse_precise_timestamp(operand.get_ref<const std::string&>());
        if (!ts) {
          diags.error(operand_pointer, codes::kInvalidTimestamp,
                      op.name +
                          " must be a timestamp string such as \"2016-03-14T01:59:00Z\" (RFC 3339 "
                          "with an uppercase T and a Z or +hh:mm offset), got " +
                          (operand.is_string() ? "\"" + operand.get<std::string>() + "\""
                                               : std::string(type_name(operand))));
          return false;
        }
        out.timestamp = *ts;
        return ok;
      }
      default:  // Is*
        if (!operand.is_boolean()) {
          diags.error(operand_pointer, std::string(kWrongType),
                      op.name + " must be a boolean, got " + std::string(type_name(operand)));
          return false;
        }
        out.expect = operand.get<bool>();
        return ok;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Evaluation

[[noreturn]] void throw_invalid_path(const Path& path) {
  throw StatesException(errors::kRuntime,
                        "Invalid path '" + path.text() +
                            "': The choice state's condition path references an invalid value.");
}

// The value a path selects, or nullptr when it selects nothing. Definite paths point into the
// document; other paths build their result array in scratch.
const Json* lookup(const Path& path, const EvalContext& ctx, std::optional<Json>& scratch) {
  const Json* root = nullptr;
  switch (path.root()) {
    case Path::Root::Input:
      root = ctx.input;
      break;
    case Path::Root::Context:
      root = ctx.context;
      break;
    case Path::Root::Variable:
      root = ctx.variables != nullptr ? ctx.variables->find(path.variable()) : nullptr;
      break;
  }
  if (root == nullptr) return nullptr;
  if (path.is_definite()) return path.find_definite(*root);
  scratch = path.evaluate_on(*root);
  return scratch ? &*scratch : nullptr;
}

template <typename T>
int three_way(T a, T b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

// Exact comparison of an integer with a double: no rounding of either side.
int compare_int_double(std::int64_t a, double d) {
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  const double t = std::trunc(d);
  const auto ti = static_cast<std::int64_t>(t);
  if (a != ti) return a < ti ? -1 : 1;
  const double frac = d - t;
  return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}

int compare_uint_double(std::uint64_t a, double d) {
  if (d < 0) return 1;
  if (d >= 18446744073709551616.0) return -1;
  const double t = std::trunc(d);
  const auto tu = static_cast<std::uint64_t>(t);
  if (a != tu) return a < tu ? -1 : 1;
  const double frac = d - t;
  return frac > 0 ? -1 : 0;
}

int compare_int_uint(std::int64_t a, std::uint64_t b) {
  if (a < 0) return -1;
  return three_way(static_cast<std::uint64_t>(a), b);
}

// REQUIRES: both are numbers.
int compare_numbers(const Json& a, const Json& b) {
  using T = Json::value_t;
  const T ta = a.type();
  const T tb = b.type();
  if (ta == T::number_float && tb == T::number_float) {
    return three_way(a.get_ref<const double&>(), b.get_ref<const double&>());
  }
  if (ta == T::number_float) return -compare_numbers(b, a);
  // a is an integer.
  if (ta == T::number_integer) {
    const std::int64_t x = a.get_ref<const std::int64_t&>();
    if (tb == T::number_integer) return three_way(x, b.get_ref<const std::int64_t&>());
    if (tb == T::number_unsigned) return compare_int_uint(x, b.get_ref<const std::uint64_t&>());
    return compare_int_double(x, b.get_ref<const double&>());
  }
  const std::uint64_t x = a.get_ref<const std::uint64_t&>();
  if (tb == T::number_integer) return -compare_int_uint(b.get_ref<const std::int64_t&>(), x);
  if (tb == T::number_unsigned) return three_way(x, b.get_ref<const std::uint64_t&>());
  return compare_uint_double(x, b.get_ref<const double&>());
}

// Decodes the UTF-8 code point starting at s[i] (lenient: a stray byte stands for itself).
std::uint32_t decode_utf8(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) -> std::uint32_t {
    return i + k < s.size() ? (static_cast<unsigned char>(s[i + k]) & 0x3Fu) : 0u;
  };
  if (b0 < 0x80) return b0;
  if (b0 >= 0xF0) return ((b0 & 0x07u) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
  if (b0 >= 0xE0) return ((b0 & 0x0Fu) << 12) | (cont(1) << 6) | cont(2);
  if (b0 >= 0xC0) return ((b0 & 0x1Fu) << 6) | cont(1);
  return b0;
}

// The first UTF-16 code unit of a code point.
std::uint32_t utf16_lead(std::uint32_t cp) {
  return cp < 0x10000 ? cp : 0xD800 + ((cp - 0x10000) >> 10);
}

// AWS: strings order as Java's String.compareTo, i.e. by UTF-16 code units. That equals UTF-8
// byte order except that code points above U+FFFF (surrogate pairs) sort below U+E000..U+FFFF.
int compare_strings(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  if (i == n) return three_way(a.size(), b.size());
  // Back up to the start of the code point that differs.
  while (i > 0 && (static_cast<unsigned char>(a[i]) & 0xC0) == 0x80) --i;
  const std::uint32_t ca = decode_utf8(a, i);
  const std::uint32_t cb = decode_utf8(b, i);
  const std::uint32_t la = utf16_lead(ca);
  const std::uint32_t lb = utf16_lead(cb);
  if (la != lb) return la < lb ? -1 : 1;
  return three_way(ca, cb);
}

bool glob_match(const Glob& glob, std::string_view text) {
  const auto& seg = glob.segments;
  if (seg.size() == 1) return text == seg[0];
  const std::string& first = seg.front();
  const std::string& last = seg.back();
  if (text.size() < first.size() + last.size()) return false;
  if (text.substr(0, first.size()) != first) return false;
  if (text.substr(text.size() - last.size()) != last) return false;
  std::string_view middle = text.substr(first.size(), text.size() - first.size() - last.size());
  for (std::size_t k = 1; k + 1 < seg.size(); ++k) {
    const std::size_t at = middle.find(seg[k]);
    if (at == std::string_view::npos) return false;
    middle.remove_prefix(at + seg[k].size());
  }
  return true;
}

bool holds(Cmp cmp, int order) {
  switch (cmp) {
    case Cmp::Eq:
      return order == 0;
    case Cmp::Lt:
      return order < 0;
    case Cmp::Gt:
      return order > 0;
    case Cmp::Le:
      return order <= 0;
    case Cmp::Ge:
      return order >= 0;
  }
  return false;
}

bool eval(const Node& node, const EvalContext& ctx) {
  switch (node.kind) {
    case Kind::And:
      for (const Node& child : node.children) {
        if (!eval(child, ctx)) return false;
      }
      return true;
    case Kind::Or:
      for (const Node& child : node.children) {
        if (eval(child, ctx)) return true;
      }
      return false;
    case Kind::Not:
      return !eval(node.children[0], ctx);
    default:
      break;
  }

  std::optional<Json> scratch;
  const Json* value = lookup(*node.variable, ctx, scratch);
  if (node.kind == Kind::IsPresent) return (value != nullptr) == node.expect;
  if (value == nullptr) throw_invalid_path(*node.variable);

  switch (node.kind) {
    case Kind::IsNull:
      return value->is_null() == node.expect;
    case Kind::IsNumeric:
      return value->is_number() == node.expect;
    case Kind::IsString:
      return value->is_string() == node.expect;
    case Kind::IsBoolean:
      return value->is_boolean() == node.expect;
    case Kind::IsTimestamp:
      return (value->is_string() &&
              parse_precise_timestamp(value->get_ref<const std::string&>()).has_value()) ==
             node.expect;
    default:
      break;
  }

  const Json* operand = &node.literal;
  std::optional<Json> operand_scratch;
  if (node.operand_path) {
    operand = lookup(*node.operand_path, ctx, operand_scratch);
    if (operand == nullptr) throw_invalid_path(*node.operand_path);
  }

  switch (node.kind) {
    case Kind::String:
      if (!value->is_string() || !operand->is_string()) return false;
      return holds(node.cmp, compare_strings(value->get_ref<const std::string&>(),
                                             operand->get_ref<const std::string&>()));
    case Kind::StringMatches:
      return value->is_string() && glob_match(node.glob, value->get_ref<const std::string&>());
    case Kind::Numeric:
      if (!value->is_number() || !operand->is_number()) return false;
      return holds(node.cmp, compare_numbers(*value, *operand));
    case Kind::Boolean:
      return value->is_boolean() && operand->is_boolean() &&
             value->get<bool>() == operand->get<bool>();
    case Kind::Timestamp: {
      if (!value->is_string()) return false;
      auto lhs = parse_precise_timestamp(value->get_ref<const std::string&>());
      if (!lhs) return false;
      PreciseTimestamp rhs = node.timestamp;
      if (node.operand_path) {
        if (!operand->is_string()) return false;
        auto parsed = parse_precise_timestamp(operand->get_ref<const std::string&>());
        if (!parsed) return false;
        rhs = *parsed;
      }
      const auto order = *lhs <=> rhs;
      return holds(node.cmp, order < 0 ? -1 : (order > 0 ? 1 : 0));
    }
    default:
      return false;
  }
}

bool uses_root(const Node& node, Path::Root root) {
  if (node.variable && node.variable->root() == root) return true;
  if (node.operand_path && node.operand_path->root() == root) return true;
  return std::any_of(node.children.begin(), node.children.end(),
                     [&](const Node& c) { return uses_root(c, root); });
}

}  // namespace

ChoiceRule ChoiceRule::compile(const Json& rule, const std::string& pointer, bool top_level,
                               Diagnostics& diags) {
  Compiler compiler{diags};
  auto node = std::make_shared<Node>();
  ChoiceRule out;
  if (!compiler.compile(rule, pointer, top_level, *node)) return out;
  out.uses_context_ = uses_root(*node, Path::Root::Context);
  out.uses_variables_ = uses_root(*node, Path::Root::Variable);
  out.root_ = std::move(node);
  return out;
}

bool ChoiceRule::uses_context() const { return uses_context_; }
bool ChoiceRule::uses_variables() const { return uses_variables_; }

bool ChoiceRule::evaluate(const EvalContext& ctx) const {
  assert(root_ != nullptr);
  return eval(*root_, ctx);
}

}  // namespace stepd::asl
