// Runs the recorded AWS conformance cases that are a single Pass state with Parameters (most
// intrinsic-function cases) through PayloadTemplate alone, comparing with AWS's output.
#include "asl/core/error.hpp"
#include "asl/expr/payload.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace stepd::asl {
namespace {

TEST(ExprConformance, SinglePassParametersCasesMatchAws) {
  std::ifstream in(std::string(STEPD_SHARED_DIR) + "/conformance/dev-cases.jsonl");
  ASSERT_TRUE(in) << "missing " << STEPD_SHARED_DIR << "/conformance/dev-cases.jsonl";
  const Json context = Json::parse(R"({
    "Execution": {"Id": "arn:aws:states:us-east-1:111111111111:execution:sm:exec",
                  "Name": "exec"},
    "StateMachine": {"Id": "arn:aws:states:us-east-1:111111111111:stateMachine:sm",
                     "Name": "sm"}
  })");
  int ran = 0;
  std::string line;
  while (std::getline(in, line)) {
    Json c = Json::parse(line);
    const Json& def = c["definition"];
    if (def.value("QueryLanguage", "JSONPath") != "JSONPath" || def["States"].size() != 1) continue;
    const Json& state = def["States"].begin().value();
    if (state.value("Type", "") != "Pass" || !state.contains("Parameters")) continue;
    bool plain = true;
    for (const auto& [key, _] : state.items()) {
      if (key != "Type" && key != "Parameters" && key != "End" && key != "Comment") plain = false;
    }
    // Cases compared with placeholders (ARNs, generated UUIDs) are covered elsewhere.
    if (!plain || !c["compare"].value("placeholders", Json::array()).empty()) continue;
    SCOPED_TRACE(c["id"].get<std::string>());
    Diagnostics diags;
    PayloadTemplate t =
        PayloadTemplate::compile(state["Parameters"], "/Parameters", "Parameters", diags);
    ASSERT_TRUE(t.ok());
    const Json& input = c["input"];
    SplitMixRandom random(1);
    EvalContext ctx{&input, &context, nullptr, &random};
    const Json& expected = c["expected"];
    if (expected["status"] == "SUCCEEDED") {
      EXPECT_EQ(t.evaluate(ctx), expected["output"]);
    } else {
      try {
        t.evaluate(ctx);
        ADD_FAILURE() << "expected a failure";
      } catch (const StatesException& e) {
        EXPECT_EQ(e.error().error, expected.value("error", ""));
      }
    }
    ++ran;
  }
  EXPECT_GE(ran, 45);
}

}  // namespace
}  // namespace stepd::asl
