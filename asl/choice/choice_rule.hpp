// Choice rules: every comparison operator and its Path twin, And / Or / Not nesting, the Is*
// type tests, StringMatches with "*" wildcards and escapes, Timestamp comparisons.
//
// Compiled once at load. Threads: immutable after compile; share freely.
#pragma once

#include "asl/core/error.hpp"
#include "asl/core/eval.hpp"
#include "asl/core/json.hpp"

#include <memory>
#include <string>

namespace stepd::asl {

namespace choice_detail {
struct Node;  // defined in choice_rule.cpp
}

class ChoiceRule {
 public:
  // Compiles one rule found at JSON Pointer `pointer`. When top_level is true the members
  // "Next", "Assign" and "Comment" belong to the caller and are ignored here; nested rules
  // (inside And/Or/Not) must not have "Next". Problems go to diags; the result is then unusable.
  static ChoiceRule compile(const Json& rule, const std::string& pointer, bool top_level,
                            Diagnostics& diags);

  bool uses_context() const;
  bool uses_variables() const;

  // True when the rule matches. A Variable that matches nothing makes comparisons false
  // (IsPresent tells presence) except where AWS raises an error: then throws StatesException
  // with AWS's error and cause.
  bool evaluate(const EvalContext& ctx) const;

  ChoiceRule() = default;

 private:
  std::shared_ptr<const choice_detail::Node> root_;
  bool uses_context_ = false;
  bool uses_variables_ = false;
};

}  // namespace stepd::asl
