#include "asl/choice/choice_rule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace stepd::asl {
namespace {

const std::string kPtr = "/States/Check/Choices/0";

ChoiceRule compile_ok(const Json& rule) {
  Diagnostics diags;
  ChoiceRule r = ChoiceRule::compile(rule, kPtr, true, diags);
  EXPECT_TRUE(diags.items().empty())
      << rule.dump() << ": " << (diags.items().empty() ? "" : to_string(diags.items()[0]));
  return r;
}

bool eval(const Json& rule, const Json& input) {
  ChoiceRule r = compile_ok(rule);
  EvalContext ctx;
  ctx.input = &input;
  return r.evaluate(ctx);
}

// The diagnostics of compiling `rule`, each as "pointer: message [CODE]".
std::vector<std::string> errors_of(const Json& rule, bool top_level = true) {
  Diagnostics diags;
  ChoiceRule::compile(rule, kPtr, top_level, diags);
  std::vector<std::string> out;
  for (const auto& d : diags.items()) out.push_back(to_string(d) + " [" + d.code + "]");
  return out;
}

// The States error thrown by evaluating rule on input, as "error: cause".
std::string runtime_error_of(const Json& rule, const Json& input) {
  ChoiceRule r = compile_ok(rule);
  EvalContext ctx;
  ctx.input = &input;
  try {
    r.evaluate(ctx);
  } catch (const StatesException& e) {
    return e.error().error + ": " + e.error().cause;
  }
  return "no error";
}

Json rule(std::string_view op, Json operand, std::string_view variable = "$.v") {
  return Json{
      {"Variable", std::string(variable)}, {std::string(op), std::move(operand)}, {"Next", "X"}};
}

Json with_v(Json v) { return Json{{"v", std::move(v)}}; }
Json with_vw(Json v, Json w) { return Json{{"v", std::move(v)}, {"w", std::move(w)}}; }

// ----- Strings -------------------------------------------------------------------------------

TEST(ChoiceString, EqualsComparesExactly) {
  EXPECT_TRUE(eval(rule("StringEquals", "Hello"), with_v("Hello")));
  EXPECT_FALSE(eval(rule("StringEquals", "Hello"), with_v("hello")));
  EXPECT_FALSE(eval(rule("StringEquals", "     "), with_v(" ")));
  // AWS: a value of another type never matches.
  EXPECT_FALSE(eval(rule("StringEquals", "1"), with_v(1)));
  EXPECT_FALSE(eval(rule("StringEquals", "HelloWorld"), with_v(nullptr)));
  EXPECT_FALSE(eval(rule("StringEquals", "HelloWorld"), with_v(Json::array({""}))));
  EXPECT_FALSE(eval(rule("StringEquals", "true"), with_v(true)));
}

TEST(ChoiceString, OrderingFollowsJavaCompareTo) {
  EXPECT_TRUE(eval(rule("StringLessThan", "AB"), with_v("A")));
  EXPECT_FALSE(eval(rule("StringLessThan", "A"), with_v("AB")));
  EXPECT_FALSE(eval(rule("StringLessThan", ""), with_v("")));
  EXPECT_TRUE(eval(rule("StringLessThanEquals", ""), with_v("")));
  EXPECT_FALSE(eval(rule("StringGreaterThan", "A "), with_v("A")));
  EXPECT_TRUE(eval(rule("StringGreaterThanEquals", "A"), with_v("AB")));
  EXPECT_TRUE(eval(rule("StringGreaterThan", "a"), with_v("b")));
  EXPECT_TRUE(eval(rule("StringLessThan", "a"), with_v("B")));  // code units, not locale
  EXPECT_FALSE(eval(rule("StringGreaterThan", "1"), with_v(2)));
}

TEST(ChoiceString, OrderingUsesUtf16CodeUnits) {
  // U+1F600 is the surrogate pair D83D DE00 in UTF-16, so Java orders it below U+FFFF and
  // U+E000, although its code point (and UTF-8 bytes) are greater.
  const std::string emoji = "\xF0\x9F\x98\x80";    // U+1F600
  const std::string private_use = "\xEE\x80\x80";  // U+E000
  const std::string bmp_high = "\xEF\xBF\xBF";     // U+FFFF
  EXPECT_TRUE(eval(rule("StringLessThan", private_use), with_v(emoji)));
  EXPECT_TRUE(eval(rule("StringLessThan", bmp_high), with_v(emoji)));
  EXPECT_FALSE(eval(rule("StringGreaterThan", bmp_high), with_v(emoji)));
  // Below the surrogate range, code point order holds.
  EXPECT_TRUE(eval(rule("StringGreaterThan", "\xED\x9F\xBF"), with_v(emoji)));  // U+D7FF
  EXPECT_TRUE(eval(rule("StringLessThan", "\xC3\xA9"), with_v("z")));           // U+00E9
  // Two supplementary characters order by code point.
  EXPECT_TRUE(eval(rule("StringLessThan", "\xF0\x9F\x98\x81"), with_v(emoji)));
  // A shared prefix that ends inside a multi-byte character.
  EXPECT_TRUE(eval(rule("StringLessThan", "a\xEF\xBF\xBF"), with_v("a\xEF\xBF\xBE")));
}

TEST(ChoiceString, PathOperandReadsTheInput) {
  EXPECT_TRUE(eval(rule("StringEqualsPath", "$.w"), with_vw("Hello", "Hello")));
  EXPECT_FALSE(eval(rule("StringEqualsPath", "$.w"), with_vw(" ", "     ")));
  EXPECT_TRUE(eval(rule("StringLessThanPath", "$.w"), with_vw("A", "AB")));
  EXPECT_FALSE(eval(rule("StringGreaterThanPath", "$.w"), with_vw("AB", "ABC")));
  EXPECT_TRUE(eval(rule("StringLessThanEqualsPath", "$.w"), with_vw("", "")));
  EXPECT_TRUE(eval(rule("StringGreaterThanEqualsPath", "$.w"), with_vw("B", "A")));
  // The operand at the path has the wrong type: no match.
  EXPECT_FALSE(eval(rule("StringEqualsPath", "$.w"), with_vw("1", 1)));
  EXPECT_FALSE(eval(rule("StringEqualsPath", "$.w"), with_vw(1, 1)));
}

TEST(ChoiceString, MatchesWildcards) {
  EXPECT_TRUE(eval(rule("StringMatches", "log-*.txt"), with_v("log-2024.txt")));
  EXPECT_TRUE(eval(rule("StringMatches", "log-*.txt"), with_v("log-.txt")));
  EXPECT_FALSE(eval(rule("StringMatches", "log-*.txt"), with_v("log-2024.txt.gz")));
  EXPECT_FALSE(eval(rule("StringMatches", "log-*.txt"), with_v("xlog-1.txt")));
  EXPECT_TRUE(eval(rule("StringMatches", "*"), with_v("")));
  EXPECT_TRUE(eval(rule("StringMatches", "*"), with_v("anything")));
  EXPECT_TRUE(eval(rule("StringMatches", "**"), with_v("x")));
  EXPECT_TRUE(eval(rule("StringMatches", "a*b*c"), with_v("abc")));
  EXPECT_TRUE(eval(rule("StringMatches", "a*b*c"), with_v("aXbYbZc")));
  EXPECT_FALSE(eval(rule("StringMatches", "a*b*c"), with_v("acb")));
  EXPECT_FALSE(eval(rule("StringMatches", "aa*aa"), with_v("aaa")));
  EXPECT_TRUE(eval(rule("StringMatches", "aa*aa"), with_v("aaaa")));
  EXPECT_TRUE(eval(rule("StringMatches", "exact"), with_v("exact")));
  EXPECT_FALSE(eval(rule("StringMatches", "exact"), with_v("exactly")));
  // Only "*" is special: "?", "[" and "." are literal.
  EXPECT_TRUE(eval(rule("StringMatches", "a?[b].*"), with_v("a?[b].z")));
  EXPECT_FALSE(eval(rule("StringMatches", "a?c"), with_v("abc")));
  EXPECT_FALSE(eval(rule("StringMatches", "*"), with_v(1)));
}

TEST(ChoiceString, MatchesEscapes) {
  // "\*" is a literal star, "\\" a literal backslash.
  EXPECT_TRUE(eval(rule("StringMatches", "a\\*b"), with_v("a*b")));
  EXPECT_FALSE(eval(rule("StringMatches", "a\\*b"), with_v("axb")));
  EXPECT_TRUE(eval(rule("StringMatches", "a\\\\*"), with_v("a\\xyz")));
  EXPECT_FALSE(eval(rule("StringMatches", "a\\\\*"), with_v("axyz")));
  EXPECT_TRUE(eval(rule("StringMatches", "\\\\\\*"), with_v("\\*")));
  EXPECT_TRUE(eval(rule("StringMatches", "*\\**"), with_v("x*y")));
  EXPECT_FALSE(eval(rule("StringMatches", "*\\**"), with_v("xy")));
  // A backslash before any other character stands for itself.
  EXPECT_TRUE(eval(rule("StringMatches", "a\\b"), with_v("a\\b")));
}

// ----- Numbers -------------------------------------------------------------------------------

TEST(ChoiceNumeric, ComparesIntegersAndDecimalsExactly) {
  EXPECT_TRUE(eval(rule("NumericEquals", 0.0), with_v(0)));
  EXPECT_TRUE(eval(rule("NumericEquals", 1), with_v(1.0)));
  EXPECT_TRUE(eval(rule("NumericEquals", -0.0), with_v(0)));
  EXPECT_FALSE(eval(rule("NumericEquals", 1), with_v(1.1)));
  EXPECT_TRUE(eval(rule("NumericLessThan", 1.5), with_v(1)));
  EXPECT_TRUE(eval(rule("NumericGreaterThan", 1), with_v(1.5)));
  EXPECT_TRUE(eval(rule("NumericLessThan", -1), with_v(-1.5)));
  EXPECT_TRUE(eval(rule("NumericGreaterThanEquals", -2), with_v(-1.5)));
  EXPECT_TRUE(eval(rule("NumericLessThanEquals", 0), with_v(0.0)));
  EXPECT_FALSE(eval(rule("NumericLessThanEquals", 0), with_v(1)));
  EXPECT_FALSE(eval(rule("NumericLessThan", 0), with_v(0)));
  // Beyond 2^53 an integer is not rounded to the nearest double.
  EXPECT_FALSE(eval(rule("NumericEquals", 9007199254740992.0), with_v(9007199254740993LL)));
  EXPECT_TRUE(eval(rule("NumericGreaterThan", 9007199254740992.0), with_v(9007199254740993LL)));
  // Unsigned 64-bit and negative values.
  EXPECT_TRUE(eval(rule("NumericGreaterThan", -1), with_v(18446744073709551615ULL)));
  EXPECT_TRUE(
      eval(rule("NumericLessThan", 18446744073709551616.0), with_v(18446744073709551615ULL)));
  EXPECT_TRUE(eval(rule("NumericLessThan", 1e300), with_v(9223372036854775807LL)));
  EXPECT_TRUE(eval(rule("NumericGreaterThan", -1e300), with_v(-9223372036854775807LL - 1)));
  EXPECT_TRUE(eval(rule("NumericEquals", 1e300), with_v(1e300)));
}

TEST(ChoiceNumeric, NonNumbersNeverMatch) {
  EXPECT_FALSE(eval(rule("NumericEquals", 1), with_v("1")));
  EXPECT_FALSE(eval(rule("NumericEquals", 1), with_v(true)));
  EXPECT_FALSE(eval(rule("NumericEquals", 0), with_v(false)));
  EXPECT_FALSE(eval(rule("NumericEquals", 0), with_v(nullptr)));
  EXPECT_FALSE(eval(rule("NumericLessThan", 0), with_v(Json::array())));
  EXPECT_FALSE(eval(rule("NumericEquals", 0), with_v(Json{{"A", 0}})));
}

TEST(ChoiceNumeric, PathOperand) {
  EXPECT_TRUE(eval(rule("NumericEqualsPath", "$.w"), with_vw(0.0, 0)));
  EXPECT_FALSE(eval(rule("NumericEqualsPath", "$.w"), with_vw(1, 0.0)));
  EXPECT_TRUE(eval(rule("NumericLessThanPath", "$.w"), with_vw(1, 2)));
  EXPECT_FALSE(eval(rule("NumericLessThanPath", "$.w"), with_vw(0, 0)));
  EXPECT_TRUE(eval(rule("NumericGreaterThanPath", "$.w"), with_vw(3, 2.5)));
  EXPECT_TRUE(eval(rule("NumericLessThanEqualsPath", "$.w"), with_vw(2, 2.0)));
  EXPECT_TRUE(eval(rule("NumericGreaterThanEqualsPath", "$.w"), with_vw(0.0, 0)));
  EXPECT_FALSE(eval(rule("NumericEqualsPath", "$.w"), with_vw(1, "1")));
  EXPECT_FALSE(eval(rule("NumericEqualsPath", "$.w"), with_vw(true, 1)));
}

// ----- Booleans ------------------------------------------------------------------------------

TEST(ChoiceBoolean, EqualsOnlyBooleans) {
  EXPECT_TRUE(eval(rule("BooleanEquals", true), with_v(true)));
  EXPECT_TRUE(eval(rule("BooleanEquals", false), with_v(false)));
  EXPECT_FALSE(eval(rule("BooleanEquals", true), with_v(false)));
  // AWS: 0, 1 and "true" are not booleans.
  EXPECT_FALSE(eval(rule("BooleanEquals", true), with_v(1)));
  EXPECT_FALSE(eval(rule("BooleanEquals", false), with_v(0)));
  EXPECT_FALSE(eval(rule("BooleanEquals", true), with_v("true")));
  EXPECT_FALSE(eval(rule("BooleanEquals", false), with_v(nullptr)));
  EXPECT_TRUE(eval(rule("BooleanEqualsPath", "$.w"), with_vw(false, false)));
  EXPECT_FALSE(eval(rule("BooleanEqualsPath", "$.w"), with_vw(0.0, false)));
  EXPECT_FALSE(eval(rule("BooleanEqualsPath", "$.w"), with_vw(true, 1)));
}

// ----- Timestamps ----------------------------------------------------------------------------

TEST(ChoiceTimestamp, ComparesInstants) {
  const char* t0 = "2012-10-09T19:00:55Z";
  EXPECT_TRUE(eval(rule("TimestampEquals", t0), with_v(t0)));
  EXPECT_FALSE(eval(rule("TimestampEquals", t0), with_v("2012-10-09T19:00:56Z")));
  EXPECT_TRUE(eval(rule("TimestampEquals", t0), with_v("2012-10-09T21:00:55+02:00")));
  EXPECT_TRUE(eval(rule("TimestampGreaterThan", t0), with_v("2012-10-09T19:00:56Z")));
  EXPECT_TRUE(eval(rule("TimestampLessThan", "2012-10-09T19:00:56Z"), with_v(t0)));
  EXPECT_FALSE(eval(rule("TimestampLessThan", t0), with_v(t0)));
  EXPECT_TRUE(eval(rule("TimestampLessThanEquals", t0), with_v(t0)));
  EXPECT_TRUE(eval(rule("TimestampGreaterThanEquals", t0), with_v(t0)));
  // Sub-second precision, down to nanoseconds.
  EXPECT_TRUE(eval(rule("TimestampGreaterThan", t0), with_v("2012-10-09T19:00:55.001Z")));
  EXPECT_TRUE(eval(rule("TimestampGreaterThan", t0), with_v("2012-10-09T19:00:55.000000001Z")));
  EXPECT_TRUE(eval(rule("TimestampEquals", "2012-10-09T19:00:55.5Z"),
                   with_v("2012-10-09T19:00:55.500000Z")));
}

TEST(ChoiceTimestamp, NonTimestampsNeverMatch) {
  const char* t0 = "2012-10-09T19:00:55Z";
  EXPECT_FALSE(eval(rule("TimestampEquals", t0), with_v(0.0)));
  EXPECT_FALSE(eval(rule("TimestampEquals", t0), with_v("")));
  EXPECT_FALSE(eval(rule("TimestampEquals", t0), with_v("2012-10-09T19:00:55")));
  EXPECT_FALSE(eval(rule("TimestampLessThanEquals", t0), with_v("2023-02-24 12:15:56.832957")));
  EXPECT_FALSE(eval(rule("TimestampEquals", t0), with_v(Json::object())));
  EXPECT_FALSE(eval(rule("TimestampEqualsPath", "$.w"), with_vw(t0, "not a time")));
  EXPECT_FALSE(eval(rule("TimestampEqualsPath", "$.w"), with_vw(t0, 5)));
}

TEST(ChoiceTimestamp, PathOperand) {
  const char* t0 = "2012-10-09T19:00:55Z";
  const char* t1 = "2012-10-09T19:00:56Z";
  EXPECT_TRUE(eval(rule("TimestampEqualsPath", "$.w"), with_vw(t0, t0)));
  EXPECT_FALSE(eval(rule("TimestampEqualsPath", "$.w"), with_vw(t0, t1)));
  EXPECT_FALSE(eval(rule("TimestampGreaterThanPath", "$.w"), with_vw(t0, t1)));
  EXPECT_FALSE(eval(rule("TimestampGreaterThanEqualsPath", "$.w"), with_vw(t0, t1)));
  EXPECT_FALSE(eval(rule("TimestampLessThanPath", "$.w"), with_vw(t1, t0)));
  EXPECT_TRUE(eval(rule("TimestampLessThanEqualsPath", "$.w"), with_vw(t0, t1)));
}

// ----- Type tests ----------------------------------------------------------------------------

TEST(ChoiceIs, TestsTypes) {
  EXPECT_TRUE(eval(rule("IsNull", true), with_v(nullptr)));
  EXPECT_FALSE(eval(rule("IsNull", false), with_v(nullptr)));
  EXPECT_TRUE(eval(rule("IsNull", false), with_v(" ")));
  EXPECT_FALSE(eval(rule("IsNull", true), with_v(false)));
  EXPECT_TRUE(eval(rule("IsNumeric", true), with_v(0)));
  EXPECT_TRUE(eval(rule("IsNumeric", true), with_v(1.1)));
  EXPECT_TRUE(eval(rule("IsNumeric", false), with_v("1")));
  EXPECT_TRUE(eval(rule("IsNumeric", false), with_v(nullptr)));
  EXPECT_FALSE(eval(rule("IsNumeric", true), with_v(true)));
  EXPECT_TRUE(eval(rule("IsString", true), with_v("")));
  EXPECT_FALSE(eval(rule("IsString", false), with_v("HelloWorld")));
  EXPECT_TRUE(eval(rule("IsString", false), with_v(Json::array({""}))));
  EXPECT_TRUE(eval(rule("IsBoolean", true), with_v(false)));
  EXPECT_FALSE(eval(rule("IsBoolean", true), with_v(0)));
  EXPECT_TRUE(eval(rule("IsBoolean", false), with_v(" ")));
  EXPECT_TRUE(eval(rule("IsTimestamp", true), with_v("2012-10-09T19:00:55Z")));
  EXPECT_TRUE(eval(rule("IsTimestamp", true), with_v("2012-10-09T19:00:55+01:00")));
  EXPECT_TRUE(eval(rule("IsTimestamp", true), with_v("2012-10-09T19:00:55.123456789Z")));
  EXPECT_FALSE(eval(rule("IsTimestamp", true), with_v("2012-10-09T19:00:55")));
  EXPECT_FALSE(eval(rule("IsTimestamp", true), with_v("2023-02-24")));
  EXPECT_TRUE(eval(rule("IsTimestamp", false), with_v("HelloWorld")));
  EXPECT_TRUE(eval(rule("IsTimestamp", false), with_v(1)));
  EXPECT_FALSE(eval(rule("IsTimestamp", false), with_v("2012-10-09T19:00:55Z")));
}

TEST(ChoiceIs, IsPresentTellsWhetherThePathMatches) {
  EXPECT_TRUE(eval(rule("IsPresent", true), with_v(nullptr)));
  EXPECT_FALSE(eval(rule("IsPresent", false), with_v(nullptr)));
  EXPECT_FALSE(eval(rule("IsPresent", false), with_v(Json::array())));
  EXPECT_FALSE(eval(rule("IsPresent", true), Json::object()));
  EXPECT_TRUE(eval(rule("IsPresent", false), Json::object()));
  EXPECT_FALSE(eval(rule("IsPresent", true, "$.v.deeper"), with_v("string")));
  EXPECT_TRUE(eval(rule("IsPresent", true, "$.v[1]"), with_v(Json::array({1, 2}))));
  EXPECT_FALSE(eval(rule("IsPresent", true, "$.v[2]"), with_v(Json::array({1, 2}))));
}

// ----- Missing values ------------------------------------------------------------------------

TEST(ChoiceMissing, ComparisonOnAMissingVariableFailsTheExecution) {
  // AWS: States.Runtime with this cause; IsPresent is the way to test first.
  EXPECT_EQ(runtime_error_of(rule("NumericEquals", 1, "$.x"), with_v(1)),
            "States.Runtime: Invalid path '$.x': The choice state's condition path references "
            "an invalid value.");
  EXPECT_EQ(runtime_error_of(rule("StringEquals", "a", "$.v.w"), with_v("s")),
            "States.Runtime: Invalid path '$.v.w': The choice state's condition path "
            "references an invalid value.");
  EXPECT_EQ(runtime_error_of(rule("BooleanEquals", true, "$.approved"), Json::object()),
            "States.Runtime: Invalid path '$.approved': The choice state's condition path "
            "references an invalid value.");
  EXPECT_EQ(runtime_error_of(rule("IsNull", true, "$.x"), Json::object()),
            "States.Runtime: Invalid path '$.x': The choice state's condition path references "
            "an invalid value.");
}

TEST(ChoiceMissing, MissingPathOperandFailsWithItsPath) {
  EXPECT_EQ(runtime_error_of(rule("NumericEqualsPath", "$.missing"), with_v(1)),
            "States.Runtime: Invalid path '$.missing': The choice state's condition path "
            "references an invalid value.");
  // The Variable is looked at first.
  EXPECT_EQ(runtime_error_of(rule("StringEqualsPath", "$.missing", "$.x"), with_v(1)),
            "States.Runtime: Invalid path '$.x': The choice state's condition path references "
            "an invalid value.");
}

TEST(ChoiceMissing, AndShortCircuitsAfterIsPresent) {
  Json r = {{"And",
             {{{"Variable", "$.k"}, {"IsPresent", true}},
              {{"Variable", "$.k"}, {"StringEquals", "foo"}}}},
            {"Next", "X"}};
  EXPECT_FALSE(eval(r, Json::object()));
  EXPECT_TRUE(eval(r, Json{{"k", "foo"}}));
  EXPECT_FALSE(eval(r, Json{{"k", "bar"}}));
}

// ----- And / Or / Not ------------------------------------------------------------------------

TEST(ChoiceLogic, AndOrNotNest) {
  // The AWS documentation's example.
  Json not_private = {{"Not", {{"Variable", "$.type"}, {"StringEquals", "Private"}}},
                      {"Next", "Public"}};
  Json twenties = {{"And",
                    {{{"Variable", "$.value"}, {"NumericGreaterThanEquals", 20}},
                     {{"Variable", "$.value"}, {"NumericLessThan", 30}}}},
                   {"Next", "ValueInTwenties"}};
  Json input = {{"type", "Private"}, {"value", 22}};
  EXPECT_FALSE(eval(not_private, input));
  EXPECT_TRUE(eval(twenties, input));
  EXPECT_FALSE(eval(twenties, Json{{"type", "Private"}, {"value", 30}}));

  Json either = {{"Or",
                  {{{"Variable", "$.a"}, {"BooleanEquals", true}},
                   {{"Not", {{"Variable", "$.b"}, {"IsNull", true}}}}}},
                 {"Next", "X"}};
  EXPECT_TRUE(eval(either, Json{{"a", true}}));  // short-circuit: $.b is never read
  EXPECT_TRUE(eval(either, Json{{"a", false}, {"b", 1}}));
  EXPECT_FALSE(eval(either, Json{{"a", false}, {"b", nullptr}}));

  // The conformance case MAP_STATE_BREAK_CONDITION: nested And on "$".
  Json nested = {
      {"And",
       {{{"IsPresent", true}, {"Variable", "$"}},
        {{"And",
          {{{"IsNumeric", true}, {"Variable", "$"}}, {{"NumericEquals", 3}, {"Variable", "$"}}}}}}},
      {"Next", "Break"}};
  EXPECT_FALSE(eval(nested, 1));
  EXPECT_FALSE(eval(nested, "Hello"));
  EXPECT_FALSE(eval(nested, Json::object()));
  EXPECT_FALSE(eval(nested, 3.3));
  EXPECT_TRUE(eval(nested, 3));
}

// ----- Roots: $$ and variables ---------------------------------------------------------------

TEST(ChoiceRoots, ContextObject) {
  ChoiceRule r = compile_ok(rule("NumericLessThanEquals", 0, "$$.Execution.Input.input-value"));
  EXPECT_TRUE(r.uses_context());
  EXPECT_FALSE(r.uses_variables());
  Json input = Json::object();
  Json context = {{"Execution", {{"Input", {{"input-value", 0}}}}}};
  EvalContext ctx;
  ctx.input = &input;
  ctx.context = &context;
  EXPECT_TRUE(r.evaluate(ctx));
  context["Execution"]["Input"]["input-value"] = 1;
  EXPECT_FALSE(r.evaluate(ctx));
}

TEST(ChoiceRoots, Variables) {
  // The conformance case BASE_REFERENCE_IN_CHOICE.
  ChoiceRule r = compile_ok(rule("StringEqualsPath", "$answer", "$guess"));
  EXPECT_TRUE(r.uses_variables());
  EXPECT_FALSE(r.uses_context());
  Json input = Json::object();
  VariableScope scope;
  scope.set("guess", "the_guess");
  scope.set("answer", "the_answer");
  EvalContext ctx;
  ctx.input = &input;
  ctx.variables = &scope;
  EXPECT_FALSE(r.evaluate(ctx));
  VariableScope inner(&scope);
  inner.set("guess", "the_answer");
  ctx.variables = &inner;
  EXPECT_TRUE(r.evaluate(ctx));

  ChoiceRule field = compile_ok(rule("NumericGreaterThan", 1, "$cfg.limit"));
  VariableScope cfg;
  cfg.set("cfg", Json{{"limit", 5}});
  ctx.variables = &cfg;
  EXPECT_TRUE(field.evaluate(ctx));
}

TEST(ChoiceRoots, UndefinedVariableIsNotPresent) {
  Json input = Json::object();
  VariableScope scope;
  EvalContext ctx;
  ctx.input = &input;
  ctx.variables = &scope;
  EXPECT_FALSE(compile_ok(rule("IsPresent", true, "$nope")).evaluate(ctx));
  try {
    compile_ok(rule("StringEquals", "value", "$undefinedVariable")).evaluate(ctx);
    FAIL() << "expected a StatesException";
  } catch (const StatesException& e) {
    EXPECT_EQ(e.error().error, "States.Runtime");
    EXPECT_EQ(e.error().cause,
              "Invalid path '$undefinedVariable': The choice state's condition path "
              "references an invalid value.");
  }
}

// ----- Validation ----------------------------------------------------------------------------

TEST(ChoiceCompile, NeedsExactlyOneOperator) {
  EXPECT_EQ(errors_of(Json{{"Variable", "$.a"}, {"Next", "X"}}),
            std::vector<std::string>{"/States/Check/Choices/0: must have exactly one comparison "
                                     "operator [INVALID_CHOICE_RULE]"});
  EXPECT_EQ(errors_of(Json{
                {"Variable", "$.a"}, {"StringEquals", "x"}, {"NumericEquals", 1}, {"Next", "X"}}),
            std::vector<std::string>{"/States/Check/Choices/0: must have exactly one comparison "
                                     "operator, found 2 (StringEquals, NumericEquals) "
                                     "[INVALID_CHOICE_RULE]"});
  EXPECT_EQ(errors_of(Json{{"And", Json::array({Json{{"Variable", "$.a"}, {"IsNull", true}}})},
                           {"Not", Json{{"Variable", "$.a"}, {"IsNull", true}}}}),
            std::vector<std::string>{"/States/Check/Choices/0: must have exactly one comparison "
                                     "operator, found 2 (And, Not) [INVALID_CHOICE_RULE]"});
}

TEST(ChoiceCompile, RejectsUnknownFieldsWithASuggestion) {
  EXPECT_EQ(errors_of(Json{{"Variable", "$.a"}, {"StringEqual", "x"}, {"Next", "X"}}),
            (std::vector<std::string>{
                "/States/Check/Choices/0/StringEqual: unknown field 'StringEqual' in a Choice "
                "rule (did you mean 'StringEquals'?) [UNKNOWN_FIELD]",
                "/States/Check/Choices/0: must have exactly one comparison operator "
                "[INVALID_CHOICE_RULE]"}));
  EXPECT_EQ(errors_of(Json{{"Variable", "$.a"}, {"IsNull", true}, {"Zebra", 1}}),
            std::vector<std::string>{"/States/Check/Choices/0/Zebra: unknown field 'Zebra' in a "
                                     "Choice rule [UNKNOWN_FIELD]"});
}

TEST(ChoiceCompile, ChecksOperandTypes) {
  EXPECT_EQ(errors_of(rule("NumericEquals", "1")),
            std::vector<std::string>{"/States/Check/Choices/0/NumericEquals: NumericEquals must "
                                     "be a number, got string [WRONG_TYPE]"});
  EXPECT_EQ(errors_of(rule("StringEquals", 1)),
            std::vector<std::string>{"/States/Check/Choices/0/StringEquals: StringEquals must "
                                     "be a string, got number [WRONG_TYPE]"});
  EXPECT_EQ(errors_of(rule("StringMatches", nullptr)),
            std::vector<std::string>{"/States/Check/Choices/0/StringMatches: StringMatches "
                                     "must be a string, got null [WRONG_TYPE]"});
  EXPECT_EQ(errors_of(rule("BooleanEquals", "true")),
            std::vector<std::string>{"/States/Check/Choices/0/BooleanEquals: BooleanEquals "
                                     "must be a boolean, got string [WRONG_TYPE]"});
  EXPECT_EQ(errors_of(rule("IsPresent", 1)),
            std::vector<std::string>{"/States/Check/Choices/0/IsPresent: IsPresent must be a "
                                     "boolean, got number [WRONG_TYPE]"});
  EXPECT_EQ(errors_of(rule("TimestampEquals", "2016-12-05 21:29:29Z")),
            std::vector<std::string>{
                "/States/Check/Choices/0/TimestampEquals: TimestampEquals must be a timestamp "
                "string such as \"2016-03-14T01:59:00Z\" (RFC 3339 with an uppercase T and a Z "
                "or +hh:mm offset), got \"2016-12-05 21:29:29Z\" [INVALID_TIMESTAMP]"});
  EXPECT_EQ(errors_of(rule("TimestampLessThan", 5)),
            std::vector<std::string>{
                "/States/Check/Choices/0/TimestampLessThan: TimestampLessThan must be a "
                "timestamp string such as \"2016-03-14T01:59:00Z\" (RFC 3339 with an uppercase T "
                "and a Z or +hh:mm offset), got number [INVALID_TIMESTAMP]"});
  EXPECT_EQ(errors_of(rule("NumericEqualsPath", 3)),
            std::vector<std::string>{"/States/Check/Choices/0/NumericEqualsPath: "
                                     "NumericEqualsPath must be a string holding a path (such "
                                     "as \"$.field\"), got number [WRONG_TYPE]"});
}

TEST(ChoiceCompile, ChecksPaths) {
  auto bad_variable = errors_of(rule("IsNull", true, "a.b"));
  ASSERT_EQ(bad_variable.size(), 1u);
  EXPECT_EQ(bad_variable[0].rfind("/States/Check/Choices/0/Variable: Variable must be a valid "
                                  "JSONPath: 'a.b': ",
                                  0),
            0u)
      << bad_variable[0];
  EXPECT_NE(bad_variable[0].find("[INVALID_PATH]"), std::string::npos);

  auto bad_operand = errors_of(rule("StringEqualsPath", "$.a[", "$.v"));
  ASSERT_EQ(bad_operand.size(), 1u);
  EXPECT_EQ(bad_operand[0].rfind("/States/Check/Choices/0/StringEqualsPath: StringEqualsPath "
                                 "must be a valid JSONPath: '$.a[': ",
                                 0),
            0u)
      << bad_operand[0];

  EXPECT_EQ(errors_of(Json{{"IsNull", true}}),
            std::vector<std::string>{"/States/Check/Choices/0: missing Variable: IsNull tests "
                                     "the value at the path in Variable [MISSING_FIELD]"});
  EXPECT_EQ(errors_of(Json{{"Variable", 5}, {"IsNull", true}}),
            std::vector<std::string>{"/States/Check/Choices/0/Variable: Variable must be a "
                                     "string holding a path (such as \"$.field\"), got number "
                                     "[WRONG_TYPE]"});
}

TEST(ChoiceCompile, ChecksCombinators) {
  EXPECT_EQ(errors_of(Json{{"And", Json::array()}, {"Next", "X"}}),
            std::vector<std::string>{"/States/Check/Choices/0/And: And must be a non-empty "
                                     "array of Choice rules, got an empty array "
                                     "[INVALID_CHOICE_RULE]"});
  EXPECT_EQ(errors_of(Json{{"Or", Json::object()}, {"Next", "X"}}),
            std::vector<std::string>{"/States/Check/Choices/0/Or: Or must be a non-empty array "
                                     "of Choice rules, got object [INVALID_CHOICE_RULE]"});
  EXPECT_EQ(errors_of(Json{{"Not", Json::array()}, {"Next", "X"}}),
            std::vector<std::string>{"/States/Check/Choices/0/Not: Not must be a Choice rule "
                                     "object, got array [INVALID_CHOICE_RULE]"});
  EXPECT_EQ(errors_of(Json{{"Variable", "$.a"},
                           {"Not", Json{{"Variable", "$.a"}, {"IsNull", true}}},
                           {"Next", "X"}}),
            std::vector<std::string>{"/States/Check/Choices/0/Variable: Variable is not allowed "
                                     "with Not: put it in the nested Choice rules "
                                     "[INVALID_CHOICE_RULE]"});
  // Errors inside nested rules carry their full pointer.
  EXPECT_EQ(errors_of(Json{{"And",
                            {{{"Variable", "$.a"}, {"IsNull", true}},
                             {{"Not", {{"Variable", "$.a"}, {"NumericEquals", "x"}}}}}},
                           {"Next", "X"}}),
            std::vector<std::string>{"/States/Check/Choices/0/And/1/Not/NumericEquals: "
                                     "NumericEquals must be a number, got string "
                                     "[WRONG_TYPE]"});
  EXPECT_EQ(errors_of(Json{{"Or", {1}}}),
            std::vector<std::string>{"/States/Check/Choices/0/Or/0: a Choice rule must be an "
                                     "object, got number [INVALID_CHOICE_RULE]"});
}

TEST(ChoiceCompile, NextOnlyAtTopLevel) {
  EXPECT_TRUE(errors_of(rule("IsNull", true)).empty());
  EXPECT_EQ(errors_of(Json{{"Not", {{"Variable", "$.a"}, {"IsNull", true}, {"Next", "X"}}},
                           {"Next", "X"}}),
            std::vector<std::string>{"/States/Check/Choices/0/Not/Next: Next is only allowed in "
                                     "a top-level Choice rule, not inside And, Or or Not "
                                     "[INVALID_CHOICE_RULE]"});
  EXPECT_EQ(errors_of(rule("IsNull", true), /*top_level=*/false),
            std::vector<std::string>{"/States/Check/Choices/0/Next: Next is only allowed in a "
                                     "top-level Choice rule, not inside And, Or or Not "
                                     "[INVALID_CHOICE_RULE]"});
  // Comment is allowed anywhere; Assign only at the top.
  EXPECT_TRUE(errors_of(Json{{"Not", {{"Variable", "$.a"}, {"IsNull", true}, {"Comment", "c"}}},
                             {"Comment", "top"},
                             {"Assign", {{"x", 1}}},
                             {"Next", "X"}})
                  .empty());
}

TEST(ChoiceCompile, ReportsEveryProblemAtOnce) {
  auto errors = errors_of(Json{{"Or",
                                {{{"Variable", "$.a"}, {"NumericEquals", "1"}},
                                 {{"Variable", "$.b"}, {"BooleanEquals", 0}},
                                 {{"Variable", "$.c"}}}},
                               {"Next", "X"}});
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "/States/Check/Choices/0/Or/0/NumericEquals: NumericEquals must be a number, got "
                "string [WRONG_TYPE]",
                "/States/Check/Choices/0/Or/1/BooleanEquals: BooleanEquals must be a boolean, "
                "got number [WRONG_TYPE]",
                "/States/Check/Choices/0/Or/2: must have exactly one comparison operator "
                "[INVALID_CHOICE_RULE]"}));
}

TEST(ChoiceCompile, TracksRootsThroughNesting) {
  ChoiceRule r = compile_ok(Json{{"Or",
                                  {{{"Variable", "$.a"}, {"IsNull", true}},
                                   {{"Not", {{"Variable", "$.b"}, {"StringEqualsPath", "$$.x"}}}},
                                   {{"Variable", "$v"}, {"IsPresent", true}}}},
                                 {"Next", "X"}});
  EXPECT_TRUE(r.uses_context());
  EXPECT_TRUE(r.uses_variables());
  ChoiceRule plain = compile_ok(rule("IsNull", true));
  EXPECT_FALSE(plain.uses_context());
  EXPECT_FALSE(plain.uses_variables());
}

// ----- Conformance ---------------------------------------------------------------------------

// Every recorded AWS case whose definition is one Choice state with one rule that routes to a
// Pass state naming the outcome ("ConditionTrue" / "ConditionFalse").
TEST(ChoiceConformance, ReproducesRecordedAwsResults) {
  const std::string file = std::string(STEPD_SHARED_DIR) + "/conformance/dev-cases.jsonl";
  std::ifstream in(file);
  if (!in) GTEST_SKIP() << "conformance cases not found at " << file;
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json c = Json::parse(line);
    const Json& features = c["features"];
    if (std::find(features.begin(), features.end(), "harness:choice_cases") == features.end()) {
      continue;
    }
    const Json& expected = c["expected"];
    if (expected.value("status", "") != "SUCCEEDED") continue;
    const Json& states = c["definition"]["States"];
    const Json* choice = nullptr;
    std::string choice_name;
    for (auto it = states.begin(); it != states.end(); ++it) {
      if (it.value().value("Type", "") == "Choice") {
        choice = &it.value();
        choice_name = it.key();
      }
    }
    if (choice == nullptr || (*choice)["Choices"].size() != 1) continue;
    const Json& rule_json = (*choice)["Choices"][0];
    const std::string outcome = expected["output"].value("TestResult.$", "");
    if (outcome != "ConditionTrue" && outcome != "ConditionFalse") continue;
    // The state the rule's Next names must be the "true" outcome.
    ASSERT_EQ(rule_json.value("Next", ""), "ConditionTrue") << c["id"];

    Diagnostics diags;
    ChoiceRule r =
        ChoiceRule::compile(rule_json, "/States/" + choice_name + "/Choices/0", true, diags);
    ASSERT_TRUE(diags.items().empty()) << c["id"] << ": " << to_string(diags.items()[0]);
    EvalContext ctx;
    ctx.input = &c["input"];
    EXPECT_EQ(r.evaluate(ctx), outcome == "ConditionTrue")
        << c["id"] << " rule " << rule_json.dump() << " input " << c["input"].dump();
    ++checked;
  }
  EXPECT_GE(checked, 130);
}

}  // namespace
}  // namespace stepd::asl
