// stepctl: shared pieces of the commands. Each command lives in its own file
// (<name>_command.cpp) and registers a CLI11 subcommand through an add_<name>_command function
// listed in main.cpp. The offline commands (validate, run-local) use the engine in process; the
// server commands (machines, executions, activities, tasks, routes, audit) talk to a stepd
// server through the workers SDK's Client (server.hpp).
#pragma once

#include "asl/core/json.hpp"

#include <stdexcept>
#include <string>

namespace CLI {
class App;
}

namespace stepd::cli {

// Exit codes of every stepctl command (documented in `stepctl --help` and docs/stepctl.md).
inline constexpr int kExitOk = 0;  // success; a valid definition; an execution that SUCCEEDED
// An invalid definition (validate, machines validate), or an execution that ended FAILED,
// TIMED_OUT or ABORTED when the command waited for its end (run-local, executions start --wait,
// executions wait, executions history --follow).
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;  // bad arguments, unreadable file, input that is not JSON
// The server answered an error: not found, invalid definition, access denied, ... (also a name
// that no state machine or activity has).
inline constexpr int kExitServer = 3;
// No usable answer from the server: connection refused, unreachable, time-out, an answer that is
// not Stepd's; also --timeout of a wait that passed while the execution still runs.
inline constexpr int kExitUnreachable = 4;

// A problem with what the user gave on the command line; main prints it and exits kExitUsage.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The whole content of `path` ("-" reads standard input). Throws UsageError saying why not.
std::string read_file(const std::string& path);

// Parses `text` as JSON. Throws UsageError naming `what` and the position of the syntax error.
asl::Json parse_json_argument(const std::string& text, const std::string& what);

// The UsageError for JSON text that did not parse: "<what> is not valid JSON: <where and why>",
// from nlohmann's parse_error `e` (its "[json.exception...] " prefix left out).
UsageError json_usage_error(const std::string& what, const std::exception& e);

// Registration of the commands. `exit_code` receives the command's exit code when it runs.
void add_validate_command(CLI::App& app, int& exit_code);
void add_run_local_command(CLI::App& app, int& exit_code);

// The server command groups (server.hpp holds what they share).
void add_machines_commands(CLI::App& app, int& exit_code);
void add_executions_commands(CLI::App& app, int& exit_code);
void add_activities_commands(CLI::App& app, int& exit_code);
void add_tasks_commands(CLI::App& app, int& exit_code);
void add_routes_commands(CLI::App& app, int& exit_code);
void add_audit_commands(CLI::App& app, int& exit_code);

}  // namespace stepd::cli
