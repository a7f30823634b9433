#include "cli/server.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace stepd::cli {
namespace {

struct Connection {
  std::string endpoint = kDefaultEndpoint;
  std::string api_key;
};

Connection& connection() {
  static Connection c;
  return c;
}

// Prints a Client error and returns its exit code.
int report(const worker::Error& e) {
  if (e.kind() == worker::ErrorKind::Server) {
    std::cerr << "stepctl: " << e.code() << ": " << e.message() << "\n";
    return kExitServer;
  }
  if (e.code() == "InvalidEndpoint") {
    std::cerr << "stepctl: " << e.message() << " (--endpoint or STEPD_ENDPOINT)\n";
    return kExitUsage;
  }
  std::cerr << "stepctl: no answer from the server at " << connection().endpoint << ": "
            << e.message() << "\n";
  return kExitUnreachable;
}

}  // namespace

void add_connection_options(CLI::App& app) {
  Connection& c = connection();
  app.add_option("--endpoint", c.endpoint,
                 "The stepd server, http://HOST[:PORT] (default: $STEPD_ENDPOINT, else " +
                     std::string(kDefaultEndpoint) + ")")
      ->envname("STEPD_ENDPOINT");
  app.add_option("--api-key", c.api_key,
                 "API key sent as 'Authorization: Bearer KEY' (default: $STEPD_API_KEY)")
      ->envname("STEPD_API_KEY");
}

const std::string& endpoint() { return connection().endpoint; }

worker::Client make_client(std::optional<std::chrono::milliseconds> sync_timeout) {
  worker::ClientOptions options;
  options.endpoint = connection().endpoint;
  options.api_key = connection().api_key;
  options.user_agent = "stepctl/0.1";
  if (sync_timeout) options.sync_timeout = *sync_timeout;
  return worker::Client(std::move(options));
}

CLI::App* add_group(CLI::App& app, const std::string& name, const std::string& description) {
  CLI::App* group = app.add_subcommand(name, description);
  group->require_subcommand(1);
  group->fallthrough();
  group->footer("--endpoint and --api-key (see stepctl --help) may be given after the command.");
  return group;
}

CLI::App* add_command(CLI::App* group, const std::string& name, const std::string& description,
                      int& exit_code, std::function<int()> body) {
  CLI::App* cmd = group->add_subcommand(name, description);
  cmd->fallthrough();
  cmd->callback([&exit_code, body = std::move(body)] {
    try {
      exit_code = body();
    } catch (const worker::Error& e) {
      exit_code = report(e);
    }
  });
  return cmd;
}

nlohmann::json parse_payload(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message reads "[json.exception.parse_error.101] parse error at line 1, ...".
    std::string message = e.what();
    auto pos = message.find("] ");
    if (pos != std::string::npos) message = message.substr(pos + 2);
    throw UsageError(what + " is not valid JSON: " + message);
  }
}

nlohmann::json read_payload(const std::string& json_text, bool has_json, const std::string& file,
                            bool from_stdin, const std::string& option_name) {
  if (has_json) return parse_payload(json_text, option_name);
  if (from_stdin) return parse_payload(read_file("-"), "the standard input");
  if (!file.empty()) return parse_payload(read_file(file), "the file '" + file + "'");
  return nlohmann::json::object();
}

std::string arn_name(const std::string& arn) {
  const auto colon = arn.rfind(':');
  return colon == std::string::npos ? arn : arn.substr(colon + 1);
}

std::string resolve_machine(worker::Client& client, const std::string& name_or_arn) {
  if (name_or_arn.starts_with("arn:")) return name_or_arn;
  worker::PageRequest page;
  page.max_results = 1000;
  while (true) {
    worker::Page<worker::StateMachineListItem> p = client.list_state_machines(page);
    for (const auto& m : p.items) {
      if (m.name == name_or_arn) return m.state_machine_arn;
    }
    if (p.next_token.empty()) break;
    page.next_token = p.next_token;
  }
  throw worker::Error(worker::ErrorKind::Server, "StateMachineDoesNotExist",
                      "no state machine is named '" + name_or_arn + "'");
}

std::string resolve_activity(worker::Client& client, const std::string& name_or_arn) {
  if (name_or_arn.starts_with("arn:")) return name_or_arn;
  worker::PageRequest page;
  page.max_results = 1000;
  while (true) {
    worker::Page<worker::Activity> p = client.list_activities(page);
    for (const auto& a : p.items) {
      if (a.name == name_or_arn) return a.activity_arn;
    }
    if (p.next_token.empty()) break;
    page.next_token = p.next_token;
  }
  throw worker::Error(worker::ErrorKind::Server, "ActivityDoesNotExist",
                      "no activity is named '" + name_or_arn + "'");
}

std::string resolve_execution(worker::Client& client, const std::string& reference) {
  if (reference.starts_with("arn:")) return reference;
  const auto colon = reference.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == reference.size()) {
    throw UsageError("'" + reference +
                     "' is not an execution: give its ARN or MACHINE:NAME (e.g. Orders:run-1)");
  }
  const std::string machine = resolve_machine(client, reference.substr(0, colon));
  const std::string kind = ":stateMachine:";
  const auto at = machine.find(kind);
  if (at == std::string::npos) {
    throw UsageError("'" + machine + "' is not a state machine ARN");
  }
  return machine.substr(0, at) + ":execution:" + machine.substr(at + kind.size()) + ":" +
         reference.substr(colon + 1);
}

int exit_code_of_status(const std::string& status) {
  return status == "SUCCEEDED" ? kExitOk : kExitFailed;
}

bool is_running(const std::string& status) {
  return status == "RUNNING" || status == "PENDING_REDRIVE";
}

}  // namespace stepd::cli
