// stepctl tasks get|succeed|fail|heartbeat: work on activity tasks and task tokens by hand (AWS's
// GetActivityTask, SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat; their AWS CLI names are
// aliases).
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/server.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

namespace stepd::cli {
namespace {

using worker::Client;

struct TaskOptions {
  std::string target;  // the activity (get) or the task token
  std::string worker;
  std::string dash;  // "-": the output comes from standard input
  std::string output;
  std::string output_file;
  std::string error;
  std::string cause;
  bool json = false;
  CLI::Option* output_option = nullptr;
};

int run_get(const TaskOptions& o) {
  Client client = make_client();
  const std::string arn = resolve_activity(client, o.target);
  std::optional<worker::ActivityTask> task = client.get_activity_task(arn, o.worker);
  if (!task) {
    // AWS: a poll that ends without a task is an answer without a token.
    if (o.json) print_json(OutJson::object());
    std::cerr << "stepctl: no task for " << arn << " (the poll ended without one)\n";
    return kExitOk;
  }
  print_answer(o.json, {{"taskToken", task->task_token}, {"input", json_payload(task->input)}},
               {{"Token", task->task_token}, {"Input", payload_text(task->input, true)}});
  return kExitOk;
}

int run_succeed(const TaskOptions& o) {
  check_payload_choice("output", o.dash, o.output_option->count() > 0, o.output_file);
  const nlohmann::json output = read_payload(o.output, o.output_option->count() > 0, o.output_file,
                                             !o.dash.empty(), "--output");
  Client client = make_client();
  client.send_task_success(o.target, output);
  print_answer_line(o.json, OutJson::object(), "Task succeeded");
  return kExitOk;
}

int run_fail(const TaskOptions& o) {
  Client client = make_client();
  client.send_task_failure(o.target, o.error, o.cause);
  print_answer_line(o.json, OutJson::object(), "Task failed");
  return kExitOk;
}

int run_heartbeat(const TaskOptions& o) {
  Client client = make_client();
  client.send_task_heartbeat(o.target);
  print_answer_line(o.json, OutJson::object(), "Heartbeat sent");
  return kExitOk;
}

}  // namespace

void add_tasks_commands(CLI::App& app, int& exit_code) {
  CLI::App* group =
      add_group(app, "tasks", "Activity tasks and task tokens: take a task, report its outcome");

  auto get = std::make_shared<TaskOptions>();
  CLI::App* cmd = add_command(group, "get",
                              "Wait for a task of an activity (the server holds the poll up to "
                              "60 s) and print its token and input; no task: nothing on "
                              "standard output ({} with --json), exit 0",
                              exit_code, [get] { return run_get(*get); });
  cmd->alias("get-activity-task");
  cmd->add_option("ACTIVITY", get->target, "The activity's name or ARN")->required();
  cmd->add_option("--worker", get->worker, "The worker name recorded with the task");
  cmd->add_flag("--json", get->json, "Print {\"taskToken\":..., \"input\":...}");

  auto succeed = std::make_shared<TaskOptions>();
  cmd = add_command(group, "succeed", "Report a task's success with its output", exit_code,
                    [succeed] { return run_succeed(*succeed); });
  cmd->alias("send-task-success");
  cmd->add_option("TOKEN", succeed->target, "The task token")->required();
  cmd->add_option("OUTPUT", succeed->dash, "'-': read the output from standard input");
  succeed->output_option =
      cmd->add_option("--output,-o", succeed->output, "The output as JSON text (default {})");
  CLI::Option* file = cmd->add_option("--output-file", succeed->output_file,
                                      "A file holding the output ('-': standard input)");
  succeed->output_option->excludes(file);
  cmd->add_flag("--json", succeed->json, "Print {} (the server's answer)");

  auto fail = std::make_shared<TaskOptions>();
  cmd = add_command(group, "fail", "Report a task's failure", exit_code,
                    [fail] { return run_fail(*fail); });
  cmd->alias("send-task-failure");
  cmd->add_option("TOKEN", fail->target, "The task token")->required();
  cmd->add_option("--error", fail->error, "The error name (what Retry and Catch match)");
  cmd->add_option("--cause", fail->cause, "The cause");
  cmd->add_flag("--json", fail->json, "Print {} (the server's answer)");

  auto heartbeat = std::make_shared<TaskOptions>();
  cmd = add_command(group, "heartbeat", "Tell the server a task is still being worked on",
                    exit_code, [heartbeat] { return run_heartbeat(*heartbeat); });
  cmd->alias("send-task-heartbeat");
  cmd->add_option("TOKEN", heartbeat->target, "The task token")->required();
  cmd->add_flag("--json", heartbeat->json, "Print {} (the server's answer)");
}

}  // namespace stepd::cli
