#include "server/rest/openapi.hpp"

#include "asl/core/json.hpp"

#include <cassert>
#include <string>
#include <utility>
#include <vector>

namespace stepd::server::rest {
namespace {

// Kept by hand next to rest_api.cpp's route table; openapi_test.cpp fails when they disagree.
// The document is built from the pieces below so that each recurring shape (a reference, an
// error answer, a page of items, a closed object) is written once; the tables further down
// hold only what differs. Payload fields (definition, input, output, details) are any JSON
// value: a schema with no type.

using asl::Json;

// ---- Small schema pieces

// {"$ref": "#/components/<section>/<name>"}: a use of the shared component `name`.
Json ref(std::string_view section, std::string_view name) {
  return Json{{"$ref", "#/components/" + std::string(section) + "/" + std::string(name)}};
}
Json schema_ref(std::string_view name) { return ref("schemas", name); }
Json param_ref(std::string_view name) { return ref("parameters", name); }

// {"type": type}.
Json of_type(std::string_view type) { return Json{{"type", type}}; }

// `schema` with a "description" member added after its others.
Json described(Json schema, std::string_view description) {
  schema["description"] = description;
  return schema;
}

// A string schema with length bounds; a bound of 0 is left out.
Json string_of_length(int min_length, int max_length) {
  Json out = of_type("string");
  if (min_length > 0) out["minLength"] = min_length;
  if (max_length > 0) out["maxLength"] = max_length;
  return out;
}

// An array schema of `items`; the description and maxItems are left out when empty or 0.
Json array_of(Json items, std::string_view description = {}, int max_items = 0) {
  Json out = of_type("array");
  if (!description.empty()) out["description"] = description;
  if (max_items > 0) out["maxItems"] = max_items;
  out["items"] = std::move(items);
  return out;
}

// AWS: a resource holds at most 50 tags; requests that set tags say so.
constexpr int kMaxTags = 50;

// The array of tags a request may carry (bounded), or a resource shows (unbounded).
Json tags_in_request() { return array_of(schema_ref("Tag"), {}, kMaxTags); }
Json tags_of_resource() { return array_of(schema_ref("Tag")); }

// An object schema allowing only `properties`, of which `required` must be present (left out
// when empty); the description, when given, comes right after the type.
Json closed_object(std::vector<std::string> required, Json properties,
                   std::string_view description = {}) {
  Json out = of_type("object");
  if (!description.empty()) out["description"] = description;
  if (!required.empty()) out["required"] = std::move(required);
  out["additionalProperties"] = false;
  out["properties"] = std::move(properties);
  return out;
}

// An object that must have no members (the body of requests that take no fields).
Json no_fields() { return Json{{"type", "object"}, {"additionalProperties", false}}; }

// A page of a list: its items, and the token of the next page.
Json page_of(std::string_view item_schema) {
  return closed_object({"items"},
                       {{"items", array_of(schema_ref(item_schema))},
                        {"nextToken", described(of_type("string"), "Absent on the last page")}});
}

// `base` with the members of `more` appended (both objects).
Json with_members(Json base, const Json& more) {
  for (const auto& [key, value] : more.items()) base[key] = value;
  return base;
}

// ---- Parameters, bodies, answers

// A required path parameter.
Json path_param(std::string_view name, std::string_view description,
                Json schema = of_type("string")) {
  return Json{{"name", name},
              {"in", "path"},
              {"required", true},
              {"description", description},
              {"schema", std::move(schema)}};
}

// An optional query parameter; the description is left out when empty.
Json query_param(std::string_view name, std::string_view description, Json schema) {
  Json out{{"name", name}, {"in", "query"}, {"required", false}};
  if (!description.empty()) out["description"] = description;
  out["schema"] = std::move(schema);
  return out;
}

// The parameters of the untag operations: the keys to remove, repeated.
Json tag_keys_param() {
  return Json::array({Json{{"name", "key"},
                           {"in", "query"},
                           {"required", true},
                           {"description", "A tag key to remove; repeat for more"},
                           {"style", "form"},
                           {"explode", true},
                           {"schema", array_of(of_type("string"))}}});
}

// {"application/json": {"schema": schema}}: a JSON payload.
Json json_content(Json schema) {
  return Json{{"application/json", Json{{"schema", std::move(schema)}}}};
}

// A requestBody of JSON matching `schema`.
Json body(bool required, Json schema) {
  return Json{{"required", required}, {"content", json_content(std::move(schema))}};
}

// A response with a JSON payload matching `schema`.
Json json_response(std::string_view description, Json schema) {
  return Json{{"description", description}, {"content", json_content(std::move(schema))}};
}

// Successful answers, keyed by status: 200 with a payload, 201 with a payload and Location,
// 204 with no payload.
Json ok(std::string_view description, Json schema) {
  return Json{{"200", json_response(description, std::move(schema))}};
}
Json created(std::string_view description, std::string_view schema) {
  Json response{{"description", description},
                {"headers", Json{{"Location", Json{{"schema", of_type("string")}}}}}};
  response["content"] = json_content(schema_ref(schema));
  return Json{{"201", std::move(response)}};
}
Json no_content(std::string_view description) {
  return Json{{"204", Json{{"description", description}}}};
}

// The shared error responses (components/responses): each carries an Error object.
struct ErrorResponse {
  int status;  // 0: the default answer of every operation
  std::string_view name;
  std::string_view description;
};
constexpr ErrorResponse kErrorResponses[] = {
    {400, "BadRequest",
     "The request is wrong (ValidationException, SerializationException, InvalidArn, "
     "InvalidDefinition, InvalidName, InvalidExecutionInput, InvalidOutput, InvalidToken, "
     "MissingRequiredParameter, TooManyTags)"},
    {403, "Forbidden", "The caller's role does not allow it (AccessDeniedException)"},
    {404, "NotFound",
     "No such resource (StateMachineDoesNotExist, ExecutionDoesNotExist, ActivityDoesNotExist, "
     "TaskDoesNotExist, ResourceNotFound)"},
    {409, "Conflict",
     "It conflicts with the resource's state (StateMachineAlreadyExists, "
     "ExecutionAlreadyExists, ExecutionNotRedrivable, TaskTimedOut)"},
    {0, "Error",
     "Any error: 401, 403, 404 (UnknownOperationException), 405 (MethodNotAllowed, with "
     "Allow), 500 (InternalError), 503 (ServiceUnavailable)"},
};

// A reference to the shared error response of `status` (0: the default one).
Json error_ref(int status) {
  for (const ErrorResponse& e : kErrorResponses) {
    if (e.status == status) return ref("responses", e.name);
  }
  assert(false && "no shared error response for this status");
  return ref("responses", "Error");
}

// ---- Paths

// One operation of a path: what it is, what it takes and what it answers.
struct Operation {
  std::string_view method;  // lower case, as OpenAPI keys it
  std::string_view tag;
  std::string_view id;  // its operationId
  std::string_view summary;
  std::string_view description = {};  // empty: none
  Json parameters = nullptr;          // its own parameters (an array); null: none
  Json request_body = nullptr;        // null: it takes none
  Json answers;                       // its successful responses, keyed by status
  std::vector<int> errors = {};       // statuses answered with the shared error responses;
                                      // unless empty, the shared default is added after them
};

struct PathItem {
  std::string_view path;
  Json parameters;  // shared by its operations (an array); null: none
  std::vector<Operation> operations;
};

Json operation_json(const Operation& op) {
  Json out{{"tags", Json::array({op.tag})}, {"operationId", op.id}, {"summary", op.summary}};
  if (!op.description.empty()) out["description"] = op.description;
  if (!op.parameters.is_null()) out["parameters"] = op.parameters;
  if (!op.request_body.is_null()) out["requestBody"] = op.request_body;
  Json responses = op.answers;
  for (int status : op.errors) responses[std::to_string(status)] = error_ref(status);
  if (!op.errors.empty()) responses["default"] = error_ref(0);
  out["responses"] = std::move(responses);
  return out;
}

// The route table's counterpart, in the order a reader meets the resources.
std::vector<PathItem> path_items() {
  const Json page = Json::array({param_ref("maxResults"), param_ref("nextToken")});
  const Json machine = Json::array({param_ref("stateMachine")});
  const Json execution = Json::array({param_ref("execution")});
  const Json activity = Json::array({param_ref("activity")});
  const Json token = Json::array({param_ref("token")});
  return {
      {"/v1/openapi.json",
       nullptr,
       {{.method = "get",
         .tag = "meta",
         .id = "getOpenApi",
         .summary = "This document",
         .answers = ok("The OpenAPI document", of_type("object"))}}},
      {"/v1/state-machines",
       nullptr,
       {{.method = "get",
         .tag = "state-machines",
         .id = "listStateMachines",
         .summary = "List state machines, ordered by name",
         .parameters = page,
         .answers = ok("A page of state machines", schema_ref("StateMachinePage")),
         .errors = {400}},
        {.method = "post",
         .tag = "state-machines",
         .id = "createStateMachine",
         .summary = "Create a state machine",
         .description = "Creating a machine that exists with the same definition, type and role "
                        "answers the existing machine.",
         .request_body = body(true, schema_ref("CreateStateMachine")),
         .answers = created("Created", "StateMachine"),
         .errors = {400, 403, 409}}}},
      {"/v1/state-machines:validate",
       nullptr,
       {{.method = "post",
         .tag = "state-machines",
         .id = "validateDefinition",
         .summary = "Check a definition without creating anything",
         .request_body = body(true, schema_ref("ValidateDefinition")),
         .answers =
             ok("Whether it is valid, and every problem found", schema_ref("ValidationResult")),
         .errors = {400}}}},
      {"/v1/state-machines/{stateMachine}",
       machine,
       {{.method = "get",
         .tag = "state-machines",
         .id = "describeStateMachine",
         .summary = "A state machine with its current definition",
         .answers = ok("The state machine", schema_ref("StateMachine")),
         .errors = {400, 404}},
        {.method = "put",
         .tag = "state-machines",
         .id = "updateStateMachine",
         .summary = "Make a new revision: a new definition, role or both",
         .description = "Running executions keep the revision they started with.",
         .request_body = body(true, schema_ref("UpdateStateMachine")),
         .answers = ok("The state machine at its new revision", schema_ref("StateMachine")),
         .errors = {400, 403, 404}},
        {.method = "delete",
         .tag = "state-machines",
         .id = "deleteStateMachine",
         .summary = "Delete a state machine (its executions stay readable)",
         .description = "Deleting a machine that does not exist succeeds too.",
         .answers = no_content("Deleted"),
         .errors = {400, 403}}}},
      {"/v1/state-machines/{stateMachine}/executions",
       machine,
       {{.method = "get",
         .tag = "executions",
         .id = "listStateMachineExecutions",
         .summary = "List the machine's executions, newest first",
         .parameters =
             Json::array({param_ref("status"), param_ref("maxResults"), param_ref("nextToken")}),
         .answers = ok("A page of executions", schema_ref("ExecutionPage")),
         .errors = {400, 404}},
        {.method = "post",
         .tag = "executions",
         .id = "startExecution",
         .summary = "Start an execution",
         .description = "Answers once the start is durable. Starting again with the same name "
                        "and input while it runs answers the same execution; another input, or "
                        "a finished execution of that name, is ExecutionAlreadyExists.",
         .request_body = body(false, schema_ref("StartExecution")),
         .answers = created("Started", "Execution"),
         .errors = {400, 403, 404, 409}}}},
      {"/v1/state-machines/{stateMachine}/executions:sync",
       machine,
       {{.method = "post",
         .tag = "executions",
         .id = "startSyncExecution",
         .summary = "Start an execution and answer when it ends",
         .description = "Waits at most the server's limit (5 minutes by default); an execution "
                        "still running then is answered with status RUNNING.",
         .request_body = body(false, schema_ref("StartExecution")),
         .answers = created("The execution as it ended", "Execution"),
         .errors = {400, 403, 404, 409}}}},
      {"/v1/state-machines/{stateMachine}/executions/{name}",
       Json::array({param_ref("stateMachine"), path_param("name", "The execution's name")}),
       {{.method = "get",
         .tag = "executions",
         .id = "describeStateMachineExecution",
         .summary = "An execution, named by its machine and its name",
         .answers = ok("The execution", schema_ref("Execution")),
         .errors = {400, 404}}}},
      {"/v1/state-machines/{stateMachine}/tags",
       machine,
       {{.method = "get",
         .tag = "state-machines",
         .id = "listTags",
         .summary = "The machine's tags",
         .answers = ok("Its tags", schema_ref("TagList")),
         .errors = {400, 404}},
        {.method = "post",
         .tag = "state-machines",
         .id = "tagStateMachine",
         .summary = "Add tags, or change the values of existing keys",
         .request_body = body(true, schema_ref("TagList")),
         .answers = ok("Its tags afterwards", schema_ref("TagList")),
         .errors = {400, 403, 404}},
        {.method = "delete",
         .tag = "state-machines",
         .id = "untagStateMachine",
         .summary = "Remove the tags of the given keys",
         .parameters = tag_keys_param(),
         .answers = ok("Its tags afterwards", schema_ref("TagList")),
         .errors = {400, 403, 404}}}},
      {"/v1/executions",
       nullptr,
       {{.method = "get",
         .tag = "executions",
         .id = "listExecutions",
         .summary = "List executions, newest first",
         .parameters =
             Json::array({query_param("stateMachine", "Only this machine's (a name or an ARN)",
                                      of_type("string")),
                          param_ref("status"), param_ref("maxResults"), param_ref("nextToken")}),
         .answers = ok("A page of executions", schema_ref("ExecutionPage")),
         .errors = {400, 404}}}},
      {"/v1/executions/{execution}",
       execution,
       {{.method = "get",
         .tag = "executions",
         .id = "describeExecution",
         .summary = "An execution: status, input, output or error",
         .answers = ok("The execution", schema_ref("Execution")),
         .errors = {400, 404}}}},
      {"/v1/executions/{execution}/state-machine",
       execution,
       {{.method = "get",
         .tag = "executions",
         .id = "describeStateMachineForExecution",
         .summary = "The state machine as the execution runs it (the revision it started with)",
         .answers = ok("The state machine at that revision", schema_ref("StateMachine")),
         .errors = {400, 404}}}},
      {"/v1/executions/{execution}/history",
       execution,
       {{.method = "get",
         .tag = "executions",
         .id = "getExecutionHistory",
         .summary = "The execution's events, oldest first (newest first with reverse=true)",
         .parameters = Json::array(
             {param_ref("maxResults"), param_ref("nextToken"),
              query_param("reverse", {}, Json{{"type", "boolean"}, {"default", false}})}),
         .answers = ok("A page of events", schema_ref("HistoryPage")),
         .errors = {400, 404}}}},
      {"/v1/executions/{execution}:stop",
       execution,
       {{.method = "post",
         .tag = "executions",
         .id = "stopExecution",
         .summary = "Stop a running execution (it ends ABORTED); a finished one is answered as "
                    "it is",
         .request_body = body(false, schema_ref("StopExecution")),
         .answers = ok("The execution after the stop", schema_ref("Execution")),
         .errors = {400, 403, 404}}}},
      {"/v1/executions/{execution}:redrive",
       execution,
       {{.method = "post",
         .tag = "executions",
         .id = "redriveExecution",
         .summary = "Continue a FAILED, TIMED_OUT or ABORTED execution from the state it failed "
                    "in",
         .request_body = body(false, no_fields()),
         .answers = ok("The execution, running again", schema_ref("Execution")),
         .errors = {400, 403, 404, 409}}}},
      {"/v1/activities",
       nullptr,
       {{.method = "get",
         .tag = "activities",
         .id = "listActivities",
         .summary = "List activities, ordered by name",
         .parameters = page,
         .answers = ok("A page of activities", schema_ref("ActivityPage")),
         .errors = {400, 403}},
        {.method = "post",
         .tag = "activities",
         .id = "createActivity",
         .summary = "Create an activity",
         .description = "Creating an activity that exists answers it, its tags unchanged.",
         .request_body = body(true, schema_ref("CreateActivity")),
         .answers = created("Created", "Activity"),
         .errors = {400, 403}}}},
      {"/v1/activities/{activity}",
       activity,
       {{.method = "get",
         .tag = "activities",
         .id = "describeActivity",
         .summary = "An activity with its tags",
         .answers = ok("The activity", schema_ref("Activity")),
         .errors = {400, 403, 404}},
        {.method = "delete",
         .tag = "activities",
         .id = "deleteActivity",
         .summary = "Delete an activity (tasks already scheduled for it stay)",
         .description = "Deleting an activity that does not exist succeeds too.",
         .answers = no_content("Deleted"),
         .errors = {400, 403}}}},
      {"/v1/activities/{activity}/tasks",
       activity,
       {{.method = "get",
         .tag = "tasks",
         .id = "pollActivityTask",
         .summary = "Take the activity's next task: a long poll",
         .description = "Answers the moment a task of the activity is there, with its token and "
                        "input; 204 when none came within the wait. Admins, and worker keys "
                        "granted the activity.",
         .parameters = Json::array(
             {query_param(
                  "wait", "How long to wait for a task, in seconds",
                  Json{{"type", "integer"}, {"minimum", 0}, {"maximum", 60}, {"default", 60}}),
              query_param("worker",
                          "The worker's name, kept in the history's ActivityStarted event",
                          string_of_length(0, 80))}),
         .answers = with_members(ok("A task", schema_ref("ActivityTask")),
                                 no_content("No task came within the wait")),
         .errors = {400, 403, 404}}}},
      {"/v1/activities/{activity}/tags",
       activity,
       {{.method = "get",
         .tag = "activities",
         .id = "listActivityTags",
         .summary = "The activity's tags",
         .answers = ok("Its tags", schema_ref("TagList")),
         .errors = {400, 404}},
        {.method = "post",
         .tag = "activities",
         .id = "tagActivity",
         .summary = "Add tags, or change the values of existing keys",
         .request_body = body(true, schema_ref("TagList")),
         .answers = ok("Its tags afterwards", schema_ref("TagList")),
         .errors = {400, 403, 404}},
        {.method = "delete",
         .tag = "activities",
         .id = "untagActivity",
         .summary = "Remove the tags of the given keys",
         .parameters = tag_keys_param(),
         .answers = ok("Its tags afterwards", schema_ref("TagList")),
         .errors = {400, 403, 404}}}},
      {"/v1/tasks/{token}/success",
       token,
       {{.method = "post",
         .tag = "tasks",
         .id = "sendTaskSuccess",
         .summary = "Report a task's success; the body is its output",
         .description = "Answered once the outcome is durable. A body that is not JSON is "
                        "InvalidOutput; a task that timed out is TaskTimedOut (409); one already "
                        "reported, or unknown, is TaskDoesNotExist (404).",
         .request_body = body(true, Json{{"description",
                                          "The task's output: any JSON value, "
                                          "at most 256 KiB"}}),
         .answers = no_content("Reported"),
         .errors = {400, 403, 404, 409}}}},
      {"/v1/tasks/{token}/failure",
       token,
       {{.method = "post",
         .tag = "tasks",
         .id = "sendTaskFailure",
         .summary = "Report a task's failure",
         .request_body = body(false, schema_ref("TaskFailure")),
         .answers = no_content("Reported"),
         .errors = {400, 403, 404, 409}}}},
      {"/v1/tasks/{token}/heartbeat",
       token,
       {{.method = "post",
         .tag = "tasks",
         .id = "sendTaskHeartbeat",
         .summary = "Say the task is still being worked on (restarts its HeartbeatSeconds clock)",
         .request_body = body(false, no_fields()),
         .answers = no_content("Recorded"),
         .errors = {400, 403, 404, 409}}}},
      {"/v1/routes",
       nullptr,
       {{.method = "get",
         .tag = "routes",
         .id = "listRoutes",
         .summary = "Where push tasks go: every route, by kind then name (admins only)",
         .answers = ok("The routes", schema_ref("RouteList")),
         .errors = {403}}}},
      {"/v1/routes/{kind}/{name}",
       Json::array(
           {path_param("kind",
                       "function (a Lambda-style function) or service (a service integration)",
                       Json{{"type", "string"}, {"enum", {"function", "service"}}}),
            path_param("name",
                       "function: NAME or NAME:QUALIFIER; service: SERVICE or SERVICE:ACTION")}),
       {{.method = "put",
         .tag = "routes",
         .id = "putRoute",
         .summary = "Add or replace a route (admins only)",
         .request_body = body(true, schema_ref("PutRoute")),
         .answers = ok("The route", schema_ref("Route")),
         .errors = {400, 403}},
        {.method = "delete",
         .tag = "routes",
         .id = "deleteRoute",
         .summary = "Remove a route (admins only)",
         .answers = no_content("Removed"),
         .errors = {403, 404}}}},
      {"/v1/audit",
       nullptr,
       {{.method = "get",
         .tag = "audit",
         .id = "listAudit",
         .summary = "The audit log of mutating calls, newest first (admins only)",
         .parameters = Json::array(
             {query_param("key", "Only calls made with this API key id", of_type("string")),
              query_param("operation", "Only this operation, e.g. StartExecution",
                          of_type("string")),
              query_param("resource", "Only calls on this ARN", of_type("string")),
              param_ref("maxResults"), param_ref("nextToken")}),
         .answers = ok("A page of audit entries", schema_ref("AuditPage")),
         .errors = {400, 403}}}},
  };
}

Json paths() {
  Json out = Json::object();
  for (const PathItem& item : path_items()) {
    Json json = Json::object();
    if (!item.parameters.is_null()) json["parameters"] = item.parameters;
    for (const Operation& op : item.operations) json[op.method] = operation_json(op);
    out[item.path] = std::move(json);
  }
  return out;
}

// ---- Components

Json component_parameters() {
  return Json{
      {"stateMachine",
       path_param("stateMachine", "The state machine's name, or its ARN percent-encoded")},
      {"execution",
       path_param("execution", "The execution's ARN, percent-encoded (arn%3Aaws%3Astates%3A...)")},
      {"activity", path_param("activity", "The activity's name, or its ARN percent-encoded")},
      {"token",
       path_param("token", "The task token (percent-encoded if it holds reserved characters)")},
      {"maxResults",
       query_param("maxResults", "Page size",
                   Json{{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 100}})},
      {"nextToken",
       query_param("nextToken", "The nextToken of the previous page", of_type("string"))},
      {"status",
       query_param("status", "Only executions in this status", schema_ref("ExecutionStatus"))},
  };
}

Json component_responses() {
  Json out = Json::object();
  for (const ErrorResponse& e : kErrorResponses) {
    out[e.name] = json_response(e.description, schema_ref("Error"));
  }
  return out;
}

// The members of a state machine's schema: its summary's, with `middle` between its revision
// and its times (the full description adds its definition, role and tags there).
Json state_machine_properties(const Json& middle) {
  Json out{{"arn", schema_ref("Arn")},
           {"name", of_type("string")},
           {"type", schema_ref("MachineType")},
           {"status", Json{{"type", "string"}, {"enum", {"ACTIVE", "DELETING"}}}},
           {"revisionId", of_type("string")}};
  out = with_members(std::move(out), middle);
  out["createdAt"] = schema_ref("Timestamp");
  out["updatedAt"] = schema_ref("Timestamp");
  return out;
}

// The members of an execution's summary (the full description adds its payloads).
Json execution_summary_properties() {
  return Json{{"arn", schema_ref("Arn")},
              {"name", of_type("string")},
              {"stateMachineArn", schema_ref("Arn")},
              {"revisionId", of_type("string")},
              {"type", schema_ref("MachineType")},
              {"status", schema_ref("ExecutionStatus")},
              {"startedAt", schema_ref("Timestamp")},
              {"stoppedAt", schema_ref("Timestamp")},
              {"redriveCount", Json{{"type", "integer"}, {"minimum", 0}}},
              {"redrivenAt", schema_ref("Timestamp")}};
}
std::vector<std::string> execution_summary_required() {
  return {"arn",  "name",   "stateMachineArn", "revisionId",
          "type", "status", "startedAt",       "redriveCount"};
}

// The members of an activity's summary (the full description adds its tags).
Json activity_summary_properties() {
  return Json{{"arn", schema_ref("Arn")},
              {"name", of_type("string")},
              {"createdAt", schema_ref("Timestamp")}};
}

Json component_schemas() {
  const Json string = of_type("string");
  const Json any_definition = schema_ref("Definition");
  Json out = Json::object();
  out["Timestamp"] = described(
      Json{{"type", "string"},
           {"format", "date-time"},
           {"pattern", R"(^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$)"}},
      "RFC 3339, UTC, milliseconds");
  out["Arn"] = Json{{"type", "string"}, {"pattern", "^arn:"}};
  out["MachineType"] = Json{{"type", "string"}, {"enum", {"STANDARD", "EXPRESS"}}};
  out["ExecutionStatus"] =
      Json{{"type", "string"},
           {"enum", {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"}}};
  out["Problem"] = closed_object(
      {"pointer", "code", "message", "severity"},
      {{"pointer", string},
       {"code", string},
       {"message", string},
       {"severity", Json{{"type", "string"}, {"enum", {"ERROR", "WARNING"}}}}},
      "One problem of a definition: where (a JSON Pointer into the definition), a stable code, "
      "and what is wrong");
  out["Error"] = closed_object(
      {"code", "message", "problems"},
      {{"code", described(string, "The AWS Step Functions error name")},
       {"message", string},
       {"problems",
        array_of(schema_ref("Problem"), "InvalidDefinition: every problem found; otherwise empty")},
       {"requestId", string}});
  out["Tag"] = closed_object(
      {"key"}, {{"key", string_of_length(1, 128)}, {"value", string_of_length(0, 256)}});
  out["TagList"] = closed_object({"tags"}, {{"tags", tags_in_request()}});
  out["Definition"] =
      Json{{"description", "The ASL document, as a JSON object or as a string of its JSON text"},
           {"oneOf", Json::array({of_type("object"), string})}};
  out["CreateStateMachine"] =
      closed_object({"name", "definition"}, {{"name", string_of_length(1, 80)},
                                             {"definition", any_definition},
                                             {"type", schema_ref("MachineType")},
                                             {"roleArn", string},
                                             {"tags", tags_in_request()}});
  out["UpdateStateMachine"] = closed_object(
      {}, {{"definition", any_definition}, {"roleArn", string}}, "At least one of the two");
  out["ValidateDefinition"] = closed_object(
      {"definition"}, {{"definition", any_definition}, {"type", schema_ref("MachineType")}});
  out["ValidationResult"] =
      closed_object({"valid", "problems"},
                    {{"valid", of_type("boolean")}, {"problems", array_of(schema_ref("Problem"))}});
  out["StateMachineSummary"] =
      closed_object({"arn", "name", "type", "status", "revisionId", "createdAt", "updatedAt"},
                    state_machine_properties(Json::object()));
  out["StateMachine"] = closed_object(
      {"arn", "name", "type", "status", "revisionId", "definition", "tags", "createdAt",
       "updatedAt"},
      state_machine_properties(
          {{"definition", described(of_type("object"), "The ASL document of this revision")},
           {"roleArn", string},
           {"description", string},
           {"tags", tags_of_resource()}}));
  out["StateMachinePage"] = page_of("StateMachineSummary");
  out["StartExecution"] = closed_object(
      {},
      {{"name", described(string_of_length(1, 80), "Unique per machine; a UUID when absent")},
       {"input",
        Json{{"description", "Any JSON value, at most 256 KiB serialised; {} when absent"}}},
       {"traceHeader",
        described(string, "A W3C traceparent (the request's traceparent header when absent)")}});
  out["StopExecution"] = closed_object(
      {}, {{"error", string_of_length(0, 256)}, {"cause", string_of_length(0, 32768)}});
  out["ExecutionSummary"] =
      closed_object(execution_summary_required(), execution_summary_properties());
  std::vector<std::string> execution_required = execution_summary_required();
  execution_required.push_back("input");
  out["Execution"] = closed_object(
      execution_required,
      with_members(execution_summary_properties(),
                   {{"input", Json{{"description", "The input, a JSON value"}}},
                    {"output", Json{{"description", "SUCCEEDED: the output, a JSON value"}}},
                    {"error", string},
                    {"cause", string},
                    {"traceHeader", string},
                    {"compensation", array_of(of_type("object"),
                                              "Saga extension: the compensations run so far")}}));
  out["ExecutionPage"] = page_of("ExecutionSummary");
  out["HistoryEvent"] = closed_object(
      {"id", "previousEventId", "timestamp", "type"},
      {{"id", Json{{"type", "integer"}, {"minimum", 1}}},
       {"previousEventId", Json{{"type", "integer"}, {"minimum", 0}}},
       {"timestamp", schema_ref("Timestamp")},
       {"type", described(string, "Step Functions' event type, e.g. TaskStateEntered")},
       {"details", described(of_type("object"),
                             "The <type>EventDetails object of Step Functions; its input, "
                             "output and parameters are JSON values")}});
  out["HistoryPage"] = page_of("HistoryEvent");
  out["CreateActivity"] =
      closed_object({"name"}, {{"name", string_of_length(1, 80)}, {"tags", tags_in_request()}});
  out["ActivitySummary"] =
      closed_object({"arn", "name", "createdAt"}, activity_summary_properties());
  out["Activity"] =
      closed_object({"arn", "name", "createdAt", "tags"},
                    with_members(activity_summary_properties(), {{"tags", tags_of_resource()}}));
  out["ActivityPage"] = page_of("ActivitySummary");
  out["ActivityTask"] = closed_object(
      {"token", "input"},
      {{"token", described(string, "Report on the task with this token: /v1/tasks/{token}/...")},
       {"input", Json{{"description", "The task's input, a JSON value"}}}});
  out["TaskFailure"] = closed_object(
      {}, {{"error", described(string_of_length(0, 256), "The error name Retry and Catch match")},
           {"cause", string_of_length(0, 32768)}});
  out["PutRoute"] =
      closed_object({"url"}, {{"url", described(string, "http://HOST[:PORT][/PATH]")}});
  out["Route"] =
      closed_object({"kind", "name", "url", "updated"},
                    {{"kind", Json{{"type", "string"}, {"enum", {"function", "service"}}}},
                     {"name", string},
                     {"url", string},
                     {"updated", schema_ref("Timestamp")}});
  out["RouteList"] = closed_object({"routes"}, {{"routes", array_of(schema_ref("Route"))}});
  out["AuditEntry"] = closed_object(
      {"id", "time", "keyId", "remote", "operation", "resource", "outcome", "requestId"},
      {{"id", of_type("integer")},
       {"time", schema_ref("Timestamp")},
       {"keyId", described(string, "The API key id, or anonymous")},
       {"remote", string},
       {"operation", described(string, "The AWS operation name, e.g. StartExecution")},
       {"resource", described(string, "The ARN acted on, empty when none")},
       {"outcome", described(string, "ok, or the error name")},
       {"requestId", string}});
  out["AuditPage"] = page_of("AuditEntry");
  return out;
}

// ---- The document

Json build_document() {
  Json doc{{"openapi", "3.0.3"}};
  doc["info"] = Json{
      {"title", "Stepd REST API"},
      {"version", "1"},
      {"description",
       "Resources of Stepd, a workflow engine for the Amazon States Language: state machines, "
       "their executions and histories, activities and their tasks (workers long-poll for tasks "
       "and report on their tokens), the routes of push tasks, tags and the audit log. JSON in "
       "and out; times are RFC 3339 UTC with milliseconds; execution inputs and outputs are JSON "
       "values. Errors answer an Error object whose code is the AWS Step Functions error name. "
       "Lists are pages: pass a page's nextToken to get the next one; the last page has none."}};
  doc["servers"] = Json::array({Json{{"url", "/"}}});
  Json tags = Json::array();
  for (std::string_view tag :
       {"state-machines", "executions", "activities", "tasks", "routes", "audit", "meta"}) {
    tags.push_back(Json{{"name", tag}});
  }
  doc["tags"] = std::move(tags);
  doc["paths"] = paths();
  doc["components"] = Json{{"parameters", component_parameters()},
                           {"responses", component_responses()},
                           {"schemas", component_schemas()}};
  return doc;
}

}  // namespace

std::string_view openapi_document() {
  static const std::string text = build_document().dump(2);
  return text;
}

}  // namespace stepd::server::rest
