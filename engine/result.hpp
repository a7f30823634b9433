// Result<T>: a value or an Error, for operations whose failure is expected (a name taken, a
// record missing, a database away). Bugs are asserts; ASL errors are asl::StatesError.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace stepd::engine {

enum class ErrorCode {
  NotFound,        // the record does not exist
  AlreadyExists,   // a record with that key exists (with other contents)
  Conflict,        // a concurrent change won (version or lease check failed)
  InvalidArgument, // the request itself is wrong
  Unavailable,     // the store cannot be reached or refused the work; retrying may succeed
  Internal,        // anything else
};

std::string_view to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}       // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result of an operation with no value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace stepd::engine
