// stepctl run-local FILE [--input JSON | --input-file F] [--virtual-time] [--json]
//                        [--function NAME=URL ...]: runs one execution in memory.
#include "asl/definition.hpp"
#include "cli/command.hpp"
#include "engine/local_runner.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <optional>
#include <vector>

namespace stepd::cli {
namespace {

struct RunLocalOptions {
  std::string file;
  std::optional<std::string> input;
  std::optional<std::string> input_file;
  bool virtual_time = false;
  bool json = false;
  bool history = false;
  std::vector<std::string> functions;
  std::string name = "local";
  std::string execution_name;
  std::optional<std::uint64_t> seed;
};

int run_run_local(const RunLocalOptions& o) {
  // Everything the user gave is checked before anything runs.
  engine::LocalRunOptions run;
  for (const std::string& f : o.functions) {
    auto eq = f.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == f.size()) {
      throw UsageError("--function '" + f + "' must be NAME=URL (e.g. --function " +
                       "orders=http://127.0.0.1:9000/invoke)");
    }
    run.functions[f.substr(0, eq)] = f.substr(eq + 1);
  }
  asl::Json input = asl::Json::object();
  if (o.input) input = parse_json_argument(*o.input, "--input");
  if (o.input_file) {
    input = parse_json_argument(read_file(*o.input_file), "the input file '" + *o.input_file + "'");
  }
  std::string text = read_file(o.file);

  asl::LoadResult loaded = asl::load_definition(text);
  if (!loaded.ok()) {
    std::cerr << "stepctl: " << o.file << " is not a valid state machine definition:\n";
    for (const auto& d : loaded.diagnostics) {
      if (d.severity != asl::Severity::Error) continue;
      std::cerr << "  " << asl::to_string(d) << " [" << d.code << "]\n";
    }
    return kExitFailed;
  }
  for (const auto& d : loaded.diagnostics) {
    std::cerr << "stepctl: warning: " << asl::to_string(d) << " [" << d.code << "]\n";
  }

  run.virtual_time = o.virtual_time;
  run.record_history = o.history;
  run.state_machine_name = o.name;
  run.execution_name = o.execution_name;
  run.seed = o.seed;
  engine::LocalRunResult result = engine::run_local(*loaded.machine, input, run);

  if (o.json) {
    asl::Json out = {{"status", result.status}};
    if (result.status == "SUCCEEDED") {
      out["output"] = result.output;
    } else {
      if (result.error) out["error"] = *result.error;
      if (result.cause) out["cause"] = *result.cause;
    }
    if (o.history) out["history"] = result.history;
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "Status: " << result.status << "\n";
    if (result.status == "SUCCEEDED") {
      std::cout << "Output: " << result.output.dump(2) << "\n";
    } else {
      if (result.error) std::cout << "Error: " << *result.error << "\n";
      if (result.cause) std::cout << "Cause: " << *result.cause << "\n";
    }
    if (o.history) {
      std::cout << "History:\n";
      for (const auto& e : result.history) std::cout << "  " << e.dump() << "\n";
    }
  }
  return result.status == "SUCCEEDED" ? kExitOk : kExitFailed;
}

}  // namespace

void add_run_local_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<RunLocalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run-local",
      "Run one execution of a state machine in memory (no server) and print its result. "
      "Exit 0 when it SUCCEEDED, 1 when it FAILED or TIMED_OUT or the definition is invalid, "
      "2 for bad arguments or input.");
  cmd->add_option("FILE", options->file, "The definition (JSON); '-' reads standard input")
      ->required();
  auto* input = cmd->add_option("--input", options->input,
                                "The execution input as JSON text "
                                "(default {})");
  auto* input_file = cmd->add_option("--input-file", options->input_file,
                                     "A file holding the execution input ('-': standard input)");
  input->excludes(input_file);
  cmd->add_flag("--virtual-time", options->virtual_time,
                "Do not sleep: Wait states and Retry back-off complete at once, the clock jumps");
  cmd->add_flag("--json", options->json,
                "Print one JSON object: {\"status\":\"SUCCEEDED\",\"output\":...} or "
                "{\"status\":\"FAILED\",\"error\":...,\"cause\":...}");
  cmd->add_option("--function", options->functions,
                  "NAME=URL: Lambda function NAME (as in arn:aws:lambda:...:function:NAME or "
                  "FunctionName) is served by an HTTP POST of the payload to URL; repeatable");
  cmd->add_flag("--history", options->history, "Also print the execution's history events");
  cmd->add_option("--name", options->name, "The state machine's name in ARNs (default 'local')");
  cmd->add_option("--execution-name", options->execution_name,
                  "The execution's name (default: a UUID)");
  cmd->add_option("--seed", options->seed, "Seed of the randomness (jitter, States.UUID, ...)");
  cmd->callback([options, &exit_code] { exit_code = run_run_local(*options); });
}

}  // namespace stepd::cli
