// Runs the built stepctl binary (STEPCTL_PATH) on temporary files and checks what it prints and
// its exit codes.
#include "asl/core/json.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace stepd::cli {
namespace {

using asl::Json;
using testing::HasSubstr;
namespace fs = std::filesystem;

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q.push_back(c);
    }
  }
  return q + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class StepctlTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("stepctl_test_" + std::to_string(::getpid()) + "_" +
                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  Outcome stepctl(const std::vector<std::string>& args) {
    std::string cmd = quote(STEPCTL_PATH);
    for (const auto& a : args) cmd += " " + quote(a);
    fs::path out = dir_ / "stdout.txt";
    fs::path err = dir_ / "stderr.txt";
    cmd += " >" + quote(out.string()) + " 2>" + quote(err.string()) + " </dev/null";
    int status = std::system(cmd.c_str());
    Outcome r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  fs::path dir_;
};

constexpr const char* kValid = R"({"StartAt":"A","States":{
    "A":{"Type":"Pass","Result":{"x":1},"ResultPath":"$.a","Next":"B"},
    "B":{"Type":"Succeed"}}})";

constexpr const char* kInvalid = R"({"StartAt":"A","States":{
    "A":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"B"}],
         "Default":"Nowhere"},
    "B":{"Type":"Succeed"}}})";

constexpr const char* kFailing = R"({"StartAt":"F","States":{
    "F":{"Type":"Fail","Error":"Order.Rejected","Cause":"out of stock"}}})";

// --- validate ------------------------------------------------------------------------------------

TEST_F(StepctlTest, ValidatePrintsValid) {
  Outcome r = stepctl({"validate", write("m.json", kValid)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "valid\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(StepctlTest, ValidatePrintsEveryProblem) {
  Outcome r = stepctl({"validate", write("m.json", kInvalid)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out,
            "/States/A/Default: there is no state named 'Nowhere' [MISSING_TRANSITION_TARGET]\n");
}

TEST_F(StepctlTest, ValidateJson) {
  Outcome r = stepctl({"validate", "--json", write("m.json", kInvalid)});
  EXPECT_EQ(r.exit_code, 1);
  Json out = Json::parse(r.out);
  EXPECT_EQ(out, Json::parse(R"({"valid":false,"errors":[{"pointer":"/States/A/Default",
      "code":"MISSING_TRANSITION_TARGET","message":"there is no state named 'Nowhere'"}],
      "warnings":[]})"));
  Outcome ok = stepctl({"validate", "--json", write("ok.json", kValid)});
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(Json::parse(ok.out), Json::parse(R"({"valid":true,"errors":[],"warnings":[]})"));
}

TEST_F(StepctlTest, ValidateReportsJsonSyntaxErrors) {
  Outcome r = stepctl({"validate", write("m.json", "{\"StartAt\": ")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("[INVALID_JSON]"));
}

TEST_F(StepctlTest, ValidateStrictTurnsUnsupportedResourcesIntoErrors) {
  std::string file = write("m.json", R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:states:::dynamodb:putItem","End":true}}})");
  Outcome lenient = stepctl({"validate", file});
  EXPECT_EQ(lenient.exit_code, 0);
  EXPECT_THAT(lenient.out, HasSubstr("warning: /States/T/Resource: "));
  EXPECT_THAT(lenient.out, HasSubstr("[UNSUPPORTED_RESOURCE]\nvalid\n"));
  Outcome strict = stepctl({"validate", "--strict", file});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_THAT(strict.out, testing::StartsWith("/States/T/Resource: "));
  EXPECT_THAT(strict.out, HasSubstr("[UNSUPPORTED_RESOURCE]\n"));
  Outcome json = stepctl({"validate", "--json", file});
  Json out = Json::parse(json.out);
  EXPECT_EQ(out["valid"], true);
  ASSERT_EQ(out["warnings"].size(), 1u);
  EXPECT_EQ(out["warnings"][0]["code"], "UNSUPPORTED_RESOURCE");
}

TEST_F(StepctlTest, ValidateUnreadableFileIsAUsageError) {
  Outcome r = stepctl({"validate", (dir_ / "missing.json").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "stepctl: cannot read '" + (dir_ / "missing.json").string() +
                       "': No such file or directory\n");
}

TEST_F(StepctlTest, ValidateWithoutFileIsAUsageError) {
  Outcome r = stepctl({"validate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("FILE is required"));
}

// --- run-local -----------------------------------------------------------------------------------

TEST_F(StepctlTest, RunLocalJsonSucceeded) {
  Outcome r =
      stepctl({"run-local", write("m.json", kValid), "--input", R"({"in":true})", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Exactly one JSON object on one line.
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1);
  EXPECT_EQ(Json::parse(r.out),
            Json::parse(R"({"status":"SUCCEEDED","output":{"in":true,"a":{"x":1}}})"));
}

TEST_F(StepctlTest, RunLocalJsonFailed) {
  Outcome r = stepctl({"run-local", write("m.json", kFailing), "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Json::parse(r.out), Json::parse(R"({"status":"FAILED","error":"Order.Rejected",
      "cause":"out of stock"})"));
}

TEST_F(StepctlTest, RunLocalReadableOutput) {
  Outcome ok = stepctl({"run-local", write("m.json", kValid)});
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.out, "Status: SUCCEEDED\nOutput: {\n  \"a\": {\n    \"x\": 1\n  }\n}\n");
  Outcome failed = stepctl({"run-local", write("f.json", kFailing)});
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_EQ(failed.out, "Status: FAILED\nError: Order.Rejected\nCause: out of stock\n");
}

TEST_F(StepctlTest, RunLocalInputFile) {
  std::string input = write("input.json", R"({"from":"file"})");
  Outcome r = stepctl({"run-local", write("m.json", kValid), "--input-file", input, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["output"]["from"], "file");
}

TEST_F(StepctlTest, RunLocalVirtualTimeDoesNotSleep) {
  std::string file = write("m.json", R"({"StartAt":"W","States":{
      "W":{"Type":"Wait","Seconds":86400,"End":true}}})");
  Outcome r = stepctl({"run-local", file, "--virtual-time", "--json", "--input", "[1]"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out), Json::parse(R"({"status":"SUCCEEDED","output":[1]})"));
}

TEST_F(StepctlTest, RunLocalBadInputIsAUsageError) {
  Outcome r = stepctl({"run-local", write("m.json", kValid), "--input", "{\"a\":"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, testing::StartsWith("stepctl: --input is not valid JSON: parse error at "
                                         "line 1, column 6"));
}

TEST_F(StepctlTest, RunLocalBadInputFileIsAUsageError) {
  Outcome missing = stepctl(
      {"run-local", write("m.json", kValid), "--input-file", (dir_ / "nope.json").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("cannot read '"));
  Outcome garbage = stepctl(
      {"run-local", write("m2.json", kValid), "--input-file", write("in.json", "not json")});
  EXPECT_EQ(garbage.exit_code, 2);
  EXPECT_THAT(garbage.err, HasSubstr("stepctl: the input file '" + (dir_ / "in.json").string() +
                                     "' is not valid JSON: "));
}

TEST_F(StepctlTest, RunLocalInputAndInputFileExcludeEachOther) {
  Outcome r = stepctl({"run-local", write("m.json", kValid), "--input", "{}", "--input-file",
                       write("in.json", "{}")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("excludes"));
}

TEST_F(StepctlTest, RunLocalInvalidDefinition) {
  std::string file = write("m.json", kInvalid);
  Outcome r = stepctl({"run-local", file, "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "stepctl: " + file +
                       " is not a valid state machine definition:\n  /States/A/Default: there is "
                       "no state named 'Nowhere' [MISSING_TRANSITION_TARGET]\n");
}

TEST_F(StepctlTest, RunLocalBadFunctionOption) {
  Outcome r = stepctl({"run-local", write("m.json", kValid), "--function", "nourl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "stepctl: --function 'nourl' must be NAME=URL (e.g. --function "
            "orders=http://127.0.0.1:9000/invoke)\n");
}

TEST_F(StepctlTest, RunLocalTaskWithoutFunction) {
  std::string file = write("m.json", R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:orders","End":true}}})");
  Outcome r = stepctl({"run-local", file, "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Json::parse(r.out), (Json{{"status", "FAILED"},
                                      {"error", "Lambda.ResourceNotFoundException"},
                                      {"cause",
                                       "No URL is registered for the Lambda function "
                                       "'orders' (register one with --function "
                                       "orders=URL)"}}));
}

TEST_F(StepctlTest, RunLocalTimedOut) {
  std::string file = write("m.json", R"({"TimeoutSeconds":2,"StartAt":"W","States":{
      "W":{"Type":"Wait","Seconds":60,"End":true}}})");
  Outcome r = stepctl({"run-local", file, "--virtual-time", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Json::parse(r.out), Json::parse(R"({"status":"TIMED_OUT","error":"States.Timeout"})"));
}

TEST_F(StepctlTest, RunLocalHistory) {
  Outcome r = stepctl({"run-local", write("m.json", kValid), "--json", "--history"});
  EXPECT_EQ(r.exit_code, 0);
  Json out = Json::parse(r.out);
  ASSERT_EQ(out["history"].size(), 6u);
  EXPECT_EQ(out["history"][0]["type"], "ExecutionStarted");
  EXPECT_EQ(out["history"][5]["type"], "ExecutionSucceeded");
}

TEST_F(StepctlTest, HelpDocumentsExitCodes) {
  Outcome r = stepctl({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("Exit codes:\n  0  success"));
  EXPECT_THAT(r.out, HasSubstr("  2  usage error"));
}

TEST_F(StepctlTest, UnknownCommandIsAUsageError) {
  Outcome r = stepctl({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  Outcome none = stepctl({});
  EXPECT_EQ(none.exit_code, 2);
}

}  // namespace
}  // namespace stepd::cli
