// Choice rules: every comparison operator and its Path twin, And / Or / Not nesting, the Is*
// type tests, StringMatches with "*" wildcards and escapes, Timestamp comparisons.
//
// Compiled once at load. Threads: immutable after compile; share freely.
#pragma once

#include <memory>
#include <string>

#include "asl/core/error.hpp"
#include "asl/core/eval.hpp"
#include "asl/core/json.hpp"

namespace stepd::asl {

namespace choice_detail {
struct Node;  // defined in choice_rule.cpp
}

class ChoiceRule {
 public:
  // Compiles one rule found at JSON Pointer `pointer`. When top_level is true the members
  // "Next", "Assign" and "Comment" belong to the caller and are ignored here; nested rules
  // (inside And/Or/Not) must not have "Next". Problems go to diags; the result is then unusable.
  //
  // Diagnostics, each at the JSON Pointer of the offending rule or field:
  //  - "INVALID_CHOICE_RULE": the rule's shape ("must have exactly one comparison operator",
  //    "Next is only allowed in a top-level Choice rule", "Variable is not allowed with And",
  //    "And must be a non-empty array of Choice rules", "Not must be a Choice rule object").
  //  - "SCHEMA_VALIDATION": a field of the wrong type or an unknown field ("NumericEquals must
  //    be a number", "unknown field 'StringEqual' in a Choice rule (did you mean
  //    'StringEquals'?)", "TimestampEquals must be a timestamp string ...", "missing Variable").
  //  - "INVALID_JSON_PATH": Variable or a ...Path operand that does not parse.
  static ChoiceRule compile(const Json& rule, const std::string& pointer, bool top_level,
                            Diagnostics& diags);

  bool uses_context() const;
  bool uses_variables() const;

  // True when the rule matches. And / Or short-circuit left to right.
  //
  // AWS: a value of the wrong type never matches (NumericEquals on a string, BooleanEquals on
  // 0, StringEquals on a number: false); Is* test the type; numbers compare exactly across
  // integers and decimals (1 == 1.0); strings compare as Java's String.compareTo (UTF-16 code
  // units); timestamps compare as instants at full precision.
  // AWS: when Variable (or a ...Path operand) matches nothing, every operator except IsPresent
  // throws StatesException("States.Runtime", "Invalid path '$.x': The choice state's condition
  // path references an invalid value."); an undefined variable ($name) or a missing context
  // object counts as matching nothing. IsPresent never throws.
  // Allocates nothing for definite paths (names and indexes) unless it throws.
  // REQUIRES: compiled without errors.
  bool evaluate(const EvalContext& ctx) const;

  ChoiceRule() = default;

 private:
  std::shared_ptr<const choice_detail::Node> root_;
  bool uses_context_ = false;
  bool uses_variables_ = false;
};

}  // namespace stepd::asl
