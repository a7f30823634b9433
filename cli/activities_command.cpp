// stepctl activities create|list|describe|delete: activities (the queues of tasks that workers
// poll for) on a stepd server.
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/server.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <vector>

namespace stepd::cli {
namespace {

using worker::Client;

OutJson activity_json(const worker::Activity& a) {
  return {{"activityArn", a.activity_arn},
          {"name", a.name},
          {"creationDate", json_time(a.creation_date)}};
}

struct ActivityOptions {
  std::string activity;
  std::vector<std::string> tags;
  int max = 0;
  bool json = false;
};

int run_create(const ActivityOptions& o) {
  const std::vector<worker::Tag> tags = parse_tags(o.tags);
  Client client = make_client();
  const worker::Activity a = client.create_activity(o.activity, tags);
  print_answer(o.json,
               {{"activityArn", a.activity_arn}, {"creationDate", json_time(a.creation_date)}},
               {{"Created", a.activity_arn}, {"Date", local_time(a.creation_date)}});
  return kExitOk;
}

int run_list(const ActivityOptions& o) {
  Client client = make_client();
  const std::vector<worker::Activity> items =
      list_all(worker::PageRequest{}, o.max,
               [&](const worker::PageRequest& page) { return client.list_activities(page); });
  if (o.json) {
    OutJson list = OutJson::array();
    for (const auto& a : items) list.push_back(activity_json(a));
    print_json({{"activities", list}});
  } else {
    Table table({"NAME", "CREATED", "ARN"});
    for (const auto& a : items) table.add({a.name, local_time(a.creation_date), a.activity_arn});
    table.print(std::cout);
  }
  return kExitOk;
}

int run_describe(const ActivityOptions& o) {
  Client client = make_client();
  const worker::Activity a = client.describe_activity(resolve_activity(client, o.activity));
  print_answer(
      o.json, activity_json(a),
      {{"Name", a.name}, {"ARN", a.activity_arn}, {"Created", local_time(a.creation_date)}});
  return kExitOk;
}

int run_delete(const ActivityOptions& o) {
  Client client = make_client();
  const std::string arn = resolve_activity(client, o.activity);
  client.delete_activity(arn);
  print_answer_line(o.json, {{"activityArn", arn}}, "Deleted " + arn);
  return kExitOk;
}

}  // namespace

void add_activities_commands(CLI::App& app, int& exit_code) {
  CLI::App* group = add_group(app, "activities", "Activities: task queues that workers poll");

  auto create = std::make_shared<ActivityOptions>();
  CLI::App* cmd = add_command(group, "create", "Create an activity (again: the same one)",
                              exit_code, [create] { return run_create(*create); });
  cmd->add_option("NAME", create->activity, "The activity's name")->required();
  cmd->add_option("--tag", create->tags, "KEY=VALUE; repeatable");
  cmd->add_flag("--json", create->json, "Print the answer as JSON");

  auto list = std::make_shared<ActivityOptions>();
  cmd = add_command(group, "list", "List the activities (all of them unless --max)", exit_code,
                    [list] { return run_list(*list); });
  cmd->add_option("--max", list->max, "At most this many")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", list->json, "Print the answer as JSON");

  auto describe = std::make_shared<ActivityOptions>();
  cmd = add_command(group, "describe", "Show an activity", exit_code,
                    [describe] { return run_describe(*describe); });
  cmd->add_option("ACTIVITY", describe->activity, "The activity's name or ARN")->required();
  cmd->add_flag("--json", describe->json, "Print the answer as JSON");

  auto del = std::make_shared<ActivityOptions>();
  cmd = add_command(group, "delete", "Delete an activity", exit_code,
                    [del] { return run_delete(*del); });
  cmd->add_option("ACTIVITY", del->activity, "The activity's name or ARN")->required();
  cmd->add_flag("--json", del->json, "Print the answer as JSON");
}

}  // namespace stepd::cli
