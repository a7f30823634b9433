#include "cli/server.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>

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

// The `arn` member of the first item named `name` of a list that `list` reads page by page (1000
// items a page), nullopt when no item has the name. Stops at the page that has it.
template <typename List, typename Item>
std::optional<std::string> find_arn_by_name(List list, const std::string& name,
                                            std::string Item::*arn) {
  worker::PageRequest page;
  page.max_results = 1000;
  while (true) {
    auto p = list(page);
    for (const Item& item : p.items) {
      if (item.name == name) return item.*arn;
    }
    if (p.next_token.empty()) return std::nullopt;
    page.next_token = p.next_token;
  }
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
    throw json_usage_error(what, e);
  }
}

void check_payload_choice(const std::string& noun, const std::string& dash, bool has_json,
                          const std::string& file) {
  if (!dash.empty() && dash != "-") {
    throw UsageError("unexpected argument '" + dash + "': give the " + noun + " with --" + noun +
                     " JSON, --" + noun + "-file FILE or '-' (standard input)");
  }
  if (!dash.empty() && (has_json || !file.empty())) {
    throw UsageError("give the " + noun + " once: --" + noun + ", --" + noun + "-file or '-'");
  }
}

nlohmann::json read_payload(const std::string& json_text, bool has_json, const std::string& file,
                            bool from_stdin, const std::string& option_name) {
  if (has_json) return parse_payload(json_text, option_name);
  if (from_stdin) return parse_payload(read_file("-"), "the standard input");
  if (!file.empty()) return parse_payload(read_file(file), "the file '" + file + "'");
  return nlohmann::json::object();
}

std::vector<worker::Tag> parse_tags(const std::vector<std::string>& tags) {
  std::vector<worker::Tag> out;
  for (const std::string& t : tags) {
    const auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError("--tag '" + t + "' must be KEY=VALUE");
    }
    out.push_back({t.substr(0, eq), t.substr(eq + 1)});
  }
  return out;
}

void add_json_flag(CLI::App* cmd, bool& json) {
  cmd->add_flag("--json", json, "Print the answer as JSON (see docs/stepctl.md)");
}

std::string arn_name(const std::string& arn) {
  const auto colon = arn.rfind(':');
  return colon == std::string::npos ? arn : arn.substr(colon + 1);
}

std::string resolve_machine(worker::Client& client, const std::string& name_or_arn) {
  if (name_or_arn.starts_with("arn:")) return name_or_arn;
  std::optional<std::string> arn = find_arn_by_name(
      [&](const worker::PageRequest& page) { return client.list_state_machines(page); },
      name_or_arn, &worker::StateMachineListItem::state_machine_arn);
  if (arn) return *arn;
  throw worker::Error(worker::ErrorKind::Server, "StateMachineDoesNotExist",
                      "no state machine is named '" + name_or_arn + "'");
}

std::string resolve_activity(worker::Client& client, const std::string& name_or_arn) {
  if (name_or_arn.starts_with("arn:")) return name_or_arn;
  std::optional<std::string> arn = find_arn_by_name(
      [&](const worker::PageRequest& page) { return client.list_activities(page); }, name_or_arn,
      &worker::Activity::activity_arn);
  if (arn) return *arn;
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
