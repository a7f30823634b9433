// The AWS Step Functions API (AWS JSON 1.0 protocol) over the Operations service, so the AWS CLI
// and the AWS SDKs work against stepd unchanged (docs/aws-api.md).
//
// The HTTP server hands every `POST /` whose X-Amz-Target is `AWSStepFunctions.<Operation>` to
// handle(). Each operation reads its request with the model's shape (aws_protocol.hpp: unknown
// members ignored, type mismatches SerializationException, constraints ValidationException with
// AWS's wording), calls the one Operations method that does it, and answers with the model's
// output shape. Errors are Operations' ApiErrors under their AWS names, HTTP 400 (500 for
// InternalFailure, 503 for ServiceUnavailable).
//
// Operations answered: CreateStateMachine, UpdateStateMachine, DescribeStateMachine,
// ListStateMachines, DeleteStateMachine, ValidateStateMachineDefinition, StartExecution,
// StartSyncExecution, DescribeExecution, ListExecutions, GetExecutionHistory, StopExecution,
// RedriveExecution, DescribeStateMachineForExecution, TagResource, UntagResource,
// ListTagsForResource (state machines and activities), CreateActivity, DescribeActivity,
// ListActivities, DeleteActivity, GetActivityTask, SendTaskSuccess, SendTaskFailure,
// SendTaskHeartbeat. Any other target (versions, aliases, map runs, TestState, or a name AWS
// does not have) is UnknownOperationException.
//
// Authentication is the HTTP layer's: SigV4 headers (Authorization, X-Amz-Date, ...) are
// accepted and ignored here; who calls is `caller`.
//
// Threads: handle() may be called from many threads at once. StartExecution, StopExecution,
// RedriveExecution and SendTask* return at once and answer from the engine's completion
// callback; GetActivityTask returns at once and answers when a task comes or its wait ends
// (no thread waits for it);
// StartSyncExecution blocks the calling handler thread until the execution ends (at most
// AwsApiOptions::sync_timeout). Every other operation answers before handle() returns.
#pragma once

#include "server/http/message.hpp"
#include "server/operations/operations.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace stepd::server {

struct AwsApiOptions {
  // How long StartSyncExecution waits for the execution to end. AWS: an Express execution runs
  // for at most 5 minutes; one still running then is answered TIMED_OUT (error States.Timeout)
  // and the engine is asked to stop it.
  std::chrono::milliseconds sync_timeout = std::chrono::minutes(5);
  // How long GetActivityTask waits for a task before answering {} (AWS: 60 s; at most
  // kMaxPollWait).
  std::chrono::milliseconds poll_wait = kMaxPollWait;
};

class AwsApi final : public Handler {
 public:
  // `operations` must outlive the AwsApi.
  explicit AwsApi(Operations& operations, AwsApiOptions options = {});
  void handle(HttpRequest request, Caller caller, Respond respond) override;

  // The operation names answered (as in X-Amz-Target after "AWSStepFunctions.").
  static std::vector<std::string> operation_names();

 private:
  Operations& operations_;
  AwsApiOptions options_;
};

}  // namespace stepd::server
