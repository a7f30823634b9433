#include "server/rest/openapi.hpp"

namespace stepd::server::rest {
namespace {

// Kept by hand next to rest_api.cpp's route table; openapi_test.cpp fails when they disagree.
// Payload fields (definition, input, output, details) are any JSON value: schema {}.
constexpr std::string_view kDocument = R"openapi({
  "openapi": "3.0.3",
  "info": {
    "title": "Stepd REST API",
    "version": "1",
    "description": "Resources of Stepd, a workflow engine for the Amazon States Language: state machines, their executions and histories, activities and their tasks (workers long-poll for tasks and report on their tokens), the routes of push tasks, tags and the audit log. JSON in and out; times are RFC 3339 UTC with milliseconds; execution inputs and outputs are JSON values. Errors answer an Error object whose code is the AWS Step Functions error name. Lists are pages: pass a page's nextToken to get the next one; the last page has none."
  },
  "servers": [{"url": "/"}],
  "tags": [
    {"name": "state-machines"},
    {"name": "executions"},
    {"name": "activities"},
    {"name": "tasks"},
    {"name": "routes"},
    {"name": "audit"},
    {"name": "meta"}
  ],
  "paths": {
    "/v1/openapi.json": {
      "get": {
        "tags": ["meta"],
        "operationId": "getOpenApi",
        "summary": "This document",
        "responses": {
          "200": {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}
        }
      }
    },
    "/v1/state-machines": {
      "get": {
        "tags": ["state-machines"],
        "operationId": "listStateMachines",
        "summary": "List state machines, ordered by name",
        "parameters": [{"$ref": "#/components/parameters/maxResults"}, {"$ref": "#/components/parameters/nextToken"}],
        "responses": {
          "200": {"description": "A page of state machines", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StateMachinePage"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "post": {
        "tags": ["state-machines"],
        "operationId": "createStateMachine",
        "summary": "Create a state machine",
        "description": "Creating a machine that exists with the same definition, type and role answers the existing machine.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateStateMachine"}}}},
        "responses": {
          "201": {"description": "Created", "headers": {"Location": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StateMachine"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/state-machines:validate": {
      "post": {
        "tags": ["state-machines"],
        "operationId": "validateDefinition",
        "summary": "Check a definition without creating anything",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidateDefinition"}}}},
        "responses": {
          "200": {"description": "Whether it is valid, and every problem found", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationResult"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/state-machines/{stateMachine}": {
      "parameters": [{"$ref": "#/components/parameters/stateMachine"}],
      "get": {
        "tags": ["state-machines"],
        "operationId": "describeStateMachine",
        "summary": "A state machine with its current definition",
        "responses": {
          "200": {"description": "The state machine", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StateMachine"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "put": {
        "tags": ["state-machines"],
        "operationId": "updateStateMachine",
        "summary": "Make a new revision: a new definition, role or both",
        "description": "Running executions keep the revision they started with.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UpdateStateMachine"}}}},
        "responses": {
          "200": {"description": "The state machine at its new revision", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StateMachine"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "tags": ["state-machines"],
        "operationId": "deleteStateMachine",
        "summary": "Delete a state machine (its executions stay readable)",
        "description": "Deleting a machine that does not exist succeeds too.",
        "responses": {
          "204": {"description": "Deleted"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/state-machines/{stateMachine}/executions": {
      "parameters": [{"$ref": "#/components/parameters/stateMachine"}],
      "get": {
        "tags": ["executions"],
        "operationId": "listStateMachineExecutions",
        "summary": "List the machine's executions, newest first",
        "parameters": [{"$ref": "#/components/parameters/status"}, {"$ref": "#/components/parameters/maxResults"}, {"$ref": "#/components/parameters/nextToken"}],
        "responses": {
          "200": {"description": "A page of executions", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExecutionPage"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "post": {
        "tags": ["executions"],
        "operationId": "startExecution",
        "summary": "Start an execution",
        "description": "Answers once the start is durable. Starting again with the same name and input while it runs answers the same execution; another input, or a finished execution of that name, is ExecutionAlreadyExists.",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StartExecution"}}}},
        "responses": {
          "201": {"description": "Started", "headers": {"Location": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/state-machines/{stateMachine}/executions:sync": {
      "parameters": [{"$ref": "#/components/parameters/stateMachine"}],
      "post": {
        "tags": ["executions"],
        "operationId": "startSyncExecution",
        "summary": "Start an execution and answer when it ends",
        "description": "Waits at most the server's limit (5 minutes by default); an execution still running then is answered with status RUNNING.",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StartExecution"}}}},
        "responses": {
          "201": {"description": "The execution as it ended", "headers": {"Location": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/state-machines/{stateMachine}/executions/{name}": {
      "parameters": [
        {"$ref": "#/components/parameters/stateMachine"},
        {"name": "name", "in": "path", "required": true, "description": "The execution's name", "schema": {"type": "string"}}
      ],
      "get": {
        "tags": ["executions"],
        "operationId": "describeStateMachineExecution",
        "summary": "An execution, named by its machine and its name",
        "responses": {
          "200": {"description": "The execution", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/state-machines/{stateMachine}/tags": {
      "parameters": [{"$ref": "#/components/parameters/stateMachine"}],
      "get": {
        "tags": ["state-machines"],
        "operationId": "listTags",
        "summary": "The machine's tags",
        "responses": {
          "200": {"description": "Its tags", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagList"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "post": {
        "tags": ["state-machines"],
        "operationId": "tagStateMachine",
        "summary": "Add tags, or change the values of existing keys",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagList"}}}},
        "responses": {
          "200": {"description": "Its tags afterwards", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagList"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "tags": ["state-machines"],
        "operationId": "untagStateMachine",
        "summary": "Remove the tags of the given keys",
        "parameters": [
          {"name": "key", "in": "query", "required": true, "description": "A tag key to remove; repeat for more", "style": "form", "explode": true, "schema": {"type": "array", "items": {"type": "string"}}}
        ],
        "responses": {
          "200": {"description": "Its tags afterwards", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagList"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/executions": {
      "get": {
        "tags": ["executions"],
        "operationId": "listExecutions",
        "summary": "List executions, newest first",
        "parameters": [
          {"name": "stateMachine", "in": "query", "required": false, "description": "Only this machine's (a name or an ARN)", "schema": {"type": "string"}},
          {"$ref": "#/components/parameters/status"},
          {"$ref": "#/components/parameters/maxResults"},
          {"$ref": "#/components/parameters/nextToken"}
        ],
        "responses": {
          "200": {"description": "A page of executions", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExecutionPage"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/executions/{execution}": {
      "parameters": [{"$ref": "#/components/parameters/execution"}],
      "get": {
        "tags": ["executions"],
        "operationId": "describeExecution",
        "summary": "An execution: status, input, output or error",
        "responses": {
          "200": {"description": "The execution", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/executions/{execution}/state-machine": {
      "parameters": [{"$ref": "#/components/parameters/execution"}],
      "get": {
        "tags": ["executions"],
        "operationId": "describeStateMachineForExecution",
        "summary": "The state machine as the execution runs it (the revision it started with)",
        "responses": {
          "200": {"description": "The state machine at that revision", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StateMachine"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/executions/{execution}/history": {
      "parameters": [{"$ref": "#/components/parameters/execution"}],
      "get": {
        "tags": ["executions"],
        "operationId": "getExecutionHistory",
        "summary": "The execution's events, oldest first (newest first with reverse=true)",
        "parameters": [
          {"$ref": "#/components/parameters/maxResults"},
          {"$ref": "#/components/parameters/nextToken"},
          {"name": "reverse", "in": "query", "required": false, "schema": {"type": "boolean", "default": false}}
        ],
        "responses": {
          "200": {"description": "A page of events", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HistoryPage"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/executions/{execution}:stop": {
      "parameters": [{"$ref": "#/components/parameters/execution"}],
      "post": {
        "tags": ["executions"],
        "operationId": "stopExecution",
        "summary": "Stop a running execution (it ends ABORTED); a finished one is answered as it is",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StopExecution"}}}},
        "responses": {
          "200": {"description": "The execution after the stop", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/executions/{execution}:redrive": {
      "parameters": [{"$ref": "#/components/parameters/execution"}],
      "post": {
        "tags": ["executions"],
        "operationId": "redriveExecution",
        "summary": "Continue a FAILED, TIMED_OUT or ABORTED execution from the state it failed in",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false}}}},
        "responses": {
          "200": {"description": "The execution, running again", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/activities": {
      "get": {
        "tags": ["activities"],
        "operationId": "listActivities",
        "summary": "List activities, ordered by name",
        "parameters": [{"$ref": "#/components/parameters/maxResults"}, {"$ref": "#/components/parameters/nextToken"}],
        "responses": {
          "200": {"description": "A page of activities", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActivityPage"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "post": {
        "tags": ["activities"],
        "operationId": "createActivity",
        "summary": "Create an activity",
        "description": "Creating an activity that exists answers it, its tags unchanged.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateActivity"}}}},
        "responses": {
          "201": {"description": "Created", "headers": {"Location": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Activity"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/activities/{activity}": {
      "parameters": [{"$ref": "#/components/parameters/activity"}],
      "get": {
        "tags": ["activities"],
        "operationId": "describeActivity",
        "summary": "An activity with its tags",
        "responses": {
          "200": {"description": "The activity", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Activity"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "tags": ["activities"],
        "operationId": "deleteActivity",
        "summary": "Delete an activity (tasks already scheduled for it stay)",
        "description": "Deleting an activity that does not exist succeeds too.",
        "responses": {
          "204": {"description": "Deleted"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/activities/{activity}/tasks": {
      "parameters": [{"$ref": "#/components/parameters/activity"}],
      "get": {
        "tags": ["tasks"],
        "operationId": "pollActivityTask",
        "summary": "Take the activity's next task: a long poll",
        "description": "Answers the moment a task of the activity is there, with its token and input; 204 when none came within the wait. Admins, and worker keys granted the activity.",
        "parameters": [
          {"name": "wait", "in": "query", "required": false, "description": "How long to wait for a task, in seconds", "schema": {"type": "integer", "minimum": 0, "maximum": 60, "default": 60}},
          {"name": "worker", "in": "query", "required": false, "description": "The worker's name, kept in the history's ActivityStarted event", "schema": {"type": "string", "maxLength": 80}}
        ],
        "responses": {
          "200": {"description": "A task", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActivityTask"}}}},
          "204": {"description": "No task came within the wait"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/activities/{activity}/tags": {
      "parameters": [{"$ref": "#/components/parameters/activity"}],
      "get": {
        "tags": ["activities"],
        "operationId": "listActivityTags",
        "summary": "The activity's tags",
        "responses": {
          "200": {"description": "Its tags", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagList"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "post": {
        "tags": ["activities"],
        "operationId": "tagActivity",
        "summary": "Add tags, or change the values of existing keys",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagList"}}}},
        "responses": {
          "200": {"description": "Its tags afterwards", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagList"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "tags": ["activities"],
        "operationId": "untagActivity",
        "summary": "Remove the tags of the given keys",
        "parameters": [
          {"name": "key", "in": "query", "required": true, "description": "A tag key to remove; repeat for more", "style": "form", "explode": true, "schema": {"type": "array", "items": {"type": "string"}}}
        ],
        "responses": {
          "200": {"description": "Its tags afterwards", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagList"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/tasks/{token}/success": {
      "parameters": [{"$ref": "#/components/parameters/token"}],
      "post": {
        "tags": ["tasks"],
        "operationId": "sendTaskSuccess",
        "summary": "Report a task's success; the body is its output",
        "description": "Answered once the outcome is durable. A body that is not JSON is InvalidOutput; a task that timed out is TaskTimedOut (409); one already reported, or unknown, is TaskDoesNotExist (404).",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"description": "The task's output: any JSON value, at most 256 KiB"}}}},
        "responses": {
          "204": {"description": "Reported"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/tasks/{token}/failure": {
      "parameters": [{"$ref": "#/components/parameters/token"}],
      "post": {
        "tags": ["tasks"],
        "operationId": "sendTaskFailure",
        "summary": "Report a task's failure",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskFailure"}}}},
        "responses": {
          "204": {"description": "Reported"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/tasks/{token}/heartbeat": {
      "parameters": [{"$ref": "#/components/parameters/token"}],
      "post": {
        "tags": ["tasks"],
        "operationId": "sendTaskHeartbeat",
        "summary": "Say the task is still being worked on (restarts its HeartbeatSeconds clock)",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false}}}},
        "responses": {
          "204": {"description": "Recorded"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/routes": {
      "get": {
        "tags": ["routes"],
        "operationId": "listRoutes",
        "summary": "Where push tasks go: every route, by kind then name (admins only)",
        "responses": {
          "200": {"description": "The routes", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RouteList"}}}},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/routes/{kind}/{name}": {
      "parameters": [
        {"name": "kind", "in": "path", "required": true, "description": "function (a Lambda-style function) or service (a service integration)", "schema": {"type": "string", "enum": ["function", "service"]}},
        {"name": "name", "in": "path", "required": true, "description": "function: NAME or NAME:QUALIFIER; service: SERVICE or SERVICE:ACTION", "schema": {"type": "string"}}
      ],
      "put": {
        "tags": ["routes"],
        "operationId": "putRoute",
        "summary": "Add or replace a route (admins only)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PutRoute"}}}},
        "responses": {
          "200": {"description": "The route", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Route"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "tags": ["routes"],
        "operationId": "deleteRoute",
        "summary": "Remove a route (admins only)",
        "responses": {
          "204": {"description": "Removed"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/audit": {
      "get": {
        "tags": ["audit"],
        "operationId": "listAudit",
        "summary": "The audit log of mutating calls, newest first (admins only)",
        "parameters": [
          {"name": "key", "in": "query", "required": false, "description": "Only calls made with this API key id", "schema": {"type": "string"}},
          {"name": "operation", "in": "query", "required": false, "description": "Only this operation, e.g. StartExecution", "schema": {"type": "string"}},
          {"name": "resource", "in": "query", "required": false, "description": "Only calls on this ARN", "schema": {"type": "string"}},
          {"$ref": "#/components/parameters/maxResults"},
          {"$ref": "#/components/parameters/nextToken"}
        ],
        "responses": {
          "200": {"description": "A page of audit entries", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditPage"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    }
  },
  "components": {
    "parameters": {
      "stateMachine": {"name": "stateMachine", "in": "path", "required": true, "description": "The state machine's name, or its ARN percent-encoded", "schema": {"type": "string"}},
      "execution": {"name": "execution", "in": "path", "required": true, "description": "The execution's ARN, percent-encoded (arn%3Aaws%3Astates%3A...)", "schema": {"type": "string"}},
      "activity": {"name": "activity", "in": "path", "required": true, "description": "The activity's name, or its ARN percent-encoded", "schema": {"type": "string"}},
      "token": {"name": "token", "in": "path", "required": true, "description": "The task token (percent-encoded if it holds reserved characters)", "schema": {"type": "string"}},
      "maxResults": {"name": "maxResults", "in": "query", "required": false, "description": "Page size", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
      "nextToken": {"name": "nextToken", "in": "query", "required": false, "description": "The nextToken of the previous page", "schema": {"type": "string"}},
      "status": {"name": "status", "in": "query", "required": false, "description": "Only executions in this status", "schema": {"$ref": "#/components/schemas/ExecutionStatus"}}
    },
    "responses": {
      "BadRequest": {"description": "The request is wrong (ValidationException, SerializationException, InvalidArn, InvalidDefinition, InvalidName, InvalidExecutionInput, InvalidOutput, InvalidToken, MissingRequiredParameter, TooManyTags)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Forbidden": {"description": "The caller's role does not allow it (AccessDeniedException)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "No such resource (StateMachineDoesNotExist, ExecutionDoesNotExist, ActivityDoesNotExist, TaskDoesNotExist, ResourceNotFound)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Conflict": {"description": "It conflicts with the resource's state (StateMachineAlreadyExists, ExecutionAlreadyExists, ExecutionNotRedrivable, TaskTimedOut)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Error": {"description": "Any error: 401, 403, 404 (UnknownOperationException), 405 (MethodNotAllowed, with Allow), 500 (InternalError), 503 (ServiceUnavailable)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Timestamp": {"type": "string", "format": "date-time", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$", "description": "RFC 3339, UTC, milliseconds"},
      "Arn": {"type": "string", "pattern": "^arn:"},
      "MachineType": {"type": "string", "enum": ["STANDARD", "EXPRESS"]},
      "ExecutionStatus": {"type": "string", "enum": ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]},
      "Problem": {
        "type": "object",
        "description": "One problem of a definition: where (a JSON Pointer into the definition), a stable code, and what is wrong",
        "required": ["pointer", "code", "message", "severity"],
        "additionalProperties": false,
        "properties": {
          "pointer": {"type": "string"},
          "code": {"type": "string"},
          "message": {"type": "string"},
          "severity": {"type": "string", "enum": ["ERROR", "WARNING"]}
        }
      },
      "Error": {
        "type": "object",
        "required": ["code", "message", "problems"],
        "additionalProperties": false,
        "properties": {
          "code": {"type": "string", "description": "The AWS Step Functions error name"},
          "message": {"type": "string"},
          "problems": {"type": "array", "description": "InvalidDefinition: every problem found; otherwise empty", "items": {"$ref": "#/components/schemas/Problem"}},
          "requestId": {"type": "string"}
        }
      },
      "Tag": {
        "type": "object",
        "required": ["key"],
        "additionalProperties": false,
        "properties": {
          "key": {"type": "string", "minLength": 1, "maxLength": 128},
          "value": {"type": "string", "maxLength": 256}
        }
      },
      "TagList": {
        "type": "object",
        "required": ["tags"],
        "additionalProperties": false,
        "properties": {"tags": {"type": "array", "maxItems": 50, "items": {"$ref": "#/components/schemas/Tag"}}}
      },
      "Definition": {
        "description": "The ASL document, as a JSON object or as a string of its JSON text",
        "oneOf": [{"type": "object"}, {"type": "string"}]
      },
      "CreateStateMachine": {
        "type": "object",
        "required": ["name", "definition"],
        "additionalProperties": false,
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 80},
          "definition": {"$ref": "#/components/schemas/Definition"},
          "type": {"$ref": "#/components/schemas/MachineType"},
          "roleArn": {"type": "string"},
          "tags": {"type": "array", "maxItems": 50, "items": {"$ref": "#/components/schemas/Tag"}}
        }
      },
      "UpdateStateMachine": {
        "type": "object",
        "description": "At least one of the two",
        "additionalProperties": false,
        "properties": {
          "definition": {"$ref": "#/components/schemas/Definition"},
          "roleArn": {"type": "string"}
        }
      },
      "ValidateDefinition": {
        "type": "object",
        "required": ["definition"],
        "additionalProperties": false,
        "properties": {
          "definition": {"$ref": "#/components/schemas/Definition"},
          "type": {"$ref": "#/components/schemas/MachineType"}
        }
      },
      "ValidationResult": {
        "type": "object",
        "required": ["valid", "problems"],
        "additionalProperties": false,
        "properties": {
          "valid": {"type": "boolean"},
          "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}}
        }
      },
      "StateMachineSummary": {
        "type": "object",
        "required": ["arn", "name", "type", "status", "revisionId", "createdAt", "updatedAt"],
        "additionalProperties": false,
        "properties": {
          "arn": {"$ref": "#/components/schemas/Arn"},
          "name": {"type": "string"},
          "type": {"$ref": "#/components/schemas/MachineType"},
          "status": {"type": "string", "enum": ["ACTIVE", "DELETING"]},
          "revisionId": {"type": "string"},
          "createdAt": {"$ref": "#/components/schemas/Timestamp"},
          "updatedAt": {"$ref": "#/components/schemas/Timestamp"}
        }
      },
      "StateMachine": {
        "type": "object",
        "required": ["arn", "name", "type", "status", "revisionId", "definition", "tags", "createdAt", "updatedAt"],
        "additionalProperties": false,
        "properties": {
          "arn": {"$ref": "#/components/schemas/Arn"},
          "name": {"type": "string"},
          "type": {"$ref": "#/components/schemas/MachineType"},
          "status": {"type": "string", "enum": ["ACTIVE", "DELETING"]},
          "revisionId": {"type": "string"},
          "definition": {"type": "object", "description": "The ASL document of this revision"},
          "roleArn": {"type": "string"},
          "description": {"type": "string"},
          "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
          "createdAt": {"$ref": "#/components/schemas/Timestamp"},
          "updatedAt": {"$ref": "#/components/schemas/Timestamp"}
        }
      },
      "StateMachinePage": {
        "type": "object",
        "required": ["items"],
        "additionalProperties": false,
        "properties": {
          "items": {"type": "array", "items": {"$ref": "#/components/schemas/StateMachineSummary"}},
          "nextToken": {"type": "string", "description": "Absent on the last page"}
        }
      },
      "StartExecution": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 80, "description": "Unique per machine; a UUID when absent"},
          "input": {"description": "Any JSON value, at most 256 KiB serialised; {} when absent"},
          "traceHeader": {"type": "string", "description": "A W3C traceparent (the request's traceparent header when absent)"}
        }
      },
      "StopExecution": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "error": {"type": "string", "maxLength": 256},
          "cause": {"type": "string", "maxLength": 32768}
        }
      },
      "ExecutionSummary": {
        "type": "object",
        "required": ["arn", "name", "stateMachineArn", "revisionId", "type", "status", "startedAt", "redriveCount"],
        "additionalProperties": false,
        "properties": {
          "arn": {"$ref": "#/components/schemas/Arn"},
          "name": {"type": "string"},
          "stateMachineArn": {"$ref": "#/components/schemas/Arn"},
          "revisionId": {"type": "string"},
          "type": {"$ref": "#/components/schemas/MachineType"},
          "status": {"$ref": "#/components/schemas/ExecutionStatus"},
          "startedAt": {"$ref": "#/components/schemas/Timestamp"},
          "stoppedAt": {"$ref": "#/components/schemas/Timestamp"},
          "redriveCount": {"type": "integer", "minimum": 0},
          "redrivenAt": {"$ref": "#/components/schemas/Timestamp"}
        }
      },
      "Execution": {
        "type": "object",
        "required": ["arn", "name", "stateMachineArn", "revisionId", "type", "status", "startedAt", "redriveCount", "input"],
        "additionalProperties": false,
        "properties": {
          "arn": {"$ref": "#/components/schemas/Arn"},
          "name": {"type": "string"},
          "stateMachineArn": {"$ref": "#/components/schemas/Arn"},
          "revisionId": {"type": "string"},
          "type": {"$ref": "#/components/schemas/MachineType"},
          "status": {"$ref": "#/components/schemas/ExecutionStatus"},
          "startedAt": {"$ref": "#/components/schemas/Timestamp"},
          "stoppedAt": {"$ref": "#/components/schemas/Timestamp"},
          "redriveCount": {"type": "integer", "minimum": 0},
          "redrivenAt": {"$ref": "#/components/schemas/Timestamp"},
          "input": {"description": "The input, a JSON value"},
          "output": {"description": "SUCCEEDED: the output, a JSON value"},
          "error": {"type": "string"},
          "cause": {"type": "string"},
          "traceHeader": {"type": "string"},
          "compensation": {"type": "array", "description": "Saga extension: the compensations run so far", "items": {"type": "object"}}
        }
      },
      "ExecutionPage": {
        "type": "object",
        "required": ["items"],
        "additionalProperties": false,
        "properties": {
          "items": {"type": "array", "items": {"$ref": "#/components/schemas/ExecutionSummary"}},
          "nextToken": {"type": "string", "description": "Absent on the last page"}
        }
      },
      "HistoryEvent": {
        "type": "object",
        "required": ["id", "previousEventId", "timestamp", "type"],
        "additionalProperties": false,
        "properties": {
          "id": {"type": "integer", "minimum": 1},
          "previousEventId": {"type": "integer", "minimum": 0},
          "timestamp": {"$ref": "#/components/schemas/Timestamp"},
          "type": {"type": "string", "description": "Step Functions' event type, e.g. TaskStateEntered"},
          "details": {"type": "object", "description": "The <type>EventDetails object of Step Functions; its input, output and parameters are JSON values"}
        }
      },
      "HistoryPage": {
        "type": "object",
        "required": ["items"],
        "additionalProperties": false,
        "properties": {
          "items": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryEvent"}},
          "nextToken": {"type": "string", "description": "Absent on the last page"}
        }
      },
      "CreateActivity": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": false,
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 80},
          "tags": {"type": "array", "maxItems": 50, "items": {"$ref": "#/components/schemas/Tag"}}
        }
      },
      "ActivitySummary": {
        "type": "object",
        "required": ["arn", "name", "createdAt"],
        "additionalProperties": false,
        "properties": {
          "arn": {"$ref": "#/components/schemas/Arn"},
          "name": {"type": "string"},
          "createdAt": {"$ref": "#/components/schemas/Timestamp"}
        }
      },
      "Activity": {
        "type": "object",
        "required": ["arn", "name", "createdAt", "tags"],
        "additionalProperties": false,
        "properties": {
          "arn": {"$ref": "#/components/schemas/Arn"},
          "name": {"type": "string"},
          "createdAt": {"$ref": "#/components/schemas/Timestamp"},
          "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}}
        }
      },
      "ActivityPage": {
        "type": "object",
        "required": ["items"],
        "additionalProperties": false,
        "properties": {
          "items": {"type": "array", "items": {"$ref": "#/components/schemas/ActivitySummary"}},
          "nextToken": {"type": "string", "description": "Absent on the last page"}
        }
      },
      "ActivityTask": {
        "type": "object",
        "required": ["token", "input"],
        "additionalProperties": false,
        "properties": {
          "token": {"type": "string", "description": "Report on the task with this token: /v1/tasks/{token}/..."},
          "input": {"description": "The task's input, a JSON value"}
        }
      },
      "TaskFailure": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "error": {"type": "string", "maxLength": 256, "description": "The error name Retry and Catch match"},
          "cause": {"type": "string", "maxLength": 32768}
        }
      },
      "PutRoute": {
        "type": "object",
        "required": ["url"],
        "additionalProperties": false,
        "properties": {"url": {"type": "string", "description": "http://HOST[:PORT][/PATH]"}}
      },
      "Route": {
        "type": "object",
        "required": ["kind", "name", "url", "updated"],
        "additionalProperties": false,
        "properties": {
          "kind": {"type": "string", "enum": ["function", "service"]},
          "name": {"type": "string"},
          "url": {"type": "string"},
          "updated": {"$ref": "#/components/schemas/Timestamp"}
        }
      },
      "RouteList": {
        "type": "object",
        "required": ["routes"],
        "additionalProperties": false,
        "properties": {"routes": {"type": "array", "items": {"$ref": "#/components/schemas/Route"}}}
      },
      "AuditEntry": {
        "type": "object",
        "required": ["id", "time", "keyId", "remote", "operation", "resource", "outcome", "requestId"],
        "additionalProperties": false,
        "properties": {
          "id": {"type": "integer"},
          "time": {"$ref": "#/components/schemas/Timestamp"},
          "keyId": {"type": "string", "description": "The API key id, or anonymous"},
          "remote": {"type": "string"},
          "operation": {"type": "string", "description": "The AWS operation name, e.g. StartExecution"},
          "resource": {"type": "string", "description": "The ARN acted on, empty when none"},
          "outcome": {"type": "string", "description": "ok, or the error name"},
          "requestId": {"type": "string"}
        }
      },
      "AuditPage": {
        "type": "object",
        "required": ["items"],
        "additionalProperties": false,
        "properties": {
          "items": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
          "nextToken": {"type": "string", "description": "Absent on the last page"}
        }
      }
    }
  }
}
)openapi";

}  // namespace

std::string_view openapi_document() { return kDocument; }

}  // namespace stepd::server::rest
