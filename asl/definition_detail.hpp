// Internals of load_definition(), shared by asl/definition*.cpp, asl/parse*.cpp,
// asl/validate*.cpp and asl/resources*.cpp. Not part of the public contract.
#pragma once

#include "asl/core/codes.hpp"
#include "asl/core/error.hpp"
#include "asl/core/json.hpp"
#include "asl/definition.hpp"
#include "asl/machine.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace stepd::asl {

// The JSON Schema for ASL, embedded at build time from asl/schema/asl.schema.json.
std::string_view embedded_schema_text();

namespace definition_detail {

// Diagnostic codes: asl/core/codes.hpp.
namespace codes = ::stepd::asl::codes;

// "must be a string", "must be a string or null", ... for JSON Schema type names.
std::string type_requirement(const std::vector<std::string>& schema_types);

// Key order of every object of a document, by the JSON Pointer of the object, plus the keys
// that appeared more than once (nlohmann::json keeps only the last). Lets diagnostics and
// Machine::states follow the order of the text.
class DocumentOrder {
 public:
  // The order Json iterates (insertion order): used when there is no text.
  static DocumentOrder from_json(const Json& doc);
  // Parses text into *out, recording key order. Throws nlohmann::json::parse_error.
  static DocumentOrder parse(std::string_view text, Json* out);

  // Keys of the object at pointer in document order, or nullptr if unknown.
  const std::vector<std::string>* keys(const std::string& object_pointer) const;
  // A sort key: the position of the node at pointer in a depth-first walk of the document.
  // Nodes that do not exist sort after their existing siblings.
  std::vector<std::size_t> position(std::string_view pointer) const;
  // Pointers of keys that appeared more than once ("/States/A" for a second "A").
  const std::vector<std::string>& duplicates() const { return duplicates_; }

 private:
  void walk(const Json& node, const std::string& pointer);
  std::unordered_map<std::string, std::vector<std::string>> keys_;
  std::vector<std::string> duplicates_;
  friend struct OrderRecorder;
};

// Checks doc against the embedded schema; every violation becomes a diagnostic.
void validate_schema(const Json& doc, Diagnostics& diags);

// ARN syntax as AWS checks it: arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE. On failure sets
// *why to what is wrong.
bool is_valid_arn(std::string_view arn, std::string* why);

// A scope of state names: the top level, a Parallel branch or a Map item processor.
enum class ScopeKind { TopLevel, Branch, Processor };

// What the graph checks (validate_graph.cpp) need besides the Machine tree.
struct GraphInput {
  struct Scope {
    Machine* machine;
    ScopeKind kind;
  };
  std::vector<Scope> scopes;  // every scope, in document order
  // States whose Type is missing or unknown: the transition names found in them, as
  // (pointer of the field, state name). They count as possibly terminal.
  std::unordered_map<const State*, std::vector<std::pair<std::string, std::string>>> broken;
  // States that should name a Next but name none (already reported): they might have been
  // meant to end, so they count as possibly terminal.
  std::unordered_set<const State*> maybe_terminal;
  // Every state name of the whole machine -> pointer of its first definition.
  std::unordered_map<std::string, std::string> state_pointers;
};

// Resolves every Next / Default / Catch Next / StartAt of every scope to its State, and checks
// that targets exist in their own scope, every state is reachable and a terminal state exists.
void check_graph(const GraphInput& input, Diagnostics& diags);

// What compile() found besides the machine.
struct CompileInfo {
  std::vector<std::string> jsonata_scopes;     // pointers of objects with QueryLanguage JSONata
  std::unordered_set<std::string> state_maps;  // pointers of every "States" object
};

// Builds the Machine tree from doc (which need not have passed the schema: fields of the wrong
// type are reported and skipped), checks field meanings, resolves transitions and checks the
// graph of every scope. States keep the order of doc (Json keeps member order). Never returns
// null.
std::unique_ptr<Machine> compile(const Json& doc, const LoadOptions& options, Diagnostics& diags,
                                 CompileInfo* info);

}  // namespace definition_detail
}  // namespace stepd::asl
