// stepctl executions start|list|describe|history|wait|stop|redrive: executions on a stepd
// server.
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/server.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace stepd::cli {
namespace {

using worker::Client;
using Clock = std::chrono::steady_clock;

// --- JSON and human forms of an execution --------------------------------------------------------

// The members every execution's JSON starts with: ARNs, name, status, start date (of an
// ExecutionDescription, a SyncExecutionResult or an ExecutionListItem).
template <typename Execution>
OutJson execution_head_json(const Execution& x) {
  OutJson out = OutJson::object();
  out["executionArn"] = x.execution_arn;
  out["stateMachineArn"] = x.state_machine_arn;
  out["name"] = x.name;
  out["status"] = x.status;
  out["startDate"] = json_time(x.start_date);
  return out;
}

OutJson execution_json(const worker::ExecutionDescription& x) {
  OutJson out = execution_head_json(x);
  if (x.stop_date) out["stopDate"] = json_time(*x.stop_date);
  out["input"] = json_payload(x.input);
  if (x.output) out["output"] = json_payload(*x.output);
  if (!x.error.empty()) out["error"] = x.error;
  if (!x.cause.empty()) out["cause"] = x.cause;
  if (!x.trace_header.empty()) out["traceHeader"] = x.trace_header;
  out["redriveCount"] = x.redrive_count;
  if (x.redrive_date) out["redriveDate"] = json_time(*x.redrive_date);
  if (!x.redrive_status.empty()) out["redriveStatus"] = x.redrive_status;
  if (!x.redrive_status_reason.empty()) out["redriveStatusReason"] = x.redrive_status_reason;
  return out;
}

OutJson sync_json(const worker::SyncExecutionResult& x) {
  OutJson out = execution_head_json(x);
  out["stopDate"] = json_time(x.stop_date);
  out["input"] = json_payload(x.input);
  if (x.output) out["output"] = json_payload(*x.output);
  if (!x.error.empty()) out["error"] = x.error;
  if (!x.cause.empty()) out["cause"] = x.cause;
  return out;
}

// Prints an execution: execution_json with --json, else its fields.
void print_execution(const worker::ExecutionDescription& x, bool json) {
  print_answer(json, execution_json(x),
               {{"Name", x.name},
                {"ARN", x.execution_arn},
                {"State machine", x.state_machine_arn},
                {"Status", paint_status(x.status)},
                {"Started", local_time(x.start_date)},
                {"Stopped", x.stop_date ? local_time(*x.stop_date) : ""},
                {"Redrives", x.redrive_count > 0 ? std::to_string(x.redrive_count) : ""},
                {"Redriven", x.redrive_date ? local_time(*x.redrive_date) : ""},
                {"Error", x.error},
                {"Cause", x.cause},
                {"Input", x.input.is_null() ? "" : payload_text(x.input, true)},
                {"Output", x.output ? payload_text(*x.output, true) : ""}});
}

// Prints StartSyncExecution's answer: sync_json with --json, else its fields.
void print_sync(const worker::SyncExecutionResult& x, bool json) {
  print_answer(json, sync_json(x),
               {{"Name", x.name},
                {"ARN", x.execution_arn},
                {"State machine", x.state_machine_arn},
                {"Status", paint_status(x.status)},
                {"Started", local_time(x.start_date)},
                {"Stopped", local_time(x.stop_date)},
                {"Error", x.error},
                {"Cause", x.cause},
                {"Input", x.input.is_null() ? "" : payload_text(x.input, true)},
                {"Output", x.output ? payload_text(*x.output, true) : ""}});
}

// --- Waiting for the end -----------------------------------------------------------------------

// Raised when --timeout passes while the execution still runs.
struct StillRunning {
  std::string arn;
  std::string status;
};

// Describes the execution until it is no longer RUNNING (or PENDING_REDRIVE): every 100 ms at
// first, then less often, up to every second. `timeout_seconds` 0 waits without limit.
worker::ExecutionDescription wait_for_end(Client& client, const std::string& arn,
                                          double timeout_seconds) {
  const auto start = Clock::now();
  auto interval = std::chrono::milliseconds(100);
  while (true) {
    const worker::ExecutionDescription x =
        client.describe_execution(arn, worker::IncludedData::MetadataOnly);
    if (!is_running(x.status)) return client.describe_execution(arn);
    if (timeout_seconds > 0) {
      const auto waited = std::chrono::duration<double>(Clock::now() - start).count();
      if (waited >= timeout_seconds) throw StillRunning{arn, x.status};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::duration<double>(timeout_seconds - waited));
      std::this_thread::sleep_for(std::min(interval, left + std::chrono::milliseconds(1)));
    } else {
      std::this_thread::sleep_for(interval);
    }
    interval = std::min(interval * 3 / 2, std::chrono::milliseconds(1000));
  }
}

// Waits for the execution's end (wait_for_end), prints it and returns the exit code of its
// status; when `timeout_seconds` passes first, says so on standard error and returns
// kExitUnreachable.
int wait_and_finish(Client& client, const std::string& arn, double timeout_seconds, bool json) {
  try {
    const worker::ExecutionDescription x = wait_for_end(client, arn, timeout_seconds);
    print_execution(x, json);
    return exit_code_of_status(x.status);
  } catch (const StillRunning& s) {
    std::cerr << "stepctl: the execution is still " << s.status << " after " << timeout_seconds
              << " s: " << s.arn << "\n";
    return kExitUnreachable;
  }
}

// --- start ---------------------------------------------------------------------------------------

struct StartOptions {
  std::string machine;
  std::string dash;  // "-": the input comes from standard input
  std::string input;
  std::string input_file;
  std::string name;
  std::string trace_header;
  bool wait = false;
  double timeout = 0;
  bool json = false;
  CLI::Option* input_option = nullptr;
};

int run_start(const StartOptions& o) {
  check_payload_choice("input", o.dash, o.input_option->count() > 0, o.input_file);
  if (o.timeout > 0 && !o.wait) throw UsageError("--timeout needs --wait");
  worker::StartExecutionRequest request;
  request.input =
      read_payload(o.input, o.input_option->count() > 0, o.input_file, !o.dash.empty(), "--input");
  request.name = o.name;
  request.trace_header = o.trace_header;
  // StartSyncExecution (EXPRESS) is one long call: --timeout bounds it.
  Client client = o.timeout > 0 ? make_client(std::chrono::milliseconds(
                                      static_cast<std::int64_t>(o.timeout * 1000)))
                                : make_client();
  request.state_machine_arn = resolve_machine(client, o.machine);

  if (o.wait) {
    // EXPRESS executions keep no history and are waited for by StartSyncExecution.
    const worker::StateMachineDescription m = client.describe_state_machine(
        request.state_machine_arn, worker::IncludedData::MetadataOnly);
    if (m.type == "EXPRESS") {
      worker::SyncExecutionResult x = client.start_sync_execution(request);
      print_sync(x, o.json);
      return exit_code_of_status(x.status);
    }
  }
  worker::StartExecutionResult started = client.start_execution(request);
  if (!o.wait) {
    print_answer(
        o.json,
        {{"executionArn", started.execution_arn}, {"startDate", json_time(started.start_date)}},
        {{"Started", started.execution_arn}, {"Date", local_time(started.start_date)}});
    return kExitOk;
  }
  return wait_and_finish(client, started.execution_arn, o.timeout, o.json);
}

// --- list ----------------------------------------------------------------------------------------

struct ListOptions {
  std::string machine;
  std::string status;
  std::string redrive;
  int max = 0;
  bool json = false;
};

int run_list(const ListOptions& o) {
  Client client = make_client();
  worker::ListExecutionsRequest request;
  if (!o.machine.empty()) request.state_machine_arn = resolve_machine(client, o.machine);
  request.status_filter = o.status;
  request.redrive_filter = o.redrive;
  const std::vector<worker::ExecutionListItem> items = list_all(
      request, o.max,
      [&](const worker::ListExecutionsRequest& page) { return client.list_executions(page); });
  if (o.json) {
    OutJson list = OutJson::array();
    for (const auto& x : items) {
      OutJson item = execution_head_json(x);
      if (x.stop_date) item["stopDate"] = json_time(*x.stop_date);
      item["redriveCount"] = x.redrive_count;
      if (x.redrive_date) item["redriveDate"] = json_time(*x.redrive_date);
      list.push_back(std::move(item));
    }
    print_json({{"executions", list}});
  } else {
    Table table({"NAME", "STATUS", "MACHINE", "STARTED", "STOPPED", "ARN"});
    for (const auto& x : items) {
      table.add({x.name, paint_status(x.status), arn_name(x.state_machine_arn),
                 local_time(x.start_date), local_time(x.stop_date), x.execution_arn});
    }
    table.print(std::cout);
  }
  return kExitOk;
}

// --- describe / wait / stop / redrive ---------------------------------------------------------

struct ExecutionOptions {
  std::string execution;
  bool json = false;
  bool wait = false;
  double timeout = 0;
  std::string error;
  std::string cause;
};

int run_describe(const ExecutionOptions& o) {
  Client client = make_client();
  worker::ExecutionDescription x =
      client.describe_execution(resolve_execution(client, o.execution));
  print_execution(x, o.json);
  return kExitOk;
}

int run_wait(const ExecutionOptions& o) {
  Client client = make_client();
  const std::string arn = resolve_execution(client, o.execution);
  return wait_and_finish(client, arn, o.timeout, o.json);
}

int run_stop(const ExecutionOptions& o) {
  Client client = make_client();
  const std::string arn = resolve_execution(client, o.execution);
  const worker::Timestamp stopped = client.stop_execution(arn, o.error, o.cause);
  print_answer(o.json, {{"executionArn", arn}, {"stopDate", json_time(stopped)}},
               {{"Stopped", arn}, {"Date", local_time(stopped)}});
  return kExitOk;
}

int run_redrive(const ExecutionOptions& o) {
  if (o.timeout > 0 && !o.wait) throw UsageError("--timeout needs --wait");
  Client client = make_client();
  const std::string arn = resolve_execution(client, o.execution);
  const worker::Timestamp redriven = client.redrive_execution(arn);
  if (o.wait) return wait_and_finish(client, arn, o.timeout, o.json);
  print_answer(o.json, {{"executionArn", arn}, {"redriveDate", json_time(redriven)}},
               {{"Redriven", arn}, {"Date", local_time(redriven)}});
  return kExitOk;
}

// --- history -------------------------------------------------------------------------------------

struct HistoryOptions {
  std::string execution;
  bool data = false;
  bool reverse = false;
  bool follow = false;
  int interval_ms = 250;
  bool json = false;
};

// The fields of a history event's details that hold payloads (JSON text on the wire).
constexpr const char* kPayloadFields[] = {"input", "output", "parameters"};

OutJson event_json(const worker::HistoryEvent& e) {
  OutJson out = OutJson::object();
  out["id"] = e.id;
  out["previousEventId"] = e.previous_event_id;
  out["timestamp"] = json_time(e.timestamp);
  out["type"] = e.type;
  if (!e.details_member.empty() && e.details.is_object()) {
    OutJson details = OutJson::object();
    for (const auto& [key, value] : e.details.items()) {
      const bool payload =
          value.is_string() && std::any_of(std::begin(kPayloadFields), std::end(kPayloadFields),
                                           [&](const char* f) { return key == f; });
      details[key] = payload ? json_payload_text(value.get<std::string>()) : json_payload(value);
    }
    out[e.details_member] = std::move(details);
  }
  return out;
}

std::string detail_string(const worker::HistoryEvent& e, const char* key) {
  if (!e.details.is_object()) return "";
  auto it = e.details.find(key);
  if (it == e.details.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  return "";
}

// One line of text: newlines and tabs become spaces; longer than `max` is cut with "...".
std::string one_line(std::string text, std::size_t max) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  if (text.size() > max) text = text.substr(0, max - 3) + "...";
  return text;
}

// The STEP column: the state's name (with the iteration of a Map or the branch index), else the
// task's resource.
std::string event_step(const worker::HistoryEvent& e) {
  std::string name = detail_string(e, "name");
  const std::string index = detail_string(e, "index");
  if (!name.empty() && !index.empty()) return name + "[" + index + "]";
  if (!name.empty()) return name;
  return detail_string(e, "resource");
}

// The DETAILS column: error and cause of a failure, else nothing.
std::string event_summary(const worker::HistoryEvent& e, bool full) {
  const std::string error = detail_string(e, "error");
  const std::string cause = detail_string(e, "cause");
  std::string text = error;
  if (!cause.empty()) text += (text.empty() ? "" : ": ") + cause;
  return full ? one_line(text, 100'000) : one_line(text, 80);
}

// Event types in colour: the execution's success green, failures and time-outs red.
std::string paint_event_type(const std::string& type) {
  if (type == "ExecutionSucceeded") return paint(type, "32");
  if (type.ends_with("Failed") || type.ends_with("TimedOut") || type == "ExecutionAborted") {
    return paint(type, "31");
  }
  return type;
}

std::vector<std::string> event_row(const worker::HistoryEvent& e, bool data) {
  return {std::to_string(e.id), local_time(e.timestamp, true), paint_event_type(e.type),
          event_step(e), event_summary(e, data)};
}

// The payload lines printed under an event with --data ("input: {...}").
void print_event_data(const worker::HistoryEvent& e, std::ostream& out) {
  if (!e.details.is_object()) return;
  for (const char* key : kPayloadFields) {
    auto it = e.details.find(key);
    if (it == e.details.end()) continue;
    std::string text;
    if (it->is_string()) {
      nlohmann::json v = nlohmann::json::parse(it->get<std::string>(), nullptr, false);
      text = v.is_discarded() ? it->get<std::string>() : payload_text(v);
    } else {
      text = payload_text(*it);
    }
    out << "      " << key << ": " << text << "\n";
  }
}

const std::vector<std::string> kHistoryHeader = {"ID", "TIME", "TYPE", "STEP", "DETAILS"};

// Prints one row of the history table on standard output: every cell but the last padded to its
// column's width (`widths`, one a column but the last) and followed by two spaces; no trailing
// spaces.
void print_row(const std::vector<std::string>& row, const std::vector<std::size_t>& widths) {
  std::string text;
  for (std::size_t i = 0; i < row.size(); ++i) {
    text += i + 1 == row.size() ? row[i] : pad(row[i], widths[i]) + "  ";
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  std::cout << text << "\n";
}

int print_history(Client& client, const std::string& arn, const HistoryOptions& o) {
  worker::GetExecutionHistoryRequest request;
  request.execution_arn = arn;
  request.reverse_order = o.reverse;
  request.include_execution_data = o.data;
  const std::vector<worker::HistoryEvent> events =
      list_all(request, 0, [&](const worker::GetExecutionHistoryRequest& page) {
        return client.get_execution_history(page);
      });
  if (o.json) {
    OutJson list = OutJson::array();
    for (const auto& e : events) list.push_back(event_json(e));
    print_json({{"events", list}});
    return kExitOk;
  }
  if (!o.data) {
    Table table(kHistoryHeader);
    for (const auto& e : events) table.add(event_row(e, false));
    table.print(std::cout);
    return kExitOk;
  }
  // With data, rows are followed by their payload lines, so columns are laid out here.
  std::vector<std::size_t> widths(kHistoryHeader.size(), 0);
  std::vector<std::vector<std::string>> rows;
  rows.push_back(kHistoryHeader);
  for (const auto& e : events) rows.push_back(event_row(e, true));
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], visible_width(row[i]));
    }
  }
  print_row(rows[0], widths);
  for (std::size_t i = 0; i < events.size(); ++i) {
    print_row(rows[i + 1], widths);
    print_event_data(events[i], std::cout);
  }
  return kExitOk;
}

// --follow: prints events as they are written until the execution ends. Each poll asks again for
// the page that held the newest event seen (its token stays valid: stepd's history tokens mean
// "after event N") and prints only the events after it, then follows next tokens; when a poll
// brings nothing new, DescribeExecution tells whether the execution ended.
int follow_history(Client& client, const std::string& arn, const HistoryOptions& o) {
  // Fixed widths: rows are printed before the later ones are known.
  const std::vector<std::size_t> widths = {4, 23, 26, 24};
  if (!o.json) print_row(kHistoryHeader, widths);
  std::cout << std::flush;

  worker::GetExecutionHistoryRequest request;
  request.execution_arn = arn;
  request.max_results = 500;
  request.include_execution_data = o.data;
  std::string page_token;  // the token of the page holding the newest event seen
  std::int64_t last_id = 0;
  bool ended = false;
  while (true) {
    bool got_new = false;
    while (true) {
      request.next_token = page_token;
      worker::Page<worker::HistoryEvent> p = client.get_execution_history(request);
      for (const auto& e : p.items) {
        if (e.id <= last_id) continue;
        last_id = e.id;
        got_new = true;
        if (o.json) {
          std::cout << event_json(e).dump(-1, ' ', false, OutJson::error_handler_t::replace)
                    << "\n";
        } else {
          print_row(event_row(e, o.data), widths);
          if (o.data) print_event_data(e, std::cout);
        }
      }
      std::cout << std::flush;
      if (p.next_token.empty()) break;
      page_token = p.next_token;
    }
    if (ended) break;
    if (!got_new) {
      const worker::ExecutionDescription x =
          client.describe_execution(arn, worker::IncludedData::MetadataOnly);
      if (!is_running(x.status)) {
        // Its last events were written with its status: one more read prints them.
        ended = true;
        continue;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
  }
  const worker::ExecutionDescription x =
      client.describe_execution(arn, worker::IncludedData::MetadataOnly);
  if (!o.json) std::cout << "Status: " << paint_status(x.status) << "\n";
  return exit_code_of_status(x.status);
}

int run_history(const HistoryOptions& o) {
  Client client = make_client();
  const std::string arn = resolve_execution(client, o.execution);
  return o.follow ? follow_history(client, arn, o) : print_history(client, arn, o);
}

// Adds the command `name` of the group that runs `run(*options)`, with the required argument
// EXECUTION (options->execution).
template <typename Options>
CLI::App* add_execution_command(CLI::App* group, const std::string& name,
                                const std::string& description, int& exit_code,
                                std::shared_ptr<Options> options, int (*run)(const Options&)) {
  CLI::App* cmd =
      add_command(group, name, description, exit_code, [options, run] { return run(*options); });
  cmd->add_option("EXECUTION", options->execution,
                  "The execution: its ARN, or MACHINE:NAME (e.g. Orders:run-1)")
      ->required();
  return cmd;
}

}  // namespace

void add_executions_commands(CLI::App& app, int& exit_code) {
  CLI::App* group = add_group(app, "executions", "Executions on the server");

  auto start = std::make_shared<StartOptions>();
  CLI::App* cmd =
      add_command(group, "start",
                  "Start an execution. With --wait, wait for its end, print it and exit 0 when it "
                  "SUCCEEDED, 1 when it FAILED, TIMED_OUT or was ABORTED",
                  exit_code, [start] { return run_start(*start); });
  cmd->add_option("MACHINE", start->machine, "The state machine's name or ARN")->required();
  cmd->add_option("INPUT", start->dash, "'-': read the input from standard input");
  start->input_option =
      cmd->add_option("--input,-i", start->input, "The input as JSON text (default {})");
  CLI::Option* file = cmd->add_option("--input-file", start->input_file,
                                      "A file holding the input ('-': standard input)");
  start->input_option->excludes(file);
  cmd->add_option("--name,-n", start->name, "The execution's name (default: a UUID)");
  cmd->add_option("--trace-header", start->trace_header, "A W3C traceparent or X-Ray header");
  cmd->add_flag("--wait,-w", start->wait, "Wait for the end (EXPRESS: StartSyncExecution)");
  cmd->add_option("--timeout", start->timeout,
                  "With --wait: give up after this many seconds (exit 4); default: no limit")
      ->check(CLI::NonNegativeNumber);
  add_json_flag(cmd, start->json);

  auto list = std::make_shared<ListOptions>();
  cmd = add_command(group, "list", "List executions, newest first (all of them unless --max)",
                    exit_code, [list] { return run_list(*list); });
  cmd->add_option("--machine,-m", list->machine, "Only this state machine's (name or ARN)");
  cmd->add_option("--status,-s", list->status, "Only executions with this status")
      ->check(CLI::IsMember(
          {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"}));
  cmd->add_option("--redrive", list->redrive, "REDRIVEN or NOT_REDRIVEN")
      ->check(CLI::IsMember({"REDRIVEN", "NOT_REDRIVEN"}));
  cmd->add_option("--max", list->max, "At most this many")->check(CLI::NonNegativeNumber);
  add_json_flag(cmd, list->json);

  auto describe = std::make_shared<ExecutionOptions>();
  cmd = add_execution_command(
      group, "describe",
      "Show an execution: status, input, output, error (exit 0 whatever its status)", exit_code,
      describe, run_describe);
  add_json_flag(cmd, describe->json);

  auto history = std::make_shared<HistoryOptions>();
  cmd = add_execution_command(group, "history",
                              "Show an execution's events as a table. --follow prints them as "
                              "they come until the execution ends, then exits as `executions "
                              "wait` does",
                              exit_code, history, run_history);
  cmd->add_flag("--data", history->data,
                "Show each event's input, output and parameters (and whole causes)");
  CLI::Option* reverse = cmd->add_flag("--reverse", history->reverse, "Newest event first");
  CLI::Option* follow =
      cmd->add_flag("--follow,-f", history->follow, "Keep printing new events until the end");
  reverse->excludes(follow);
  cmd->add_option("--interval", history->interval_ms,
                  "With --follow: milliseconds between polls (default 250)")
      ->check(CLI::Range(10, 60'000));
  add_json_flag(cmd, history->json);

  auto wait = std::make_shared<ExecutionOptions>();
  cmd = add_execution_command(group, "wait",
                              "Wait for an execution's end, print it, and exit 0 when it "
                              "SUCCEEDED, 1 when it FAILED, TIMED_OUT or was ABORTED",
                              exit_code, wait, run_wait);
  cmd->add_option("--timeout", wait->timeout,
                  "Give up after this many seconds (exit 4); default: no limit")
      ->check(CLI::NonNegativeNumber);
  add_json_flag(cmd, wait->json);

  auto stop = std::make_shared<ExecutionOptions>();
  cmd = add_execution_command(group, "stop", "Stop a running execution (it ends ABORTED)",
                              exit_code, stop, run_stop);
  cmd->add_option("--error", stop->error, "The error name recorded");
  cmd->add_option("--cause", stop->cause, "The cause recorded");
  add_json_flag(cmd, stop->json);

  auto redrive = std::make_shared<ExecutionOptions>();
  cmd = add_execution_command(
      group, "redrive", "Restart a FAILED, TIMED_OUT or ABORTED execution from where it failed",
      exit_code, redrive, run_redrive);
  cmd->add_flag("--wait,-w", redrive->wait, "Wait for the end, as `executions wait`");
  cmd->add_option("--timeout", redrive->timeout,
                  "With --wait: give up after this many seconds (exit 4)")
      ->check(CLI::NonNegativeNumber);
  add_json_flag(cmd, redrive->json);
}

}  // namespace stepd::cli
