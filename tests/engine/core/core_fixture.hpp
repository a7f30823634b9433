// A fixture for ExecutionCore tests: loads a definition, starts a core on a fixed clock with
// numbered tokens and a seeded random source, and applies each step's write to AppliedRecords
// the way a store would (so a test can also restore a core from what was committed).
#pragma once

#include "engine/core/execution_core.hpp"

#include "asl/definition.hpp"
#include "applied_records.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace stepd::engine {

inline constexpr Micros kT0 = 1'700'000'000'000'000;  // a fixed start time
inline constexpr Micros kSecond = 1'000'000;

class CoreFixture : public ::testing::Test {
 protected:
  // Executions run as `e1` of the state machine `machine_name`.
  explicit CoreFixture(std::string machine_name) : machine_name_(std::move(machine_name)) {}

  void load(const std::string& definition) {
    asl::LoadResult r = asl::load_definition(std::string_view(definition));
    ASSERT_TRUE(r.ok()) << asl::to_string(r.diagnostics.at(0));
    machine_ = r.machine;
  }
  ExecutionRecord record(const std::string& input) const {
    ExecutionRecord rec;
    rec.arn = "arn:aws:states:local:000000000000:execution:" + machine_name_ + ":e1";
    rec.machine_arn = "arn:aws:states:local:000000000000:stateMachine:" + machine_name_;
    rec.name = "e1";
    rec.type = "STANDARD";
    rec.status = "RUNNING";
    rec.input = input;
    rec.start = kT0;
    return rec;
  }
  ExecutionCore::TokenFactory tokens() {
    return [this] { return "tok" + std::to_string(++token_seq_); };
  }
  std::unique_ptr<ExecutionCore> start(const std::string& input) {
    return ExecutionCore::start(machine_, record(input), kT0, tokens(), &random_);
  }
  // Takes the output and applies it to `applied_`.
  StepOutput take(ExecutionCore& core) {
    StepOutput out = core.take_output();
    applied_.apply(out.write);
    return out;
  }
  // The types of the events committed so far, from the `from`th on.
  std::vector<std::string> event_types(std::size_t from = 0) const {
    std::vector<std::string> out;
    for (std::size_t i = from; i < applied_.events.size(); ++i) {
      out.push_back(applied_.events[i].type);
    }
    return out;
  }
  static asl::Json j(const std::string& text) { return asl::Json::parse(text); }

  std::string machine_name_;
  std::shared_ptr<const asl::Machine> machine_;
  asl::SplitMixRandom random_{7};
  int token_seq_ = 0;
  AppliedRecords applied_;
};

}  // namespace stepd::engine
