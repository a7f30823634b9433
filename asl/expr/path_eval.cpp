#include "asl/expr/path_eval.hpp"

#include "asl/core/error.hpp"

namespace stepd::asl::expr_detail {

const Json& eval_path(const Path& path, const EvalContext& ctx, std::string_view field,
                      Json* scratch) {
  // Throws AWS's error for an undefined variable.
  const Json& root = path.resolve_root(ctx);
  if (path.is_definite()) {
    if (const Json* hit = path.find_definite(root)) return *hit;
  } else if (std::optional<Json> value = path.evaluate_on(root)) {
    *scratch = std::move(*value);
    return *scratch;
  }
  // AWS: "The JSONPath '$.JobName' specified for the field 'JobName.$' could not be found in the
  // input '{}'".
  throw StatesException(errors::kRuntime, path.not_found_cause(field, root));
}

}  // namespace stepd::asl::expr_detail
