// Every history event type the engine writes (engine/core/execution_core.cpp), with the
// HistoryEvent member AWS's model (botocore) puts its details in; "" for a type that has no
// details member. Shared by the AWS protocol and AWS API tests.
#pragma once

#include <map>
#include <string>

namespace stepd::test {

inline const std::map<std::string, std::string> kEngineEventDetails = {
    {"ExecutionStarted", "executionStartedEventDetails"},
    {"ExecutionSucceeded", "executionSucceededEventDetails"},
    {"ExecutionFailed", "executionFailedEventDetails"},
    {"ExecutionAborted", "executionAbortedEventDetails"},
    {"ExecutionTimedOut", "executionTimedOutEventDetails"},
    {"ExecutionRedriven", "executionRedrivenEventDetails"},
    {"PassStateEntered", "stateEnteredEventDetails"},
    {"PassStateExited", "stateExitedEventDetails"},
    {"TaskStateEntered", "stateEnteredEventDetails"},
    {"TaskStateExited", "stateExitedEventDetails"},
    {"ChoiceStateEntered", "stateEnteredEventDetails"},
    {"ChoiceStateExited", "stateExitedEventDetails"},
    {"WaitStateEntered", "stateEnteredEventDetails"},
    {"WaitStateExited", "stateExitedEventDetails"},
    {"SucceedStateEntered", "stateEnteredEventDetails"},
    {"SucceedStateExited", "stateExitedEventDetails"},
    {"FailStateEntered", "stateEnteredEventDetails"},
    {"ParallelStateEntered", "stateEnteredEventDetails"},
    {"ParallelStateExited", "stateExitedEventDetails"},
    {"ParallelStateStarted", ""},
    {"ParallelStateSucceeded", ""},
    {"ParallelStateFailed", ""},
    {"MapStateEntered", "stateEnteredEventDetails"},
    {"MapStateExited", "stateExitedEventDetails"},
    {"MapStateStarted", "mapStateStartedEventDetails"},
    {"MapStateSucceeded", ""},
    {"MapStateFailed", ""},
    {"MapIterationStarted", "mapIterationStartedEventDetails"},
    {"MapIterationSucceeded", "mapIterationSucceededEventDetails"},
    {"MapIterationFailed", "mapIterationFailedEventDetails"},
    {"MapIterationAborted", "mapIterationAbortedEventDetails"},
    {"LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails"},
    {"LambdaFunctionStarted", ""},
    {"LambdaFunctionSucceeded", "lambdaFunctionSucceededEventDetails"},
    {"LambdaFunctionFailed", "lambdaFunctionFailedEventDetails"},
    {"LambdaFunctionTimedOut", "lambdaFunctionTimedOutEventDetails"},
    {"ActivityScheduled", "activityScheduledEventDetails"},
    {"ActivitySucceeded", "activitySucceededEventDetails"},
    {"ActivityFailed", "activityFailedEventDetails"},
    {"ActivityTimedOut", "activityTimedOutEventDetails"},
    {"TaskScheduled", "taskScheduledEventDetails"},
    {"TaskStarted", "taskStartedEventDetails"},
    {"TaskSucceeded", "taskSucceededEventDetails"},
    {"TaskFailed", "taskFailedEventDetails"},
    {"TaskTimedOut", "taskTimedOutEventDetails"},
};

}  // namespace stepd::test
