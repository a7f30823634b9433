// Intrinsic functions: "States.Format('x={}', $.x)" and the other 17 of AWS, nested calls, string
// literals with escapes (\' \{ \} \\), numbers, booleans, null, and path arguments ($, $$, $name).
// The function set is a table: one row {name, arity, argument kinds, fn}.
//
// Compiled once at load. Syntax errors (unknown function, bad literal, bad path, unbalanced
// parentheses, an unknown escape) make parse() fail, as AWS rejects such definitions. AWS: a wrong
// argument count or a literal of the wrong type (States.MathAdd('a', 1)) is NOT rejected when the
// state machine is created; the execution fails when the call runs, with States.Runtime "Invalid
// arguments in States.MathAdd". parse() therefore accepts such calls, reports them through
// problem() (callers turn it into a load-time warning) and evaluate() throws the AWS runtime error.
//
// Threads: an IntrinsicCall is immutable and may be shared between threads.
#pragma once

#include "asl/core/eval.hpp"
#include "asl/core/json.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace stepd::asl {

namespace intrinsic_detail {
struct Node;  // defined in intrinsics.cpp
}

class IntrinsicCall {
 public:
  // True when text looks like a call (starts with "States." and an identifier and "("); such a
  // "key.$" value is compiled as a call, anything else as a path.
  static bool looks_like_call(std::string_view text);
  // Compiles a call. On failure returns nullopt and sets *error (what and where in the text), e.g.
  // "unknown intrinsic function 'States.Foo' at offset 0".
  static std::optional<IntrinsicCall> parse(std::string_view text, std::string* error);

  const std::string& text() const;
  bool uses_context() const;    // some argument is a "$$" path
  bool uses_variables() const;  // some argument is a "$name" path
  // Empty, or a description of an argument problem found at load time that AWS reports only at run
  // time (argument count, literal argument types, a malformed States.Format template).
  const std::string& problem() const;

  // Evaluates the call. Throws StatesException with AWS's error names and causes:
  //  - States.Runtime "Invalid arguments in States.<Name>" for bad argument values or counts;
  //  - States.Runtime "The JSONPath '$.x' specified for the field '<field>' could not be found in
  //    the input '<compact input>'" when a definite path argument matches nothing. `field` is the
  //    name AWS puts in that cause ("key.$" for a template member, "CausePath", ...).
  // The step function adds the "An error occurred while executing the state ..." prefix.
  // REQUIRES: ctx.input set; ctx.random set when the call uses States.UUID or an unseeded
  // States.MathRandom.
  Json evaluate(const EvalContext& ctx, std::string_view field = {}) const;

  IntrinsicCall(IntrinsicCall&&) noexcept;
  IntrinsicCall& operator=(IntrinsicCall&&) noexcept;
  IntrinsicCall(const IntrinsicCall&);
  IntrinsicCall& operator=(const IntrinsicCall&);
  ~IntrinsicCall();

 private:
  IntrinsicCall();
  std::shared_ptr<const intrinsic_detail::Node> root_;
  std::string text_;
  std::string problem_;
  bool uses_context_ = false;
  bool uses_variables_ = false;
};

namespace intrinsic_detail {
// How States.Format renders a value: strings raw, numbers as Java prints them (1.1, 2, 1.0E10),
// arrays "[a, b]", objects "{k=v, k2=v2}", null "null" (AWS's Java toString()).
std::string format_value(const Json& value);
// Java's Double.toString(d).
std::string java_double_string(double d);
}  // namespace intrinsic_detail

}  // namespace stepd::asl
