#include "asl/expr/intrinsics.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "asl/core/error.hpp"
#include "asl/expr/path_eval.hpp"
#include "asl/path/path.hpp"

namespace stepd::asl {

namespace intrinsic_detail {

enum class ArgKind : std::uint8_t { Any, String, Number, Boolean, Array, Object };

struct FunctionDef;

// A States.Format template split at its "{}" placeholders: pieces.size() - 1 placeholders.
struct FormatTemplate {
  std::vector<std::string> pieces;
};

struct Node {
  enum class Kind : std::uint8_t { Literal, Path, Call };
  Kind kind = Kind::Literal;
  Json literal;                     // Kind::Literal
  std::optional<Path> path;         // Kind::Path
  const FunctionDef* fn = nullptr;  // Kind::Call
  std::vector<Node> args;           // Kind::Call
  // States.Format whose template is a literal: compiled at load.
  std::optional<FormatTemplate> format;
  // Kind::Literal string: its template form (nullopt when it is not a well-formed template).
  std::optional<FormatTemplate> literal_template;
  // False when load found a problem that AWS reports at run time (wrong arity, literal of the wrong
  // type, malformed literal template): evaluation then throws "Invalid arguments".
  bool arguments_ok = true;
};

using Args = std::span<const Json* const>;
using Fn = Json (*)(const Node& call, Args args, const EvalContext& ctx);

struct FunctionDef {
  std::string_view name;
  int min_args;
  int max_args;                  // -1: no limit
  std::array<ArgKind, 3> kinds;  // kinds of the first three arguments
  ArgKind rest;                  // kind of every further argument
  Fn fn;

  ArgKind kind(std::size_t i) const { return i < kinds.size() ? kinds[i] : rest; }
};

namespace {

constexpr std::size_t kMaxStringLength = 10000;  // AWS: Base64Encode/Decode, Hash input limit
constexpr std::int64_t kMaxRangeItems = 1000;    // AWS: States.ArrayRange result limit

[[noreturn]] void invalid(std::string_view function) {
  // AWS: States.Runtime, "Invalid arguments in States.MathAdd".
  std::string cause = "Invalid arguments in ";
  cause += function;
  throw StatesException(errors::kRuntime, std::move(cause));
}

// ---- UTF-8 / UTF-16 helpers ---------------------------------------------------------------------

// Decodes the code point at s[i] (advancing i). Invalid bytes decode as U+FFFD, one byte each.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < len; ++k) {
    unsigned char cc = byte(i + k);
    if ((cc >> 6) != 0x2) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += len;
  return cp;
}

// Java String.length(): UTF-16 code units.
std::size_t utf16_length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) n += next_code_point(s, i) >= 0x10000 ? 2 : 1;
  return n;
}

// Bytes decoded as UTF-8 the way Java's new String(bytes, UTF_8) does: malformed input becomes
// U+FFFD.
std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) append_utf8(out, next_code_point(bytes, i));
  return out;
}

// ---- numbers ------------------------------------------------------------------------------------

// A number argument truncated towards zero to a Java int, as AWS's (int) conversions do
// (ArrayPartition(a, 2.6) uses 2, MathRandom(1.6, 5.4) draws from [1, 5)). nullopt when the value
// is not a number or does not fit an int.
std::optional<std::int32_t> as_int32_truncated(const Json& v) {
  double d;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
        return std::nullopt;
      }
      return static_cast<std::int32_t>(u);
    }
    auto i = v.get<std::int64_t>();
    if (i < std::numeric_limits<std::int32_t>::min() ||
        i > std::numeric_limits<std::int32_t>::max()) {
      return std::nullopt;
    }
    return static_cast<std::int32_t>(i);
  }
  if (!v.is_number_float()) return std::nullopt;
  d = std::trunc(v.get<double>());
  if (!std::isfinite(d) || d < std::numeric_limits<std::int32_t>::min() ||
      d > std::numeric_limits<std::int32_t>::max()) {
    return std::nullopt;
  }
  return static_cast<std::int32_t>(d);
}

// Java's Math.round(double): floor(x + 0.5) computed without the 0.49999999999999994 error.
double java_round(double x) {
  double f = std::floor(x);
  return x - f >= 0.5 ? f + 1 : f;
}

// A number argument rounded to the nearest Java int (half up), as States.MathAdd does.
std::optional<std::int64_t> as_int32_rounded(const Json& v) {
  if (v.is_number_float()) {
    double d = java_round(v.get<double>());
    if (!std::isfinite(d) || d < std::numeric_limits<std::int32_t>::min() ||
        d > std::numeric_limits<std::int32_t>::max()) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(d);
  }
  return as_int32_truncated(v);
}

// ---- Java-like text of values (States.Format, ArrayContains, Hash) ------------------------------

std::string scalar_text(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return v.get_ref<const std::string&>();
    case Json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
      return std::to_string(v.get<std::int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(v.get<std::uint64_t>());
    case Json::value_t::number_float:
      return java_double_string(v.get<double>());
    default:
      return "null";
  }
}

// ---- Java hashing (States.ArrayUnique keeps java.util.HashSet's iteration order) ----------------

std::int32_t java_string_hash(std::string_view s) {
  std::uint32_t h = 0;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = next_code_point(s, i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      h = 31 * h + static_cast<std::uint32_t>(0xD800 + (cp >> 10));
      h = 31 * h + static_cast<std::uint32_t>(0xDC00 + (cp & 0x3FF));
    } else {
      h = 31 * h + static_cast<std::uint32_t>(cp);
    }
  }
  return static_cast<std::int32_t>(h);
}

std::int32_t java_long_hash(std::uint64_t bits) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(bits ^ (bits >> 32)));
}

// hashCode() of the Java value Jackson would bind v to (Integer, Long, Double, String, Boolean,
// ArrayList, LinkedHashMap, null).
std::int32_t java_hash(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return 0;
    case Json::value_t::boolean:
      return v.get<bool>() ? 1231 : 1237;
    case Json::value_t::string:
      return java_string_hash(v.get_ref<const std::string&>());
    case Json::value_t::number_integer: {
      auto i = v.get<std::int64_t>();
      if (i >= std::numeric_limits<std::int32_t>::min() &&
          i <= std::numeric_limits<std::int32_t>::max()) {
        return static_cast<std::int32_t>(i);
      }
      return java_long_hash(static_cast<std::uint64_t>(i));
    }
    case Json::value_t::number_unsigned: {
      auto u = v.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
        return static_cast<std::int32_t>(u);
      }
      return java_long_hash(u);
    }
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
      return java_long_hash(std::bit_cast<std::uint64_t>(d));
    }
    case Json::value_t::array: {
      std::uint32_t h = 1;
      for (const Json& e : v) h = 31 * h + static_cast<std::uint32_t>(java_hash(e));
      return static_cast<std::int32_t>(h);
    }
    case Json::value_t::object: {
      std::uint32_t h = 0;
      for (const auto& [k, e] : v.items()) {
        h += static_cast<std::uint32_t>(java_string_hash(k) ^ java_hash(e));
      }
      return static_cast<std::int32_t>(h);
    }
    default:
      return 0;
  }
}

// Java equals() of the bound values: an integer never equals a floating-point number.
bool java_equal(const Json& a, const Json& b) {
  bool ai = a.is_number_integer(), bi = b.is_number_integer();
  if (ai || bi || a.is_number_float() || b.is_number_float()) {
    if (ai != bi) return false;
    return a == b;
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!java_equal(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto jt = b.find(it.key());
      if (jt == b.end() || !java_equal(*it, *jt)) return false;
    }
    return true;
  }
  return a == b;
}

// ---- the functions ------------------------------------------------------------------------------

std::optional<FormatTemplate> compile_plain_template(std::string_view text) {
  FormatTemplate t;
  t.pieces.emplace_back();
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{') {
      if (i + 1 >= text.size() || text[i + 1] != '}') return std::nullopt;
      t.pieces.emplace_back();
      ++i;
    } else if (c == '}') {
      return std::nullopt;
    } else {
      t.pieces.back() += c;
    }
  }
  return t;
}

Json fn_format(const Node& call, Args args, const EvalContext&) {
  std::optional<FormatTemplate> dynamic;
  const FormatTemplate* tmpl = nullptr;
  if (call.format) {
    tmpl = &*call.format;
  } else {
    if (!args[0]->is_string()) invalid("States.Format");
    dynamic = compile_plain_template(args[0]->get_ref<const std::string&>());
    if (!dynamic) invalid("States.Format");
    tmpl = &*dynamic;
  }
  if (tmpl->pieces.size() != args.size()) invalid("States.Format");
  std::string out = tmpl->pieces[0];
  for (std::size_t i = 1; i < args.size(); ++i) {
    out += format_value(*args[i]);
    out += tmpl->pieces[i];
  }
  return out;
}

Json fn_string_to_json(const Node&, Args args, const EvalContext&) {
  if (!args[0]->is_string()) invalid("States.StringToJson");
  const std::string& text = args[0]->get_ref<const std::string&>();
  // AWS: an empty or blank string gives null.
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return nullptr;
  if (auto at = nesting_beyond(text, kMaxRuntimeNesting)) {
    throw StatesException(errors::kRuntime,
                          "Invalid arguments in States.StringToJson: the JSON nests arrays and "
                          "objects deeper than " +
                              std::to_string(kMaxRuntimeNesting) + " levels (at character " +
                              std::to_string(*at) + ")");
  }
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) invalid("States.StringToJson");
  return parsed;
}

// Compact JSON as AWS (Jackson) writes it: members in order, floating-point numbers as Java prints
// doubles (1.0E10, 1.5E-7).
void append_json(std::string& out, const Json& v) {
  switch (v.type()) {
    case Json::value_t::number_float:
      out += java_double_string(v.get<double>());
      return;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const Json& item : v) {
        if (!first) out += ',';
        first = false;
        append_json(out, item);
      }
      out += ']';
      return;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ',';
        first = false;
        out += dump_compact(Json(it.key()));
        out += ':';
        append_json(out, *it);
      }
      out += '}';
      return;
    }
    default:
      out += dump_compact(v);
  }
}

Json fn_json_to_string(const Node&, Args args, const EvalContext&) {
  std::string out;
  append_json(out, *args[0]);
  return out;
}

Json fn_array(const Node&, Args args, const EvalContext&) {
  Json out = Json::array();
  auto& arr = out.get_ref<Json::array_t&>();
  arr.reserve(args.size());
  for (const Json* a : args) arr.push_back(*a);
  return out;
}

Json fn_array_partition(const Node&, Args args, const EvalContext&) {
  std::optional<std::int32_t> size = as_int32_truncated(*args[1]);
  if (!args[0]->is_array() || !size || *size <= 0) invalid("States.ArrayPartition");
  const auto& in = args[0]->get_ref<const Json::array_t&>();
  Json out = Json::array();
  auto& chunks = out.get_ref<Json::array_t&>();
  std::size_t n = static_cast<std::size_t>(*size);
  for (std::size_t i = 0; i < in.size(); i += n) {
    std::size_t end = std::min(in.size(), i + n);
    chunks.emplace_back(Json::array_t(in.begin() + static_cast<std::ptrdiff_t>(i),
                                      in.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  return out;
}

// Structural equality in which object members must also come in the same order.
bool ordered_equal(const Json& a, const Json& b) {
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
      if (i.key() != j.key() || !ordered_equal(*i, *j)) return false;
    }
    return true;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k) {
      if (!ordered_equal(a[k], b[k])) return false;
    }
    return true;
  }
  return a == b;
}

// AWS: scalars match by their text (true matches "true", 42 matches "42"); arrays and objects match
// structurally, objects only with their members in the same order.
bool contains_equal(const Json& item, const Json& value) {
  if (item.is_structured() || value.is_structured()) return ordered_equal(item, value);
  if (item.is_number() && value.is_number()) return item == value;
  return scalar_text(item) == scalar_text(value);
}

Json fn_array_contains(const Node&, Args args, const EvalContext&) {
  if (!args[0]->is_array()) invalid("States.ArrayContains");
  for (const Json& item : *args[0]) {
    if (contains_equal(item, *args[1])) return true;
  }
  return false;
}

Json fn_array_range(const Node&, Args args, const EvalContext&) {
  auto start = as_int32_truncated(*args[0]);
  auto end = as_int32_truncated(*args[1]);
  auto step = as_int32_truncated(*args[2]);
  if (!start || !end || !step || *step == 0) invalid("States.ArrayRange");
  std::int64_t s = *start, e = *end, st = *step;
  std::int64_t count = 0;
  if ((st > 0 && s <= e) || (st < 0 && s >= e)) count = (e - s) / st + 1;
  if (count > kMaxRangeItems) invalid("States.ArrayRange");
  Json out = Json::array();
  auto& arr = out.get_ref<Json::array_t&>();
  arr.reserve(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) arr.emplace_back(s + i * st);
  return out;
}

Json fn_array_get_item(const Node&, Args args, const EvalContext&) {
  auto index = as_int32_truncated(*args[1]);
  if (!args[0]->is_array() || !index) invalid("States.ArrayGetItem");
  const auto& arr = args[0]->get_ref<const Json::array_t&>();
  // AWS: any index into an empty array gives null; out of range elsewhere fails.
  if (arr.empty()) return nullptr;
  if (*index < 0 || static_cast<std::size_t>(*index) >= arr.size()) invalid("States.ArrayGetItem");
  return arr[static_cast<std::size_t>(*index)];
}

Json fn_array_length(const Node&, Args args, const EvalContext&) {
  if (!args[0]->is_array()) invalid("States.ArrayLength");
  return args[0]->size();
}

// AWS: the result comes out in java.util.HashSet order (built from the whole list), not in
// first-seen order: [true, false, true] gives [false, true].
Json fn_array_unique(const Node&, Args args, const EvalContext&) {
  if (!args[0]->is_array()) invalid("States.ArrayUnique");
  const auto& in = args[0]->get_ref<const Json::array_t&>();
  std::size_t wanted = std::max<std::size_t>(
      static_cast<std::size_t>(static_cast<float>(in.size()) / 0.75f) + 1, 16);
  std::size_t capacity = std::bit_ceil(wanted);
  std::vector<std::vector<const Json*>> buckets(capacity);
  for (const Json& item : in) {
    auto h = static_cast<std::uint32_t>(java_hash(item));
    h ^= h >> 16;
    auto& bucket = buckets[h & (capacity - 1)];
    bool seen = std::any_of(bucket.begin(), bucket.end(),
                            [&](const Json* other) { return java_equal(*other, item); });
    if (!seen) bucket.push_back(&item);
  }
  Json out = Json::array();
  auto& arr = out.get_ref<Json::array_t&>();
  for (const auto& bucket : buckets) {
    for (const Json* item : bucket) arr.push_back(*item);
  }
  return out;
}

Json fn_base64_encode(const Node&, Args args, const EvalContext&) {
  if (!args[0]->is_string()) invalid("States.Base64Encode");
  const std::string& in = args[0]->get_ref<const std::string&>();
  if (utf16_length(in) > kMaxStringLength) invalid("States.Base64Encode");
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k]));
  };
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    std::uint32_t v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

constexpr int kBase64Pad = -1;
constexpr int kBase64Other = -2;

// The value of a Base64 digit (standard and URL-safe alphabets), kBase64Pad for '=', kBase64Other
// for anything else.
int base64_value(char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+' || ch == '-') return 62;
  if (ch == '/' || ch == '_') return 63;
  return ch == '=' ? kBase64Pad : kBase64Other;
}

// AWS decodes leniently: characters outside the alphabet are skipped, decoding stops at the first
// '=', and a trailing partial group yields the whole bytes it holds ("abc" decodes).
Json fn_base64_decode(const Node&, Args args, const EvalContext&) {
  if (!args[0]->is_string()) invalid("States.Base64Decode");
  const std::string& in = args[0]->get_ref<const std::string&>();
  if (utf16_length(in) > kMaxStringLength) invalid("States.Base64Decode");
  std::string bytes;
  bytes.reserve(in.size() / 4 * 3 + 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v = base64_value(ch);
    if (v == kBase64Pad) break;
    if (v == kBase64Other) continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return sanitize_utf8(bytes);
}

Json fn_hash(const Node&, Args args, const EvalContext&) {
  // AWS: data that is not a string is hashed as its text.
  std::string data = format_value(*args[0]);
  if (!args[1]->is_string() || utf16_length(data) > kMaxStringLength) invalid("States.Hash");
  const std::string& algorithm = args[1]->get_ref<const std::string&>();
  const EVP_MD* md = algorithm == "MD5"       ? EVP_md5()
                     : algorithm == "SHA-1"   ? EVP_sha1()
                     : algorithm == "SHA-256" ? EVP_sha256()
                     : algorithm == "SHA-384" ? EVP_sha384()
                     : algorithm == "SHA-512" ? EVP_sha512()
                                              : nullptr;
  if (md == nullptr) invalid("States.Hash");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, md, nullptr) != 1) {
    invalid("States.Hash");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

// AWS supports only the shallow merge: the third argument must not be true (anything else, even the
// string 'false', merges shallowly).
Json fn_json_merge(const Node&, Args args, const EvalContext&) {
  if (!args[0]->is_object() || !args[1]->is_object() ||
      (args[2]->is_boolean() && args[2]->get<bool>())) {
    invalid("States.JsonMerge");
  }
  Json out = *args[0];
  for (const auto& [key, value] : args[1]->items()) out[key] = value;
  return out;
}

// java.util.Random, so a seeded States.MathRandom gives AWS's numbers.
class JavaRandom {
 public:
  explicit JavaRandom(std::int64_t seed)
      : seed_((static_cast<std::uint64_t>(seed) ^ kMultiplier) & kMask) {}
  std::int32_t next_int(std::int32_t bound) {  // REQUIRES: bound > 0
    std::int32_t r = next(31);
    std::int32_t m = bound - 1;
    if ((bound & m) == 0) {
      return static_cast<std::int32_t>((static_cast<std::int64_t>(bound) * r) >> 31);
    }
    for (std::int32_t u = r;; u = next(31)) {
      r = u % bound;
      if (static_cast<std::int64_t>(u) - r + m <= std::numeric_limits<std::int32_t>::max()) break;
    }
    return r;
  }

 private:
  static constexpr std::uint64_t kMultiplier = 0x5DEECE66DULL;
  static constexpr std::uint64_t kMask = (1ULL << 48) - 1;
  std::int32_t next(int bits) {
    seed_ = (seed_ * kMultiplier + 0xBULL) & kMask;
    return static_cast<std::int32_t>(seed_ >> (48 - bits));
  }
  std::uint64_t seed_;
};

// AWS: a random integer in [start, end). Bounds are truncated to ints; with a seed the result is
// new java.util.Random(seed).nextInt(end - start) + start.
Json fn_math_random(const Node&, Args args, const EvalContext& ctx) {
  auto start = as_int32_truncated(*args[0]);
  auto end = as_int32_truncated(*args[1]);
  if (!start || !end || *start >= *end) invalid("States.MathRandom");
  std::int64_t bound = static_cast<std::int64_t>(*end) - *start;
  if (bound > std::numeric_limits<std::int32_t>::max()) invalid("States.MathRandom");
  if (args.size() == 3) {
    const Json& seed = *args[2];
    if (!seed.is_number()) invalid("States.MathRandom");
    std::int64_t s;
    if (seed.is_number_float()) {
      double d = std::trunc(seed.get<double>());
      if (!std::isfinite(d) || std::fabs(d) > 9.2e18) invalid("States.MathRandom");
      s = static_cast<std::int64_t>(d);
    } else {
      s = seed.get<std::int64_t>();
    }
    JavaRandom random(s);
    return *start + random.next_int(static_cast<std::int32_t>(bound));
  }
  assert(ctx.random != nullptr);
  if (ctx.random == nullptr) invalid("States.MathRandom");
  auto offset = static_cast<std::int64_t>(ctx.random->next_unit() * static_cast<double>(bound));
  return *start + std::min(offset, bound - 1);
}

Json fn_math_add(const Node&, Args args, const EvalContext&) {
  auto a = as_int32_rounded(*args[0]);
  auto b = as_int32_rounded(*args[1]);
  if (!a || !b) invalid("States.MathAdd");
  std::int64_t sum = *a + *b;
  if (sum < std::numeric_limits<std::int32_t>::min() ||
      sum > std::numeric_limits<std::int32_t>::max()) {
    invalid("States.MathAdd");
  }
  return sum;
}

// AWS splits like java.util.StringTokenizer: every character of the second argument is a delimiter
// and empty tokens are dropped ("a,,b" gives ["a", "b"], "" gives []).
Json fn_string_split(const Node&, Args args, const EvalContext&) {
  if (!args[0]->is_string() || !args[1]->is_string()) invalid("States.StringSplit");
  const std::string& text = args[0]->get_ref<const std::string&>();
  const std::string& delimiters = args[1]->get_ref<const std::string&>();
  std::vector<char32_t> delims;
  for (std::size_t i = 0; i < delimiters.size();) delims.push_back(next_code_point(delimiters, i));
  Json out = Json::array();
  auto& arr = out.get_ref<Json::array_t&>();
  std::size_t token_start = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t at = i;
    char32_t cp = next_code_point(text, i);
    if (std::find(delims.begin(), delims.end(), cp) != delims.end()) {
      if (at > token_start) arr.emplace_back(text.substr(token_start, at - token_start));
      token_start = i;
    }
  }
  if (text.size() > token_start) arr.emplace_back(text.substr(token_start));
  return out;
}

Json fn_uuid(const Node&, Args, const EvalContext& ctx) {
  assert(ctx.random != nullptr);
  if (ctx.random == nullptr) invalid("States.UUID");
  std::array<unsigned char, 16> b;
  std::uint64_t hi = ctx.random->next_u64(), lo = ctx.random->next_u64();
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    b[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // IETF variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

using K = ArgKind;
constexpr int kVariadic = -1;

// The function set. Argument kinds are checked against literal arguments at load time.
const FunctionDef kFunctions[] = {
    {"States.Format", 1, kVariadic, {K::String, K::Any, K::Any}, K::Any, fn_format},
    {"States.StringToJson", 1, 1, {K::String}, K::Any, fn_string_to_json},
    {"States.JsonToString", 1, 1, {K::Any}, K::Any, fn_json_to_string},
    {"States.Array", 0, kVariadic, {K::Any, K::Any, K::Any}, K::Any, fn_array},
    {"States.ArrayPartition", 2, 2, {K::Array, K::Number}, K::Any, fn_array_partition},
    {"States.ArrayContains", 2, 2, {K::Array, K::Any}, K::Any, fn_array_contains},
    {"States.ArrayRange", 3, 3, {K::Number, K::Number, K::Number}, K::Any, fn_array_range},
    {"States.ArrayGetItem", 2, 2, {K::Array, K::Number}, K::Any, fn_array_get_item},
    {"States.ArrayLength", 1, 1, {K::Array}, K::Any, fn_array_length},
    {"States.ArrayUnique", 1, 1, {K::Array}, K::Any, fn_array_unique},
    {"States.Base64Encode", 1, 1, {K::String}, K::Any, fn_base64_encode},
    {"States.Base64Decode", 1, 1, {K::String}, K::Any, fn_base64_decode},
    {"States.Hash", 2, 2, {K::Any, K::String}, K::Any, fn_hash},
    {"States.JsonMerge", 3, 3, {K::Object, K::Object, K::Any}, K::Any, fn_json_merge},
    {"States.MathRandom", 2, 3, {K::Number, K::Number, K::Number}, K::Any, fn_math_random},
    {"States.MathAdd", 2, 2, {K::Number, K::Number}, K::Any, fn_math_add},
    {"States.StringSplit", 2, 2, {K::String, K::String}, K::Any, fn_string_split},
    {"States.UUID", 0, 0, {K::Any}, K::Any, fn_uuid},
};

const FunctionDef* find_function(std::string_view name) {
  for (const FunctionDef& f : kFunctions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string_view kind_name(ArgKind k) {
  switch (k) {
    case ArgKind::String:
      return "a string";
    case ArgKind::Number:
      return "a number";
    case ArgKind::Boolean:
      return "a boolean";
    case ArgKind::Array:
      return "an array";
    case ArgKind::Object:
      return "an object";
    default:
      return "any value";
  }
}

bool matches(ArgKind k, const Json& v) {
  switch (k) {
    case ArgKind::String:
      return v.is_string();
    case ArgKind::Number:
      return v.is_number();
    case ArgKind::Boolean:
      return v.is_boolean();
    case ArgKind::Array:
      return v.is_array();
    case ArgKind::Object:
      return v.is_object();
    default:
      return true;
  }
}

// ---- parser -------------------------------------------------------------------------------------

bool is_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  bool parse(Node* root) {
    skip_space();
    if (!parse_call(root, 0)) return false;
    skip_space();
    if (pos_ != text_.size()) {
      return fail("unexpected '" + std::string(text_.substr(pos_, 1)) + "' after the call");
    }
    return true;
  }

  std::string error;
  std::vector<std::string> problems;
  bool uses_context = false;
  bool uses_variables = false;

 private:
  static constexpr int kMaxDepth = 64;

  bool fail(const std::string& what) { return fail_at(what, pos_); }
  bool fail_at(const std::string& what, std::size_t at) {
    error = what + " at offset " + std::to_string(at);
    return false;
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  bool parse_call(Node* node, int depth) {
    if (depth > kMaxDepth) return fail("intrinsic calls nested too deeply");
    std::size_t start = pos_;
    if (text_.substr(pos_, 7) != "States.") return fail("expected an intrinsic function call");
    pos_ += 7;
    while (!at_end() && is_ident_char(peek())) ++pos_;
    std::string_view name = text_.substr(start, pos_ - start);
    node->kind = Node::Kind::Call;
    node->fn = find_function(name);
    if (node->fn == nullptr) {
      return fail_at("unknown intrinsic function '" + std::string(name) + "'", start);
    }
    skip_space();
    if (peek() != '(') return fail("expected '(' after '" + std::string(name) + "'");
    ++pos_;
    skip_space();
    if (peek() == ')') {
      ++pos_;
    } else {
      for (;;) {
        node->args.emplace_back();
        if (!parse_arg(&node->args.back(), depth)) return false;
        skip_space();
        if (peek() == ',') {
          ++pos_;
          skip_space();
          continue;
        }
        if (peek() == ')') {
          ++pos_;
          break;
        }
        if (at_end()) return fail("expected ',' or ')' but the text ended");
        return fail("expected ',' or ')' but found '" + std::string(1, peek()) + "'");
      }
    }
    check_arguments(node);
    return true;
  }

  bool parse_arg(Node* node, int depth) {
    char c = peek();
    if (c == '\'') return parse_string(node);
    if (c == '$') return parse_path(node);
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(node);
    if (text_.substr(pos_, 7) == "States.") return parse_call(node, depth + 1);
    for (std::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word &&
          (pos_ + word.size() >= text_.size() || !is_ident_char(text_[pos_ + word.size()]))) {
        pos_ += word.size();
        node->kind = Node::Kind::Literal;
        node->literal = word == "true" ? Json(true) : word == "false" ? Json(false) : Json(nullptr);
        return true;
      }
    }
    if (at_end()) return fail("expected an argument but the text ended");
    return fail(
        "expected an argument (a 'string', a number, true, false, "
        "null, a path or a "
        "States. call) but found '" +
        std::string(1, c) + "'");
  }

  // 'text' with the escapes \' \{ \} \\. Also splits the literal at its unescaped "{}" so a
  // States.Format template is compiled here.
  bool parse_string(Node* node) {
    std::size_t start = pos_;
    ++pos_;
    std::string value;
    FormatTemplate tmpl;
    tmpl.pieces.emplace_back();
    bool template_ok = true;
    for (;;) {
      if (at_end()) return fail_at("unterminated string literal", start);
      char c = text_[pos_];
      if (c == '\'') {
        ++pos_;
        break;
      }
      if (c == '\\') {
        char e = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
        if (e != '\'' && e != '{' && e != '}' && e != '\\') {
          return fail("invalid escape '\\" + std::string(e ? 1 : 0, e) +
                      "' in a string literal (only \\' \\{ \\} \\\\ are allowed)");
        }
        value += e;
        tmpl.pieces.back() += e;
        pos_ += 2;
        continue;
      }
      if (c == '{') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '}') {
          value += "{}";
          tmpl.pieces.emplace_back();
          pos_ += 2;
          continue;
        }
        template_ok = false;
      } else if (c == '}') {
        template_ok = false;
      }
      value += c;
      tmpl.pieces.back() += c;
      ++pos_;
    }
    node->kind = Node::Kind::Literal;
    node->literal = std::move(value);
    if (template_ok) node->literal_template = std::move(tmpl);
    return true;
  }

  // JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool parse_number(Node* node) {
    std::size_t start = pos_;
    auto digits = [&] {
      std::size_t n = 0;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_, ++n;
      return n;
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return fail_at("invalid number", start);
    }
    if (peek() == '.') {
      ++pos_;
      if (digits() == 0) return fail_at("invalid number: a digit must follow '.'", start);
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (digits() == 0) return fail_at("invalid number: a digit must follow the exponent", start);
    }
    if (!at_end() && (is_ident_char(peek()) || peek() == '.')) {
      return fail_at("invalid number", start);
    }
    Json value = Json::parse(text_.substr(start, pos_ - start), nullptr, false);
    if (value.is_discarded()) return fail_at("number out of range", start);
    node->kind = Node::Kind::Literal;
    node->literal = std::move(value);
    return true;
  }

  // A path runs to the next ',' or ')' outside brackets, parentheses and quotes.
  bool parse_path(Node* node) {
    std::size_t start = pos_;
    int depth = 0;
    char quote = 0;
    for (; !at_end(); ++pos_) {
      char c = text_[pos_];
      if (quote != 0) {
        if (c == '\\') {
          ++pos_;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '[' || c == '(') {
        ++depth;
      } else if (c == ']' || c == ')') {
        if (depth == 0) break;
        --depth;
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    std::string_view raw = text_.substr(start, pos_ - start);
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
    std::string path_error;
    std::optional<Path> path = Path::parse(raw, &path_error);
    if (!path) {
      return fail_at("invalid path '" + std::string(raw) + "': " + path_error, start);
    }
    if (path->root() == Path::Root::Context) uses_context = true;
    if (path->root() == Path::Root::Variable) uses_variables = true;
    node->kind = Node::Kind::Path;
    node->path = std::move(path);
    return true;
  }

  void problem(Node* node, std::string what) {
    node->arguments_ok = false;
    problems.push_back(std::move(what));
  }

  // Load-time checks of what AWS reports only at run time.
  void check_arguments(Node* node) {
    const FunctionDef& fn = *node->fn;
    std::string name(fn.name);
    int n = static_cast<int>(node->args.size());
    if (n < fn.min_args || (fn.max_args != kVariadic && n > fn.max_args)) {
      std::string expected = fn.min_args == fn.max_args ? std::to_string(fn.min_args)
                             : fn.max_args == kVariadic ? "at least " + std::to_string(fn.min_args)
                                                        : std::to_string(fn.min_args) + " to " +
                                                              std::to_string(fn.max_args);
      bool singular = fn.min_args == 1 && (fn.max_args == 1 || fn.max_args == kVariadic);
      problem(node, name + " takes " + expected + " argument" + (singular ? "" : "s") +
                        " but was given " + std::to_string(n));
      return;
    }
    for (std::size_t i = 0; i < node->args.size(); ++i) {
      const Node& arg = node->args[i];
      if (arg.kind != Node::Kind::Literal) continue;
      ArgKind k = fn.kind(i);
      if (!matches(k, arg.literal)) {
        std::string actual = arg.literal.is_null() ? "null"
                                                   : "the " + std::string(type_name(arg.literal)) +
                                                         " " + dump_compact(arg.literal);
        problem(node, "argument " + std::to_string(i + 1) + " of " + name + " must be " +
                          std::string(kind_name(k)) + ", not " + actual);
        return;
      }
    }
    if (fn.fn == fn_format && node->args[0].kind == Node::Kind::Literal) {
      const Node& first = node->args[0];
      if (!first.literal_template) {
        problem(node, "the States.Format template " + dump_compact(first.literal) +
                          " has a '{' or '}' that is not part of '{}' (escape it as \\{ or \\})");
        return;
      }
      std::size_t placeholders = first.literal_template->pieces.size() - 1;
      if (placeholders != node->args.size() - 1) {
        problem(node, "the States.Format template has " + std::to_string(placeholders) +
                          " placeholder(s) but " + std::to_string(node->args.size() - 1) +
                          " value argument(s) were given");
        return;
      }
      node->format = first.literal_template;
    }
    if (fn.fn == fn_json_merge && node->args[2].kind == Node::Kind::Literal &&
        node->args[2].literal == Json(true)) {
      problem(node,
              "States.JsonMerge supports only the shallow merge: its "
              "third argument must "
              "be false");
      return;
    }
    if (fn.fn == fn_hash && node->args[1].kind == Node::Kind::Literal) {
      const std::string& a = node->args[1].literal.get_ref<const std::string&>();
      if (a != "MD5" && a != "SHA-1" && a != "SHA-256" && a != "SHA-384" && a != "SHA-512") {
        problem(node, "States.Hash algorithm '" + a +
                          "' is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512");
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// ---- evaluation ---------------------------------------------------------------------------------

Json eval_call(const Node& call, const EvalContext& ctx, std::string_view field);

const Json& eval_arg(const Node& arg, const EvalContext& ctx, std::string_view field,
                     Json* scratch) {
  switch (arg.kind) {
    case Node::Kind::Literal:
      return arg.literal;
    case Node::Kind::Path:
      return expr_detail::eval_path(*arg.path, ctx, field, scratch);
    case Node::Kind::Call:
      *scratch = eval_call(arg, ctx, field);
      return *scratch;
  }
  return arg.literal;
}

Json eval_call(const Node& call, const EvalContext& ctx, std::string_view field) {
  if (!call.arguments_ok) invalid(call.fn->name);
  constexpr std::size_t kInline = 4;
  std::size_t n = call.args.size();
  if (n <= kInline) {
    std::array<Json, kInline> scratch;
    std::array<const Json*, kInline> values;
    for (std::size_t i = 0; i < n; ++i)
      values[i] = &eval_arg(call.args[i], ctx, field, &scratch[i]);
    return call.fn->fn(call, Args(values.data(), n), ctx);
  }
  std::vector<Json> scratch(n);
  std::vector<const Json*> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = &eval_arg(call.args[i], ctx, field, &scratch[i]);
  return call.fn->fn(call, Args(values.data(), n), ctx);
}

}  // namespace

std::string java_double_string(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));  // "-1.2345e-05"
  std::string out;
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  std::size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits += c;
  }
  int exponent = 0;
  std::string_view exp_text = sci.substr(e_pos + 1);
  if (exp_text.front() == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent);
  double magnitude = std::fabs(d);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    if (exponent >= 0) {
      std::size_t int_len = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= int_len) {
        out += digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out += "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  out += '.';
  out += digits.size() > 1 ? digits.substr(1) : "0";
  out += 'E';
  out += std::to_string(exponent);
  return out;
}

std::string format_value(const Json& value) {
  switch (value.type()) {
    case Json::value_t::array: {
      std::string out = "[";
      bool first = true;
      for (const Json& item : value) {
        if (!first) out += ", ";
        first = false;
        out += format_value(item);
      }
      return out + "]";
    }
    case Json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        if (!first) out += ", ";
        first = false;
        out += key;
        out += '=';
        out += format_value(item);
      }
      return out + "}";
    }
    default:
      return scalar_text(value);
  }
}

}  // namespace intrinsic_detail

using intrinsic_detail::Node;
using intrinsic_detail::Parser;

IntrinsicCall::IntrinsicCall() = default;
IntrinsicCall::IntrinsicCall(IntrinsicCall&&) noexcept = default;
IntrinsicCall& IntrinsicCall::operator=(IntrinsicCall&&) noexcept = default;
IntrinsicCall::IntrinsicCall(const IntrinsicCall&) = default;
IntrinsicCall& IntrinsicCall::operator=(const IntrinsicCall&) = default;
IntrinsicCall::~IntrinsicCall() = default;

bool IntrinsicCall::looks_like_call(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  if (text.substr(i, 7) != "States.") return false;
  i += 7;
  std::size_t name_start = i;
  while (i < text.size() && intrinsic_detail::is_ident_char(text[i])) ++i;
  if (i == name_start) return false;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  return i < text.size() && text[i] == '(';
}

std::optional<IntrinsicCall> IntrinsicCall::parse(std::string_view text, std::string* error) {
  auto root = std::make_shared<Node>();
  Parser parser(text);
  if (!parser.parse(root.get())) {
    if (error != nullptr) *error = std::move(parser.error);
    return std::nullopt;
  }
  IntrinsicCall call;
  call.root_ = std::move(root);
  call.text_ = std::string(text);
  call.uses_context_ = parser.uses_context;
  call.uses_variables_ = parser.uses_variables;
  for (std::string& p : parser.problems) {
    if (!call.problem_.empty()) call.problem_ += "; ";
    call.problem_ += p;
  }
  return call;
}

const std::string& IntrinsicCall::text() const { return text_; }
bool IntrinsicCall::uses_context() const { return uses_context_; }
bool IntrinsicCall::uses_variables() const { return uses_variables_; }
const std::string& IntrinsicCall::problem() const { return problem_; }

Json IntrinsicCall::evaluate(const EvalContext& ctx, std::string_view field) const {
  assert(root_ != nullptr);
  return intrinsic_detail::eval_call(*root_, ctx, field);
}

}  // namespace stepd::asl
