// The AWS JSON 1.0 wire protocol as Step Functions speaks it: reading request bodies, checking
// them against the API model's shapes, and writing answers and errors. The operations
// themselves are in aws_api.cpp; this file knows nothing of Step Functions semantics beyond the
// shapes of its messages.
//
// Requests (AWS JSON 1.0):
//  - body: one JSON object; an empty body counts as {}. Not JSON, not an object, invalid UTF-8
//    or nested deeper than kMaxNesting → SerializationException (checked by a scan before any
//    DOM is built, so a hostile body cannot make the parser recurse deeply).
//  - members the shape does not know are ignored; a member whose JSON type does not fit its
//    shape is a SerializationException; a JSON null counts as absent.
//  - constraints (required, length, range, enum, pattern) are all checked and reported at once
//    as one ValidationException with AWS's wording:
//      "2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member
//       must not be null; Value 'X' at 'type' failed to satisfy constraint: Member must satisfy
//       enum value set: [STANDARD, EXPRESS]"
//    List elements are named as AWS names them ('tags.1.member.key', 1-based). Values of
//    sensitive members are not echoed ("Value at 'input' failed to satisfy ...").
//
// Answers: HTTP 200 with a JSON object, Content-Type application/x-amz-json-1.0, and the
// x-amzn-RequestId header. Errors: {"__type": NAME, "message": TEXT} with the x-amzn-ErrorType
// header and the HTTP status AWS uses for that error (error_status()).
//
// Timestamps are epoch seconds as JSON numbers with a millisecond fraction (1700000000.123).
//
// Threads: everything here is pure and thread-safe.
#pragma once

#include "asl/core/json.hpp"
#include "engine/engine.hpp"
#include "server/http/message.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::server::aws {

using asl::Json;
using engine::ApiError;

inline constexpr int kMaxNesting = 64;
inline constexpr std::string_view kContentType = "application/x-amz-json-1.0";

// --- Shapes ---------------------------------------------------------------------------------

enum class ShapeKind { String, Integer, Boolean, Structure, List };

struct Shape;

struct ShapeMember {
  std::string name;
  const Shape* shape = nullptr;
  bool required = false;
};

// A shape of the API model, with the constraints AWS checks on requests.
struct Shape {
  ShapeKind kind = ShapeKind::String;
  std::optional<long long> min;  // String: length (code points; bytes when `bytes`), List: size,
  std::optional<long long> max;  // Integer: value
  bool bytes = false;
  std::vector<std::string> enum_values;  // String: allowed values, in the model's order
  // String: a pattern the value must match, and the regular expression AWS names in messages.
  bool (*pattern)(std::string_view) = nullptr;
  std::string pattern_text;
  bool sensitive = false;            // the value is never echoed in messages
  std::vector<ShapeMember> members;  // Structure
  const Shape* element = nullptr;    // List
};

// Checks `body` (an object) against the structure `shape`. Returns the SerializationException of
// the first member of a wrong JSON type, else the ValidationException listing every violated
// constraint, else nothing.
std::optional<ApiError> validate(const Json& body, const Shape& shape);

// Pattern helpers for Shape::pattern.
bool is_ascii(std::string_view s);          // \p{ASCII}*
bool is_visible_ascii(std::string_view s);  // [!-~]+

// --- Bodies ---------------------------------------------------------------------------------

// Checks the raw body before it is parsed: valid UTF-8 and at most `max_depth` levels of
// arrays/objects. SerializationException otherwise. Does not check JSON syntax.
std::optional<ApiError> scan_body(std::string_view body, int max_depth = kMaxNesting);

// scan_body, then parses. An empty (or blank) body is {}. SerializationException when the body
// is not JSON or not an object.
std::variant<Json, ApiError> parse_body(std::string_view body);

// --- Answers --------------------------------------------------------------------------------

// The HTTP status AWS answers an error with: 500 for InternalFailure (and the engine's
// InternalError), 503 for ServiceUnavailable, 400 for every other error (the model's errors,
// ValidationException, AccessDeniedException, ThrottlingException, ...).
int error_status(std::string_view type);

// The error name put on the wire: the engine's InternalError becomes AWS's InternalFailure;
// every other name is AWS's own already.
std::string wire_error_type(std::string_view type);

// An error answer. `extra` members (e.g. "resourceName") are added after "message".
HttpResponse error_response(const ApiError& error, const std::string& request_id,
                            const Json& extra = Json::object());

// A 200 answer with `body` (an object).
HttpResponse json_response(const Json& body, const std::string& request_id);

// Serialises a value as the wire carries it: compact, invalid UTF-8 replaced (a value echoed from
// a request can never make serialisation fail): asl::dump_compact.
inline std::string dump(const Json& value) { return asl::dump_compact(value); }

// Epoch seconds with a millisecond fraction, as a JSON number.
Json timestamp(engine::Micros t);

// --- History --------------------------------------------------------------------------------

// The HistoryEvent member that carries the details of an event of `type`, as the model names
// it: "<Type>StateEntered"/"<Type>StateExited" → stateEnteredEventDetails /
// stateExitedEventDetails; every other type → its name in lowerCamelCase + "EventDetails"
// (ExecutionStarted → executionStartedEventDetails, MapIterationStarted →
// mapIterationStartedEventDetails). Stepd's own event types (the saga extension's
// Compensation*) follow the same rule.
std::string history_details_member(std::string_view type);

// One HistoryEvent as GetExecutionHistory answers it: {"timestamp", "type", "id",
// "previousEventId", "<details member>": {...}} (no details member when the event has none).
// Without `include_data`, "input" and "output" are left out of the details.
Json history_event(const engine::HistoryEvent& event, bool include_data);

}  // namespace stepd::server::aws
