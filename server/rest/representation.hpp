// The REST API's JSON representations of Stepd's records (docs/rest-api.md): camelCase fields,
// times as RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.250Z"), JSON payloads (inputs,
// outputs, definitions, event details) as JSON values rather than strings of JSON. Absent
// optional fields are left out, never null. The OpenAPI document (openapi.hpp) describes each.
#pragma once

#include "asl/core/json.hpp"
#include "server/operations/operations.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace stepd::server::rest {

using asl::Json;

// "2024-05-01T12:00:00.250Z" (microseconds are truncated to milliseconds).
std::string format_time(engine::Micros micros);

// JSON text as a value; text that is not JSON stays a string (and "" stays "").
Json payload_value(const std::string& text);

// `full`: the whole resource (definition, roleArn, description, tags); otherwise the summary
// that lists show.
Json machine_json(const StateMachineRecord& m, bool full);
// `full`: with input, output, error, cause, traceHeader and compensation; otherwise a summary.
Json execution_json(const ExecutionRecord& x, bool full);
// {id, previousEventId, timestamp, type, details?}; the details' "input", "output" and
// "parameters" strings become JSON values.
Json event_json(const HistoryEvent& e);
Json audit_json(const AuditEntry& a);
// {arn, name, createdAt, tags (when `full`)}
Json activity_json(const ActivityRecord& a, bool full);
// {kind, name, url, updated}
Json route_json(const RouteRecord& r);
// An activity task handed to a worker: {token, input (a JSON value)}.
Json activity_task_json(const engine::ActivityTask& t);
Json tags_json(const std::vector<Tag>& tags);
// {pointer, code, message, severity: "ERROR" | "WARNING"}
Json problem_json(const asl::Diagnostic& d);
// {code, message, problems: [...], requestId?}
Json error_json(const ApiError& error, const std::string& request_id);

// Serialises for the wire (invalid UTF-8 in a string is replaced, never thrown):
// asl::dump_compact.
inline std::string dump(const Json& value) { return asl::dump_compact(value); }

// The byte offset at which `text` opens its (max_depth+1)-th nested array or object (strings
// are skipped), or nullopt when it nests at most max_depth levels: asl::nesting_beyond.
inline std::optional<std::size_t> find_excess_nesting(std::string_view text, int max_depth) {
  return asl::nesting_beyond(text, max_depth);
}

}  // namespace stepd::server::rest
