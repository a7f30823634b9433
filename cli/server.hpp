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

// The payload of an --input JSON / --input-file FILE / "-" (standard input) choice, {} when none.
// REQUIRES: at most one of them is given (the options exclude each other).
nlohmann::json read_payload(const std::string& json_text, bool has_json, const std::string& file,
                            bool from_stdin, const std::string& option_name);

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
