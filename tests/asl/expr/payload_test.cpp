#include "asl/expr/payload.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "asl/core/error.hpp"
#include "tests/asl/expr/print.hpp"

namespace stepd::asl {
namespace {

const Json kContext = Json::parse(R"J({
  "Execution": {"Id": "arn:aws:states:us-east-1:111111111111:execution:sm:exec", "Name": "exec"},
  "Map": {"Item": {"Value": "Hello", "Index": 0}}
})J");

PayloadTemplate compile_ok(const Json& tmpl, std::string_view field = "Parameters") {
  Diagnostics diags;
  PayloadTemplate t = PayloadTemplate::compile(tmpl, "/States/S/Parameters", field, diags);
  EXPECT_FALSE(diags.has_errors());
  for (const Diagnostic& d : diags.items()) ADD_FAILURE() << to_string(d);
  EXPECT_TRUE(t.ok());
  return t;
}

Json eval(const PayloadTemplate& t, const Json& input, const VariableScope* vars = nullptr) {
  EvalContext ctx;
  ctx.input = &input;
  ctx.context = &kContext;
  ctx.variables = vars;
  return t.evaluate(ctx);
}

StatesError eval_error(const PayloadTemplate& t, const Json& input,
                       const VariableScope* vars = nullptr) {
  try {
    Json out = eval(t, input, vars);
    ADD_FAILURE() << "succeeded with " << out.dump();
  } catch (const StatesException& e) {
    return e.error();
  }
  return {};
}

std::vector<Diagnostic> compile_diags(const Json& tmpl, bool* ok = nullptr) {
  Diagnostics diags;
  PayloadTemplate t = PayloadTemplate::compile(tmpl, "/States/S/Parameters", "Parameters", diags);
  if (ok != nullptr) *ok = t.ok();
  return diags.items();
}

TEST(PayloadTemplate, ConstantTemplateIsCopiedAsWritten) {
  // AWS: without ".$" nothing is a path or a call, however it looks.
  Json tmpl = Json::parse(R"J({
    "constant_null": null, "constant_int": 0, "constant_float": 0.1, "constant_bool": true,
    "constant_str_path": "$.no.such.path", "constant_str_contextpath": "$$.Execution.Id",
    "constant_str_var": "$noSuchVar", "constant_str_intrinsic_func": "States.Format('x {}', $v)",
    "constant_lst": [null, 0, "$.no.such.path", "$$", [], {"constant": 0}],
    "constant_obj": {"in_obj": "$", "empty": {}}
  })J");
  PayloadTemplate t = compile_ok(tmpl);
  EXPECT_TRUE(t.is_constant());
  EXPECT_FALSE(t.uses_context());
  EXPECT_FALSE(t.uses_variables());
  EXPECT_EQ(eval(t, Json::object()), tmpl);
  EXPECT_EQ(eval(compile_ok(Json("scalar")), Json::object()), "scalar");
}

TEST(PayloadTemplate, PathsConstantsAndNesting) {
  PayloadTemplate t = compile_ok(Json::parse(R"J({
    "comment": "Selecting what I care about.",
    "MyDetails": {"size.$": "$.product.details.size", "exists.$": "$.product.availability",
                  "StaticValue": "foo"},
    "all.$": "$",
    "first.$": "$.items[0]"
  })J"));
  EXPECT_FALSE(t.is_constant());
  Json input = Json::parse(
      R"J({"product": {"details": {"size": "small"}, "availability": "in stock"},
                              "items": [{"item_key": 0}, {"item_key": 1}]})J");
  EXPECT_EQ(eval(t, input), Json::parse(R"J({
    "comment": "Selecting what I care about.",
    "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"},
    "all": {"product": {"details": {"size": "small"}, "availability": "in stock"},
            "items": [{"item_key": 0}, {"item_key": 1}]},
    "first": {"item_key": 0}
  })J"));
}

TEST(PayloadTemplate, DollarKeysInsideArraysAreEvaluated) {
  // AWS evaluates "key.$" however deeply nested (e.g. ECS ContainerOverrides lists).
  PayloadTemplate t = compile_ok(Json::parse(R"J({
    "Overrides": [{"Name": "app", "Environment": [{"Name": "FOO", "Value.$": "$.foo"}]}, "$.foo", 3]
  })J"));
  EXPECT_EQ(eval(t, {{"foo", "bar"}}), Json::parse(R"J({
    "Overrides": [{"Name": "app", "Environment": [{"Name": "FOO", "Value": "bar"}]}, "$.foo", 3]
  })J"));
}

TEST(PayloadTemplate, IndefinitePathsGiveArrays) {
  PayloadTemplate t = compile_ok(Json::parse(R"J({"item.$": "$.items[*].itemValue",
                                                "slice.$": "$.item.items[1:5].itemValue"})J"));
  EXPECT_EQ(eval(t, Json::object()), Json::parse(R"J({"item": [], "slice": []})J"));
  EXPECT_EQ(eval(t, Json::parse(R"J({"items": [{"itemValue": 1}, {}, {"itemValue": 3}]})J")),
            Json::parse(R"J({"item": [1, 3], "slice": []})J"));
}

TEST(PayloadTemplate, ContextVariablesAndIntrinsics) {
  PayloadTemplate t = compile_ok(Json::parse(R"J({
    "constantValue": "constant",
    "mapValue.$": "$$.Map.Item.Value",
    "fromInput.$": "$",
    "var.$": "$answer.deep",
    "greeting.$": "States.Format('Hi {} from {}', $.name, $$.Execution.Name)",
    "count.$": "States.MathAdd($counter, 1)"
  })J"));
  EXPECT_TRUE(t.uses_context());
  EXPECT_TRUE(t.uses_variables());
  VariableScope vars;
  vars.set("answer", {{"deep", 42}});
  vars.set("counter", 9);
  EXPECT_EQ(eval(t, {{"name", "Ada"}}, &vars), Json::parse(R"J({
    "constantValue": "constant", "mapValue": "Hello", "fromInput": {"name": "Ada"},
    "var": 42, "greeting": "Hi Ada from exec", "count": 10
  })J"));
}

TEST(PayloadTemplate, VariablesSeenFromAnInnerScope) {
  VariableScope outer;
  outer.set("x", "outer");
  VariableScope inner(&outer);
  inner.set("y", "inner");
  PayloadTemplate t = compile_ok(Json::parse(R"J({"x.$": "$x", "y.$": "$y"})J"), "Assign");
  EXPECT_EQ(eval(t, Json::object(), &inner), Json::parse(R"J({"x": "outer", "y": "inner"})J"));
}

TEST(PayloadTemplate, MissingPathNamesTheFieldAndTheInput) {
  PayloadTemplate t =
      compile_ok(Json::parse(R"J({"ok": 1, "outer": {"JobName.$": "$.JobName"}})J"));
  EXPECT_EQ(eval_error(t, Json::object()), (StatesError{"States.Runtime",
                                                        "The JSONPath '$.JobName' specified for "
                                                        "the field 'JobName.$' could not "
                                                        "be found in the input '{}'"}));
  EXPECT_EQ(eval_error(t, Json::parse(R"J({"a": [1, "x"], "b": {"c": null}})J")),
            (StatesError{"States.Runtime",
                         "The JSONPath '$.JobName' specified for the field 'JobName.$' could "
                         "not "
                         "be found in the input '{\"a\":[1,\"x\"],\"b\":{\"c\":null}}'"}));
}

TEST(PayloadTemplate, AssignUsesTheGivenInputAndFieldNames) {
  PayloadTemplate t = compile_ok(Json::parse(R"J({"result.$": "$.input"})J"), "Assign");
  EXPECT_EQ(eval(t, {{"input", "PENDING"}}), Json::parse(R"J({"result": "PENDING"})J"));
  EXPECT_EQ(eval_error(t, {{"other", 1}}), (StatesError{"States.Runtime",
                                                        "The JSONPath '$.input' specified for the "
                                                        "field 'result.$' could not be "
                                                        "found in the input '{\"other\":1}'"}));
}

TEST(PayloadTemplate, IntrinsicErrorsPropagate) {
  PayloadTemplate t = compile_ok(Json::parse(R"J({"h.$": "States.Hash($.missing, 'MD5')",
                                                "n.$": "States.MathAdd($.a, 1)"})J"));
  EXPECT_EQ(eval_error(t, {{"a", "x"}}),
            (StatesError{"States.Runtime",
                         "The JSONPath '$.missing' specified for the field 'h.$' could not be "
                         "found in the input '{\"a\":\"x\"}'"}));
  EXPECT_EQ(eval_error(t, {{"a", "x"}, {"missing", "m"}}),
            (StatesError{"States.Runtime", "Invalid arguments in States.MathAdd"}));
}

TEST(PayloadTemplate, UndefinedVariable) {
  PayloadTemplate t = compile_ok(Json::parse(R"J({"v.$": "$nope"})J"), "Assign");
  VariableScope vars;
  EXPECT_EQ(eval_error(t, Json::object(), &vars),
            (StatesError{"States.Runtime", "The variable '$nope' is not defined"}));
}

TEST(PayloadTemplate, LoadErrorsHavePointersAndReasons) {
  bool ok = true;
  std::vector<Diagnostic> d = compile_diags(Json::parse(R"J({
    "num.$": 5,
    "nested": {"list": [{"bad.$": "not a path"}]},
    "call.$": "States.Format('x'",
    "path.$": "$.a[",
    "unknown.$": "States.Nope()"
  })J"),
                                            &ok);
  EXPECT_FALSE(ok);
  ASSERT_EQ(d.size(), 5u);
  // In template order.
  EXPECT_EQ(d[0].pointer, "/States/S/Parameters/num.$");
  EXPECT_EQ(d[0].code, "WRONG_TYPE");
  EXPECT_EQ(d[1].code, "INVALID_VALUE");
  EXPECT_EQ(d[2].code, "INVALID_INTRINSIC");
  EXPECT_EQ(d[3].code, "INVALID_PATH");
  EXPECT_EQ(d[4].code, "INVALID_INTRINSIC");
  EXPECT_EQ(d[0].message,
            "Parameters: the value of the field 'num.$' must be "
            "a string holding a JSONPath or "
            "an intrinsic function call, not a number");
  EXPECT_EQ(d[1].pointer, "/States/S/Parameters/nested/list/0/bad.$");
  EXPECT_EQ(d[1].message,
            "Parameters: the value of the field 'bad.$' ('not a path') must be a "
            "JSONPath "
            "(starting with '$') or an intrinsic function call (States.Name(...))");
  EXPECT_EQ(d[2].pointer, "/States/S/Parameters/call.$");
  EXPECT_EQ(d[2].message,
            "Parameters: the value of the field 'call.$' "
            "('States.Format('x'') is not a valid "
            "intrinsic function call: expected ',' or ')' but "
            "the text ended at offset 17");
  EXPECT_EQ(d[3].pointer, "/States/S/Parameters/path.$");
  EXPECT_EQ(d[3].message.rfind("Parameters: the value of the field 'path.$' ('$.a[') is not a "
                               "valid JSONPath: ",
                               0),
            0u)
      << d[3].message;
  EXPECT_EQ(d[4].pointer, "/States/S/Parameters/unknown.$");
  EXPECT_EQ(d[4].message,
            "Parameters: the value of the field 'unknown.$' "
            "('States.Nope()') is not a valid "
            "intrinsic function call: unknown intrinsic function "
            "'States.Nope' at offset 0");
}

TEST(PayloadTemplate, OutputKeepsTemplateMemberOrder) {
  PayloadTemplate t =
      compile_ok(Json::parse(R"J({"z": 1, "m.$": "$.m", "a": {"y": 2, "b.$": "$.b"}})J"));
  EXPECT_EQ(eval(t, {{"m", 3}, {"b", 4}}).dump(), R"J({"z":1,"m":3,"a":{"y":2,"b":4}})J");
}

TEST(PayloadTemplate, KeyCollisionIsALoadError) {
  bool ok = true;
  std::vector<Diagnostic> d = compile_diags(Json::parse(R"J({"a": 1, "a.$": "$.x"})J"), &ok);
  EXPECT_FALSE(ok);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].pointer, "/States/S/Parameters/a.$");
  EXPECT_EQ(d[0].code, "DUPLICATE_KEY");
  EXPECT_EQ(d[0].message, "Parameters: the fields 'a' and 'a.$' both produce the key 'a'");
}

TEST(PayloadTemplate, PointerTokensAreEscaped) {
  std::vector<Diagnostic> d = compile_diags(Json::parse(R"J({"a/b": {"c~d.$": 1}})J"));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].pointer, "/States/S/Parameters/a~1b/c~0d.$");
}

TEST(PayloadTemplate, CallsThatAlwaysFailAreAWarningAndFailAtRunTime) {
  Diagnostics diags;
  PayloadTemplate t = PayloadTemplate::compile(Json::parse(R"J({"n.$": "States.MathAdd(1)"})J"),
                                               "/States/S/Parameters", "Parameters", diags);
  EXPECT_TRUE(t.ok());
  EXPECT_FALSE(diags.has_errors());
  ASSERT_EQ(diags.items().size(), 1u);
  EXPECT_EQ(diags.items()[0].severity, Severity::Warning);
  EXPECT_EQ(diags.items()[0].pointer, "/States/S/Parameters/n.$");
  EXPECT_EQ(diags.items()[0].code, "INTRINSIC_ARGUMENTS");
  EXPECT_EQ(diags.items()[0].message,
            "Parameters: the intrinsic call in the field 'n.$' will fail with "
            "States.Runtime when "
            "it runs: States.MathAdd takes 2 arguments but was given 1");
  EXPECT_EQ(eval_error(t, Json::object()),
            (StatesError{"States.Runtime", "Invalid arguments in States.MathAdd"}));
}

TEST(PayloadTemplate, TemplateIsSharedAndImmutable) {
  PayloadTemplate t = compile_ok(Json::parse(R"J({"a.$": "$.x", "c": [1, 2]})J"));
  PayloadTemplate copy = t;
  EXPECT_EQ(eval(copy, {{"x", 1}}), Json::parse(R"J({"a": 1, "c": [1, 2]})J"));
  EXPECT_EQ(eval(t, {{"x", 2}}), Json::parse(R"J({"a": 2, "c": [1, 2]})J"));
}

// A template of a constant and three definite paths must be cheap: precompiled keys, prebuilt
// constants, no copies but the selected values. The bound is loose (shared 2-core machine, any
// build type); typical RelWithDebInfo figures are a few hundred nanoseconds.
TEST(PayloadTemplate, SmallTemplateEvaluatesFast) {
  PayloadTemplate t = compile_ok(Json::parse(R"J({"kind": "order", "id.$": "$.order.id",
      "total.$": "$.order.total", "who.$": "$.customer"})J"));
  Json input = Json::parse(
      R"J({"order": {"id": "o-123", "total": 42.5, "lines": [1, 2, 3]}, "customer": "c-9"})J");
  EvalContext ctx{&input, &kContext, nullptr, nullptr};
  constexpr int kRounds = 20000;
  std::size_t sink = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) sink += t.evaluate(ctx).size();
  auto elapsed = std::chrono::steady_clock::now() - start;
  double ns = std::chrono::duration<double, std::nano>(elapsed).count() / kRounds;
  EXPECT_EQ(sink, 4u * kRounds);
  EXPECT_LT(ns, 5000.0) << "ns per evaluation: " << ns;
  RecordProperty("ns_per_evaluation", static_cast<int>(ns));
  std::printf("small template: %.0f ns per evaluation\n", ns);
}

}  // namespace
}  // namespace stepd::asl
