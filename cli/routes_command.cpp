// stepctl routes list|set|delete: the task routing registry (where push tasks go; Stepd's REST
// API /v1/routes).
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/server.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

namespace stepd::cli {
namespace {

using worker::Client;

OutJson route_json(const worker::Route& r) {
  OutJson out = {{"kind", r.kind}, {"name", r.name}, {"url", r.url}};
  if (r.updated.time_since_epoch().count() != 0) out["updated"] = json_time(r.updated);
  return out;
}

struct RouteOptions {
  std::string kind;
  std::string name;
  std::string url;
  bool json = false;
};

int run_list(const RouteOptions& o) {
  Client client = make_client();
  const std::vector<worker::Route> routes = client.list_routes();
  if (o.json) {
    OutJson list = OutJson::array();
    for (const auto& r : routes) list.push_back(route_json(r));
    print_json({{"routes", list}});
  } else {
    Table table({"KIND", "NAME", "URL", "UPDATED"});
    for (const auto& r : routes) table.add({r.kind, r.name, r.url, local_time(r.updated)});
    table.print(std::cout);
  }
  return kExitOk;
}

int run_set(const RouteOptions& o) {
  Client client = make_client();
  const worker::Route r = client.put_route(o.kind, o.name, o.url);
  print_answer_line(o.json, route_json(r), "Route " + r.kind + " " + r.name + " -> " + r.url);
  return kExitOk;
}

int run_delete(const RouteOptions& o) {
  Client client = make_client();
  client.delete_route(o.kind, o.name);
  print_answer_line(o.json, {{"kind", o.kind}, {"name", o.name}},
                    "Deleted route " + o.kind + " " + o.name);
  return kExitOk;
}

void add_kind_and_name(CLI::App* cmd, RouteOptions& o) {
  cmd->add_option("KIND", o.kind,
                  "function (a Lambda-style function, NAME or NAME:QUALIFIER) or service (a "
                  "service integration, SERVICE or SERVICE:ACTION)")
      ->required()
      ->check(CLI::IsMember({"function", "service"}));
  cmd->add_option("NAME", o.name, "The function or service name")->required();
}

}  // namespace

void add_routes_commands(CLI::App& app, int& exit_code) {
  CLI::App* group = add_group(app, "routes", "The task routing registry: where push tasks go");

  auto list = std::make_shared<RouteOptions>();
  CLI::App* cmd =
      add_command(group, "list", "List the routes", exit_code, [list] { return run_list(*list); });
  cmd->add_flag("--json", list->json, "Print the answer as JSON");

  auto set = std::make_shared<RouteOptions>();
  cmd = add_command(group, "set", "Add or replace a route: tasks for KIND NAME go to URL",
                    exit_code, [set] { return run_set(*set); });
  add_kind_and_name(cmd, *set);
  cmd->add_option("URL", set->url, "http://HOST[:PORT][/PATH]")->required();
  cmd->add_flag("--json", set->json, "Print the route as JSON");

  auto del = std::make_shared<RouteOptions>();
  cmd =
      add_command(group, "delete", "Remove a route", exit_code, [del] { return run_delete(*del); });
  add_kind_and_name(cmd, *del);
  cmd->add_flag("--json", del->json, "Print the answer as JSON");
}

}  // namespace stepd::cli
