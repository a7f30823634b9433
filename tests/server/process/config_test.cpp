// Configuration: flags over environment over file over defaults, and the checks across settings.
#include "server/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

namespace stepd::server {
namespace {

using namespace std::chrono_literals;

struct ConfigTest : ::testing::Test {
  ParsedConfig parse(std::vector<std::string> args) {
    args.insert(args.begin(), "stepd");
    return parse_config(args, [this](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    });
  }
  std::string write_file(const std::string& text) {
    path = std::filesystem::temp_directory_path() /
           ("stepd-config-test-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path) << text;
    return path.string();
  }
  void TearDown() override {
    if (!path.empty()) std::filesystem::remove(path);
  }
  std::map<std::string, std::string> env;
  std::filesystem::path path;
};

TEST_F(ConfigTest, Defaults) {
  ParsedConfig p = parse({});
  ASSERT_TRUE(p.run) << p.err;
  const Config& c = p.config;
  EXPECT_EQ(c.store, "sqlite:stepd.db");
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.region, "local");
  EXPECT_EQ(c.account, "000000000000");
  EXPECT_TRUE(c.node_id.ends_with("-" + std::to_string(::getpid()))) << c.node_id;
  EXPECT_EQ(c.partitions, 16);
  EXPECT_EQ(c.lease_ttl, 10s);
  EXPECT_EQ(c.handler_threads, 8);
  EXPECT_EQ(c.io_threads, 0);
  EXPECT_EQ(c.max_body_bytes, 1024u * 1024u + 64u * 1024u);
  EXPECT_EQ(c.max_header_bytes, 16u * 1024u);
  EXPECT_EQ(c.max_connections, 1024);
  EXPECT_EQ(c.read_timeout, 30s);
  EXPECT_EQ(c.idle_timeout, 60s);
  EXPECT_EQ(c.shutdown_timeout, 10s);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.api_keys_file, "");
}

TEST_F(ConfigTest, FlagOverEnvironmentOverFileOverDefault) {
  const std::string file = write_file(R"({"region": "file-region", "account": "111111111111",
      "node-id": "file-node", "partitions": 3, "read-timeout": "2s", "max-body-bytes": "64KiB"})");
  env = {{"STEPD_ACCOUNT", "222222222222"},
         {"STEPD_NODE_ID", "env-node"},
         {"STEPD_IDLE_TIMEOUT", "500ms"}};
  ParsedConfig p = parse({"--config", file, "--node-id", "flag-node"});
  ASSERT_TRUE(p.run) << p.err;
  EXPECT_EQ(p.config.config_file, file);
  EXPECT_EQ(p.config.region, "file-region");    // file only
  EXPECT_EQ(p.config.account, "222222222222");  // env over file
  EXPECT_EQ(p.config.node_id, "flag-node");     // flag over env over file
  EXPECT_EQ(p.config.partitions, 3);
  EXPECT_EQ(p.config.read_timeout, 2s);
  EXPECT_EQ(p.config.idle_timeout, 500ms);
  EXPECT_EQ(p.config.max_body_bytes, 64u * 1024u);
  EXPECT_EQ(p.config.store, "sqlite:stepd.db");  // default

  // The file can also come from STEPD_CONFIG.
  env = {{"STEPD_CONFIG", file}};
  p = parse({});
  ASSERT_TRUE(p.run) << p.err;
  EXPECT_EQ(p.config.region, "file-region");
}

TEST_F(ConfigTest, Units) {
  ParsedConfig p =
      parse({"--read-timeout", "0.25", "--idle-timeout", "2m", "--shutdown-timeout", "1500ms",
             "--max-header-bytes", "32K", "--max-body-bytes", "2MiB", "--lease-ttl", "3s"});
  ASSERT_TRUE(p.run) << p.err;
  EXPECT_EQ(p.config.read_timeout, 250ms);
  EXPECT_EQ(p.config.idle_timeout, 120s);
  EXPECT_EQ(p.config.shutdown_timeout, 1500ms);
  EXPECT_EQ(p.config.max_header_bytes, 32u * 1024u);
  EXPECT_EQ(p.config.max_body_bytes, 2u * 1024u * 1024u);
  EXPECT_EQ(p.config.lease_ttl, 3s);
}

TEST_F(ConfigTest, ErrorsNameTheSettingAndItsSource) {
  ParsedConfig p = parse({"--partitions", "x"});
  EXPECT_FALSE(p.run);
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_EQ(p.err, "stepd: --partitions: expected an integer from 1 to 65536, got 'x'\n");
  env = {{"STEPD_HANDLER_THREADS", "0"}};
  p = parse({});
  EXPECT_EQ(p.err,
            "stepd: --handler-threads: expected an integer from 1 to 1024, got '0' (from "
            "STEPD_HANDLER_THREADS)\n");
  env.clear();
  const std::string file = write_file(R"({"colour": "red"})");
  p = parse({"--config", file});
  EXPECT_EQ(p.err, "stepd: config file " + file + ": unknown setting \"colour\"\n");
  write_file(R"({"read-timeout": "soon"})");
  p = parse({"--config", file});
  EXPECT_EQ(p.err,
            "stepd: --read-timeout: expected a duration of at least 10ms (e.g. 30, 0.5, 500ms, "
            "30s, 2m), got 'soon' (from " +
                file + ")\n");
  p = parse({"--config", "/nonexistent/stepd.json"});
  EXPECT_EQ(p.err, "stepd: cannot read the config file /nonexistent/stepd.json\n");
  p = parse({"--listen", "8080"});
  EXPECT_EQ(p.err, "stepd: --listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got '8080'\n");
  p = parse({"--listen", "127.0.0.1:99999"});
  EXPECT_EQ(p.err, "stepd: --listen: the port must be from 0 to 65535, got '99999'\n");
  p = parse({"--listen", "example.com:80"});
  EXPECT_EQ(p.err,
            "stepd: --listen: the host must be an IP address or localhost, got "
            "'example.com'\n");
  p = parse({"--tls-cert", "c.pem"});
  EXPECT_EQ(p.err, "stepd: --tls-cert and --tls-key go together: give both or neither\n");
  p = parse({"--log-level", "loud"});
  EXPECT_EQ(p.err,
            "stepd: --log-level: expected trace, debug, info, warn, error or off, got "
            "'loud'\n");
  p = parse({"--no-such-flag"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("--no-such-flag"), std::string::npos) << p.err;
}

TEST_F(ConfigTest, NonLoopbackNeedsAuthentication) {
  ParsedConfig p = parse({"--listen", "0.0.0.0:8080"});
  EXPECT_FALSE(p.run);
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_EQ(p.err,
            "stepd: refusing to listen on 0.0.0.0:8080 without authentication: anyone who can "
            "reach that address could run and stop workflows. Give --api-keys-file "
            "(STEPD_API_KEYS_FILE), or listen on a loopback address such as 127.0.0.1\n");
  p = parse({"--listen", "0.0.0.0:8080", "--api-keys-file", "/etc/keys.json"});
  EXPECT_TRUE(p.run) << p.err;
  for (const char* loopback : {"127.0.0.1:1", "127.8.9.10:1", "[::1]:8080", "localhost:80"}) {
    p = parse({"--listen", loopback});
    EXPECT_TRUE(p.run) << loopback << ": " << p.err;
  }
  p = parse({"--listen", "[::1]:8081"});
  EXPECT_EQ(p.config.host, "::1");
  EXPECT_EQ(p.config.port, 8081);
  p = parse({"--listen", "[::]:8080"});
  EXPECT_FALSE(p.run);
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("::"));
}

TEST_F(ConfigTest, HelpAndVersion) {
  ParsedConfig p = parse({"--version"});
  EXPECT_FALSE(p.run);
  EXPECT_EQ(p.exit_code, 0);
  EXPECT_EQ(p.out, std::string("stepd ") + kStepdVersion + "\n");
  p = parse({"--help"});
  EXPECT_FALSE(p.run);
  EXPECT_EQ(p.exit_code, 0);
  for (const char* text :
       {"--store URL", "[env: STEPD_STORE]", "[default: sqlite:stepd.db]", "[env: STEPD_LISTEN]",
        "[default: 127.0.0.1:8080]", "[env: STEPD_REGION]", "[env: STEPD_ACCOUNT]",
        "[env: STEPD_API_KEYS_FILE]", "[env: STEPD_NODE_ID]", "[env: STEPD_LOG_LEVEL]",
        "[env: STEPD_TLS_CERT]", "[env: STEPD_TLS_KEY]", "[env: STEPD_CONFIG]",
        "[env: STEPD_PARTITIONS]", "[env: STEPD_LEASE_TTL]", "[env: STEPD_HANDLER_THREADS]",
        "[env: STEPD_MAX_BODY_BYTES]", "[env: STEPD_MAX_CONNECTIONS]", "--version"}) {
    EXPECT_NE(p.out.find(text), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace stepd::server
