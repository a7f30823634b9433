// JSONPath as the Amazon States Language uses it.
//
// Two grammars:
//  - Path (InputPath, OutputPath, ItemsPath, "key.$" values, Choice Variable, ...PATH fields,
//    intrinsic arguments): dot and bracket notation, wildcards, deep scan (..), indexes
//    (negative too), unions, slices, filter expressions (?(@.a > 1 && @.b == 'x')), and the
//    Jayway forms AWS accepts ($.[0], $.a.[0].b). Rooted at "$" (the input), "$$" (the context
//    object) or "$name" (a variable).
//  - Reference path (ResultPath): "$" followed only by names and non-negative indexes, so it
//    identifies exactly one node that can be written.
//
// A path is compiled once (parse) and evaluated many times; evaluation never re-parses.
// Threads: a compiled Path is immutable and may be shared between threads.
#pragma once

#include "asl/core/eval.hpp"
#include "asl/core/json.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace stepd::asl {

namespace path_detail {
struct Program;  // the compiled form; defined in path.cpp
}

class Path {
 public:
  enum class Root { Input, Context, Variable };

  // Compiles a path. On failure returns nullopt and sets *error (if error is not null) to a
  // message that says what is wrong and where, with a 0-based byte offset into text, e.g.
  // "unexpected ']' at offset 5". The caller adds the JSON Pointer of the field.
  //
  // Accepted (Jayway JsonPath, as AWS uses it):
  //  - roots "$" (input), "$$" (context object), "$name" (variable; letters, digits, '_',
  //    not starting with a digit; non-ASCII letters allowed);
  //  - ".name" (any characters except . [ ] ( ) and whitespace, e.g. "$.input-value"),
  //    "['name']" / ["name"] and unions "['a','b']"; inside quotes a backslash only protects
  //    the next character from ending the name and is kept as written (AWS: "$['a\"b']"
  //    names the key a\"b);
  //  - "*", "[*]", deep scan "..name", "..*", "..[0]", "..[?(...)]";
  //  - indexes "[0]", "[-1]" (from the end), unions "[0,2]", slices "[1:3]", "[-2:]", "[:2]",
  //    "[::2]" (step > 0);
  //  - filters "[?(...)]" with @-relative paths, literals (numbers, 'strings', "strings", true,
  //    false, null), == != < <= > >=, existence "@.a", "!", "&&", "||", parentheses;
  //  - Jayway's extra dot before a bracket: "$.[0]", "$.a.[0].b", "$.['a']";
  //  - a trailing function call "$.a.length()": AWS accepts it but it never matches anything
  //    at run time (AWS reports the path as not found), so evaluate() returns nullopt.
  // Rejected with a message: regex (=~), lexical operators (in, nin, subsetof, anyof, noneof,
  // size, empty, contains) and "$"-rooted operands inside filters, which AWS does not support.
  static std::optional<Path> parse(std::string_view text, std::string* error);
  // Compiles a reference path (ResultPath): "$" followed only by names and non-negative
  // indexes ("$", "$.a.b", "$['a']", "$.a[0]"). "$$", variables, wildcards, deep scan, unions,
  // slices, filters, functions and negative indexes are rejected with a message naming the
  // offending part and its offset.
  static std::optional<Path> parse_reference(std::string_view text, std::string* error);

  // The text as written in the definition.
  const std::string& text() const;
  Root root() const;
  // For Root::Variable: the variable name without "$" ("$x.y" -> "x").
  const std::string& variable() const;
  // True for "$" alone (or "$$", "$name" alone): the whole root value.
  bool is_root_only() const;
  // True when the path can match at most one node (names and indexes only): its result is that
  // node. Otherwise (wildcards, deep scan, slices, unions, filters) its result is an array of
  // every match, possibly empty (Jayway semantics, as AWS: "$.items[*]" on {} gives []).
  // Matches come in document order, object members in the order the Json type keeps them
  // (objects keep the order of their members, as AWS does).
  // Two Jayway special cases are not definite here but still give a single value:
  //  - a union of names as the last step after a definite prefix ("$.a['x','y']") gives an
  //    object holding those of the members that exist (Jayway's property merge);
  //  - a path ending in a function call gives nothing (see parse).
  bool is_definite() const;
  // True when parsed with parse_reference (assign() may be used).
  bool is_reference() const;

  // The root value the path names in ctx: "$" -> *ctx.input, "$$" -> *ctx.context,
  // "$name" -> the variable, looked up through ctx.variables.
  // Throws StatesException(States.Runtime, "The variable '$name' is not defined") when the
  // variable is not defined in any enclosing scope (or ctx.variables is null).
  // Throws std::logic_error when "$$" is used while ctx.context is null, or "$" while
  // ctx.input is null: the caller must build the roots it hands out (a bug, not user input).
  const Json& resolve_root(const EvalContext& ctx) const;

  // Evaluates against the root the path names in ctx (see resolve_root, which also gives the
  // exceptions). Returns nullopt when a definite path matches nothing; an indefinite path
  // always gives an array. Copies only the result.
  std::optional<Json> evaluate(const EvalContext& ctx) const;
  // Evaluates against an explicit root value, ignoring the path's own root kind.
  std::optional<Json> evaluate_on(const Json& root) const;
  // For definite paths: the matched node inside root without copying, or nullptr. A handful of
  // pointer hops, no allocation. REQUIRES: is_definite().
  const Json* find_definite(const Json& root) const;
  // Like evaluate(ctx) for a definite path, without copying: the node or nullptr.
  // REQUIRES: is_definite(). Throws as resolve_root.
  const Json* find_definite(const EvalContext& ctx) const;

  // Writes value at this reference path inside target, creating missing object members on the
  // way ("$.a.b" on {} gives {"a":{"b":value}}); "$" replaces target entirely. An index step
  // replaces an existing array element.
  // AWS: throws StatesException(States.ResultPathMatchFailure,
  //   "Unable to apply ReferencePath $.a.b to input {\"a\":\"x\"}") -- the path text and the
  // compact JSON of target -- when a node on the way exists but cannot hold the next step (a
  // name step on a non-object, e.g. a string or null; an index step on a non-array or past its
  // end; an index step on a missing member). target is left unchanged then.
  // REQUIRES: is_reference().
  void assign(Json& target, Json value) const;

  // Jayway's normalized form of the path without its root kind, as AWS prints it in causes:
  // "$.a.b[0]" -> "$['a']['b'][0]", "$$.Execution.Id" -> "$['Execution']['Id']",
  // "$x.y" -> "$['y']", "$..a[*]" -> "$..['a'][*]", "$.a[?(@.b)]" -> "$['a'][?]",
  // "$.a[1:3]" -> "$['a'][1:3]", "$.a.length()" -> "$['a'].length()".
  std::string normalized() const;

  // Why a definite path found nothing in root, as Jayway words it: "Missing property in path
  // $['a']['b']" when a member that is not the last step is absent from an object, otherwise
  // "No results for path: $['a']['b']['c']" (the whole normalized path).
  std::string not_found_reason(const Json& root) const;
  // AWS: the cause tail for InputPath / OutputPath that match nothing:
  // "Invalid path '$.foo' : No results for path: $['foo']" (text, then not_found_reason).
  std::string invalid_path_cause(const Json& root) const;
  // AWS: the cause tail for a payload template value or a *Path field that matches nothing:
  // "The JSONPath '$.x' specified for the field 'x.$' could not be found in the input '{}'"
  // (text as written, the field name, the compact JSON of the value the path was applied to).
  std::string not_found_cause(std::string_view field, const Json& input) const;

  Path(Path&&) noexcept;
  Path& operator=(Path&&) noexcept;
  Path(const Path&);
  Path& operator=(const Path&);
  ~Path();

 private:
  Path();
  std::unique_ptr<path_detail::Program> program_;
};

}  // namespace stepd::asl
