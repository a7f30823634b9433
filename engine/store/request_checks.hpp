// Argument checks the Store backends share, so that the error texts store.hpp promises are
// written once. Internal to engine/store/: included by the backends' .cpp files only.
#pragma once

#include "engine/store/store.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace stepd::engine::store_detail {

// OK when page.max_results is 1..1000; otherwise InvalidArgument "max_results must be between 1
// and 1000, got <n>".
inline Status check_page_size(const PageRequest& page) {
  if (page.max_results < 1 || page.max_results > 1000) {
    return Error{ErrorCode::InvalidArgument,
                 "max_results must be between 1 and 1000, got " + std::to_string(page.max_results)};
  }
  return {};
}

// OK when max >= 1; otherwise InvalidArgument "max must be at least 1, got <n>".
inline Status check_max(int max) {
  if (max < 1) {
    return Error{ErrorCode::InvalidArgument, "max must be at least 1, got " + std::to_string(max)};
  }
  return {};
}

// InvalidArgument "invalid next_token": a page token this backend did not make.
inline Error invalid_next_token() {
  return Error{ErrorCode::InvalidArgument, "invalid next_token"};
}

// `s` as a decimal int64 when the whole of it is one (an optional '-', then digits); nullopt
// otherwise.
inline std::optional<std::int64_t> parse_i64(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace stepd::engine::store_detail
