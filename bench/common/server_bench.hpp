// What the benchmarks that spawn a real `stepd` (load_bench, dispatch_bench) share: the flags
// (ServerFlags, read_server_flags()), starting stepd on a store (start_stepd()) and the run on
// each store, SQLite then PostgreSQL (run_each_store()).
//
// Messages start with "PROGRAM: ", in the same words for every benchmark. Needs libpq and the
// STEPD_PATH compile definition (tests/server/process/stepd_process.hpp).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "bench/common/bench_process.hpp"
#include "tests/server/process/stepd_process.hpp"

namespace stepd::bench {

// The flags every server benchmark takes; a benchmark's Options derives from this.
struct ServerFlags {
  std::string only;                     // --only: "", "sqlite" or "postgres"
  std::string pg_url;                   // --pg, else $STEPD_TEST_PG_URL
  std::string sqlite_options;           // --sqlite-options: after '?' in the SQLite store URL
  std::vector<std::string> stepd_args;  // --stepd-arg (repeatable): more arguments for stepd
  std::string perf_dir;                 // --perf: where `perf record` writes its files
  std::string perf_args;                // --perf-args: perf's options (the benchmark's default)
};

// What a benchmark's own flag handler made of one flag and its value.
enum class FlagUse {
  Taken,    // the flag is the benchmark's and its value is good
  Unknown,  // not a flag of the benchmark
  Invalid,  // the benchmark's flag with a bad value (the handler printed why)
};

// A flag without a value: `flag` sets *target to `value` (e.g. --steady, --no-low).
struct SwitchFlag {
  const char* flag;
  bool* target;
  bool value;
};

// Reads argv into `flags` (pg_url first from $STEPD_TEST_PG_URL). `--help`/`-h` prints usage()
// and exits 0; `switch_flag` takes no value. Every other flag takes the next argument as its
// value: the ServerFlags ones fill `flags`, the rest go to `on_value`. False (the reason printed)
// for a missing value, an unknown flag, a bad --only or an Invalid.
inline bool read_server_flags(
    int argc, char** argv, const char* program, void (*usage)(), ServerFlags& flags,
    const SwitchFlag& switch_flag,
    const std::function<FlagUse(const std::string& flag, const std::string& value)>& on_value) {
  if (const char* pg = std::getenv("STEPD_TEST_PG_URL"); pg != nullptr) flags.pg_url = pg;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      usage();
      std::exit(0);
    }
    if (flag == switch_flag.flag) {
      *switch_flag.target = switch_flag.value;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s: %s needs a value (or is unknown)\n", program, flag.c_str());
      return false;
    }
    const std::string value = argv[++i];
    if (flag == "--only") {
      if (value != "sqlite" && value != "postgres") {
        std::fprintf(stderr, "%s: --only sqlite|postgres\n", program);
        return false;
      }
      flags.only = value;
    } else if (flag == "--pg") {
      flags.pg_url = value;
    } else if (flag == "--sqlite-options") {
      flags.sqlite_options = value;
    } else if (flag == "--stepd-arg") {
      flags.stepd_args.push_back(value);
    } else if (flag == "--perf") {
      flags.perf_dir = value;
    } else if (flag == "--perf-args") {
      flags.perf_args = value;
    } else {
      switch (on_value(flag, value)) {
        case FlagUse::Taken:
          break;
        case FlagUse::Invalid:
          return false;
        case FlagUse::Unknown:
          std::fprintf(stderr, "%s: unknown flag %s (--help lists them)\n", program, flag.c_str());
          return false;
      }
    }
  }
  return true;
}

// Starts `stepd` on the store `url` ("" : a SQLite file in stepd's own directory, with
// flags.sqlite_options after '?' when given) with --log-level warn and flags.stepd_args, then
// prints "[NAME] stepd pid ..."; false (its log printed) when it did not start.
inline bool start_stepd(test::StepdProcess& stepd, const ServerFlags& flags, const char* program,
                        const std::string& name, const std::string& url) {
  test::StepdOptions start;
  start.store = url;
  if (url.empty() && !flags.sqlite_options.empty()) {
    start.store = "sqlite:" + (stepd.dir() / "stepd.db").string() + "?" + flags.sqlite_options;
  }
  start.args = {"--log-level", "warn"};
  start.args.insert(start.args.end(), flags.stepd_args.begin(), flags.stepd_args.end());
  if (!stepd.start(start)) {
    std::printf("%s: stepd did not start on %s:\n%s\n", program, name.c_str(), stepd.log().c_str());
    return false;
  }
  std::printf("\n[%s] stepd pid %d on 127.0.0.1:%u, store %s\n", name.c_str(),
              static_cast<int>(stepd.pid()), stepd.port(),
              url.empty() ? (start.store.empty() ? stepd.store_url() : start.store).c_str()
                          : "postgresql (fresh schema)");
  std::fflush(stdout);
  return true;
}

// Calls run(NAME, URL, SERVER) for "sqlite" (URL and SERVER "") and then for "postgres" (URL a
// fresh schema PROGRAM_PID on SERVER = flags.pg_url, dropped afterwards), as flags.only allows.
// Without flags.pg_url the postgres run is skipped: its "skipped: postgres ..." line is printed
// and appended to `skipped`. True when every run returned true.
inline bool run_each_store(const ServerFlags& flags, const char* program,
                           std::vector<std::string>& skipped,
                           const std::function<bool(const std::string& name, const std::string& url,
                                                    const std::string& server)>& run) {
  bool good = true;
  if (flags.only != "postgres") good = run("sqlite", "", "") && good;
  if (flags.only != "sqlite") {
    if (flags.pg_url.empty()) {
      skipped.push_back(
          "skipped: postgres (STEPD_TEST_PG_URL is not set and no --pg URL; start a server with: "
          "eval \"$(bash scripts/postgres.sh start)\")");
      std::printf("\n%s\n", skipped.back().c_str());
    } else {
      ScratchSchema schema(flags.pg_url, std::string(program) + "_" + std::to_string(::getpid()));
      good = run("postgres", schema.url(), flags.pg_url) && good;
    }
  }
  return good;
}

}  // namespace stepd::bench
