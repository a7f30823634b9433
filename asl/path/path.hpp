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

  // Compiles a path. On failure returns nullopt and sets *error to a message that says what is
  // wrong and where (e.g. "unexpected ']' at offset 5"); the caller adds the JSON Pointer.
  static std::optional<Path> parse(std::string_view text, std::string* error);
  // Compiles a reference path (ResultPath). Only "$"-rooted definite paths are accepted.
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
  // every match, possibly empty.
  bool is_definite() const;

  // Evaluates against the root the path names in ctx ("$" -> *ctx.input, "$$" -> *ctx.context,
  // "$name" -> the variable). Returns nullopt when a definite path matches nothing.
  // Throws StatesException(States.Runtime, ...) when the path names a variable that is not
  // defined (AWS's cause text), or uses "$$" while ctx.context is null.
  std::optional<Json> evaluate(const EvalContext& ctx) const;
  // Evaluates against an explicit root value, ignoring the path's own root kind.
  std::optional<Json> evaluate_on(const Json& root) const;
  // For definite paths: the matched node inside root without copying, or nullptr.
  // REQUIRES: is_definite().
  const Json* find_definite(const Json& root) const;

  // Writes value at this reference path inside target, creating missing object members on the
  // way ("$.a.b" on {} gives {"a":{"b":value}}); "$" replaces target entirely.
  // Throws StatesException(States.ResultPathMatchFailure? / States.Runtime, AWS's cause) when
  // an intermediate node exists but cannot hold the next step (e.g. a string).
  // REQUIRES: parsed with parse_reference.
  void assign(Json& target, Json value) const;

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
