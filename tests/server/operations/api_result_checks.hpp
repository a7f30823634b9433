// Reading the ApiResult<T> an Operations call returns in a test, and the caller most tests make
// their calls as.
#pragma once

#include "server/operations/operations.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <variant>

namespace stepd::server::test {

// "Type: message" of the error, or "OK".
template <typename T>
std::string failure(const ApiResult<T>& r) {
  if (const auto* e = std::get_if<ApiError>(&r)) return e->type + ": " + e->message;
  return "OK";
}

// The value, failing the test (and returning T{}) on an error.
template <typename T>
T ok(ApiResult<T> r) {
  if (const auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "unexpected " << e->type << ": " << e->message;
    return T{};
  }
  return std::get<T>(std::move(r));
}

// An administrator: key "admin-key" from 192.0.2.10:50000, request `request_id`.
inline Caller admin_caller(std::string request_id) {
  Caller c;
  c.key_id = "admin-key";
  c.role = Role::Admin;
  c.remote = "192.0.2.10:50000";
  c.request_id = std::move(request_id);
  return c;
}

}  // namespace stepd::server::test
