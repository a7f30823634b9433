// stepctl validate FILE [--strict] [--json]: reports every problem of a definition.
#include "asl/definition.hpp"
#include "cli/command.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

namespace stepd::cli {
namespace {

struct ValidateOptions {
  std::string file;
  bool strict = false;
  bool json = false;
};

asl::Json diagnostic_json(const asl::Diagnostic& d) {
  return {{"pointer", d.pointer}, {"code", d.code}, {"message", d.message}};
}

std::string diagnostic_line(const asl::Diagnostic& d) {
  return asl::to_string(d) + " [" + d.code + "]";
}

int run_validate(const ValidateOptions& o) {
  std::string text = read_file(o.file);
  asl::LoadOptions load;
  load.strict = o.strict;
  asl::LoadResult result = asl::load_definition(text, load);
  bool valid = result.ok();
  if (o.json) {
    asl::Json out = {
        {"valid", valid}, {"errors", asl::Json::array()}, {"warnings", asl::Json::array()}};
    for (const auto& d : result.diagnostics) {
      out[d.severity == asl::Severity::Error ? "errors" : "warnings"].push_back(diagnostic_json(d));
    }
    std::cout << out.dump(2) << "\n";
  } else {
    for (const auto& d : result.diagnostics) {
      if (d.severity == asl::Severity::Error) std::cout << diagnostic_line(d) << "\n";
    }
    for (const auto& d : result.diagnostics) {
      if (d.severity == asl::Severity::Warning) {
        std::cout << "warning: " << diagnostic_line(d) << "\n";
      }
    }
    if (valid) std::cout << "valid\n";
  }
  return valid ? kExitOk : kExitFailed;
}

}  // namespace

void add_validate_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ValidateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Check a state machine definition and print every problem as 'pointer: message [code]', "
      "or 'valid'. Exit 0 when valid, 1 when not, 2 when the file cannot be read.");
  cmd->add_option("FILE", options->file, "The definition (JSON); '-' reads standard input")
      ->required();
  cmd->add_flag("--strict", options->strict,
                "Resources this engine cannot run are errors, not warnings");
  cmd->add_flag("--json", options->json,
                "Print {\"valid\": bool, \"errors\": [{\"pointer\", \"code\", \"message\"}], "
                "\"warnings\": [...]}");
  cmd->callback([options, &exit_code] { exit_code = run_validate(*options); });
}

}  // namespace stepd::cli
