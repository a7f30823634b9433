// Placeholder; the full implementation follows shortly.
#include "asl/path/path.hpp"

#include "asl/core/error.hpp"

namespace stepd::asl {

namespace path_detail {
struct Program {
  std::string text;
  Path::Root root = Path::Root::Input;
  std::string variable;
};
}  // namespace path_detail

Path::Path() : program_(std::make_unique<path_detail::Program>()) {}
Path::Path(Path&&) noexcept = default;
Path& Path::operator=(Path&&) noexcept = default;
Path::Path(const Path& other) : program_(std::make_unique<path_detail::Program>(*other.program_)) {}
Path& Path::operator=(const Path& other) {
  if (this != &other) program_ = std::make_unique<path_detail::Program>(*other.program_);
  return *this;
}
Path::~Path() = default;

std::optional<Path> Path::parse(std::string_view text, std::string* error) {
  if (text != "$") {
    if (error) *error = "not implemented yet";
    return std::nullopt;
  }
  Path p;
  p.program_->text = std::string(text);
  return p;
}
std::optional<Path> Path::parse_reference(std::string_view text, std::string* error) {
  return parse(text, error);
}
const std::string& Path::text() const { return program_->text; }
Path::Root Path::root() const { return program_->root; }
const std::string& Path::variable() const { return program_->variable; }
bool Path::is_root_only() const { return true; }
bool Path::is_definite() const { return true; }
std::optional<Json> Path::evaluate(const EvalContext& ctx) const { return *ctx.input; }
std::optional<Json> Path::evaluate_on(const Json& root) const { return root; }
const Json* Path::find_definite(const Json& root) const { return &root; }
void Path::assign(Json& target, Json value) const { target = std::move(value); }

}  // namespace stepd::asl
