#include "stepd/worker/error.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <typeinfo>

namespace stepd::worker {

const char *to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Server:
      return "Server";
    case ErrorKind::Connect:
      return "Connect";
    case ErrorKind::Timeout:
      return "Timeout";
    case ErrorKind::Disconnected:
      return "Disconnected";
    case ErrorKind::Protocol:
      return "Protocol";
    case ErrorKind::Cancelled:
      return "Cancelled";
  }
  return "Unknown";
}

namespace {

std::string error_text(ErrorKind kind, const std::string &code, const std::string &message) {
  const std::string head = kind == ErrorKind::Server ? code : std::string(to_string(kind));
  return message.empty() ? head : head + ": " + message;
}

std::string demangle(const char *mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void *)> name(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  if (status == 0 && name) return name.get();
  return mangled;
}

}  // namespace

Error::Error(ErrorKind kind, std::string code, std::string message, int status,
             std::string request_id, nlohmann::json body)
    : std::runtime_error(error_text(kind, code, message)),
      kind_(kind),
      code_(std::move(code)),
      message_(std::move(message)),
      status_(status),
      request_id_(std::move(request_id)),
      body_(std::move(body)) {}

bool Error::retryable() const {
  switch (kind_) {
    case ErrorKind::Cancelled:
      return false;
    case ErrorKind::Server:
      return status_ >= 500 || code_ == "ServiceUnavailable" || code_ == "ThrottlingException" ||
             code_ == "TooManyRequestsException";
    default:
      return true;
  }
}

TaskFailure::TaskFailure(std::string error, std::string cause)
    : std::runtime_error(error + ": " + cause),
      error_(std::move(error)),
      cause_(std::move(cause)) {}

FailureReport current_exception_report() {
  FailureReport report;
  std::exception_ptr current = std::current_exception();
  if (!current) return {"UnknownException", ""};
  try {
    std::rethrow_exception(current);
  } catch (const TaskFailure &f) {
    return {f.error(), f.cause()};
  } catch (const std::exception &e) {
    const std::type_info *type = abi::__cxa_current_exception_type();
    report.error = type != nullptr ? demangle(type->name()) : "std::exception";
    report.cause = e.what();
  } catch (...) {
    const std::type_info *type = abi::__cxa_current_exception_type();
    report.error = type != nullptr ? demangle(type->name()) : "UnknownException";
  }
  return report;
}

}  // namespace stepd::worker
