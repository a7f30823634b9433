#include "asl/core/error.hpp"

#include <algorithm>

namespace stepd::asl {

std::string to_string(const Diagnostic& d) {
  std::string out = d.pointer.empty() ? std::string("/") : d.pointer;
  out += ": ";
  out += d.message;
  return out;
}

bool Diagnostics::has_errors() const {
  return std::any_of(items_.begin(), items_.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::Error; });
}

}  // namespace stepd::asl
