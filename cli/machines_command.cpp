// stepctl machines create|update|deploy|list|describe|delete|validate: state machines on a
// stepd server.
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/server.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <optional>
#include <vector>

namespace stepd::cli {
namespace {

using worker::Client;

// The definition file's text, checked to be JSON here so that a typo is a usage error rather
// than the server's InvalidDefinition.
std::string read_definition(const std::string& file) {
  std::string text = read_file(file);
  parse_payload(text, file == "-" ? std::string("the definition (standard input)")
                                  : "the definition '" + file + "'");
  return text;
}

// A definition as JSON text, pretty-printed in its own key order.
std::string pretty_definition(const std::string& text) {
  OutJson parsed = OutJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return text;
  return parsed.dump(2);
}

OutJson machine_json(const worker::StateMachineDescription& m) {
  OutJson out = OutJson::object();
  out["stateMachineArn"] = m.state_machine_arn;
  out["name"] = m.name;
  out["status"] = m.status;
  out["type"] = m.type;
  out["definition"] = json_payload_text(m.definition);
  out["roleArn"] = m.role_arn;
  out["creationDate"] = json_time(m.creation_date);
  if (!m.revision_id.empty()) out["revisionId"] = m.revision_id;
  if (!m.description.empty()) out["description"] = m.description;
  if (!m.logging_configuration.is_null()) {
    out["loggingConfiguration"] = json_payload(m.logging_configuration);
  }
  if (!m.tracing_configuration.is_null()) {
    out["tracingConfiguration"] = json_payload(m.tracing_configuration);
  }
  return out;
}

// --- create / update / deploy ------------------------------------------------------------------

struct CreateOptions {
  std::string name;
  std::string definition;
  std::string type = "STANDARD";
  std::string role = worker::kDefaultRoleArn;
  std::vector<std::string> tags;
  bool json = false;
};

int run_create(const CreateOptions& o) {
  worker::CreateStateMachineRequest request;
  request.name = o.name;
  request.definition = read_definition(o.definition);
  request.type = o.type;
  request.role_arn = o.role;
  request.tags = parse_tags(o.tags);
  Client client = make_client();
  worker::CreateStateMachineResult r = client.create_state_machine(request);
  print_answer(
      o.json,
      {{"stateMachineArn", r.state_machine_arn}, {"creationDate", json_time(r.creation_date)}},
      {{"Created", r.state_machine_arn}, {"Date", local_time(r.creation_date)}});
  return kExitOk;
}

struct UpdateOptions {
  std::string machine;
  std::optional<std::string> definition;
  std::optional<std::string> role;
  bool json = false;
};

int run_update(const UpdateOptions& o) {
  if (!o.definition && !o.role) throw UsageError("give --definition FILE, --role ARN or both");
  worker::UpdateStateMachineRequest request;
  if (o.definition) request.definition = read_definition(*o.definition);
  request.role_arn = o.role;
  Client client = make_client();
  request.state_machine_arn = resolve_machine(client, o.machine);
  worker::UpdateStateMachineResult r = client.update_state_machine(request);
  print_answer(o.json,
               {{"stateMachineArn", request.state_machine_arn},
                {"updateDate", json_time(r.update_date)},
                {"revisionId", r.revision_id}},
               {{"Updated", request.state_machine_arn},
                {"Revision", r.revision_id},
                {"Date", local_time(r.update_date)}});
  return kExitOk;
}

struct DeployOptions {
  std::string name;
  std::string definition;
  std::string type = "STANDARD";
  std::optional<std::string> role;
  std::vector<std::string> tags;
  bool json = false;
};

// Creates the machine when no machine has the name, else updates its definition (and role when
// given); "unchanged" when the definition and role are already those.
int run_deploy(const DeployOptions& o) {
  const std::string definition = read_definition(o.definition);
  const std::vector<worker::Tag> tags = parse_tags(o.tags);
  Client client = make_client();
  std::optional<std::string> arn;
  try {
    arn = resolve_machine(client, o.name);
  } catch (const worker::Error& e) {
    if (e.code() != "StateMachineDoesNotExist") throw;
  }
  OutJson out = OutJson::object();
  std::string action;
  if (!arn) {
    worker::CreateStateMachineRequest request;
    request.name = o.name;
    request.definition = definition;
    request.type = o.type;
    if (o.role) request.role_arn = *o.role;
    request.tags = tags;
    worker::CreateStateMachineResult r = client.create_state_machine(request);
    action = "created";
    out["stateMachineArn"] = r.state_machine_arn;
    out["action"] = action;
    out["creationDate"] = json_time(r.creation_date);
  } else {
    worker::StateMachineDescription current = client.describe_state_machine(*arn);
    if (current.type != o.type) {
      throw UsageError("the state machine '" + o.name + "' is " + current.type +
                       "; its type cannot change to " + o.type);
    }
    const bool same_definition = nlohmann::json::parse(current.definition, nullptr, false) ==
                                 nlohmann::json::parse(definition, nullptr, false);
    const bool same_role = !o.role || current.role_arn == *o.role;
    out["stateMachineArn"] = *arn;
    if (same_definition && same_role) {
      action = "unchanged";
      out["action"] = action;
      out["revisionId"] = current.revision_id;
    } else {
      worker::UpdateStateMachineRequest request;
      request.state_machine_arn = *arn;
      request.definition = definition;
      request.role_arn = o.role;
      worker::UpdateStateMachineResult r = client.update_state_machine(request);
      action = "updated";
      out["action"] = action;
      out["revisionId"] = r.revision_id;
      out["updateDate"] = json_time(r.update_date);
    }
  }
  const std::string revision =
      out.contains("revisionId") ? out["revisionId"].get<std::string>() : "";
  print_answer(o.json, out,
               {{"State machine", out["stateMachineArn"].get<std::string>()},
                {"Action", action},
                {"Revision", revision}});
  return kExitOk;
}

// --- list / describe / delete ------------------------------------------------------------------

struct ListOptions {
  int max = 0;
  bool json = false;
};

int run_list(const ListOptions& o) {
  Client client = make_client();
  const std::vector<worker::StateMachineListItem> items =
      list_all(worker::PageRequest{}, o.max,
               [&](const worker::PageRequest& page) { return client.list_state_machines(page); });
  if (o.json) {
    OutJson list = OutJson::array();
    for (const auto& m : items) {
      list.push_back({{"stateMachineArn", m.state_machine_arn},
                      {"name", m.name},
                      {"type", m.type},
                      {"creationDate", json_time(m.creation_date)}});
    }
    print_json({{"stateMachines", list}});
  } else {
    Table table({"NAME", "TYPE", "CREATED", "ARN"});
    for (const auto& m : items) {
      table.add({m.name, m.type, local_time(m.creation_date), m.state_machine_arn});
    }
    table.print(std::cout);
  }
  return kExitOk;
}

struct DescribeOptions {
  std::string machine;
  bool json = false;
};

int run_describe(const DescribeOptions& o) {
  Client client = make_client();
  const std::string arn = resolve_machine(client, o.machine);
  worker::StateMachineDescription m = client.describe_state_machine(arn);
  print_answer(o.json, machine_json(m),
               {{"Name", m.name},
                {"ARN", m.state_machine_arn},
                {"Type", m.type},
                {"Status", m.status},
                {"Revision", m.revision_id},
                {"Role", m.role_arn},
                {"Created", local_time(m.creation_date)},
                {"Description", m.description},
                {"Definition", pretty_definition(m.definition)}});
  return kExitOk;
}

int run_delete(const DescribeOptions& o) {
  Client client = make_client();
  const std::string arn = resolve_machine(client, o.machine);
  client.delete_state_machine(arn);
  print_answer_line(o.json, {{"stateMachineArn", arn}}, "Deleted " + arn);
  return kExitOk;
}

// --- validate (server side) ----------------------------------------------------------------------

struct ValidateOptions {
  std::string file;
  std::string type = "STANDARD";
  bool warnings = false;
  bool json = false;
};

int run_validate(const ValidateOptions& o) {
  worker::ValidateDefinitionRequest request;
  request.definition = read_file(o.file);
  request.type = o.type;
  request.severity = o.warnings ? "WARNING" : "ERROR";
  Client client = make_client();
  worker::ValidationResult r = client.validate_state_machine_definition(request);
  if (o.json) {
    OutJson diagnostics = OutJson::array();
    for (const auto& d : r.diagnostics) {
      diagnostics.push_back({{"severity", d.severity},
                             {"code", d.code},
                             {"message", d.message},
                             {"location", d.location}});
    }
    print_json({{"result", r.result}, {"diagnostics", diagnostics}, {"truncated", r.truncated}});
  } else {
    // As the offline `stepctl validate`: errors, then warnings, then "valid".
    for (const bool errors : {true, false}) {
      for (const auto& d : r.diagnostics) {
        if ((d.severity == "ERROR") != errors) continue;
        std::cout << (errors ? "" : "warning: ") << (d.location.empty() ? "/" : d.location) << ": "
                  << d.message << " [" << d.code << "]\n";
      }
    }
    if (r.truncated) std::cout << "(more problems were left out)\n";
    if (r.ok()) std::cout << "valid\n";
  }
  return r.ok() ? kExitOk : kExitFailed;
}

}  // namespace

void add_machines_commands(CLI::App& app, int& exit_code) {
  CLI::App* group = add_group(app, "machines", "State machines on the server");

  auto create = std::make_shared<CreateOptions>();
  CLI::App* cmd = add_command(group, "create", "Create a state machine from a definition file",
                              exit_code, [create] { return run_create(*create); });
  cmd->add_option("NAME", create->name, "The machine's name")->required();
  cmd->add_option("--definition,-d", create->definition,
                  "The definition (ASL JSON) file; '-' reads standard input")
      ->required();
  cmd->add_option("--type", create->type, "STANDARD (default) or EXPRESS")
      ->check(CLI::IsMember({"STANDARD", "EXPRESS"}));
  cmd->add_option("--role", create->role, "The role ARN kept with the machine");
  cmd->add_option("--tag", create->tags, "KEY=VALUE; repeatable");
  add_json_flag(cmd, create->json);

  auto update = std::make_shared<UpdateOptions>();
  cmd = add_command(group, "update", "Change a state machine's definition and/or role", exit_code,
                    [update] { return run_update(*update); });
  cmd->add_option("MACHINE", update->machine, "The machine's name or ARN")->required();
  cmd->add_option("--definition,-d", update->definition,
                  "The new definition file; '-' reads standard input");
  cmd->add_option("--role", update->role, "The new role ARN");
  add_json_flag(cmd, update->json);

  auto deploy = std::make_shared<DeployOptions>();
  cmd = add_command(
      group, "deploy",
      "Create the state machine, or update it when one has the name (nothing when unchanged)",
      exit_code, [deploy] { return run_deploy(*deploy); });
  cmd->add_option("NAME", deploy->name, "The machine's name")->required();
  cmd->add_option("--definition,-d", deploy->definition,
                  "The definition (ASL JSON) file; '-' reads standard input")
      ->required();
  cmd->add_option("--type", deploy->type, "STANDARD (default) or EXPRESS (on creation)")
      ->check(CLI::IsMember({"STANDARD", "EXPRESS"}));
  cmd->add_option("--role", deploy->role, "The role ARN");
  cmd->add_option("--tag", deploy->tags, "KEY=VALUE, on creation; repeatable");
  add_json_flag(cmd, deploy->json);

  auto list = std::make_shared<ListOptions>();
  cmd = add_command(group, "list", "List the state machines (all of them unless --max)", exit_code,
                    [list] { return run_list(*list); });
  cmd->add_option("--max", list->max, "At most this many")->check(CLI::NonNegativeNumber);
  add_json_flag(cmd, list->json);

  auto describe = std::make_shared<DescribeOptions>();
  cmd = add_command(group, "describe", "Show a state machine and its definition", exit_code,
                    [describe] { return run_describe(*describe); });
  cmd->add_option("MACHINE", describe->machine, "The machine's name or ARN")->required();
  add_json_flag(cmd, describe->json);

  auto del = std::make_shared<DescribeOptions>();
  cmd = add_command(group, "delete", "Delete a state machine", exit_code,
                    [del] { return run_delete(*del); });
  cmd->add_option("MACHINE", del->machine, "The machine's name or ARN")->required();
  add_json_flag(cmd, del->json);

  auto validate = std::make_shared<ValidateOptions>();
  cmd = add_command(group, "validate",
                    "Check a definition on the server (ValidateStateMachineDefinition); exit 0 "
                    "when valid, 1 when not. `stepctl validate` checks offline.",
                    exit_code, [validate] { return run_validate(*validate); });
  cmd->add_option("FILE", validate->file, "The definition; '-' reads standard input")->required();
  cmd->add_option("--type", validate->type, "STANDARD (default) or EXPRESS")
      ->check(CLI::IsMember({"STANDARD", "EXPRESS"}));
  cmd->add_flag("--warnings", validate->warnings, "Also report warnings");
  add_json_flag(cmd, validate->json);
}

}  // namespace stepd::cli
