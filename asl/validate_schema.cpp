// Pass 1: structure. The document is checked against the embedded JSON Schema with valijson;
// each of valijson's errors is turned into a Diagnostic with the JSON Pointer of the offending
// field and a message worded from the schema itself (its types, enums and x- annotations).
#include "asl/definition_detail.hpp"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace stepd::asl::definition_detail {
namespace {

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The text between the first pair of single quotes in s.
std::string quoted(const std::string& s) {
  std::size_t a = s.find('\'');
  std::size_t b = a == std::string::npos ? a : s.find('\'', a + 1);
  if (b == std::string::npos) return "";
  return s.substr(a + 1, b - a - 1);
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += names[i];
  }
  return out;
}

// Fields that exist only in JSONata states (AWS's Arguments / Output).
bool is_jsonata_field(const std::string& name) { return name == "Arguments" || name == "Output"; }

// valijson's adapter takes nlohmann::json; Stepd's Json keeps member order in another map type.
using PlainJson = nlohmann::json;

PlainJson to_plain(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object: {
      PlainJson out = PlainJson::object();
      for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = to_plain(it.value());
      return out;
    }
    case Json::value_t::array: {
      PlainJson out = PlainJson::array();
      for (const Json& item : v) out.push_back(to_plain(item));
      return out;
    }
    case Json::value_t::string:
      return v.get_ref<const std::string&>();
    case Json::value_t::boolean:
      return v.get<bool>();
    case Json::value_t::number_integer:
      return v.get<std::int64_t>();
    case Json::value_t::number_unsigned:
      return v.get<std::uint64_t>();
    case Json::value_t::number_float:
      return v.get<double>();
    default:
      return nullptr;
  }
}

class SchemaChecker {
 public:
  SchemaChecker() : schema_json_(PlainJson::parse(embedded_schema_text())) {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(schema_json_);
    parser.populateSchema(adapter, schema_);
    // Which state types have each field, for "field 'Retry' is not allowed for a Pass state".
    for (const auto& [name, def] : schema_json_.at("definitions").items()) {
      auto type = def.find("x-state-type");
      if (type == def.end()) continue;
      for (const auto& [field, unused] : def.at("properties").items()) {
        (void)unused;
        state_fields_[field].push_back(type->get<std::string>());
      }
    }
    static constexpr std::string_view kOrder[] = {"Pass",    "Task", "Choice",   "Wait",
                                                  "Succeed", "Fail", "Parallel", "Map"};
    auto rank = [](const std::string& t) {
      return std::find(std::begin(kOrder), std::end(kOrder), t) - std::begin(kOrder);
    };
    for (auto& [field, types] : state_fields_) {
      std::sort(types.begin(), types.end(),
                [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
    }
  }

  static const SchemaChecker& instance() {
    static const SchemaChecker checker;
    return checker;
  }

  void check(const Json& original, Diagnostics& diags) const {
    // Everything below works on a plain copy.
    PlainJson doc = to_plain(original);
    valijson::Validator validator(valijson::Validator::kStrongTypes);
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(doc);
    if (validator.validate(schema_, target, &results)) return;
    valijson::ValidationResults::Error error;
    while (results.popError(error)) translate(doc, error, diags);
  }

 private:
  using Candidates = std::vector<const PlainJson*>;

  const PlainJson* follow_ref(const PlainJson* schema) const {
    for (int guard = 0; guard < 16 && schema->is_object(); ++guard) {
      auto ref = schema->find("$ref");
      if (ref == schema->end() || !ref->is_string()) break;
      std::string target = ref->get<std::string>();
      if (target.empty() || target[0] != '#') break;
      schema = &schema_json_.at(PlainJson::json_pointer(target.substr(1)));
    }
    return schema;
  }

  // True when `node` satisfies an "if" of the form {"required": [...], "properties": {K: {"const":
  // V}}}.
  static bool condition_holds(const PlainJson& cond, const PlainJson* node) {
    if (node == nullptr || !node->is_object()) return false;
    if (auto req = cond.find("required"); req != cond.end()) {
      for (const auto& k : *req) {
        if (!node->contains(k.get<std::string>())) return false;
      }
    }
    if (auto props = cond.find("properties"); props != cond.end()) {
      for (const auto& [k, sub] : props->items()) {
        auto value = node->find(k);
        if (value == node->end()) continue;
        if (auto c = sub.find("const"); c != sub.end() && *c != *value) return false;
      }
    }
    return true;
  }

  // The schema and every subschema that applies to node with it (allOf members, "then" of
  // conditions that hold), $refs followed.
  void expand(const PlainJson* schema, const PlainJson* node, Candidates& out) const {
    schema = follow_ref(schema);
    if (!schema->is_object()) return;
    out.push_back(schema);
    auto all = schema->find("allOf");
    if (all == schema->end()) return;
    for (const auto& member : *all) {
      auto cond = member.find("if");
      if (cond == member.end()) {
        expand(&member, node, out);
      } else if (condition_holds(*cond, node)) {
        if (auto then = member.find("then"); then != member.end()) expand(&*then, node, out);
      }
    }
  }

  // The subschemas that apply to the node at `tokens` (raw, unescaped) of doc.
  Candidates resolve(const PlainJson& doc, const std::vector<std::string>& tokens) const {
    Candidates cands;
    const PlainJson* node = &doc;
    expand(&schema_json_, node, cands);
    for (const std::string& token : tokens) {
      const PlainJson* child = nullptr;
      bool in_array = node != nullptr && node->is_array();
      if (node != nullptr && node->is_object()) {
        auto it = node->find(token);
        if (it != node->end()) child = &*it;
      } else if (in_array) {
        std::size_t index = std::strtoull(token.c_str(), nullptr, 10);
        if (index < node->size()) child = &(*node)[index];
      }
      Candidates next;
      for (const PlainJson* cand : cands) {
        if (in_array) {
          if (auto items = cand->find("items"); items != cand->end() && items->is_object()) {
            expand(&*items, child, next);
          }
          continue;
        }
        auto props = cand->find("properties");
        if (props != cand->end() && props->contains(token)) {
          expand(&(*props)[token], child, next);
        } else if (auto extra = cand->find("additionalProperties");
                   extra != cand->end() && extra->is_object()) {
          expand(&*extra, child, next);
        }
      }
      cands = std::move(next);
      node = child;
    }
    return cands;
  }

  // The most specific value of annotation `key` among cands.
  static const PlainJson* annotation(const Candidates& cands, const char* key) {
    const PlainJson* found = nullptr;
    for (const PlainJson* c : cands) {
      if (auto it = c->find(key); it != c->end()) found = &*it;
    }
    return found;
  }

  static std::string what_of(const Candidates& cands) {
    const PlainJson* what = annotation(cands, "x-what");
    return what != nullptr && what->is_string() ? what->get<std::string>() : "this object";
  }

  static std::string override_message(const Candidates& cands, const char* constraint) {
    const PlainJson* messages = annotation(cands, "x-messages");
    if (messages == nullptr || !messages->is_object()) return "";
    auto it = messages->find(constraint);
    return it != messages->end() && it->is_string() ? it->get<std::string>() : "";
  }

  static std::string to_pointer(const std::vector<std::string>& tokens) {
    std::string out;
    for (const auto& t : tokens) out += "/" + pointer_token(t);
    return out;
  }

  void unknown_field(const PlainJson& doc, std::vector<std::string> tokens,
                     Diagnostics& diags) const {
    std::string pointer = to_pointer(tokens);
    std::string field = tokens.empty() ? "" : tokens.back();
    if (!tokens.empty()) tokens.pop_back();
    Candidates parent = resolve(doc, tokens);
    std::string what = what_of(parent);
    const PlainJson* state_type = annotation(parent, "x-state-type");
    if (state_type != nullptr) {
      if (is_jsonata_field(field)) {
        diags.error(pointer, codes::kFieldNotAllowed,
                    "field '" + field + "' is not allowed for " + what +
                        ": it is a JSONata field, and JSONata is not supported yet");
        return;
      }
      auto it = state_fields_.find(field);
      if (it != state_fields_.end()) {
        diags.error(pointer, codes::kFieldNotAllowed,
                    "field '" + field + "' is not allowed for " + what + " (only for " +
                        join_names(it->second) + " states)");
        return;
      }
    }
    diags.error(pointer, codes::kUnknownField, "unknown field '" + field + "' for " + what);
  }

  void translate(const PlainJson& doc, const valijson::ValidationResults::Error& error,
                 Diagnostics& diags) const {
    const std::string& text = error.description;
    // Summaries of errors already reported for a child.
    if (starts_with(text, "Failed to validate") || starts_with(text, "Cannot validate")) return;

    std::vector<std::string> tokens;
    for (const std::string& c : error.context) {
      if (c == "<root>") continue;
      tokens.push_back(
          c.size() >= 2 && c.front() == '[' && c.back() == ']' ? c.substr(1, c.size() - 2) : c);
    }
    std::string pointer = to_pointer(tokens);

    if (starts_with(text, "Target should not validate against schema specified in 'not'")) {
      unknown_field(doc, tokens, diags);
      return;
    }
    if (starts_with(text, "Object contains a property that could not be validated")) {
      tokens.push_back(quoted(text.substr(text.find(": '") + 1)));
      unknown_field(doc, tokens, diags);
      return;
    }
    if (starts_with(text, "Missing required property")) {
      std::string field = quoted(text);
      diags.error(pointer, codes::kMissingField,
                  "missing required field '" + field + "' for " + what_of(resolve(doc, tokens)));
      return;
    }
    Candidates cands = resolve(doc, tokens);
    const PlainJson* value = nullptr;
    if (!pointer.empty()) {
      PlainJson::json_pointer jp(pointer);
      if (doc.contains(jp)) value = &doc.at(jp);
    }
    if (text == "Value type not permitted by 'type' constraint.") {
      const PlainJson* type = annotation(cands, "type");
      std::vector<std::string> types;
      if (type != nullptr && type->is_string()) types.push_back(type->get<std::string>());
      if (type != nullptr && type->is_array()) {
        for (const PlainJson& t : *type) {
          if (t.is_string()) types.push_back(t.get<std::string>());
        }
      }
      diags.error(pointer, codes::kWrongType, type_requirement(types));
      return;
    }
    if (text == "Failed to match against any enum values.") {
      const PlainJson* values = annotation(cands, "enum");
      std::string message = "must be one of ";
      if (values != nullptr && values->is_array()) {
        for (std::size_t i = 0; i < values->size(); ++i) {
          if (i > 0) message += ", ";
          message += (*values)[i].dump();
        }
      }
      if (value != nullptr) message += " (got " + value->dump() + ")";
      diags.error(pointer, codes::kInvalidValue, message);
      return;
    }
    const char* constraint = nullptr;
    if (starts_with(text, "Array should contain no fewer than")) constraint = "minItems";
    if (starts_with(text, "Object should have no fewer than")) constraint = "minProperties";
    if (starts_with(text, "String should be no fewer than")) constraint = "minLength";
    if (constraint != nullptr) {
      std::string message = override_message(cands, constraint);
      diags.error(pointer, codes::kInvalidValue, message.empty() ? "must not be empty" : message);
      return;
    }
    diags.error(pointer, codes::kSchemaValidation, text);
  }

  PlainJson schema_json_;
  valijson::Schema schema_;
  std::map<std::string, std::vector<std::string>> state_fields_;
};

}  // namespace

void validate_schema(const Json& doc, Diagnostics& diags) {
  SchemaChecker::instance().check(doc, diags);
}

}  // namespace stepd::asl::definition_detail
