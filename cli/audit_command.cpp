// stepctl audit list: the server's audit log (who called which operation on what; Stepd's REST
// API /v1/audit, admin keys).
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/server.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

namespace stepd::cli {
namespace {

struct AuditOptions {
  worker::AuditQuery query;
  int max = 0;
  bool json = false;
};

int run_list(const AuditOptions& o) {
  worker::Client client = make_client();
  const std::vector<worker::AuditEntry> items = list_all(
      o.query, o.max, [&](const worker::AuditQuery& query) { return client.list_audit(query); });
  if (o.json) {
    OutJson list = OutJson::array();
    for (const auto& a : items) {
      list.push_back({{"id", a.id},
                      {"time", json_time(a.time)},
                      {"keyId", a.key_id},
                      {"remote", a.remote},
                      {"operation", a.operation},
                      {"resource", a.resource},
                      {"outcome", a.outcome},
                      {"requestId", a.request_id}});
    }
    print_json({{"items", list}});
  } else {
    Table table({"ID", "TIME", "KEY", "OPERATION", "OUTCOME", "RESOURCE"});
    for (const auto& a : items) {
      table.add({std::to_string(a.id), local_time(a.time, true), a.key_id, a.operation,
                 a.outcome == "ok" ? a.outcome : paint(a.outcome, "31"), a.resource});
    }
    table.print(std::cout);
  }
  return kExitOk;
}

}  // namespace

void add_audit_commands(CLI::App& app, int& exit_code) {
  CLI::App* group = add_group(app, "audit", "The server's audit log (admin keys)");
  auto list = std::make_shared<AuditOptions>();
  CLI::App* cmd = add_command(group, "list", "List audit entries (all of them unless --max)",
                              exit_code, [list] { return run_list(*list); });
  cmd->add_option("--key", list->query.key, "Only this API key id ('anonymous' for none)");
  cmd->add_option("--operation", list->query.operation, "Only this operation (StartExecution)");
  cmd->add_option("--resource", list->query.resource, "Only this ARN");
  cmd->add_option("--max", list->max, "At most this many")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", list->json, "Print the answer as JSON");
}

}  // namespace stepd::cli
