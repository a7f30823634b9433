// Payload templates: Parameters, ResultSelector, ItemSelector and Assign (JSONPath mode). A member
// whose key ends in ".$" takes its value from a path or an intrinsic call (the ".$" is dropped from
// the key); every other value is copied as written; nested objects and arrays are templates too
// (AWS: "key.$" members are evaluated however deeply nested, inside arrays too).
//
// Compiled once at load: every path and call parses then, problems go to Diagnostics with the JSON
// Pointer of the member and the codes of the definition compiler: WRONG_TYPE (a "key.$" value that
// is not a string), INVALID_PATH, INVALID_INTRINSIC, INVALID_VALUE (neither a path nor a call),
// DUPLICATE_KEY ("k" and "k.$" together); warning INTRINSIC_ARGUMENTS (a call that AWS accepts but
// that always fails when it runs, e.g. a wrong argument count). Constant subtrees are prebuilt;
// evaluation copies them and the values paths select, nothing else.
// Threads: immutable after compile; share freely.
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
  // name, "Parameters" / "ResultSelector" / "ItemSelector" / "Assign", used in error causes). Never
  // fails: problems are added to diags and the returned template is then unusable.
  static PayloadTemplate compile(const Json& tmpl, const std::string& pointer,
                                 std::string_view field, Diagnostics& diags);

  bool uses_context() const;
  bool uses_variables() const;
  // True when the template contains no path and no call (its value is fixed).
  bool is_constant() const;
  // False when compile reported an error (or for a default-constructed template).
  bool ok() const { return root_ != nullptr; }

  // Builds the payload. Throws StatesException with AWS's errors and causes, e.g. for a path that
  // matches nothing: States.Runtime, "The JSONPath '$.x' specified for the field 'y.$' could not be
  // found in the input '{...}'" (the input is the value the path was applied to, compact), and the
  // intrinsic errors (States.Runtime "Invalid arguments in States.X"). `$` paths read ctx.input;
  // for Assign that is the state's input or result, as the caller decides. REQUIRES: ok().
  Json evaluate(const EvalContext& ctx) const;

  PayloadTemplate() = default;

 private:
  std::shared_ptr<const payload_detail::Node> root_;
  bool uses_context_ = false;
  bool uses_variables_ = false;
};

}  // namespace stepd::asl
