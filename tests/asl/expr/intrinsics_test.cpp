#include "asl/expr/intrinsics.hpp"

#include "asl/core/error.hpp"
#include "tests/asl/expr/print.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stepd::asl {
namespace {

// A RandomSource that hands out fixed values, so UUIDs and unseeded MathRandom are exact.
class FixedRandom final : public RandomSource {
 public:
  explicit FixedRandom(std::vector<std::uint64_t> values) : values_(std::move(values)) {}
  std::uint64_t next_u64() override { return values_[i_++ % values_.size()]; }

 private:
  std::vector<std::uint64_t> values_;
  std::size_t i_ = 0;
};

const Json kContext = Json::parse(R"({
  "Execution": {"Id": "arn:aws:states:us-east-1:111111111111:execution:sm-1:exec", "Name": "exec",
                "Input": {"start": 2, "end": 6, "step": 2}},
  "StateMachine": {"Id": "arn:aws:states:us-east-1:111111111111:stateMachine:sm-1",
                   "Name": "sm-1"}
})");

IntrinsicCall compile(std::string_view text) {
  std::string error;
  std::optional<IntrinsicCall> call = IntrinsicCall::parse(text, &error);
  if (!call) ADD_FAILURE() << "parse failed: " << text << ": " << error;
  return std::move(*call);
}

Json run(std::string_view text, const Json& input = Json::object(),
         const VariableScope* vars = nullptr, RandomSource* random = nullptr) {
  IntrinsicCall call = compile(text);
  EvalContext ctx;
  ctx.input = &input;
  ctx.context = &kContext;
  ctx.variables = vars;
  ctx.random = random;
  return call.evaluate(ctx, "value.$");
}

// The StatesError `text` raises on `input`.
StatesError failure(std::string_view text, const Json& input = Json::object()) {
  try {
    Json out = run(text, input);
    ADD_FAILURE() << text << " succeeded with " << out.dump();
  } catch (const StatesException& e) {
    return e.error();
  }
  return {};
}

StatesError invalid(std::string_view function) {
  return {"States.Runtime", "Invalid arguments in " + std::string(function)};
}

std::string parse_error(std::string_view text) {
  std::string error;
  std::optional<IntrinsicCall> call = IntrinsicCall::parse(text, &error);
  EXPECT_FALSE(call.has_value()) << text;
  return error;
}

// ---- parsing ------------------------------------------------------------------------------------

TEST(IntrinsicParse, LooksLikeCall) {
  EXPECT_TRUE(IntrinsicCall::looks_like_call("States.Format('x')"));
  EXPECT_TRUE(IntrinsicCall::looks_like_call("States.Foo ()"));
  EXPECT_FALSE(IntrinsicCall::looks_like_call("$.States.Format"));
  EXPECT_FALSE(IntrinsicCall::looks_like_call("States.Format"));
  EXPECT_FALSE(IntrinsicCall::looks_like_call("States.(1)"));
  EXPECT_FALSE(IntrinsicCall::looks_like_call("Format('x')"));
}

TEST(IntrinsicParse, SyntaxErrorsSayWhatAndWhere) {
  EXPECT_EQ(parse_error("States.Foo(1)"), "unknown intrinsic function 'States.Foo' at offset 0");
  EXPECT_EQ(parse_error("States.Array(States.Nope())"),
            "unknown intrinsic function 'States.Nope' at offset 13");
  EXPECT_EQ(parse_error("States.Array('abc"), "unterminated string literal at offset 13");
  EXPECT_EQ(parse_error("States.Array('a\\nb')"),
            "invalid escape '\\n' in a string literal (only \\' \\{ \\} \\\\ "
            "are allowed) at "
            "offset 15");
  EXPECT_EQ(parse_error("States.Array(1.)"),
            "invalid number: a digit must follow '.' at offset 13");
  EXPECT_EQ(parse_error("States.Array(.5)"),
            "expected an argument (a 'string', a number, true, false, null, a "
            "path or a States. "
            "call) but found '.' at offset 13");
  EXPECT_EQ(parse_error("States.Array(01)"), "invalid number at offset 13");
  EXPECT_EQ(parse_error("States.Array(1"), "expected ',' or ')' but the text ended at offset 14");
  EXPECT_EQ(parse_error("States.Array(1 2)"), "expected ',' or ')' but found '2' at offset 15");
  EXPECT_EQ(parse_error("States.Array(1,)"),
            "expected an argument (a 'string', a number, true, false, null, a "
            "path or a States. "
            "call) but found ')' at offset 15");
  EXPECT_EQ(parse_error("States.Array($.a) trailing"),
            "unexpected 't' after the call at offset 18");
  EXPECT_EQ(parse_error("States.Array(nul)"),
            "expected an argument (a 'string', a number, true, false, null, a "
            "path or a States. "
            "call) but found 'n' at offset 13");
  EXPECT_EQ(parse_error("States.Array"), "expected '(' after 'States.Array' at offset 12");
  EXPECT_EQ(parse_error("States.Array([1,2])"),
            "expected an argument (a 'string', a number, true, false, null, a "
            "path or a States. "
            "call) but found '[' at offset 13");
  std::string bad_path = parse_error("States.Array($.a[)");
  EXPECT_EQ(bad_path.rfind("invalid path '$.a[)': ", 0), 0u) << bad_path;
  EXPECT_NE(bad_path.find(" at offset 13"), std::string::npos) << bad_path;
}

TEST(IntrinsicParse, LiteralsAndWhitespace) {
  EXPECT_EQ(run("States.Array( 1 , -2.5 ,1e3, true,false , null, 'x' )"),
            Json::parse(R"([1, -2.5, 1000.0, true, false, null, "x"])"));
  EXPECT_EQ(run("States.Array()"), Json::array());
  EXPECT_EQ(run("States.Array(0, -0, 12345678901)"), Json::parse("[0, 0, 12345678901]"));
}

TEST(IntrinsicParse, StringEscapes) {
  EXPECT_EQ(run(R"(States.Array('it\'s', '\{\}', 'back\\slash', '{}', ''))"),
            Json::parse(R"(["it's", "{}", "back\\slash", "{}", ""])"));
  // Escaped braces are text, not a placeholder.
  EXPECT_EQ(run(R"(States.Format('\{\} {} \{x\}', 'v'))"), "{} v {x}");
  EXPECT_EQ(run(R"(States.Format('Name: \'{}\'', $.n))", {{"n", "Gabriel"}}), "Name: 'Gabriel'");
}

TEST(IntrinsicParse, PathArguments) {
  Json input = {{"a", {{"b", Json::array({1, 2, 3})}}}, {"k", "v"}};
  EXPECT_EQ(run("States.Array($, $.k, $.a.b[1], $['k'], $.a.b[1:], "
                "$$.Execution.Name)",
                input),
            Json::parse(R"([{"a":{"b":[1,2,3]},"k":"v"}, "v", 2, "v", [2,3], "exec"])"));
  VariableScope vars;
  vars.set("x", Json{{"y", 7}});
  EXPECT_EQ(run("States.Array($x, $x.y)", {}, &vars), Json::parse(R"([{"y":7}, 7])"));
}

TEST(IntrinsicParse, PathArgumentsWithCommasAndParenthesesInsideFilters) {
  Json input = {{"a", Json::parse(R"([{"n":"x, y"},{"n":"z"}])")}};
  EXPECT_EQ(run("States.Array($.a[?(@.n == 'x, y')].n, 1)", input),
            Json::parse(R"([["x, y"], 1])"));
}

TEST(IntrinsicParse, UsesContextAndVariables) {
  IntrinsicCall plain = compile("States.Array($.a, 1)");
  EXPECT_FALSE(plain.uses_context());
  EXPECT_FALSE(plain.uses_variables());
  IntrinsicCall nested = compile("States.Array(States.Format('{}', $$.Execution.Id), $v)");
  EXPECT_TRUE(nested.uses_context());
  EXPECT_TRUE(nested.uses_variables());
  EXPECT_EQ(nested.text(), "States.Array(States.Format('{}', $$.Execution.Id), $v)");
}

// AWS accepts these definitions and fails when the call runs.
TEST(IntrinsicParse, ArgumentProblemsAreReportedAndFailAtRunTime) {
  struct Case {
    const char* text;
    const char* problem;
    const char* function;
  };
  const Case cases[] = {
      {"States.ArrayLength()", "States.ArrayLength takes 1 argument but was given 0",
       "States.ArrayLength"},
      {"States.MathAdd(1, 2, 3)", "States.MathAdd takes 2 arguments but was given 3",
       "States.MathAdd"},
      {"States.MathRandom(1)", "States.MathRandom takes 2 to 3 arguments but was given 1",
       "States.MathRandom"},
      {"States.Format()", "States.Format takes at least 1 argument but was given 0",
       "States.Format"},
      {"States.UUID(1)", "States.UUID takes 0 arguments but was given 1", "States.UUID"},
      {"States.MathAdd('a', 1)",
       "argument 1 of States.MathAdd must be a number, not the string \"a\"", "States.MathAdd"},
      {"States.ArrayLength(null)", "argument 1 of States.ArrayLength must be an array, not null",
       "States.ArrayLength"},
      {"States.Format(1)", "argument 1 of States.Format must be a string, not the number 1",
       "States.Format"},
      {"States.Format('{} {}', 1)",
       "the States.Format template has 2 placeholder(s) but 1 value "
       "argument(s) were given",
       "States.Format"},
      {"States.Format('Hello {', 1)",
       "the States.Format template \"Hello {\" has a '{' or '}' that is not "
       "part of '{}' (escape "
       "it as \\{ or \\})",
       "States.Format"},
      {"States.Format('}')",
       "the States.Format template \"}\" has a '{' or '}' that is not part of "
       "'{}' (escape it as "
       "\\{ or \\})",
       "States.Format"},
      {"States.JsonMerge($.a, $.b, true)",
       "States.JsonMerge supports only the shallow merge: its third argument "
       "must be false",
       "States.JsonMerge"},
      {"States.Hash('x', 'sha-256')",
       "States.Hash algorithm 'sha-256' is not one of MD5, SHA-1, SHA-256, "
       "SHA-384, SHA-512",
       "States.Hash"},
  };
  for (const Case& c : cases) {
    IntrinsicCall call = compile(c.text);
    EXPECT_EQ(call.problem(), c.problem) << c.text;
    EXPECT_EQ(failure(c.text, {{"a", Json::object()}, {"b", Json::object()}}), invalid(c.function))
        << c.text;
  }
  EXPECT_EQ(compile("States.MathAdd($.a, 1)").problem(), "");
}

TEST(IntrinsicParse, ProblemInANestedCallFailsThatCall) {
  IntrinsicCall call = compile("States.Array(States.MathAdd(1))");
  EXPECT_EQ(call.problem(), "States.MathAdd takes 2 arguments but was given 1");
  EXPECT_EQ(failure("States.Array(States.MathAdd(1))"), invalid("States.MathAdd"));
}

// ---- path arguments at run time -----------------------------------------------------------------

TEST(IntrinsicPaths, MissingPathArgumentNamesTheField) {
  EXPECT_EQ(failure("States.Hash($.missing, 'SHA-256')"),
            (StatesError{"States.Runtime",
                         "The JSONPath '$.missing' specified for "
                         "the field 'value.$' could not be "
                         "found in the input '{}'"}));
  EXPECT_EQ(failure("States.Array(States.Format('{}', $.a.b))", {{"a", {{"c", 1}}}}),
            (StatesError{"States.Runtime",
                         "The JSONPath '$.a.b' specified for the field 'value.$' could not be "
                         "found in the input '{\"a\":{\"c\":1}}'"}));
}

TEST(IntrinsicPaths, UndefinedVariable) {
  VariableScope vars;
  IntrinsicCall call = compile("States.Array($nope)");
  Json input = Json::object();
  EvalContext ctx{&input, &kContext, &vars, nullptr};
  try {
    call.evaluate(ctx, "x.$");
    FAIL() << "no error";
  } catch (const StatesException& e) {
    EXPECT_EQ(e.error(), (StatesError{"States.Runtime", "The variable '$nope' is not defined"}));
  }
}

TEST(IntrinsicPaths, IndefinitePathGivesAnArray) {
  EXPECT_EQ(run("States.ArrayLength($.items[*].v)",
                Json::parse(R"({"items":[{"v":1},{"w":2},{"v":3}]})")),
            2);
  EXPECT_EQ(run("States.ArrayLength($.items[*])"), 0);
}

// ---- the functions ------------------------------------------------------------------------------

TEST(IntrinsicFormat, RendersValuesAsAws) {
  Json input = Json::parse(
      R"({"s":"HelloWorld","i":1,"f":1.1,"neg":-1,"big":9007199254740991,
      "t":true,"n":null,"o":{"Arg1":1,"Arg2":[]},"a":[1,"x",[true,null],{"k":"v"}],
      "e":1e10,"small":0.0001,"whole":100.0})");
  EXPECT_EQ(run("States.Format('Formatting argument {}.', $.f)", input),
            "Formatting argument 1.1.");
  EXPECT_EQ(run("States.Format('fst={} and snd={}.', $.o, $.o)", input),
            "fst={Arg1=1, Arg2=[]} and snd={Arg1=1, Arg2=[]}.");
  EXPECT_EQ(run("States.Format('{}|{}|{}|{}|{}', $.n, $.t, $.neg, $.i, $.big)", input),
            "null|true|-1|1|9007199254740991");
  EXPECT_EQ(run("States.Format('{}', $.a)", input), "[1, x, [true, null], {k=v}]");
  EXPECT_EQ(run("States.Format('{} {} {}', $.e, $.small, $.whole)", input), "1.0E10 1.0E-4 100.0");
  EXPECT_EQ(run("States.Format('no placeholders')"), "no placeholders");
  EXPECT_EQ(run("States.Format('  {}  ', 'x')"), "  x  ");
  EXPECT_EQ(run("States.Format($.t, $.n)", {{"t", "Hello {}"}, {"n", "Ada"}}), "Hello Ada");
  EXPECT_EQ(run("States.Format('arn:{}:{}', 'lambda', States.JsonToString($.o))", input),
            "arn:lambda:{\"Arg1\":1,\"Arg2\":[]}");
}

TEST(IntrinsicFormat, ContextObjectRendersJavaMapStyle) {
  EXPECT_EQ(run("States.Format('fst={} and snd={}.', $$.Execution.Name, "
                "$$.StateMachine)"),
            "fst=exec and "
            "snd={Id=arn:aws:states:us-east-1:111111111111:stateMachine:sm-1, "
            "Name=sm-1}.");
}

TEST(IntrinsicFormat, ObjectsKeepMemberOrder) {
  EXPECT_EQ(run("States.Format('{}', $.o)", Json::parse(R"({"o":{"b":1,"a":{"d":2,"c":3}}})")),
            "{b=1, a={d=2, c=3}}");
  EXPECT_EQ(
      run("States.JsonToString($.o)", Json::parse(R"({"o":{"nested":{"a":1},"arr":[true,null]}})")),
      R"({"nested":{"a":1},"arr":[true,null]})");
}

TEST(IntrinsicFormat, Errors) {
  EXPECT_EQ(failure("States.Format($.t, 'x')", {{"t", 123}}), invalid("States.Format"));
  EXPECT_EQ(failure("States.Format($.t, 'x')", {{"t", "a {"}}), invalid("States.Format"));
  EXPECT_EQ(failure("States.Format($.t, 'x')", {{"t", "{} {}"}}), invalid("States.Format"));
  EXPECT_EQ(failure("States.Format($.t)", {{"t", "{}"}}), invalid("States.Format"));
}

TEST(IntrinsicFormat, JavaDoubleText) {
  using intrinsic_detail::java_double_string;
  EXPECT_EQ(java_double_string(1.1), "1.1");
  EXPECT_EQ(java_double_string(100.0), "100.0");
  EXPECT_EQ(java_double_string(-0.5), "-0.5");
  EXPECT_EQ(java_double_string(1234567.0), "1234567.0");
  EXPECT_EQ(java_double_string(12345678.0), "1.2345678E7");
  EXPECT_EQ(java_double_string(0.001), "0.001");
  EXPECT_EQ(java_double_string(0.000123), "1.23E-4");
  EXPECT_EQ(java_double_string(1e21), "1.0E21");
  EXPECT_EQ(java_double_string(0.0), "0.0");
}

TEST(IntrinsicJson, StringToJson) {
  EXPECT_EQ(run("States.StringToJson($.s)", {{"s", "[1, 2, \"HelloWorld\"]"}}),
            Json::parse(R"([1, 2, "HelloWorld"])"));
  EXPECT_EQ(run("States.StringToJson($.s)", {{"s", "\"HelloWorld\""}}), "HelloWorld");
  EXPECT_EQ(run("States.StringToJson($.s)", {{"s", " {\"a\":1} "}}), Json::parse(R"({"a":1})"));
  EXPECT_EQ(run("States.StringToJson($.s)", {{"s", " "}}), nullptr);
  EXPECT_EQ(run("States.StringToJson($.s)", {{"s", ""}}), nullptr);
  EXPECT_EQ(run("States.StringToJson('null')"), nullptr);
  EXPECT_EQ(failure("States.StringToJson($.s)", {{"s", "{bad json}"}}),
            invalid("States.StringToJson"));
  EXPECT_EQ(failure("States.StringToJson($.s)", {{"s", "undefined"}}),
            invalid("States.StringToJson"));
  EXPECT_EQ(failure("States.StringToJson($.s)", {{"s", 123}}), invalid("States.StringToJson"));
}

TEST(IntrinsicJson, StringToJsonRefusesTextNestedTooDeepToHandle) {
  auto nested = [](int depth) {
    return std::string(static_cast<std::size_t>(depth), '[') + "\"[{\"" +
           std::string(static_cast<std::size_t>(depth), ']');
  };
  // As deep as allowed: parsed (a string that looks nested does not count).
  Json deepest = run("States.StringToJson($.s)", {{"s", nested(kMaxRuntimeNesting)}});
  int depth = 0;
  for (const Json* v = &deepest; v->is_array(); v = &(*v)[0]) ++depth;
  EXPECT_EQ(depth, kMaxRuntimeNesting);
  // One level more, and far more (deep enough to overflow a stack when serialised): refused.
  StatesError e = failure("States.StringToJson($.s)", {{"s", nested(kMaxRuntimeNesting + 1)}});
  EXPECT_EQ(e.error, "States.Runtime");
  EXPECT_EQ(e.cause, "Invalid arguments in States.StringToJson: the JSON nests arrays and "
                     "objects deeper than 512 levels (at character 512)");
  EXPECT_EQ(failure("States.StringToJson($.s)", {{"s", nested(100'000)}}).error, "States.Runtime");
}

TEST(IntrinsicJson, JsonToString) {
  EXPECT_EQ(run("States.JsonToString($.v)", {{"v", 1.1}}), "1.1");
  EXPECT_EQ(run("States.JsonToString($.v)", {{"v", Json::parse(R"({"a":1,"b":[true,null]})")}}),
            R"({"a":1,"b":[true,null]})");
  EXPECT_EQ(run("States.JsonToString($.v)", {{"v", "hello"}}), "\"hello\"");
  EXPECT_EQ(run("States.JsonToString($.v)", {{"v", nullptr}}), "null");
  EXPECT_EQ(run("States.JsonToString('x')"), "\"x\"");
  EXPECT_EQ(run("States.JsonToString($.v)",
                Json::parse(R"({"v":[1e10, 1.0, -1.5e-7, 3.5, "a\"b\n", {"k":1}]})")),
            R"([1.0E10,1.0,-1.5E-7,3.5,"a\"b\n",{"k":1}])");
  EXPECT_EQ(run("States.StringToJson(States.JsonToString($.v))", {{"v", {{"a", 1}}}}),
            Json::parse(R"({"a":1})"));
}

TEST(IntrinsicJson, JsonMergeIsShallow) {
  Json input = Json::parse(R"({"a":{"x":1,"nested":{"a1":1}},"b":{"nested":{"a3":3},"z":4}})");
  EXPECT_EQ(run("States.JsonMerge($.a, $.b, false)", input),
            Json::parse(R"({"x":1,"nested":{"a3":3},"z":4})"));
  EXPECT_EQ(run("States.JsonMerge($.a, $.b, $.d)",
                {{"a", {{"x", 1}}}, {"b", {{"y", 2}}}, {"d", "false"}}),
            Json::parse(R"({"x":1,"y":2})"));
  EXPECT_EQ(failure("States.JsonMerge($.a, $.b, $.d)",
                    {{"a", {{"x", 1}}}, {"b", {{"y", 2}}}, {"d", true}}),
            invalid("States.JsonMerge"));
  EXPECT_EQ(failure("States.JsonMerge($.a, $.b, false)", {{"a", nullptr}, {"b", Json::object()}}),
            invalid("States.JsonMerge"));
  EXPECT_EQ(failure("States.JsonMerge($.a, $.b, false)", {{"a", Json::object()}, {"b", "x"}}),
            invalid("States.JsonMerge"));
}

TEST(IntrinsicArray, Array) {
  EXPECT_EQ(run("States.Array($.f, $.s)", {{"f", ""}, {"s", " "}}), Json::parse(R"(["", " "])"));
  EXPECT_EQ(run("States.Array('Foo', 2022, $.j, null)", {{"j", {{"random", "abcdefg"}}}}),
            Json::parse(R"(["Foo", 2022, {"random":"abcdefg"}, null])"));
  EXPECT_EQ(run("States.Array(1, States.Array(2, 3))"), Json::parse("[1, [2, 3]]"));
}

TEST(IntrinsicArray, Partition) {
  auto part = [](const char* arr, const char* size) {
    return run("States.ArrayPartition($.a, $.n)",
               {{"a", Json::parse(arr)}, {"n", Json::parse(size)}});
  };
  EXPECT_EQ(part("[0]", "3"), Json::parse("[[0]]"));
  EXPECT_EQ(part("[0,1]", "1"), Json::parse("[[0],[1]]"));
  EXPECT_EQ(part("[0,1,2]", "2"), Json::parse("[[0,1],[2]]"));
  EXPECT_EQ(part("[0,1,2,3]", "3"), Json::parse("[[0,1,2],[3]]"));
  EXPECT_EQ(part("[]", "3"), Json::parse("[]"));
  EXPECT_EQ(part("[1,2,3,4,5]", "2.6"),
            Json::parse("[[1,2],[3,4],[5]]"));  // AWS truncates
  EXPECT_EQ(part("[1,2,3]", "2147483647"), Json::parse("[[1,2,3]]"));
  for (const char* bad : {"0", "-1", "0.6", "0.49", "-0.4", "null", "\"2\""}) {
    EXPECT_EQ(failure("States.ArrayPartition($.a, $.n)", {{"a", {1, 2}}, {"n", Json::parse(bad)}}),
              invalid("States.ArrayPartition"))
        << bad;
  }
  EXPECT_EQ(failure("States.ArrayPartition($.a, 2)", {{"a", "x"}}),
            invalid("States.ArrayPartition"));
}

TEST(IntrinsicArray, Contains) {
  auto contains = [](const char* arr, const char* v) {
    return run("States.ArrayContains($.a, $.v)", {{"a", Json::parse(arr)}, {"v", Json::parse(v)}});
  };
  EXPECT_EQ(contains("[]", "null"), false);
  EXPECT_EQ(contains("[[1,2,3],2]", "[1,2,3]"), true);
  EXPECT_EQ(contains(R"([{"1":2,"2":[]}])", "[]"), false);
  EXPECT_EQ(contains("[true,false]", "true"), true);
  EXPECT_EQ(contains("[1,null,3]", "null"), true);
  EXPECT_EQ(contains(R"([{"a":1},{"b":2}])", R"({"a":1})"), true);
  EXPECT_EQ(contains(R"([{"a":1}])", R"({"a":1,"extra":null})"), false);
  EXPECT_EQ(contains("[0,1,-1,-1.5]", "false"), false);
  // AWS: object members must come in the same order.
  EXPECT_EQ(contains(R"([{"a":1,"b":2}])", R"({"b":2,"a":1})"), false);
  EXPECT_EQ(contains(R"([{"a":1,"b":2}])", R"({"a":1,"b":2})"), true);
  // AWS matches scalars by their text.
  EXPECT_EQ(contains(R"(["true","false"])", "true"), true);
  EXPECT_EQ(contains(R"(["9007199254740991"])", "9007199254740991"), true);
  EXPECT_EQ(failure("States.ArrayContains('not-array', 'x')"), invalid("States.ArrayContains"));
}

TEST(IntrinsicArray, Range) {
  EXPECT_EQ(run("States.ArrayRange(1, 9, 2)"), Json::parse("[1,3,5,7,9]"));
  EXPECT_EQ(run("States.ArrayRange($.a, $.b, $.c)", {{"a", 1}, {"b", 9}, {"c", 9}}),
            Json::parse("[1]"));
  EXPECT_EQ(run("States.ArrayRange(0, 3, 1)"), Json::parse("[0,1,2,3]"));
  EXPECT_EQ(run("States.ArrayRange(-2, 2, 2)"), Json::parse("[-2,0,2]"));
  EXPECT_EQ(run("States.ArrayRange(1.4, 5.6, 2.2)"), Json::parse("[1,3,5]"));
  EXPECT_EQ(run("States.ArrayRange(1.6, 1.4, 1)"),
            Json::parse("[1]"));  // AWS truncates
  EXPECT_EQ(run("States.ArrayRange(5.4, -0.6, -2.4)"), Json::parse("[5,3,1]"));
  EXPECT_EQ(run("States.ArrayRange(3, 3, -1)"), Json::parse("[3]"));
  EXPECT_EQ(run("States.ArrayRange(5, 1, -2)"), Json::parse("[5,3,1]"));
  EXPECT_EQ(run("States.ArrayRange(5, 1, 1)"), Json::array());
  EXPECT_EQ(run("States.ArrayRange(1, 5, -1)"), Json::array());
  EXPECT_EQ(run("States.ArrayRange($$.Execution.Input.start, $$.Execution.Input.end, "
                "$$.Execution.Input.step)"),
            Json::parse("[2,4,6]"));
  EXPECT_EQ(run("States.ArrayRange(1, 1000, 1)").size(), 1000u);
  EXPECT_EQ(run("States.ArrayRange(1000, 1, -1)").back(), 1);
  for (const char* bad : {"States.ArrayRange(1, 1001, 1)", "States.ArrayRange(1001, 1, -1)",
                          "States.ArrayRange(1, 10, 0)", "States.ArrayRange(1, 10, 0.49)",
                          "States.ArrayRange($.s, 5, 1)"}) {
    EXPECT_EQ(failure(bad, {{"s", "a"}}), invalid("States.ArrayRange")) << bad;
  }
}

TEST(IntrinsicArray, GetItem) {
  Json arr = Json::parse("[1,2,3,4,5,6,7,8,9]");
  EXPECT_EQ(run("States.ArrayGetItem($.a, $.i)", {{"a", arr}, {"i", 5}}), 6);
  EXPECT_EQ(run("States.ArrayGetItem($.a, 1.2)", {{"a", {10, 20, 30}}}),
            20);  // AWS truncates
  EXPECT_EQ(run("States.ArrayGetItem($.a, 0)", {{"a", {nullptr}}}), nullptr);
  EXPECT_EQ(run("States.ArrayGetItem(States.Array('x', 'y', 'z'), 1)"), "y");
  EXPECT_EQ(run("States.ArrayGetItem($.a, 999)", {{"a", Json::array()}}),
            nullptr);  // AWS
  EXPECT_EQ(run("States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, "
                "'-'), 0)"),
            "sm");
  for (const char* index : {"3", "-1", "\"1\"", "null"}) {
    EXPECT_EQ(
        failure("States.ArrayGetItem($.a, $.i)", {{"a", {10, 20, 30}}, {"i", Json::parse(index)}}),
        invalid("States.ArrayGetItem"))
        << index;
  }
  EXPECT_EQ(failure("States.ArrayGetItem('not-array', 0)"), invalid("States.ArrayGetItem"));
}

TEST(IntrinsicArray, Length) {
  EXPECT_EQ(run("States.ArrayLength($.a)", {{"a", Json::array()}}), 0);
  EXPECT_EQ(run("States.ArrayLength($.a)", {{"a", Json::parse("[[1],[2],[3]]")}}), 3);
  EXPECT_EQ(run("States.ArrayLength(States.Array(1, 2, 3))"), 3);
  EXPECT_EQ(failure("States.ArrayLength($.o)", {{"o", {{"k", 1}}}}), invalid("States.ArrayLength"));
  EXPECT_EQ(failure("States.ArrayLength('not-array')"), invalid("States.ArrayLength"));
}

TEST(IntrinsicArray, UniqueKeepsJavaHashSetOrder) {
  auto unique = [](const char* arr) {
    return run("States.ArrayUnique($.a)", {{"a", Json::parse(arr)}});
  };
  EXPECT_EQ(unique("[1,2,3,3,3,3,3,3,4]"), Json::parse("[1,2,3,4]"));
  EXPECT_EQ(unique(R"(["a","b","a","c","b"])"), Json::parse(R"(["a","b","c"])"));
  EXPECT_EQ(unique("[]"), Json::array());
  // AWS: these come out in java.util.HashSet order, not first-seen order.
  EXPECT_EQ(unique("[true,false,true,false]"), Json::parse("[false,true]"));
  EXPECT_EQ(unique("[[1,2],[1,2],[2,1]]"), Json::parse("[[2,1],[1,2]]"));
  EXPECT_EQ(unique("[null,null,1,null]"), Json::parse("[null,1]"));
  EXPECT_EQ(unique(R"([1,"1","01"])"), Json::parse(R"([1,"1","01"])"));
  EXPECT_EQ(unique(R"([{"a":1,"b":2},{"b":2,"a":1}])"), Json::parse(R"([{"a":1,"b":2}])"));
  EXPECT_EQ(unique(R"([{"nested":{"x":1}},{"nested":{"x":1}}])"),
            Json::parse(R"([{"nested":{"x":1}}])"));
  EXPECT_EQ(failure("States.ArrayUnique('not-array')"), invalid("States.ArrayUnique"));
}

TEST(IntrinsicEncoding, Base64Encode) {
  EXPECT_EQ(run("States.Base64Encode($.s)", {{"s", "Data to encode"}}), "RGF0YSB0byBlbmNvZGU=");
  EXPECT_EQ(run("States.Base64Encode('hello')"), "aGVsbG8=");
  EXPECT_EQ(run("States.Base64Encode('')"), "");
  EXPECT_EQ(run("States.Base64Encode(' ')"), "IA==");
  EXPECT_EQ(run("States.Base64Encode($.s)", {{"s", "✓"}}), "4pyT");
  EXPECT_EQ(run("States.Base64Encode($.s)", {{"s", "こんにちは"}}), "44GT44KT44Gr44Gh44Gv");
  EXPECT_EQ(run("States.Base64Encode($.s)", {{"s", std::string("abc\0def", 7)}}), "YWJjAGRlZg==");
  EXPECT_EQ(run("States.Base64Encode('🚀')"), "8J+agA==");
  EXPECT_EQ(
      run("States.Base64Encode($.s)", {{"s", std::string(10000, 'a')}}).get<std::string>().size(),
      13336u);
  EXPECT_EQ(failure("States.Base64Encode($.s)", {{"s", std::string(10001, 'a')}}),
            invalid("States.Base64Encode"));
  EXPECT_EQ(failure("States.Base64Encode($.s)", {{"s", Json::array({"x"})}}),
            invalid("States.Base64Encode"));
}

TEST(IntrinsicEncoding, Base64DecodeIsLenientLikeAws) {
  EXPECT_EQ(run("States.Base64Decode($.s)", {{"s", "RGF0YSB0byBlbmNvZGU="}}), "Data to encode");
  EXPECT_EQ(run("States.Base64Decode($.s)", {{"s", ""}}), "");
  EXPECT_EQ(run("States.Base64Decode('4pyT')"), "✓");
  EXPECT_EQ(run("States.Base64Decode('YWJjZA==')"), "abcd");
  EXPECT_EQ(run("States.Base64Decode($.s)", {{"s", "YWJjAGRlZg=="}}), std::string("abc\0def", 7));
  EXPECT_EQ(run("States.Base64Decode(' YWJjZA== ')"), "abcd");
  EXPECT_EQ(run("States.Base64Decode('YWJj')"), "abc");
  EXPECT_EQ(run("States.Base64Decode('YWI')"), "ab");     // unpadded
  EXPECT_EQ(run("States.Base64Decode('aGk=cd')"), "hi");  // stops at padding
  EXPECT_EQ(run("States.Base64Decode('/w==')"),
            "\xEF\xBF\xBD");  // byte 0xFF -> U+FFFD
  EXPECT_EQ(run("States.Base64Decode(States.Base64Encode($.s))", {{"s", "hello"}}), "hello");
  EXPECT_EQ(failure("States.Base64Decode($.s)", {{"s", std::string(10001, 'A')}}),
            invalid("States.Base64Decode"));
  EXPECT_EQ(failure("States.Base64Decode($.s)", {{"s", 123}}), invalid("States.Base64Decode"));
}

TEST(IntrinsicHash, AllAlgorithms) {
  Json input = {{"d", "input data"}};
  EXPECT_EQ(run("States.Hash($.d, 'SHA-1')", input), "aaff4a450a104cd177d28d18d74485e8cae074b7");
  EXPECT_EQ(run("States.Hash($.d, 'SHA-256')", input),
            "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3");
  EXPECT_EQ(run("States.Hash($.d, 'SHA-512')", input),
            "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2d"
            "eba23bf2954f0f1d593f"
            "c50283731a533d30d425402d4f91316d871303aac4");
  EXPECT_EQ(run("States.Hash('hello', 'MD5')"), "5d41402abc4b2a76b9719d911017c592");
  EXPECT_EQ(run("States.Hash('hello', 'SHA-384')"),
            "59e1748777448c69de6b800d7a33bbfb9ff1b463e44354c3553bcdb9c666fa9012"
            "5a3c79f90397bdf5f6a1"
            "3de828684f");
  EXPECT_EQ(run("States.Hash('🚀', 'SHA-256')"),
            "ebbc0b2870eb323f2b6cffa5c493ceef81ae7eb36afc73d4e0367301631daec5");
  EXPECT_EQ(run("States.Hash(States.Format('{}:{}', 'x', 'y'), 'SHA-256')"),
            "1274e286686b54fe765ec40735665b4bf789cee2a5b22124c5e0491a88e15271");
  // AWS hashes a number as its text.
  EXPECT_EQ(run("States.Hash(123, 'MD5')"), run("States.Hash('123', 'MD5')"));
  EXPECT_EQ(run("States.Hash($.s, 'SHA-256')", {{"s", std::string(10000, 'a')}})
                .get<std::string>()
                .size(),
            64u);
  EXPECT_EQ(failure("States.Hash($.s, 'SHA-256')", {{"s", std::string(10001, 'a')}}),
            invalid("States.Hash"));
  for (const char* algorithm : {"UNSUPPORTED", "SHA256", "MD-5", "", "SHA-257"}) {
    EXPECT_EQ(failure("States.Hash('data', $.a)", {{"a", algorithm}}), invalid("States.Hash"))
        << algorithm;
  }
  EXPECT_EQ(failure("States.Hash('hello', $.a)", {{"a", 123}}), invalid("States.Hash"));
}

TEST(IntrinsicMath, AddRoundsHalfUpLikeJava) {
  auto add = [](double a, double b) {
    return run("States.MathAdd($.a, $.b)", {{"a", a}, {"b", b}}).get<std::int64_t>();
  };
  EXPECT_EQ(run("States.MathAdd($.a, $.b)", {{"a", -9}, {"b", 3}}), -6);
  EXPECT_EQ(add(1.49, 1.5), 3);
  EXPECT_EQ(add(1.5, 1.51), 4);
  EXPECT_EQ(add(-1.49, -1.5), -2);
  EXPECT_EQ(add(-1.5, -1.51), -3);
  EXPECT_EQ(add(1.51, 0), 2);
  EXPECT_EQ(add(-1.51, 0), -2);
  EXPECT_EQ(add(0.5, 0), 1);
  EXPECT_EQ(add(2.5, 0), 3);
  EXPECT_EQ(add(-0.5, 0), 0);
  EXPECT_EQ(add(-2.5, 0), -2);
  EXPECT_EQ(add(0.49999999999999994, 0), 0);
  EXPECT_EQ(run("States.MathAdd($.v, -1)", {{"v", 111}}), 110);
  EXPECT_EQ(run("States.MathAdd(2147483646, 1)"), 2147483647);
  EXPECT_EQ(run("States.MathAdd(-2147483647, -1)"), -2147483648LL);
  EXPECT_EQ(run("States.MathAdd(States.MathAdd($.x, 1), 2)", {{"x", 5}}), 8);
  for (const char* bad :
       {"States.MathAdd(2147483647, 1)", "States.MathAdd(-2147483648, -1)",
        "States.MathAdd(3000000000, 1)", "States.MathAdd($.s, 1)", "States.MathAdd($.n, 1)",
        "States.MathAdd($.b, 1)", "States.MathAdd(1, $.arr)"}) {
    EXPECT_EQ(failure(bad, {{"s", "1"}, {"n", nullptr}, {"b", true}, {"arr", {1}}}),
              invalid("States.MathAdd"))
        << bad;
  }
}

TEST(IntrinsicMath, RandomWithSeedIsJavaRandom) {
  // AWS: States.MathRandom(-5, 5, 42) gives -5, i.e. new Random(42).nextInt(10) + start.
  EXPECT_EQ(run("States.MathRandom(-5, 5, 42)"), -5);
  EXPECT_EQ(run("States.MathRandom($.a, $.b, $.c)", {{"a", 0}, {"b", 999}, {"c", 3}}), 239);
  EXPECT_EQ(run("States.MathRandom(1, 100, 42)"), 63);
  EXPECT_EQ(run("States.MathRandom(1, 100, 42)"), run("States.MathRandom(1, 100, 42)"));
  Json v = run("States.MathRandom(1, 10, -10)");
  EXPECT_TRUE(v.get<int>() >= 1 && v.get<int>() < 10) << v;
}

TEST(IntrinsicMath, RandomWithoutSeedUsesTheContextSource) {
  FixedRandom low({0});
  FixedRandom high({~0ULL});
  FixedRandom mid({1ULL << 63});
  EXPECT_EQ(run("States.MathRandom(1, 999)", {}, nullptr, &low), 1);
  EXPECT_EQ(run("States.MathRandom(1, 999)", {}, nullptr, &high), 998);
  EXPECT_EQ(run("States.MathRandom(0, 10)", {}, nullptr, &mid), 5);
  EXPECT_EQ(run("States.MathRandom(1.6, 5.4)", {}, nullptr, &low),
            1);  // AWS: [1, 5)
  EXPECT_EQ(run("States.MathRandom(1.6, 5.4)", {}, nullptr, &high), 4);
}

TEST(IntrinsicMath, RandomErrors) {
  for (const char* bad : {"States.MathRandom(1, 1)", "States.MathRandom(10, 5)",
                          "States.MathRandom(1.49, 1.49)", "States.MathRandom(1.4, 1.6)",
                          "States.MathRandom($.s, 10)", "States.MathRandom(1, 10, $.s)",
                          "States.MathRandom(1, 10, $.n)", "States.MathRandom($.n, 10)"}) {
    EXPECT_EQ(failure(bad, {{"s", "a"}, {"n", nullptr}}), invalid("States.MathRandom")) << bad;
  }
}

TEST(IntrinsicString, SplitLikeStringTokenizer) {
  auto split = [](const char* s, const char* d) {
    return run("States.StringSplit($.s, $.d)", {{"s", s}, {"d", d}});
  };
  EXPECT_EQ(split("1,2,3,4,5", ","), Json::parse(R"(["1","2","3","4","5"])"));
  EXPECT_EQ(split("split on T and \nnew line", "T\n"),
            Json::parse(R"(["split on ", " and ", "new line"])"));
  EXPECT_EQ(split("1+2,3.4", ".+,"), Json::parse(R"(["1","2","3","4"])"));
  // AWS drops empty tokens.
  EXPECT_EQ(split("a,,b", ","), Json::parse(R"(["a","b"])"));
  EXPECT_EQ(split(",a,b,", ","), Json::parse(R"(["a","b"])"));
  EXPECT_EQ(split(",", ","), Json::array());
  EXPECT_EQ(split("", ","), Json::array());
  EXPECT_EQ(split("abc", ""), Json::parse(R"(["abc"])"));
  EXPECT_EQ(split("a✓b✓c", "✓"), Json::parse(R"(["a","b","c"])"));
  EXPECT_EQ(run("States.StringSplit(States.Format('{}-{}', 'x', 'y'), '-')"),
            Json::parse(R"(["x","y"])"));
  EXPECT_EQ(failure("States.StringSplit($.s, ',')", {{"s", 123}}), invalid("States.StringSplit"));
  EXPECT_EQ(failure("States.StringSplit('a', $.d)", {{"d", nullptr}}),
            invalid("States.StringSplit"));
}

TEST(IntrinsicUuid, Version4FromTheContextSource) {
  FixedRandom random({0x0123456789abcdefULL, 0xfedcba9876543210ULL});
  EXPECT_EQ(run("States.UUID()", {}, nullptr, &random), "01234567-89ab-4def-bedc-ba9876543210");
  SplitMixRandom splitmix(7);
  std::string a = run("States.UUID()", {}, nullptr, &splitmix).get<std::string>();
  std::string b = run("States.UUID()", {}, nullptr, &splitmix).get<std::string>();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos);
}

}  // namespace
}  // namespace stepd::asl
