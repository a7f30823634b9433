#include "server/aws/aws_protocol.hpp"

#include "tests/server/aws/history_event_types.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace stepd::server::aws {
namespace {

using ::stepd::test::kEngineEventDetails;

const ApiError& error_of(const std::optional<ApiError>& e) {
  static const ApiError none{"(none)", "(no error)", {}};
  return e ? *e : none;
}

// --- Bodies -------------------------------------------------------------------------------------

std::string nested(int depth) {
  return std::string(static_cast<std::size_t>(depth), '[') +
         std::string(static_cast<std::size_t>(depth), ']');
}

TEST(AwsBody, NestingUpToTheLimitPasses) {
  EXPECT_FALSE(scan_body("{\"a\":" + nested(63) + "}").has_value());
}

TEST(AwsBody, NestingPastTheLimitIsASerializationException) {
  auto e = scan_body("{\"a\":" + nested(64) + "}");
  EXPECT_EQ(error_of(e).type, "SerializationException");
  EXPECT_EQ(error_of(e).message, "The request body nests arrays and objects deeper than 64 levels");
}

TEST(AwsBody, DeepNestingIsRefusedWithoutBuildingIt) {
  // A million levels would overflow a recursive parser's stack; the scan stops at level 65.
  auto parsed = parse_body(nested(1'000'000));
  ASSERT_TRUE(std::holds_alternative<ApiError>(parsed));
  EXPECT_EQ(std::get<ApiError>(parsed).type, "SerializationException");
}

TEST(AwsBody, BracketsInsideStringsDoNotCount) {
  const std::string brackets(200, '[');
  EXPECT_FALSE(scan_body("{\"a\":\"" + brackets + "\\\"" + brackets + "\"}").has_value());
}

TEST(AwsBody, InvalidUtf8IsASerializationException) {
  for (const std::string& bad : {std::string("{\"a\":\"\xff\"}"), std::string("{\"a\":\"\xc3\"}"),
                                 std::string("{\"a\":\"\xe0\x80\x80\"}"),         // overlong
                                 std::string("{\"a\":\"\xed\xa0\x80\"}"),         // surrogate
                                 std::string("{\"a\":\"\xf4\x90\x80\x80\"}")}) {  // > U+10FFFF
    auto e = scan_body(bad);
    EXPECT_EQ(error_of(e).type, "SerializationException") << bad;
    EXPECT_EQ(error_of(e).message, "The request body is not valid UTF-8 (at byte 6)") << bad;
  }
  EXPECT_FALSE(scan_body("{\"a\":\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}").has_value());
}

TEST(AwsBody, EmptyBodyIsAnEmptyObject) {
  for (const char* body : {"", "  \r\n"}) {
    auto parsed = parse_body(body);
    ASSERT_TRUE(std::holds_alternative<Json>(parsed));
    EXPECT_EQ(std::get<Json>(parsed), Json::object());
  }
}

TEST(AwsBody, NotJsonOrNotAnObjectIsASerializationException) {
  auto bad = parse_body("{\"a\":");
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad));
  EXPECT_EQ(std::get<ApiError>(bad).type, "SerializationException");
  EXPECT_EQ(std::get<ApiError>(bad).message, "The request body is not valid JSON");
  auto array = parse_body("[1]");
  ASSERT_TRUE(std::holds_alternative<ApiError>(array));
  EXPECT_EQ(std::get<ApiError>(array).message,
            "The request body must be a JSON object, not an array");
}

// --- Validation ---------------------------------------------------------------------------------

struct Shapes {
  Shape arn, name, type, secret, page, trace, flag, key, value, tag, tags, structure;
  Shapes() {
    arn.min = 1;
    arn.max = 256;
    name.min = 1;
    name.max = 80;
    type.enum_values = {"STANDARD", "EXPRESS"};
    secret.max = 8;
    secret.sensitive = true;
    page.kind = ShapeKind::Integer;
    page.min = 0;
    page.max = 1000;
    trace.pattern = is_ascii;
    trace.pattern_text = "\\p{ASCII}*";
    flag.kind = ShapeKind::Boolean;
    key.min = 1;
    key.max = 3;
    value.max = 4;
    tag.kind = ShapeKind::Structure;
    tag.members = {{"key", &key, true}, {"value", &value, false}};
    tags.kind = ShapeKind::List;
    tags.element = &tag;
    structure.kind = ShapeKind::Structure;
    structure.members = {{"stateMachineArn", &arn, true}, {"name", &name, false},
                         {"type", &type, false},          {"input", &secret, false},
                         {"maxResults", &page, false},    {"traceHeader", &trace, false},
                         {"reverseOrder", &flag, false},  {"tags", &tags, false}};
  }
};

TEST(AwsValidate, MissingRequiredMemberHasAwsWording) {
  Shapes s;
  auto e = validate(Json::object(), s.structure);
  EXPECT_EQ(error_of(e).type, "ValidationException");
  EXPECT_EQ(error_of(e).message,
            "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy "
            "constraint: Member must not be null");
}

TEST(AwsValidate, NullCountsAsAbsentAndUnknownMembersAreIgnored) {
  Shapes s;
  auto e = validate(Json{{"stateMachineArn", nullptr}, {"whatever", {1, 2}}}, s.structure);
  EXPECT_EQ(error_of(e).message,
            "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy "
            "constraint: Member must not be null");
  EXPECT_FALSE(
      validate(Json{{"stateMachineArn", "a"}, {"whatever", {1, 2}}, {"name", nullptr}}, s.structure)
          .has_value());
}

TEST(AwsValidate, EveryViolationIsListedInMemberOrder) {
  Shapes s;
  auto e = validate(Json{{"type", "FAST"}, {"name", std::string(81, 'n')}, {"maxResults", 1001}},
                    s.structure);
  EXPECT_EQ(error_of(e).type, "ValidationException");
  EXPECT_EQ(error_of(e).message,
            "4 validation errors detected: Value null at 'stateMachineArn' failed to satisfy "
            "constraint: Member must not be null; Value '" +
                std::string(81, 'n') +
                "' at 'name' failed to satisfy constraint: Member must have length less than or "
                "equal to 80; Value 'FAST' at 'type' failed to satisfy constraint: Member must "
                "satisfy enum value set: [STANDARD, EXPRESS]; Value '1001' at 'maxResults' "
                "failed to satisfy constraint: Member must have value less than or equal to "
                "1000");
}

TEST(AwsValidate, LengthCountsCharactersNotBytes) {
  Shapes s;
  EXPECT_FALSE(
      validate(Json{{"stateMachineArn", "a"}, {"name", std::string(40, 'x') + "\xc3\xa9\xc3\xa9"}},
               s.structure)
          .has_value());
  auto e = validate(Json{{"stateMachineArn", ""}}, s.structure);
  EXPECT_EQ(error_of(e).message,
            "1 validation error detected: Value '' at 'stateMachineArn' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1");
}

TEST(AwsValidate, SensitiveValuesAreNotEchoed) {
  Shapes s;
  auto e = validate(Json{{"stateMachineArn", "a"}, {"input", "secret-value"}}, s.structure);
  EXPECT_EQ(error_of(e).message,
            "1 validation error detected: Value at 'input' failed to satisfy constraint: Member "
            "must have length less than or equal to 8");
}

TEST(AwsValidate, PatternViolationNamesThePattern) {
  Shapes s;
  auto e = validate(Json{{"stateMachineArn", "a"}, {"traceHeader", "caf\xc3\xa9"}}, s.structure);
  EXPECT_EQ(error_of(e).message,
            "1 validation error detected: Value 'caf\xc3\xa9' at 'traceHeader' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: \\p{ASCII}*");
}

TEST(AwsValidate, ListMembersAreNamedAsAwsNamesThem) {
  Shapes s;
  Json tags =
      Json::array({Json{{"key", "ok"}, {"value", "v"}}, Json{{"value", "toolong"}}, nullptr});
  auto e = validate(Json{{"stateMachineArn", "a"}, {"tags", tags}}, s.structure);
  EXPECT_EQ(error_of(e).message,
            "3 validation errors detected: Value null at 'tags.2.member.key' failed to satisfy "
            "constraint: Member must not be null; Value 'toolong' at 'tags.2.member.value' "
            "failed to satisfy constraint: Member must have length less than or equal to 4; "
            "Value null at 'tags.3.member' failed to satisfy constraint: Member must not be "
            "null");
}

TEST(AwsValidate, WrongJsonTypesAreSerializationExceptions) {
  Shapes s;
  struct Case {
    Json body;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Json{{"stateMachineArn", 5}}, "Value at 'stateMachineArn' must be a string, not a number"},
      {Json{{"stateMachineArn", "a"}, {"maxResults", "10"}},
       "Value at 'maxResults' must be an integer, not a string"},
      {Json{{"stateMachineArn", "a"}, {"maxResults", 1.5}},
       "Value at 'maxResults' must be an integer, not a number with a fraction"},
      {Json{{"stateMachineArn", "a"}, {"maxResults", 1e12}},
       "Value at 'maxResults' is out of range for an integer"},
      {Json{{"stateMachineArn", "a"}, {"reverseOrder", "true"}},
       "Value at 'reverseOrder' must be a boolean, not a string"},
      {Json{{"stateMachineArn", {{"a", 1}}}},
       "Value at 'stateMachineArn' must be a string, not an object"},
      {Json{{"stateMachineArn", "a"}, {"tags", {{"key", "k"}}}},
       "Value at 'tags' must be an array, not an object"},
      {Json{{"stateMachineArn", "a"}, {"tags", {"k"}}},
       "Value at 'tags.1.member' must be an object, not a string"},
  };
  for (const Case& c : cases) {
    auto e = validate(c.body, s.structure);
    EXPECT_EQ(error_of(e).type, "SerializationException") << c.body.dump();
    EXPECT_EQ(error_of(e).message, c.message) << c.body.dump();
  }
  // An integral number written with a fraction is still an integer.
  EXPECT_FALSE(
      validate(Json{{"stateMachineArn", "a"}, {"maxResults", 10.0}}, s.structure).has_value());
}

// --- Answers ------------------------------------------------------------------------------------

std::string header(const HttpResponse& r, const std::string& name) {
  for (const Header& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return "(absent)";
}

TEST(AwsAnswer, ErrorsCarryTypeMessageAndHeaders) {
  HttpResponse r = error_response(ApiError{"ExecutionDoesNotExist",
                                           "Execution Does Not Exist: "
                                           "'arn:x'",
                                           {}},
                                  "req-7");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/x-amz-json-1.0");
  EXPECT_EQ(header(r, "x-amzn-RequestId"), "req-7");
  EXPECT_EQ(header(r, "x-amzn-ErrorType"), "ExecutionDoesNotExist");
  EXPECT_EQ(r.body,
            R"({"__type":"ExecutionDoesNotExist","message":"Execution Does Not Exist: 'arn:x'"})");
}

TEST(AwsAnswer, StatusFollowsAws) {
  EXPECT_EQ(error_status("ValidationException"), 400);
  EXPECT_EQ(error_status("AccessDeniedException"), 400);
  EXPECT_EQ(error_status("ThrottlingException"), 400);
  EXPECT_EQ(error_status("InvalidArn"), 400);
  EXPECT_EQ(error_status("ServiceUnavailable"), 503);
  EXPECT_EQ(error_status("InternalFailure"), 500);
  HttpResponse r = error_response(ApiError{"InternalError", "disk on fire", {}}, "r");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(header(r, "x-amzn-ErrorType"), "InternalFailure");
  EXPECT_EQ(r.body, R"({"__type":"InternalFailure","message":"disk on fire"})");
}

TEST(AwsAnswer, ExtraMembersFollowTheMessage) {
  HttpResponse r = error_response(ApiError{"ResourceNotFound", "Resource not found: 'a'", {}}, "r",
                                  Json{{"resourceName", "a"}});
  EXPECT_EQ(
      r.body,
      R"({"__type":"ResourceNotFound","message":"Resource not found: 'a'","resourceName":"a"})");
}

TEST(AwsAnswer, InvalidUtf8InAnAnswerIsReplacedNotFatal) {
  HttpResponse r = json_response(Json{{"name", std::string("a\xff")}}, "r");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"name\":\"a\xef\xbf\xbd\"}");
}

TEST(AwsAnswer, TimestampsAreEpochSecondsWithMilliseconds) {
  EXPECT_EQ(dump(timestamp(1'700'000'000'123'456)), "1700000000.123");
  EXPECT_EQ(dump(timestamp(1'700'000'000'000'000)), "1700000000.0");
  EXPECT_EQ(dump(timestamp(1'700'000'000'999'999)), "1700000000.999");
  EXPECT_TRUE(timestamp(1).is_number());
}

// --- History ------------------------------------------------------------------------------------

TEST(AwsHistory, DetailsMemberOfEveryEngineEventType) {
  for (const auto& [type, member] : kEngineEventDetails) {
    if (member.empty()) continue;  // no details member: nothing to name
    EXPECT_EQ(history_details_member(type), member) << type;
  }
  // Stepd's saga extension follows the same rule (AWS clients ignore members they do not know).
  EXPECT_EQ(history_details_member("CompensationTaskScheduled"),
            "compensationTaskScheduledEventDetails");
}

// The model that ships with Debian's awscli (a 2023 edition: it predates ExecutionRedriven).
const char* kModelPaths[] = {
    "/usr/lib/python3/dist-packages/botocore/data/stepfunctions/2016-11-23/service-2.json",
    "/usr/lib/python3/dist-packages/awscli/botocore/data/stepfunctions/2016-11-23/service-2.json",
};

TEST(AwsHistory, DetailsMembersAreTheModelsOwn) {
  std::string path;
  for (const char* p : kModelPaths) {
    if (std::filesystem::exists(p)) path = p;
  }
  if (path.empty()) GTEST_SKIP() << "the botocore model is not installed (apt-get install awscli)";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  Json model = Json::parse(text.str());
  const Json& members = model["shapes"]["HistoryEvent"]["members"];
  std::set<std::string> types;
  for (const Json& t : model["shapes"]["HistoryEventType"]["enum"]) {
    types.insert(t.get<std::string>());
  }
  for (const auto& [type, member] : kEngineEventDetails) {
    if (type == "ExecutionRedriven" && !types.count(type)) continue;  // newer than this model
    EXPECT_TRUE(types.count(type)) << type << " is not a HistoryEventType";
    if (member.empty()) {
      // A type the engine writes without details has no details member in the model either.
      EXPECT_FALSE(members.contains(history_details_member(type))) << type;
    } else {
      EXPECT_TRUE(members.contains(member)) << member << " is not a HistoryEvent member";
    }
  }
}

TEST(AwsHistory, EventShape) {
  engine::HistoryEvent ev;
  ev.id = 3;
  ev.previous_id = 2;
  ev.timestamp = 1'700'000'000'500'000;
  ev.type = "PassStateEntered";
  ev.details = R"({"name":"P","input":"{\"a\":1}","inputDetails":{"truncated":false}})";
  EXPECT_EQ(history_event(ev, true),
            Json::parse(R"({"timestamp":1700000000.5,"type":"PassStateEntered","id":3,
              "previousEventId":2,"stateEnteredEventDetails":{"name":"P","input":"{\"a\":1}",
              "inputDetails":{"truncated":false}}})"));
  EXPECT_EQ(history_event(ev, false),
            Json::parse(R"({"timestamp":1700000000.5,"type":"PassStateEntered","id":3,
              "previousEventId":2,"stateEnteredEventDetails":{"name":"P",
              "inputDetails":{"truncated":false}}})"));
  ev.type = "ParallelStateStarted";
  ev.details = "";
  EXPECT_EQ(history_event(ev, true),
            Json::parse(R"({"timestamp":1700000000.5,"type":"ParallelStateStarted","id":3,
              "previousEventId":2})"));
}

}  // namespace
}  // namespace stepd::server::aws
