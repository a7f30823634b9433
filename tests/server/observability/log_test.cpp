#include "server/observability/log.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace stepd::server::log {
namespace {

// Runs `fn` with stdout going to a file; returns what was written.
template <typename Fn>
std::string capture_stdout(Fn fn) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("stepd-log-test-" + std::to_string(::getpid()) + ".txt"))
                               .string();
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(fd, STDOUT_FILENO);
  ::close(fd);
  fn();
  std::fflush(stdout);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::filesystem::remove(path);
  return s.str();
}

std::vector<nlohmann::json> lines_of(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    out.push_back(nlohmann::json::parse(line));  // every line is one JSON object
  }
  return out;
}

TEST(LogTest, OneJsonObjectPerLineWithFieldsAndLevels) {
  const std::string text = capture_stdout([] {
    setup(Level::Info);
    info("request", {{"request_id", "r-1"},
                     {"status", 200},
                     {"duration_ms", 1.5},
                     {"tls", false},
                     {"empty", ""},
                     {"path", "/a\"b\n"}});
    debug("not shown");
    warn("careful");
    spdlog::error("from spdlog {}", 42);  // code that logs through spdlog directly
    set_level(Level::Debug);
    debug("shown now");
  });
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 4u) << text;
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["msg"], "request");
  EXPECT_EQ(lines[0]["request_id"], "r-1");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["duration_ms"], 1.5);
  EXPECT_EQ(lines[0]["tls"], false);
  EXPECT_FALSE(lines[0].contains("empty"));
  EXPECT_EQ(lines[0]["path"], "/a\"b\n");
  // "2024-05-01T12:00:00.123Z"
  const std::string time = lines[0]["time"];
  EXPECT_EQ(time.size(), 24u) << time;
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time.back(), 'Z');
  EXPECT_EQ(lines[1]["level"], "warn");
  EXPECT_EQ(lines[1]["msg"], "careful");
  EXPECT_EQ(lines[2]["level"], "error");
  EXPECT_EQ(lines[2]["msg"], "from spdlog 42");
  EXPECT_EQ(lines[3]["level"], "debug");
  EXPECT_EQ(lines[3]["msg"], "shown now");
  // Field order is kept: time, level, msg first.
  EXPECT_EQ(text.rfind("{\"time\":\"", 0), 0u);
  EXPECT_NE(text.find("\"level\":\"info\",\"msg\":\"request\",\"request_id\":\"r-1\""),
            std::string::npos);
}

TEST(LogTest, AlwaysLinesIgnoreTheLevelButNotOff) {
  const std::string text = capture_stdout([] {
    setup(Level::Error);
    info("hidden");
    always("listening", {{"port", 8080}});
    set_level(Level::Off);
    always("not even this");
  });
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 1u) << text;
  EXPECT_EQ(lines[0]["msg"], "listening");
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["port"], 8080);
}

TEST(LogTest, InvalidUtf8IsReplacedNotDropped) {
  EXPECT_EQ(json_quote("a\xff"
                       "b"),
            "\"a\xef\xbf\xbd"
            "b\"");
}

TEST(LogTest, Levels) {
  Level l = Level::Off;
  EXPECT_TRUE(parse_level("debug", l));
  EXPECT_EQ(l, Level::Debug);
  EXPECT_TRUE(parse_level("warn", l));
  EXPECT_EQ(l, Level::Warn);
  EXPECT_FALSE(parse_level("verbose", l));
}

}  // namespace
}  // namespace stepd::server::log
