// A test fixture for the Dispatcher tests: a real Engine on a SQLite file, with its Registry and
// its Dispatcher as the engine's task transport, and the few calls every such test makes.
#pragma once

#include "engine/dispatch/dispatcher.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace stepd::engine::dispatch_testing {

// The activity the test machines call.
inline constexpr const char* kActivity = "arn:aws:states:local:000000000000:activity:work";

// A machine of one Task state "Work" that calls kActivity; `extra` is spliced into the state
// (",\"HeartbeatSeconds\":1").
inline std::string activity_machine(const std::string& extra = "") {
  return R"({"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":")" +
         std::string(kActivity) + R"(")" + extra + R"(,"End":true}}})";
}

// SetUp names a SQLite file after the running test (nothing is open yet: the test's SetUp calls
// open()); the file outlives close() and open() within a test and is removed by TearDown.
class SqliteEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("stepd-" + std::string(info->test_suite_name()) + "-" + std::to_string(::getpid()) +
             "-" + info->name() + ".db");
    std::filesystem::remove(path_);
  }

  void TearDown() override {
    close();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix);
    }
  }

  // Opens the file and starts an engine with `options` and its dispatcher.
  void open(const EngineOptions& options) {
    auto store = open_store("sqlite:" + path_.string());
    ASSERT_TRUE(store.ok());
    engine_ = std::make_unique<Engine>(std::move(*store), options);
    ASSERT_TRUE(engine_->start().ok());
    registry_ = std::make_unique<Registry>(engine_->store());
    dispatcher_ = std::make_unique<Dispatcher>(*engine_, *registry_);
    engine_->set_task_transport(dispatcher_.get());
  }

  // Shuts the dispatcher and the engine down (what they deferred is written) and frees them;
  // nothing when not open.
  void close() {
    if (!engine_) return;
    dispatcher_->shutdown();
    engine_->shutdown();
    engine_->set_task_transport(nullptr);
    dispatcher_.reset();
    registry_.reset();
    engine_.reset();
  }

  // Creates machine `name`; its ARN, or "" with a test failure when the engine refuses it.
  std::string machine(const std::string& name, const std::string& definition) {
    CreateMachineRequest r;
    r.name = name;
    r.definition = definition;
    return arn_or_failure<StateMachineRecord>(engine_->create_state_machine(r));
  }

  // Starts an execution of `machine_arn` (named `name`, "" for a generated name); its ARN, or ""
  // with a test failure when the engine refuses it.
  std::string start(const std::string& machine_arn, const std::string& input,
                    const std::string& name = "") {
    StartRequest r;
    r.machine_arn = machine_arn;
    r.input = input;
    r.name = name;
    return arn_or_failure<ExecutionRecord>(engine_->start_execution(r));
  }

  // The execution's history, oldest first (up to 1000 events); empty with a test failure when
  // it cannot be read.
  std::vector<HistoryEvent> history(const std::string& arn) {
    PageRequest page;
    page.max_results = 1000;
    auto h = engine_->get_history(arn, page, false);
    EXPECT_TRUE(std::holds_alternative<Page<HistoryEvent>>(h));
    if (!std::holds_alternative<Page<HistoryEvent>>(h)) return {};
    return std::get<Page<HistoryEvent>>(h).items;
  }

  std::filesystem::path path_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<Dispatcher> dispatcher_;

 private:
  // The arn of the Record an engine call returned, or "" with a test failure for its ApiError.
  template <class Record, class Answer>
  static std::string arn_or_failure(const Answer& answer) {
    if (auto* e = std::get_if<ApiError>(&answer)) {
      ADD_FAILURE() << e->type << ": " << e->message;
      return "";
    }
    return std::get<Record>(answer).arn;
  }
};

}  // namespace stepd::engine::dispatch_testing
