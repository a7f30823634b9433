#include "server/operations/errors.hpp"

#include <array>
#include <utility>

namespace stepd::server {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Names whose status does not follow from their spelling.
constexpr std::array<std::pair<std::string_view, int>, 20> kExact{{
    {"ResourceNotFound", 404},
    {"UnknownOperationException", 404},
    {"ExecutionNotRedrivable", 409},
    {"StateMachineDeleting", 409},
    {"ConflictException", 409},
    {"TaskTimedOut", 409},
    {"ActivityLimitExceeded", 400},
    {"ActivityWorkerLimitExceeded", 429},
    {"ValidationException", 400},
    {"MissingRequiredParameter", 400},
    {"SerializationException", 400},
    {"TooManyTags", 400},
    {"ExecutionLimitExceeded", 400},
    {"StateMachineLimitExceeded", 400},
    {"UnrecognizedClientException", 401},
    {"MissingAuthenticationToken", 401},
    {"AccessDeniedException", 403},
    {"MethodNotAllowed", 405},
    {"RequestEntityTooLarge", 413},
    {"ThrottlingException", 429},
}};

}  // namespace

int rest_status(std::string_view type) {
  for (const auto& [name, status] : kExact) {
    if (name == type) return status;
  }
  if (type == "ServiceUnavailable") return 503;
  if (ends_with(type, "DoesNotExist")) return 404;
  if (ends_with(type, "AlreadyExists")) return 409;
  if (starts_with(type, "Invalid")) return 400;
  return 500;
}

}  // namespace stepd::server
