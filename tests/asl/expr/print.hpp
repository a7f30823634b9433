// Readable gtest output for asl types used in expr tests.
#pragma once

#include "asl/core/error.hpp"

#include <ostream>

namespace stepd::asl {

inline void PrintTo(const StatesError& e, std::ostream* os) {
  *os << "{error: \"" << e.error << "\", cause: \"" << e.cause << "\"}";
}

}  // namespace stepd::asl
