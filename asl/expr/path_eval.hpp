// Internal to asl/expr: evaluating a compiled Path where a payload template or an intrinsic
// argument needs its value.
#pragma once

#include "asl/core/eval.hpp"
#include "asl/core/json.hpp"
#include "asl/path/path.hpp"

#include <string_view>

namespace stepd::asl::expr_detail {

// The value `path` selects in ctx. For a definite path the result points into the document (no
// copy); otherwise the value is stored in *scratch and *scratch is returned. Throws
// StatesException(States.Runtime, "The JSONPath '<path>' specified for the field '<field>' could
// not be found in the input '<compact root>'") when a definite path matches nothing, and whatever
// Path::evaluate throws for an undefined variable or a missing context.
const Json& eval_path(const Path& path, const EvalContext& ctx, std::string_view field,
                      Json* scratch);

}  // namespace stepd::asl::expr_detail
