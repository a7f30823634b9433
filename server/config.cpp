#include "server/config.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string_view>
#include <utility>

namespace stepd::server {

namespace {

// One setting: its flag (without "--", also its key in the config file), its variable, and how
// a text value goes into the Config ("" when it went in, else what is wrong).
struct Setting {
  std::string flag;
  std::string env;
  std::string placeholder;
  std::string help;
  std::string default_text;
  std::function<std::string(Config&, const std::string&)> apply;
};

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::optional<long long> parse_integer(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  if (errno != 0 || end != t.c_str() + t.size()) return std::nullopt;
  return v;
}

std::function<std::string(Config&, const std::string&)> integer(int Config::*field, long long lo,
                                                                long long hi) {
  return [field, lo, hi](Config& c, const std::string& text) -> std::string {
    const auto v = parse_integer(text);
    if (!v || *v < lo || *v > hi) {
      return "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
             ", got '" + text + "'";
    }
    c.*field = static_cast<int>(*v);
    return "";
  };
}

// The scale of the first of `units` whose suffix ends `t` with more before it, that suffix (and
// the blanks before it) taken off `t`; `fallback` when none does.
template <typename Scale>
Scale strip_unit(std::string& t, std::initializer_list<std::pair<std::string_view, Scale>> units,
                 Scale fallback) {
  for (const auto& [suffix, scale] : units) {
    if (t.size() > suffix.size() && t.ends_with(suffix)) {
      t = trim(t.substr(0, t.size() - suffix.size()));
      return scale;
    }
  }
  return fallback;
}

// "30", "0.5", "500ms", "30s", "2m".
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  std::string t = trim(text);
  const double scale = strip_unit<double>(t, {{"ms", 1.0}, {"s", 1000.0}, {"m", 60'000.0}}, 1000.0);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(std::llround(v * scale)));
}

std::function<std::string(Config&, const std::string&)> duration(
    std::chrono::milliseconds Config::*field, std::chrono::milliseconds lo) {
  return [field, lo](Config& c, const std::string& text) -> std::string {
    const auto v = parse_duration(text);
    if (!v || *v < lo) {
      return "expected a duration of at least " + std::to_string(lo.count()) +
             "ms (e.g. 30, 0.5, 500ms, 30s, 2m), got '" + text + "'";
    }
    c.*field = *v;
    return "";
  };
}

// "1048576", "64KiB", "64K", "1MiB", "1M".
std::optional<std::size_t> parse_size(const std::string& text) {
  std::string t = trim(text);
  const std::size_t scale = strip_unit<std::size_t>(
      t, {{"KiB", 1024}, {"MiB", 1024 * 1024}, {"K", 1024}, {"M", 1024 * 1024}}, 1);
  const auto v = parse_integer(t);
  if (!v || *v < 0) return std::nullopt;
  return static_cast<std::size_t>(*v) * scale;
}

std::function<std::string(Config&, const std::string&)> size(std::size_t Config::*field,
                                                             std::size_t lo, std::size_t hi) {
  return [field, lo, hi](Config& c, const std::string& text) -> std::string {
    const auto v = parse_size(text);
    if (!v || *v < lo || *v > hi) {
      return "expected a size from " + std::to_string(lo) + " to " + std::to_string(hi) +
             " bytes (e.g. 1048576, 64KiB, 1MiB), got '" + text + "'";
    }
    c.*field = *v;
    return "";
  };
}

std::function<std::string(Config&, const std::string&)> text(std::string Config::*field,
                                                             bool allow_empty) {
  return [field, allow_empty](Config& c, const std::string& value) -> std::string {
    if (!allow_empty && value.empty()) return "must not be empty";
    c.*field = value;
    return "";
  };
}

std::string default_node_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "stepd");
  return std::string(host) + "-" + std::to_string(::getpid());
}

std::string ms_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

std::vector<Setting> settings() {
  const Config d;
  std::vector<Setting> s;
  s.push_back({"store", "STEPD_STORE", "URL",
               "Where executions are kept: sqlite:PATH (a file, created if missing; "
               "?synchronous=normal trades power-loss safety for speed) or "
               "postgresql://USER:PASSWORD@HOST:PORT/DB",
               d.store, text(&Config::store, false)});
  s.push_back({"listen", "STEPD_LISTEN", "HOST:PORT",
               "Address to serve HTTP on; port 0 picks a free port (the ready log line names "
               "it). Beyond loopback only with --api-keys-file",
               d.listen, text(&Config::listen, false)});
  s.push_back({"region", "STEPD_REGION", "NAME", "Region in the ARNs Stepd makes", d.region,
               text(&Config::region, false)});
  s.push_back({"account", "STEPD_ACCOUNT", "ID", "Account id in the ARNs Stepd makes", d.account,
               text(&Config::account, false)});
  s.push_back({"node-id", "STEPD_NODE_ID", "ID",
               "This node's name in partition leases (unique among nodes on one database)",
               "<hostname>-<pid>", text(&Config::node_id, false)});
  s.push_back({"partitions", "STEPD_PARTITIONS", "N",
               "Partitions executions are spread over (the same on every node of a database)",
               std::to_string(d.partitions), integer(&Config::partitions, 1, 65536)});
  s.push_back({"max-partitions", "STEPD_MAX_PARTITIONS", "N",
               "Most partitions this node takes while none is orphaned (0: an even share)",
               std::to_string(d.max_partitions), integer(&Config::max_partitions, 0, 65536)});
  s.push_back({"lease-ttl", "STEPD_LEASE_TTL", "DURATION",
               "How long a partition lease lasts unless renewed (a dead node's executions are "
               "taken over after it)",
               ms_text(d.lease_ttl), duration(&Config::lease_ttl, std::chrono::milliseconds(500))});
  s.push_back({"api-keys-file", "STEPD_API_KEYS_FILE", "FILE",
               "JSON file of API keys (docs/server.md); turns authentication on. Without it "
               "every caller is an anonymous admin",
               "none", text(&Config::api_keys_file, true)});
  s.push_back({"tls-cert", "STEPD_TLS_CERT", "FILE",
               "PEM certificate chain: serve HTTPS (with --tls-key)", "none",
               text(&Config::tls_cert, true)});
  s.push_back({"tls-key", "STEPD_TLS_KEY", "FILE", "PEM private key for --tls-cert", "none",
               text(&Config::tls_key, true)});
  s.push_back({"task-ca-file", "STEPD_TASK_CA_FILE", "FILE",
               "PEM CA certificates trusted for https:// task endpoints (HTTP Tasks, functions, "
               "routed services) besides the system's",
               "none", text(&Config::task_ca_file, true)});
  s.push_back({"handler-threads", "STEPD_HANDLER_THREADS", "N",
               "Threads that run requests (they may wait on the store)",
               std::to_string(d.handler_threads), integer(&Config::handler_threads, 1, 1024)});
  s.push_back({"io-threads", "STEPD_IO_THREADS", "N",
               "Threads that do network I/O (0: one per hardware thread)",
               std::to_string(d.io_threads), integer(&Config::io_threads, 0, 1024)});
  s.push_back({"max-body-bytes", "STEPD_MAX_BODY_BYTES", "SIZE",
               "Largest request body (larger: 413)", std::to_string(d.max_body_bytes),
               size(&Config::max_body_bytes, 1024, std::size_t{1} << 30)});
  s.push_back({"max-header-bytes", "STEPD_MAX_HEADER_BYTES", "SIZE",
               "Largest request line and headers (larger: 431)", std::to_string(d.max_header_bytes),
               size(&Config::max_header_bytes, 1024, std::size_t{1} << 24)});
  s.push_back({"max-connections", "STEPD_MAX_CONNECTIONS", "N",
               "Most open connections (more: 503 and closed)", std::to_string(d.max_connections),
               integer(&Config::max_connections, 1, 1'000'000)});
  s.push_back({"read-timeout", "STEPD_READ_TIMEOUT", "DURATION",
               "Time a client has to send a whole request once it began (else 408), and to "
               "take an answer",
               ms_text(d.read_timeout),
               duration(&Config::read_timeout, std::chrono::milliseconds(10))});
  s.push_back({"idle-timeout", "STEPD_IDLE_TIMEOUT", "DURATION",
               "A kept-alive connection with no request for this long is closed",
               ms_text(d.idle_timeout),
               duration(&Config::idle_timeout, std::chrono::milliseconds(10))});
  s.push_back({"shutdown-timeout", "STEPD_SHUTDOWN_TIMEOUT", "DURATION",
               "On SIGTERM/SIGINT, how long requests in flight may take to finish",
               ms_text(d.shutdown_timeout),
               duration(&Config::shutdown_timeout, std::chrono::milliseconds(0))});
  s.push_back({"log-level", "STEPD_LOG_LEVEL", "LEVEL",
               "trace, debug, info (one line per request), warn, error or off", d.log_level,
               [](Config& c, const std::string& v) -> std::string {
                 static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
                 for (const char* l : kLevels) {
                   if (v == l) {
                     c.log_level = v;
                     return "";
                   }
                 }
                 return "expected trace, debug, info, warn, error or off, got '" + v + "'";
               }});
  return s;
}

// "HOST:PORT" or "[V6]:PORT".
std::string parse_listen(Config& c) {
  const std::string& l = c.listen;
  std::string host, port;
  if (!l.empty() && l.front() == '[') {
    const auto close = l.find(']');
    if (close == std::string::npos || close + 1 >= l.size() || l[close + 1] != ':') {
      return "expected HOST:PORT or [IPv6]:PORT, got '" + l + "'";
    }
    host = l.substr(1, close - 1);
    port = l.substr(close + 2);
  } else {
    const auto colon = l.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return "expected HOST:PORT (e.g. 127.0.0.1:8080), got '" + l + "'";
    }
    host = l.substr(0, colon);
    port = l.substr(colon + 1);
  }
  const auto p = parse_integer(port);
  if (!p || *p < 0 || *p > 65535) return "the port must be from 0 to 65535, got '" + port + "'";
  unsigned char buf[16];
  if (host != "localhost" && inet_pton(AF_INET, host.c_str(), buf) != 1 &&
      inet_pton(AF_INET6, host.c_str(), buf) != 1) {
    return "the host must be an IP address or localhost, got '" + host + "'";
  }
  c.host = host;
  c.port = static_cast<unsigned short>(*p);
  return "";
}

const char* kFooter =
    "Each setting is taken from its flag, else its environment variable, else the --config "
    "file (a JSON object keyed by flag names without dashes, e.g. {\"store\": \"...\", "
    "\"handler-threads\": 16}), else its default.\n"
    "Durations: seconds (30, 0.5) or with a unit (500ms, 30s, 2m). Sizes: bytes or with a "
    "unit (64KiB, 1MiB).\n"
    "Endpoints: POST / with X-Amz-Target (AWS Step Functions protocol), /v1/... (REST), "
    "/metrics, /healthz, /readyz. SIGTERM or SIGINT stops gracefully. See docs/server.md.";

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return buf[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    for (int i = 0; i < 15; ++i) {
      if (buf[i] != 0) return false;
    }
    return buf[15] == 1;
  }
  return false;
}

ParsedConfig parse_config(const std::vector<std::string>& args, const EnvLookup& env) {
  ParsedConfig result;
  const std::vector<Setting> table = settings();

  CLI::App app{
      "stepd: the Stepd workflow server (Amazon States Language state machines, run "
      "durably; AWS Step Functions API and a REST API)",
      "stepd"};
  app.footer(kFooter);
  app.get_formatter()->column_width(34);
  bool version = false;
  app.add_flag("--version", version, "Print the version and exit");
  std::string config_flag;
  app.add_option("--config", config_flag,
                 "JSON file of settings (keys: the flag names below) [env: STEPD_CONFIG]")
      ->type_name("FILE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::map<std::string, std::string> flags;
  for (const Setting& s : table) {
    app.add_option("--" + s.flag, flags[s.flag],
                   s.help + " [env: " + s.env + "] [default: " + s.default_text + "]")
        ->type_name(s.placeholder)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }

  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  if (argv.empty()) argv.push_back("stepd");
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    result.out = app.help();
    return result;
  } catch (const CLI::ParseError& e) {
    result.exit_code = 2;
    result.err = std::string("stepd: ") + e.what() + "\nRun 'stepd --help' for the settings.\n";
    return result;
  }
  if (version) {
    result.out = std::string("stepd ") + kStepdVersion + "\n";
    return result;
  }

  auto fail = [&](const std::string& message) {
    result.run = false;
    result.exit_code = 2;
    result.err = "stepd: " + message + "\n";
    return result;
  };

  Config config;
  // The file.
  config.config_file = app.count("--config") > 0 ? config_flag : env("STEPD_CONFIG").value_or("");
  if (!config.config_file.empty()) {
    std::ifstream in(config.config_file, std::ios::binary);
    if (!in) return fail("cannot read the config file " + config.config_file);
    std::ostringstream buf;
    buf << in.rdbuf();
    const nlohmann::json doc = nlohmann::json::parse(buf.str(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return fail("config file " + config.config_file + ": must be a JSON object");
    }
    for (const auto& [key, value] : doc.items()) {
      const auto it =
          std::find_if(table.begin(), table.end(), [&](const Setting& s) { return s.flag == key; });
      if (it == table.end()) {
        return fail("config file " + config.config_file + ": unknown setting \"" + key + "\"");
      }
      std::string text;
      if (value.is_string()) {
        text = value.get<std::string>();
      } else if (value.is_number() || value.is_boolean()) {
        text = value.dump();
      } else {
        return fail("config file " + config.config_file + ": \"" + key +
                    "\" must be a string or a number");
      }
      if (std::string why = it->apply(config, text); !why.empty()) {
        return fail("--" + key + ": " + why + " (from " + config.config_file + ")");
      }
    }
  }
  // The environment, then the flags.
  for (const Setting& s : table) {
    if (auto v = env(s.env)) {
      if (std::string why = s.apply(config, *v); !why.empty()) {
        return fail("--" + s.flag + ": " + why + " (from " + s.env + ")");
      }
    }
  }
  for (const Setting& s : table) {
    if (app.count("--" + s.flag) == 0) continue;
    if (std::string why = s.apply(config, flags[s.flag]); !why.empty()) {
      return fail("--" + s.flag + ": " + why);
    }
  }

  // Checks across settings.
  if (std::string why = parse_listen(config); !why.empty()) return fail("--listen: " + why);
  if (config.node_id.empty()) config.node_id = default_node_id();
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return fail("--tls-cert and --tls-key go together: give both or neither");
  }
  if (config.api_keys_file.empty() && !is_loopback_host(config.host)) {
    return fail("refusing to listen on " + config.listen +
                " without authentication: anyone who can reach that address could run and stop "
                "workflows. Give --api-keys-file (STEPD_API_KEYS_FILE), or listen on a loopback "
                "address such as 127.0.0.1");
  }
  result.run = true;
  result.config = std::move(config);
  return result;
}

}  // namespace stepd::server
