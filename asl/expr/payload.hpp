// Payload templates: Parameters, ResultSelector, ItemSelector and Assign (JSONPath mode).
// A member whose key ends in ".$" takes its value from a path or an intrinsic call (the ".$" is
// dropped from the key); every other value is copied as written; nested objects and arrays are
// templates too.
//
// Compiled once at load: every path and call parses then, problems go to Diagnostics with the
// JSON Pointer of the member. Threads: immutable after compile; share freely.
#pragma once

#include "asl/core/error.hpp"
#include "asl/core/eval.hpp"
#include "asl/core/json.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace stepd::asl {

namespace payload_detail {
struct Node;  // defined in payload.cpp
}

class PayloadTemplate {
 public:
  // Compiles tmpl (found at JSON Pointer `pointer` of the definition; `field` is the ASL field
  // name, "Parameters" / "ResultSelector" / "ItemSelector" / "Assign", used in error causes).
  // Never fails: problems are added to diags and the returned template is then unusable.
  static PayloadTemplate compile(const Json& tmpl, const std::string& pointer,
                                 std::string_view field, Diagnostics& diags);

  bool uses_context() const;
  bool uses_variables() const;
  // True when the template contains no path and no call (its value is fixed).
  bool is_constant() const;

  // Builds the payload. Throws StatesException with AWS's errors and causes, e.g. for a path
  // that matches nothing: States.Runtime, "The JSONPath '$.x' specified for the field 'y.$'
  // could not be found in the input '{...}'".
  Json evaluate(const EvalContext& ctx) const;

  PayloadTemplate() = default;

 private:
  std::shared_ptr<const payload_detail::Node> root_;
  bool uses_context_ = false;
  bool uses_variables_ = false;
};

}  // namespace stepd::asl
