// stepctl: the Stepd command-line tool.
#include "cli/command.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  using namespace stepd::cli;
  CLI::App app{"stepctl: work with Amazon States Language state machines (Stepd)", "stepctl"};
  app.footer(
      "Exit codes:\n"
      "  0  success: the definition is valid / the execution SUCCEEDED\n"
      "  1  the definition is invalid / the execution FAILED or TIMED_OUT\n"
      "  2  usage error: bad arguments, a file that cannot be read, input that is not JSON");
  app.require_subcommand(1);
  int exit_code = kExitOk;
  add_validate_command(app, exit_code);
  add_run_local_command(app, exit_code);
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
