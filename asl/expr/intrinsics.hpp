// Intrinsic functions: "States.Format('x={}', $.x)" and the other 17 of AWS, nested calls,
// string literals with escapes (\' \{ \} \\), numbers, booleans, null, and path arguments
// ($, $$, $name). The function set is a table: one row {name, arity, argument kinds, fn} each.
//
// Compiled once at load; argument counts and literal argument types are checked then.
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
  // Compiles a call. On failure returns nullopt and sets *error (what and where in the text).
  static std::optional<IntrinsicCall> parse(std::string_view text, std::string* error);

  const std::string& text() const;
  bool uses_context() const;    // some argument is a "$$" path
  bool uses_variables() const;  // some argument is a "$name" path

  // Evaluates the call. Throws StatesException with AWS's error names and causes
  // (States.IntrinsicFailure for bad argument values, States.Runtime where AWS uses it).
  Json evaluate(const EvalContext& ctx) const;

  IntrinsicCall(IntrinsicCall&&) noexcept;
  IntrinsicCall& operator=(IntrinsicCall&&) noexcept;
  ~IntrinsicCall();

 private:
  IntrinsicCall();
  std::shared_ptr<const intrinsic_detail::Node> root_;
  std::string text_;
  bool uses_context_ = false;
  bool uses_variables_ = false;
};

}  // namespace stepd::asl
