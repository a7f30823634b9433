// stepctl: the Stepd command-line tool.
#include "cli/command.hpp"
#include "cli/server.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  using namespace stepd::cli;
  CLI::App app{"stepctl: work with Amazon States Language state machines (Stepd)", "stepctl"};
  app.footer(
      "Server commands (machines, executions, activities, tasks, routes, audit) talk to the\n"
      "stepd server at --endpoint, else $STEPD_ENDPOINT, else http://127.0.0.1:8080, sending\n"
      "--api-key, else $STEPD_API_KEY. They print tables (colour only on a terminal, never\n"
      "with NO_COLOR set); --json prints JSON for scripts. validate and run-local work offline.\n"
      "\n"
      "Exit codes:\n"
      "  0  success: the command did what it was asked / the definition is valid / the\n"
      "     execution SUCCEEDED\n"
      "  1  the definition is invalid / the execution ended FAILED, TIMED_OUT or ABORTED\n"
      "     (commands that wait for the end: run-local, executions start --wait, executions\n"
      "     wait, executions history --follow, executions redrive --wait)\n"
      "  2  usage error: bad arguments, a file that cannot be read, input that is not JSON\n"
      "  3  the server answered an error: not found (also a name nothing has), invalid\n"
      "     definition, access denied, ...\n"
      "  4  no answer from the server: connection refused, time-out, not a stepd server; or\n"
      "     a --timeout that passed while the execution still runs");
  app.require_subcommand(1);
  add_connection_options(app);
  int exit_code = kExitOk;
  add_validate_command(app, exit_code);
  add_run_local_command(app, exit_code);
  add_machines_commands(app, exit_code);
  add_executions_commands(app, exit_code);
  add_activities_commands(app, exit_code);
  add_tasks_commands(app, exit_code);
  add_routes_commands(app, exit_code);
  add_audit_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "stepctl: " << e.what() << "\n";
    return kExitUsage;
  }
  return exit_code;
}
