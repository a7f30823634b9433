// Errors of the language core.
//
// Three kinds of failure (see STYLE.md):
//  - StatesError: an ASL error raised while a state runs ("States.Timeout", a task's custom error).
//    It is data: Retry and Catch match on its name. Code that evaluates paths, templates and
//    intrinsic functions throws StatesException; the step function catches it at the state
//    boundary and turns it into an effect.
//  - Diagnostic: a problem found while loading a definition, with the JSON Pointer of the field.
//  - assert(): a bug, never user input.
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::asl {

// Error names defined by the Amazon States Language. AWS: spelled as AWS spells them.
namespace errors {
inline constexpr std::string_view kAll = "States.ALL";
inline constexpr std::string_view kBranchFailed = "States.BranchFailed";
inline constexpr std::string_view kDataLimitExceeded = "States.DataLimitExceeded";
inline constexpr std::string_view kExceedToleratedFailureThreshold =
    "States.ExceedToleratedFailureThreshold";
inline constexpr std::string_view kHeartbeatTimeout = "States.HeartbeatTimeout";
inline constexpr std::string_view kIntrinsicFailure = "States.IntrinsicFailure";
inline constexpr std::string_view kItemReaderFailed = "States.ItemReaderFailed";
inline constexpr std::string_view kNoChoiceMatched = "States.NoChoiceMatched";
inline constexpr std::string_view kParameterPathFailure = "States.ParameterPathFailure";
inline constexpr std::string_view kPermissions = "States.Permissions";
inline constexpr std::string_view kQueryEvaluationError = "States.QueryEvaluationError";
inline constexpr std::string_view kResultPathMatchFailure = "States.ResultPathMatchFailure";
inline constexpr std::string_view kResultWriterFailed = "States.ResultWriterFailed";
inline constexpr std::string_view kRuntime = "States.Runtime";
inline constexpr std::string_view kTaskFailed = "States.TaskFailed";
inline constexpr std::string_view kTimeout = "States.Timeout";
}  // namespace errors

struct StatesError {
  std::string error;  // the error name Retry/Catch match on; may be empty (Fail without Error)
  std::string cause;  // human-readable; may be empty

  bool operator==(const StatesError&) const = default;
};

class StatesException : public std::exception {
 public:
  StatesException(std::string_view error, std::string cause)
      : error_{std::string(error), std::move(cause)} {}
  explicit StatesException(StatesError error) : error_(std::move(error)) {}

  const StatesError& error() const noexcept { return error_; }
  const char* what() const noexcept override { return error_.cause.c_str(); }

 private:
  StatesError error_;
};

enum class Severity { Error, Warning };

// One problem found in a definition. `pointer` is the JSON Pointer (RFC 6901) of the field
// ("" for the whole document), `code` a stable machine-readable name (e.g. "SCHEMA_VALIDATION",
// "MISSING_TRANSITION_TARGET", "UNSUPPORTED_RESOURCE"), `message` says what is wrong and why.
struct Diagnostic {
  std::string pointer;
  std::string code;
  std::string message;
  Severity severity = Severity::Error;
};

// "/States/Pay/Retry/0/BackoffRate: must be at least 1.0"
std::string to_string(const Diagnostic& d);

// Collects diagnostics while a definition is compiled. Every compile step appends to one of
// these instead of stopping at the first problem.
class Diagnostics {
 public:
  void error(std::string pointer, std::string code, std::string message) {
    items_.push_back({std::move(pointer), std::move(code), std::move(message), Severity::Error});
  }
  void warning(std::string pointer, std::string code, std::string message) {
    items_.push_back({std::move(pointer), std::move(code), std::move(message), Severity::Warning});
  }
  bool has_errors() const;
  const std::vector<Diagnostic>& items() const { return items_; }
  std::vector<Diagnostic>& items() { return items_; }

 private:
  std::vector<Diagnostic> items_;
};

}  // namespace stepd::asl
