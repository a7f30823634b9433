// stepctl: what the server commands share: where the server is, the Client, how errors become
// exit codes, and how names given on the command line become ARNs.
//
// Where the server is: --endpoint URL, else $STEPD_ENDPOINT, else http://127.0.0.1:8080; the API
// key: --api-key KEY, else $STEPD_API_KEY (none by default). Both options are the top-level
// app's and may be written before or after the command (`stepctl --endpoint U machines list` or
// `stepctl machines list --endpoint U`).
#pragma once

#include "cli/command.hpp"
#include "cli/output.hpp"

#include <stepd/worker/client.hpp>
#include <stepd/worker/error.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace stepd::cli {

inline constexpr const char* kDefaultEndpoint = "http://127.0.0.1:8080";

// Adds --endpoint and --api-key (with their environment variables) to the top-level app.
void add_connection_options(CLI::App& app);

// A Client for the endpoint and key of the command line; `sync_timeout` bounds
// StartSyncExecution (default: the Client's). Throws worker::Error{Connect, "InvalidEndpoint"}
// for an endpoint that is not http://HOST[:PORT].
worker::Client make_client(
    std::optional<std::chrono::milliseconds> sync_timeout = std::nullopt);

// The endpoint in use (for messages).
const std::string& endpoint();

// A command group ("machines", ...): needs one of its subcommands; options of the top-level app
// (--endpoint, --api-key) may follow it.
CLI::App* add_group(CLI::App& app, const std::string& name, const std::string& description);

// A command of a group: when it runs, `body` runs and its result becomes the exit code. Errors of
// the Client are printed on standard error ("stepctl: ...") and become exit codes:
// a server error kExitServer; InvalidEndpoint kExitUsage; any transport error kExitUnreachable.
// UsageError goes up to main (kExitUsage).
CLI::App* add_command(CLI::App* group, const std::string& name, const std::string& description,
                      int& exit_code, std::function<int()> body);

// Parses a payload given by the user (execution input, task output) with nlohmann::json. Throws
// UsageError naming `what` and where the syntax error is.
nlohmann::json parse_payload(const std::string& text, const std::string& what);

// Checks a command's choice of payload: --NOUN JSON (`has_json`), --NOUN-file FILE (`file`) or the
// argument "-" (`dash`, standard input), `noun` being "input" or "output". Throws UsageError for
// an argument other than "-" and for "-" given with one of the options.
void check_payload_choice(const std::string& noun, const std::string& dash, bool has_json,
                          const std::string& file);

// The payload of an --input JSON / --input-file FILE / "-" (standard input) choice, {} when none.
// REQUIRES: at most one of them is given (the options exclude each other).
nlohmann::json read_payload(const std::string& json_text, bool has_json, const std::string& file,
                            bool from_stdin, const std::string& option_name);

// The --tag KEY=VALUE arguments as tags. Throws UsageError for one without '=' or without a key.
std::vector<worker::Tag> parse_tags(const std::vector<std::string>& tags);

// Adds the --json flag (help: "Print the answer as JSON (see docs/stepctl.md)") setting `json`.
void add_json_flag(CLI::App* cmd, bool& json);

// Every item of a paged list, or the first `max` of them (`max` 0: all). `list(request)` reads one
// page; request.max_results is set to min(max, 1000) (1000 when max is 0) and request.next_token
// follows the pages.
template <typename Request, typename List>
auto list_all(Request request, int max, List list) -> decltype(list(request).items) {
  request.max_results = max > 0 && max < 1000 ? max : 1000;
  decltype(list(request).items) items;
  while (max == 0 || static_cast<int>(items.size()) < max) {
    auto page = list(request);
    for (auto& item : page.items) {
      if (max > 0 && static_cast<int>(items.size()) >= max) break;
      items.push_back(std::move(item));
    }
    if (page.next_token.empty()) break;
    request.next_token = page.next_token;
  }
  return items;
}

// Name or ARN to ARN. An argument that starts with "arn:" is used as it is. Otherwise:
//  - a state machine NAME: the machine of that name in ListStateMachines;
//  - an activity NAME: the activity of that name in ListActivities;
//  - an execution MACHINE:NAME: the execution NAME of the machine MACHINE (resolved as above);
//    its ARN is the machine's with "stateMachine" turned into "execution", then ":NAME".
// A name nothing has throws worker::Error{Server, "StateMachineDoesNotExist" /
// "ActivityDoesNotExist"} (exit kExitServer). An execution reference without ':' throws
// UsageError.
std::string resolve_machine(worker::Client& client, const std::string& name_or_arn);
std::string resolve_activity(worker::Client& client, const std::string& name_or_arn);
std::string resolve_execution(worker::Client& client, const std::string& reference);

// The last ':'-separated part of an ARN (a machine's or an activity's name), "" for "".
std::string arn_name(const std::string& arn);

// The exit code an execution status stands for once it ended: 0 for SUCCEEDED, kExitFailed for
// FAILED, TIMED_OUT and ABORTED.
int exit_code_of_status(const std::string& status);

// True for RUNNING and PENDING_REDRIVE (an execution that has not ended).
bool is_running(const std::string& status);

}  // namespace stepd::cli
