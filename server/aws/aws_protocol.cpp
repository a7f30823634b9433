#include "server/aws/aws_protocol.hpp"

#include <cctype>
#include <cstdint>
#include <limits>

namespace stepd::server::aws {

namespace {

ApiError serialization_error(std::string message) {
  return ApiError{"SerializationException", std::move(message), {}};
}

// A JSON value's type as SerializationException messages name it: asl::type_name with its
// article ("an object", "a number"), and "null" for null.
std::string json_kind(const Json& v) {
  if (v.is_null()) return "null";
  const std::string_view name = asl::type_name(v);
  const bool vowel = name.front() == 'a' || name.front() == 'o';
  return (vowel ? "an " : "a ") + std::string(name);
}

std::string_view shape_kind(ShapeKind k) {
  switch (k) {
    case ShapeKind::String:
      return "a string";
    case ShapeKind::Integer:
      return "an integer";
    case ShapeKind::Boolean:
      return "a boolean";
    case ShapeKind::Structure:
      return "an object";
    case ShapeKind::List:
      return "an array";
  }
  return "a value";
}

long long code_points(std::string_view s) {
  long long n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// Walks a request against its shape, collecting constraint violations (all of them) and the
// first type mismatch.
class Checker {
 public:
  void structure(const Json& object, const Shape& shape, const std::string& prefix) {
    for (const ShapeMember& m : shape.members) {
      if (mismatch_) return;
      const std::string path = prefix.empty() ? m.name : prefix + "." + m.name;
      auto it = object.find(m.name);
      if (it == object.end() || it->is_null()) {
        if (m.required) {
          problems_.push_back("Value null at '" + path +
                              "' failed to satisfy constraint: Member must not be null");
        }
        continue;
      }
      value(*it, *m.shape, path);
    }
  }

  std::optional<ApiError> result() const {
    if (mismatch_) return mismatch_;
    if (problems_.empty()) return std::nullopt;
    std::string message =
        std::to_string(problems_.size()) +
        (problems_.size() == 1 ? " validation error detected: " : " validation errors detected: ");
    for (std::size_t i = 0; i < problems_.size(); ++i) {
      if (i > 0) message += "; ";
      message += problems_[i];
    }
    return ApiError{"ValidationException", std::move(message), {}};
  }

 private:
  void value(const Json& v, const Shape& shape, const std::string& path) {
    switch (shape.kind) {
      case ShapeKind::String:
        if (!v.is_string()) return wrong_type(v, shape, path);
        return string(v.get_ref<const std::string&>(), shape, path);
      case ShapeKind::Integer:
        return integer(v, shape, path);
      case ShapeKind::Boolean:
        if (!v.is_boolean()) return wrong_type(v, shape, path);
        return;
      case ShapeKind::Structure:
        if (!v.is_object()) return wrong_type(v, shape, path);
        return structure(v, shape, path);
      case ShapeKind::List: {
        if (!v.is_array()) return wrong_type(v, shape, path);
        const long long n = static_cast<long long>(v.size());
        if (shape.min && n < *shape.min) {
          problems_.push_back(violation("", path,
                                        "Member must have length greater than or "
                                        "equal to " +
                                            std::to_string(*shape.min)));
        }
        if (shape.max && n > *shape.max) {
          problems_.push_back(violation("", path,
                                        "Member must have length less than or "
                                        "equal to " +
                                            std::to_string(*shape.max)));
        }
        std::size_t index = 0;
        for (const Json& element : v) {
          ++index;
          if (mismatch_) return;
          // AWS: a null list element is a null member.
          const std::string element_path = path + "." + std::to_string(index) + ".member";
          if (element.is_null()) {
            problems_.push_back("Value null at '" + element_path +
                                "' failed to satisfy constraint: Member must not be null");
            continue;
          }
          value(element, *shape.element, element_path);
        }
        return;
      }
    }
  }

  void string(const std::string& s, const Shape& shape, const std::string& path) {
    const std::string shown = shape.sensitive ? "" : "'" + s + "' ";
    const long long length = shape.bytes ? static_cast<long long>(s.size()) : code_points(s);
    if (shape.min && length < *shape.min) {
      problems_.push_back(violation(shown, path,
                                    "Member must have length greater than or "
                                    "equal to " +
                                        std::to_string(*shape.min)));
    }
    if (shape.max && length > *shape.max) {
      problems_.push_back(violation(shown, path,
                                    "Member must have length less than or equal "
                                    "to " +
                                        std::to_string(*shape.max)));
    }
    if (shape.pattern != nullptr && !shape.pattern(s)) {
      problems_.push_back(violation(
          shown, path, "Member must satisfy regular expression pattern: " + shape.pattern_text));
    }
    if (!shape.enum_values.empty()) {
      bool found = false;
      for (const std::string& e : shape.enum_values) found = found || e == s;
      if (!found) {
        std::string set;
        for (const std::string& e : shape.enum_values) set += (set.empty() ? "" : ", ") + e;
        problems_.push_back(
            violation(shown, path, "Member must satisfy enum value set: [" + set + "]"));
      }
    }
  }

  void integer(const Json& v, const Shape& shape, const std::string& path) {
    long long n = 0;
    if (v.is_number_integer() && !v.is_number_unsigned()) {
      n = v.get<long long>();
    } else if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
        return out_of_range(path);
      }
      n = static_cast<long long>(u);
    } else if (v.is_number_float()) {
      const double d = v.get<double>();
      if (d != static_cast<double>(static_cast<long long>(d))) {
        mismatch_ = serialization_error("Value at '" + path + "' must be an integer, not " +
                                        "a number with a fraction");
        return;
      }
      n = static_cast<long long>(d);
    } else {
      return wrong_type(v, shape, path);
    }
    if (n > std::numeric_limits<int>::max() || n < std::numeric_limits<int>::min()) {
      return out_of_range(path);
    }
    const std::string shown = "'" + std::to_string(n) + "' ";
    if (shape.min && n < *shape.min) {
      problems_.push_back(violation(shown, path,
                                    "Member must have value greater than or equal "
                                    "to " +
                                        std::to_string(*shape.min)));
    }
    if (shape.max && n > *shape.max) {
      problems_.push_back(
          violation(shown, path,
                    "Member must have value less than or equal to " + std::to_string(*shape.max)));
    }
  }

  void out_of_range(const std::string& path) {
    mismatch_ = serialization_error("Value at '" + path + "' is out of range for an integer");
  }

  void wrong_type(const Json& v, const Shape& shape, const std::string& path) {
    mismatch_ = serialization_error("Value at '" + path + "' must be " +
                                    std::string(shape_kind(shape.kind)) + ", not " + json_kind(v));
  }

  static std::string violation(const std::string& shown, const std::string& path,
                               const std::string& constraint) {
    return "Value " + shown + "at '" + path + "' failed to satisfy constraint: " + constraint;
  }

  std::vector<std::string> problems_;
  std::optional<ApiError> mismatch_;
};

// Length of the UTF-8 sequence starting with `c`, or 0 when `c` cannot start one.
int utf8_length(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

// The byte at which `text` stops being valid UTF-8 (a bad lead or continuation byte, an overlong
// form, a UTF-16 surrogate, a code point above U+10FFFF), or nullopt when all of it is valid.
std::optional<std::size_t> invalid_utf8_at(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    const int n = utf8_length(c);
    bool ok = n > 0 && i + static_cast<std::size_t>(n) <= text.size();
    for (int k = 1; ok && k < n; ++k) {
      ok = (static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]) & 0xC0) == 0x80;
    }
    if (ok && n >= 3) {
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      if (c == 0xE0 && c1 < 0xA0) ok = false;   // overlong
      if (c == 0xED && c1 >= 0xA0) ok = false;  // UTF-16 surrogate
      if (c == 0xF0 && c1 < 0x90) ok = false;   // overlong
      if (c == 0xF4 && c1 >= 0x90) ok = false;  // above U+10FFFF
    }
    if (!ok) return i;
    i += static_cast<std::size_t>(n);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> validate(const Json& body, const Shape& shape) {
  Checker checker;
  checker.structure(body, shape, "");
  return checker.result();
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

bool is_visible_ascii(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

std::optional<ApiError> scan_body(std::string_view body, int max_depth) {
  // Of two faults, the one nearer the start is reported.
  const std::optional<std::size_t> bad_byte = invalid_utf8_at(body);
  const std::optional<std::size_t> too_deep = asl::nesting_beyond(body, max_depth);
  if (bad_byte && (!too_deep || *bad_byte < *too_deep)) {
    return serialization_error("The request body is not valid UTF-8 (at byte " +
                               std::to_string(*bad_byte) + ")");
  }
  if (too_deep) {
    return serialization_error("The request body nests arrays and objects deeper than " +
                               std::to_string(max_depth) + " levels");
  }
  return std::nullopt;
}

std::variant<Json, ApiError> parse_body(std::string_view body) {
  if (auto e = scan_body(body)) return *e;
  bool blank = true;
  for (char c : body) blank = blank && std::isspace(static_cast<unsigned char>(c)) != 0;
  if (blank) return Json::object();
  Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return serialization_error("The request body is not valid JSON");
  }
  if (!parsed.is_object()) {
    return serialization_error("The request body must be a JSON object, not " + json_kind(parsed));
  }
  return parsed;
}

int error_status(std::string_view type) {
  if (type == "InternalFailure" || type == "InternalError") return 500;
  if (type == "ServiceUnavailable") return 503;
  return 400;
}

std::string wire_error_type(std::string_view type) {
  if (type == "InternalError") return "InternalFailure";
  return std::string(type);
}

HttpResponse error_response(const ApiError& error, const std::string& request_id,
                            const Json& extra) {
  const std::string type = wire_error_type(error.type);
  Json body = Json::object();
  body["__type"] = type;
  body["message"] = error.message;
  for (const auto& [k, v] : extra.items()) body[k] = v;
  HttpResponse r;
  r.status = error_status(type);
  r.content_type = std::string(kContentType);
  r.headers.push_back({"x-amzn-RequestId", request_id});
  r.headers.push_back({"x-amzn-ErrorType", type});
  r.body = dump(body);
  return r;
}

HttpResponse json_response(const Json& body, const std::string& request_id) {
  HttpResponse r;
  r.status = 200;
  r.content_type = std::string(kContentType);
  r.headers.push_back({"x-amzn-RequestId", request_id});
  r.body = dump(body);
  return r;
}

Json timestamp(engine::Micros t) {
  // Milliseconds, as AWS keeps them; the shortest decimal form of the double prints exactly
  // three fraction digits at most (1700000000.123).
  const engine::Micros ms = t >= 0 ? t / 1000 : -((-t + 999) / 1000);
  return static_cast<double>(ms) / 1000.0;
}

std::string history_details_member(std::string_view type) {
  if (type.ends_with("StateEntered")) return "stateEnteredEventDetails";
  if (type.ends_with("StateExited")) return "stateExitedEventDetails";
  std::string member(type);
  if (!member.empty()) {
    member[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(member[0])));
  }
  return member + "EventDetails";
}

Json history_event(const engine::HistoryEvent& event, bool include_data) {
  Json out = Json::object();
  out["timestamp"] = timestamp(event.timestamp);
  out["type"] = event.type;
  out["id"] = event.id;
  out["previousEventId"] = event.previous_id;
  if (event.details.empty()) return out;
  Json details = Json::parse(event.details, nullptr, /*allow_exceptions=*/false);
  if (!details.is_object()) return out;
  if (details.empty()) return out;
  if (!include_data) {
    details.erase("input");
    details.erase("output");
  }
  out[history_details_member(event.type)] = std::move(details);
  return out;
}

}  // namespace stepd::server::aws
