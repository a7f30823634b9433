// How the REST adapter (server/rest/) answers an ApiError: the HTTP status for each AWS error
// name. The AWS Step Functions adapter (server/aws/) does not use this: as AWS does, it answers
// 400 for every client error and 500 for the server's own.
#pragma once

#include "engine/engine.hpp"

#include <string_view>

namespace stepd::server {

// The HTTP status the REST API answers `error_type` with:
//  - 404 for what does not exist (*DoesNotExist, ResourceNotFound, UnknownOperationException);
//  - 409 for a conflict with the resource's state (*AlreadyExists, ExecutionNotRedrivable,
//    StateMachineDeleting, ConflictException, TaskTimedOut: the task is no longer awaited);
//  - 400 for a bad request (Invalid*, ValidationException, MissingRequiredParameter,
//    SerializationException, TooManyTags, ExecutionLimitExceeded, StateMachineLimitExceeded,
//    ActivityLimitExceeded);
//  - 401 UnrecognizedClientException / MissingAuthenticationToken, 403 AccessDeniedException,
//    405 MethodNotAllowed, 413 RequestEntityTooLarge, 429 ThrottlingException and
//    ActivityWorkerLimitExceeded, 503 ServiceUnavailable;
//  - 500 for anything else (InternalError and names not listed here).
int rest_status(std::string_view error_type);

inline int rest_status(const engine::ApiError& error) { return rest_status(error.type); }

}  // namespace stepd::server
