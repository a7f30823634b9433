// Loading a definition: JSON text -> a compiled Machine, or every problem at once.
//
// Two passes. Structure: the document is checked against Stepd's JSON Schema for ASL (valijson);
// each schema violation becomes a Diagnostic with the pointer of the offending field. Meaning:
// Next/Default/StartAt targets exist, every state is reachable, a terminal state exists,
// States.ALL stands alone and last, Retry/Catch only where allowed, Wait has exactly one of its
// four fields, every path/template/intrinsic/Choice rule compiles, Parallel branches and Map
// processors are checked recursively in their own scope, Resource ARNs are well-formed.
//
// Diagnostic codes of this component (tests and clients match on them):
//   INVALID_JSON (the text is not JSON; the message says line and column), DUPLICATE_KEY,
//   UNKNOWN_FIELD, FIELD_NOT_ALLOWED (a known ASL field on a state type that does not take it),
//   MISSING_FIELD, WRONG_TYPE, INVALID_VALUE (enum, range, empty list), SCHEMA_VALIDATION (any
//   other schema violation), EXCLUSIVE_FIELDS, INVALID_TRANSITION (End and Next both or neither),
//   MISSING_TRANSITION_TARGET (also a Next that leaves or enters a Parallel branch / Map
//   processor), UNREACHABLE_STATE, NO_TERMINAL_STATE, DUPLICATE_STATE_NAME (names are unique in
//   the whole machine), INVALID_STATE_NAME (empty, more than 80 characters), STATES_ALL_NOT_ALONE,
//   STATES_ALL_NOT_LAST, INVALID_PATH, INVALID_INTRINSIC, INTRINSIC_ARGUMENTS (warning),
//   INVALID_TIMESTAMP, INVALID_RESOURCE, UNSUPPORTED_RESOURCE, UNSUPPORTED_QUERY_LANGUAGE.
// Payload templates and Choice rules report their own codes (see payload.hpp, choice_rule.hpp).
// A problem inside a state or machine that sets QueryLanguage "JSONata" is reported only as
// UNSUPPORTED_QUERY_LANGUAGE.
//
// Resources: a syntactically valid Resource that this engine cannot serve is reported as a
// warning with code "UNSUPPORTED_RESOURCE" (an error when options.strict is set), so a user can
// tell "not valid ASL" from "valid, but not runnable here".
#pragma once

#include "asl/core/error.hpp"
#include "asl/core/json.hpp"
#include "asl/machine.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::asl {

// Decides whether a Resource ARN can be served. The engine installs the list of what its
// dispatchers handle; the default (default_resource_support()) accepts Lambda function ARNs,
// arn:aws:states:::lambda:invoke, arn:aws:states:::http:invoke, activity ARNs and
// arn:aws:states:::states:startExecution, each with their integration-pattern suffixes.
using ResourceSupport = std::function<bool(std::string_view resource)>;
ResourceSupport default_resource_support();

struct LoadOptions {
  bool strict = false;               // unsupported resources are errors, not warnings
  ResourceSupport resource_support;  // empty: default_resource_support()
};

struct LoadResult {
  std::shared_ptr<const Machine> machine;  // null when any Error-severity diagnostic exists
  std::vector<Diagnostic> diagnostics;     // errors and warnings, in document order

  bool ok() const { return machine != nullptr; }
};

// Parses text as JSON (a JSON syntax error is one diagnostic with code "INVALID_JSON" saying
// where), then loads it.
LoadResult load_definition(std::string_view text, const LoadOptions& options = {});
LoadResult load_definition(const Json& definition, const LoadOptions& options = {});
// Text again (a std::string or literal converts to both string_view and Json).
inline LoadResult load_definition(const std::string& text, const LoadOptions& options = {}) {
  return load_definition(std::string_view(text), options);
}
inline LoadResult load_definition(const char* text, const LoadOptions& options = {}) {
  return load_definition(std::string_view(text), options);
}

}  // namespace stepd::asl
