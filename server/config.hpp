// stepd's configuration: command-line flags, environment variables and an optional JSON file.
// A setting given as a flag wins over the environment, the environment over the file, the file
// over the default. `stepd --help` lists every setting with its variable and default;
// docs/server.md has the same table.
//
// The file (--config FILE, or STEPD_CONFIG) is a JSON object whose keys are the long flag names
// without the dashes, e.g. {"store": "postgresql://...", "listen": "0.0.0.0:8080",
// "api-keys-file": "/etc/stepd/keys.json", "handler-threads": 16}; an unknown key is an error.
//
// Durations are a number of seconds ("30", "0.5") or a number with a unit ("500ms", "30s",
// "2m"); sizes are bytes ("1048576") or with a unit ("64KiB", "1MiB").
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace stepd::server {

inline constexpr const char* kStepdVersion = "0.1.0";

struct Config {
  std::string config_file;
  std::string store = "sqlite:stepd.db";  // relative to the working directory
  std::string listen = "127.0.0.1:8080";
  std::string host = "127.0.0.1";  // parsed from listen
  unsigned short port = 8080;      // parsed from listen; 0: any free port
  std::string region = "local";
  std::string account = "000000000000";
  std::string node_id;  // default: <hostname>-<pid>
  int partitions = 16;
  int max_partitions = 0;
  std::chrono::milliseconds lease_ttl{10'000};
  std::string api_keys_file;  // empty: authentication off (loopback only)
  std::string tls_cert;
  std::string tls_key;
  std::string task_ca_file;  // extra CA certificates for https:// task endpoints
  int handler_threads = 8;
  int io_threads = 0;  // 0: one per hardware thread
  std::size_t max_body_bytes = 1024 * 1024 + 64 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  int max_connections = 1024;
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds shutdown_timeout{10'000};
  std::string log_level = "info";
};

// What the command line asks for: run with `config`, or exit at once with `exit_code` after
// printing `out` to stdout (--help, --version) and `err` to stderr (a bad setting).
struct ParsedConfig {
  bool run = false;
  Config config;
  int exit_code = 0;
  std::string out;
  std::string err;
};

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
// The process environment.
std::optional<std::string> process_env(const std::string& name);

// `args` as main() gets them (args[0] is the program). Reads the config file when one is named.
// Errors name the setting and where its value came from, e.g. "--partitions: expected an
// integer from 1 to 65536, got 'x' (from STEPD_PARTITIONS)". Listening on an address that is
// not loopback without --api-keys-file is refused: "refusing to listen on 0.0.0.0:8080 without
// authentication: ...".
ParsedConfig parse_config(const std::vector<std::string>& args, const EnvLookup& env = process_env);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace stepd::server
