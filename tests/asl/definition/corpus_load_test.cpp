// Every non-JSONata conformance case and every benchmark machine loads without errors.
#include "asl/definition.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace stepd::asl {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool uses_jsonata(const Json& node) {
  if (node.is_object()) {
    auto it = node.find("QueryLanguage");
    if (it != node.end() && *it == "JSONata") return true;
    for (const auto& [key, value] : node.items()) {
      if (uses_jsonata(value)) return true;
    }
  } else if (node.is_array()) {
    for (const auto& value : node) {
      if (uses_jsonata(value)) return true;
    }
  }
  return false;
}

std::string describe(const LoadResult& result) {
  std::string out;
  for (const Diagnostic& d : result.diagnostics) out += "  " + d.code + " " + to_string(d) + "\n";
  return out;
}

TEST(CorpusLoad, EveryNonJsonataConformanceCaseLoads) {
  fs::path file = fs::path(STEPD_SHARED_DIR) / "conformance" / "dev-cases.jsonl";
  if (!fs::exists(file)) GTEST_SKIP() << "no conformance cases at " << file;
  std::ifstream in(file);
  std::string line;
  int loaded = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json c = Json::parse(line);
    const Json& features = c.at("features");
    if (std::find(features.begin(), features.end(), "jsonata") != features.end()) continue;
    if (uses_jsonata(c.at("definition"))) continue;
    // As the server receives it: text.
    LoadResult result = load_definition(c.at("definition").dump());
    EXPECT_TRUE(result.ok()) << c.at("id").get<std::string>() << "\n" << describe(result);
    for (const Diagnostic& d : result.diagnostics) {
      EXPECT_EQ(d.severity, Severity::Warning) << c.at("id") << ": " << to_string(d);
    }
    ++loaded;
  }
  EXPECT_GT(loaded, 200);
}

TEST(CorpusLoad, JsonataConformanceCasesAreRejectedAsUnsupported) {
  fs::path file = fs::path(STEPD_SHARED_DIR) / "conformance" / "dev-cases.jsonl";
  if (!fs::exists(file)) GTEST_SKIP() << "no conformance cases at " << file;
  std::ifstream in(file);
  std::string line;
  int rejected = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json c = Json::parse(line);
    if (!uses_jsonata(c.at("definition"))) continue;
    LoadResult result = load_definition(c.at("definition"));
    EXPECT_FALSE(result.ok()) << c.at("id");
    for (const Diagnostic& d : result.diagnostics) {
      if (d.severity == Severity::Error) {
        EXPECT_EQ(d.code, "UNSUPPORTED_QUERY_LANGUAGE") << c.at("id") << ": " << to_string(d);
      }
    }
    ++rejected;
  }
  EXPECT_GT(rejected, 0);
}

TEST(CorpusLoad, BenchmarkMachinesLoad) {
  fs::path dir = fs::path(STEPD_SHARED_DIR) / "bench" / "machines";
  if (!fs::exists(dir)) GTEST_SKIP() << "no benchmark machines at " << dir;
  int loaded = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.size() < 9 || name.substr(name.size() - 9) != ".asl.json") continue;
    LoadResult result = load_definition(read_file(entry.path()));
    EXPECT_TRUE(result.ok()) << name << "\n" << describe(result);
    EXPECT_TRUE(result.diagnostics.empty()) << name << "\n" << describe(result);
    ++loaded;
  }
  EXPECT_EQ(loaded, 4);
}

}  // namespace
}  // namespace stepd::asl
