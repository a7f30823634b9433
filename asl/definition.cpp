// load_definition(): JSON text -> Machine, or every problem at once. The two passes live in
// validate_schema.cpp (structure) and parse_machine.cpp / validate_graph.cpp (meaning).
#include "asl/definition.hpp"

#include "asl/definition_detail.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

namespace stepd::asl {

namespace definition_detail {

std::string type_requirement(const std::vector<std::string>& schema_types) {
  if (schema_types.empty()) return "has the wrong type";
  std::string out = "must be ";
  for (std::size_t i = 0; i < schema_types.size(); ++i) {
    const std::string& t = schema_types[i];
    if (i > 0) out += i + 1 == schema_types.size() ? " or " : ", ";
    if (t == "integer" || t == "object" || t == "array") {
      out += "an " + t;
    } else if (t == "null") {
      out += "null";
    } else {
      out += "a " + t;
    }
  }
  return out;
}

namespace {

std::string unescape_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (std::size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size()) {
      out += token[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

}  // namespace

// Follows the parser's events to know the pointer of every object and the order of its keys.
struct OrderRecorder {
  struct Frame {
    std::string pointer;
    bool is_array = false;
    std::size_t index = 0;
    std::string key;
    std::set<std::string> seen;
  };

  DocumentOrder* order;
  std::vector<Frame> stack;

  std::string child_pointer() {
    if (stack.empty()) return "";
    Frame& f = stack.back();
    if (f.is_array) return f.pointer + "/" + std::to_string(f.index++);
    return f.pointer + "/" + pointer_token(f.key);
  }

  bool operator()(int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start: {
        std::string p = child_pointer();
        order->keys_[p];
        stack.push_back(Frame{std::move(p), false, 0, {}, {}});
        break;
      }
      case Json::parse_event_t::array_start:
        stack.push_back(Frame{child_pointer(), true, 0, {}, {}});
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!stack.empty() && parsed.is_string()) {
          Frame& f = stack.back();
          f.key = parsed.get<std::string>();
          if (f.seen.insert(f.key).second) {
            order->keys_[f.pointer].push_back(f.key);
          } else {
            order->duplicates_.push_back(f.pointer + "/" + pointer_token(f.key));
          }
        }
        break;
      case Json::parse_event_t::value:
        if (!stack.empty() && stack.back().is_array) ++stack.back().index;
        break;
    }
    return true;
  }
};

DocumentOrder DocumentOrder::parse(std::string_view text, Json* out) {
  DocumentOrder order;
  OrderRecorder recorder{&order, {}};
  *out = Json::parse(text.begin(), text.end(),
                     [&recorder](int depth, Json::parse_event_t event, Json& parsed) {
                       return recorder(depth, event, parsed);
                     });
  return order;
}

DocumentOrder DocumentOrder::from_json(const Json& doc) {
  DocumentOrder order;
  order.walk(doc, "");
  return order;
}

void DocumentOrder::walk(const Json& node, const std::string& pointer) {
  if (node.is_object()) {
    auto& keys = keys_[pointer];
    keys.reserve(node.size());
    for (auto it = node.begin(); it != node.end(); ++it) keys.push_back(it.key());
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it.value().is_structured()) walk(it.value(), pointer + "/" + pointer_token(it.key()));
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (node[i].is_structured()) walk(node[i], pointer + "/" + std::to_string(i));
    }
  }
}

const std::vector<std::string>* DocumentOrder::keys(const std::string& object_pointer) const {
  auto it = keys_.find(object_pointer);
  return it == keys_.end() ? nullptr : &it->second;
}

std::vector<std::size_t> DocumentOrder::position(std::string_view pointer) const {
  constexpr std::size_t kAfter = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> out;
  std::string prefix;
  std::size_t i = 0;
  while (i < pointer.size() && pointer[i] == '/') {
    std::size_t end = pointer.find('/', i + 1);
    if (end == std::string_view::npos) end = pointer.size();
    std::string_view token = pointer.substr(i + 1, end - i - 1);
    std::size_t pos = kAfter;
    if (const auto* k = keys(prefix)) {
      std::string raw = unescape_token(token);
      auto found = std::find(k->begin(), k->end(), raw);
      if (found != k->end()) pos = static_cast<std::size_t>(found - k->begin());
    } else if (!token.empty() && std::all_of(token.begin(), token.end(),
                                             [](char c) { return c >= '0' && c <= '9'; })) {
      pos = static_cast<std::size_t>(std::stoull(std::string(token)));
    }
    out.push_back(pos);
    prefix.append(pointer.substr(i, end - i));
    i = end;
  }
  return out;
}

namespace {

bool within(const std::string& pointer, const std::string& scope) {
  if (scope.empty()) return true;
  return pointer == scope ||
         (pointer.size() > scope.size() && pointer.compare(0, scope.size(), scope) == 0 &&
          pointer[scope.size()] == '/');
}

std::string last_token(const std::string& pointer) {
  return unescape_token(pointer.substr(pointer.rfind('/') + 1));
}

LoadResult finish(const Json& doc, const DocumentOrder& order, const LoadOptions& options) {
  Diagnostics diags;
  LoadResult result;
  if (!doc.is_object()) {
    diags.error(
        "", codes::kWrongType,
        "a state machine definition must be a JSON object, not " + std::string(type_name(doc)));
    result.diagnostics = std::move(diags.items());
    return result;
  }

  validate_schema(doc, diags);
  CompileInfo info;
  std::unique_ptr<Machine> machine = compile(doc, options, diags, &info);

  for (const std::string& dup : order.duplicates()) {
    std::string parent = dup.substr(0, dup.rfind('/'));
    if (info.state_maps.count(parent) != 0) {
      diags.error(dup, codes::kDuplicateStateName,
                  "state '" + last_token(dup) + "' is defined more than once");
    } else {
      diags.error(dup, codes::kDuplicateKey,
                  "field '" + last_token(dup) + "' appears more than once in this object");
    }
  }

  std::vector<Diagnostic> items = std::move(diags.items());

  // Inside a JSONata scope only the UNSUPPORTED_QUERY_LANGUAGE diagnostic is useful: the other
  // fields follow JSONata's rules, which Stepd does not implement.
  if (!info.jsonata_scopes.empty()) {
    std::erase_if(items, [&](const Diagnostic& d) {
      if (d.code == codes::kUnsupportedQueryLanguage) return false;
      return std::any_of(info.jsonata_scopes.begin(), info.jsonata_scopes.end(),
                         [&](const std::string& scope) { return within(d.pointer, scope); });
    });
  }

  // The schema and the compiler may both see one problem: a field of the wrong type is reported
  // once per pointer (the schema's wording, which comes first), anything else once per text.
  {
    std::set<std::tuple<std::string, std::string, std::string>> seen;
    std::erase_if(items, [&](const Diagnostic& d) {
      std::string message = d.code == codes::kWrongType ? std::string() : d.message;
      return !seen.insert({d.pointer, d.code, std::move(message)}).second;
    });
  }

  // Document order.
  std::vector<std::pair<std::vector<std::size_t>, std::size_t>> keys;
  keys.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    keys.emplace_back(order.position(items[i].pointer), i);
  std::stable_sort(keys.begin(), keys.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  result.diagnostics.reserve(items.size());
  for (const auto& k : keys) result.diagnostics.push_back(std::move(items[k.second]));

  bool has_errors = std::any_of(result.diagnostics.begin(), result.diagnostics.end(),
                                [](const Diagnostic& d) { return d.severity == Severity::Error; });
  if (!has_errors) result.machine = std::move(machine);
  return result;
}

// "invalid JSON at line 2, column 17: syntax error while parsing value - invalid literal; ...".
// nlohmann's own text says where too, but counts a newline as the start of the next line.
std::string json_error_message(std::string_view text, const Json::parse_error& e) {
  std::size_t index = e.byte == 0 ? 0 : std::min<std::size_t>(e.byte - 1, text.size());
  std::size_t line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < index; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  std::string what = e.what();
  std::size_t detail = what.find(": ", what.find("parse error"));
  std::string message = "invalid JSON at line " + std::to_string(line) + ", column " +
                        std::to_string(index - line_start + 1);
  if (detail != std::string::npos) {
    message += ": ";
    for (char c : what.substr(detail + 2)) {
      if (c == '\n') {
        message += "\\n";
      } else if (c == '\r') {
        message += "\\r";
      } else if (c == '\t') {
        message += "\\t";
      } else {
        message += c;
      }
    }
  }
  return message;
}

}  // namespace
}  // namespace definition_detail

LoadResult load_definition(std::string_view text, const LoadOptions& options) {
  using namespace definition_detail;
  Json doc;
  DocumentOrder order;
  try {
    order = DocumentOrder::parse(text, &doc);
  } catch (const Json::parse_error& e) {
    LoadResult result;
    result.diagnostics.push_back(
        Diagnostic{"", codes::kInvalidJson, json_error_message(text, e), Severity::Error});
    return result;
  }
  return finish(doc, order, options);
}

LoadResult load_definition(const Json& definition, const LoadOptions& options) {
  using namespace definition_detail;
  return finish(definition, DocumentOrder::from_json(definition), options);
}

}  // namespace stepd::asl
