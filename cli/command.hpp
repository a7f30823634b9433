// stepctl: shared pieces of the commands. Each command lives in its own file
// (<name>_command.cpp) and registers a CLI11 subcommand through an add_<name>_command function
// listed in main.cpp.
#pragma once

#include "asl/core/json.hpp"

#include <stdexcept>
#include <string>

namespace CLI {
class App;
}

namespace stepd::cli {

// Exit codes of every stepctl command (documented in `stepctl --help`).
inline constexpr int kExitOk = 0;      // valid definition / execution SUCCEEDED
inline constexpr int kExitFailed = 1;  // invalid definition / execution FAILED or TIMED_OUT
inline constexpr int kExitUsage = 2;   // bad arguments, unreadable file, input that is not JSON

// A problem with what the user gave on the command line; main prints it and exits kExitUsage.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The whole content of `path` ("-" reads standard input). Throws UsageError saying why not.
std::string read_file(const std::string& path);

// Parses `text` as JSON. Throws UsageError naming `what` and the position of the syntax error.
asl::Json parse_json_argument(const std::string& text, const std::string& what);

// Registration of the commands. `exit_code` receives the command's exit code when it runs.
void add_validate_command(CLI::App& app, int& exit_code);
void add_run_local_command(CLI::App& app, int& exit_code);

}  // namespace stepd::cli
