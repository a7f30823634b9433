#include "server/rest/router.hpp"

#include "server/rest/representation.hpp"

#include <gtest/gtest.h>

namespace stepd::server::rest {
namespace {

TEST(PercentCoding, DecodesAndEncodes) {
  EXPECT_EQ(percent_decode("arn%3Aaws%3astates", false), "arn:aws:states");
  EXPECT_EQ(percent_decode("a+b%20c", false), "a+b c");
  EXPECT_EQ(percent_decode("a+b%20c", true), "a b c");
  EXPECT_EQ(percent_decode("%", false), std::nullopt);
  EXPECT_EQ(percent_decode("%4", false), std::nullopt);
  EXPECT_EQ(percent_decode("%zz", false), std::nullopt);
  EXPECT_EQ(percent_encode("arn:aws:states:x/y z~-._"), "arn%3Aaws%3Astates%3Ax%2Fy%20z~-._");
  const std::string bytes = "\x01\xff:%";
  EXPECT_EQ(percent_decode(percent_encode(bytes), false), bytes);
}

TEST(Query, ParsesRepeatedAndEncodedParameters) {
  auto q = parse_query("key=a&key=b%26c&flag&x=1+2&&empty=");
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 5u);
  EXPECT_EQ((*q)[0].name, "key");
  EXPECT_EQ((*q)[0].value, "a");
  EXPECT_EQ((*q)[1].value, "b&c");
  EXPECT_EQ((*q)[2].name, "flag");
  EXPECT_EQ((*q)[2].value, "");
  EXPECT_EQ((*q)[3].value, "1 2");
  EXPECT_EQ((*q)[4].name, "empty");
  EXPECT_FALSE(parse_query("a=%g1").has_value());
  EXPECT_TRUE(parse_query("")->empty());
}

TEST(Router, MatchesLiteralsParametersAndActions) {
  Router r;
  r.add("GET", "/v1/executions/{execution}", 1);
  r.add("POST", "/v1/executions/{execution}:stop", 2);
  r.add("GET", "/v1/executions/{execution}/history", 3);
  r.add("POST", "/v1/state-machines", 4);
  r.add("POST", "/v1/state-machines:validate", 5);
  r.add("GET", "/v1/state-machines", 6);

  auto m = r.match("POST", "/v1/executions/arn%3Aaws%3Ax:stop");
  ASSERT_EQ(m.kind, Router::Match::Kind::Found);
  EXPECT_EQ(m.id, 2u);
  EXPECT_EQ(m.params.at("execution"), "arn:aws:x");
  // A raw ARN: the last ':stop' is the action.
  m = r.match("POST", "/v1/executions/arn:aws:x:stop");
  ASSERT_EQ(m.kind, Router::Match::Kind::Found);
  EXPECT_EQ(m.params.at("execution"), "arn:aws:x");
  m = r.match("GET", "/v1/executions/arn:aws:x");
  ASSERT_EQ(m.kind, Router::Match::Kind::Found);
  EXPECT_EQ(m.id, 1u);
  EXPECT_EQ(m.params.at("execution"), "arn:aws:x");
  m = r.match("GET", "/v1/executions/a%2Fb/history");
  ASSERT_EQ(m.kind, Router::Match::Kind::Found);
  EXPECT_EQ(m.id, 3u);
  EXPECT_EQ(m.params.at("execution"), "a/b");
  EXPECT_EQ(r.match("POST", "/v1/state-machines:validate").id, 5u);
  EXPECT_EQ(r.match("POST", "/v1/state-machines").id, 4u);

  m = r.match("PUT", "/v1/state-machines");
  ASSERT_EQ(m.kind, Router::Match::Kind::NoMethod);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "POST"}));
  m = r.match("POST", "/v1/executions/x");
  ASSERT_EQ(m.kind, Router::Match::Kind::NoMethod);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET"}));
  EXPECT_EQ(r.match("GET", "/v1/executions/").kind, Router::Match::Kind::NoPath);
  EXPECT_EQ(r.match("GET", "/v1/executions/:stop").kind, Router::Match::Kind::Found);
  EXPECT_EQ(r.match("POST", "/v1/executions/:stop").kind, Router::Match::Kind::NoMethod);
  EXPECT_EQ(r.match("GET", "v1/state-machines").kind, Router::Match::Kind::NoPath);
  EXPECT_EQ(r.match("GET", "/v1/executions/%2").kind, Router::Match::Kind::BadEscape);
  ASSERT_EQ(r.entries().size(), 6u);
  EXPECT_EQ(r.entries()[1].pattern, "/v1/executions/{execution}:stop");
}

TEST(Representation, TimesAreRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time(1'700'000'000'123'456), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(format_time(951'782'400'999'999), "2000-02-29T00:00:00.999Z");
  EXPECT_EQ(format_time(-1'000), "1969-12-31T23:59:59.999Z");
}

TEST(Representation, PayloadsAreJsonValues) {
  EXPECT_EQ(payload_value(R"({"a":[1,"x"]})"), Json::parse(R"({"a":[1,"x"]})"));
  EXPECT_EQ(payload_value(R"("text")"), Json("text"));
  EXPECT_EQ(payload_value("not json"), Json("not json"));
  EXPECT_EQ(payload_value(""), Json(""));

  engine::HistoryEvent e{3, 2, 0, "TaskScheduled",
                         R"({"resource":"r","parameters":"{\"n\":1}","input":"[1]"})"};
  Json j = event_json(e);
  EXPECT_EQ(j["details"]["parameters"], Json::parse(R"({"n":1})"));
  EXPECT_EQ(j["details"]["input"], Json::parse("[1]"));
  EXPECT_EQ(j["details"]["resource"], "r");
  EXPECT_FALSE(event_json(engine::HistoryEvent{1, 0, 0, "X", ""}).contains("details"));
}

TEST(Representation, NestingIsMeasuredOutsideStrings) {
  EXPECT_EQ(find_excess_nesting("[[[]]]", 3), std::nullopt);
  EXPECT_EQ(find_excess_nesting("[[[]]]", 2), 2u);
  EXPECT_EQ(find_excess_nesting(R"({"a":"[[[[\"[[[","b":[{}]})", 3), std::nullopt);
  EXPECT_EQ(find_excess_nesting(R"({"a":"\\","b":[[]]})", 2), 15u);
  EXPECT_EQ(find_excess_nesting("[][][][]", 1), std::nullopt);
}

TEST(Representation, ErrorsCarryEveryProblem) {
  ApiError e{"InvalidDefinition", "bad", {}};
  e.diagnostics.push_back(
      {"/States/A/Next", "MISSING_TRANSITION_TARGET", "no state 'X'", asl::Severity::Error});
  e.diagnostics.push_back(
      {"/States/B", "UNREACHABLE_STATE", "unreachable", asl::Severity::Warning});
  EXPECT_EQ(error_json(e, "r-1"), Json::parse(R"({"code":"InvalidDefinition","message":"bad",
    "problems":[
      {"pointer":"/States/A/Next","code":"MISSING_TRANSITION_TARGET","message":"no state 'X'","severity":"ERROR"},
      {"pointer":"/States/B","code":"UNREACHABLE_STATE","message":"unreachable","severity":"WARNING"}],
    "requestId":"r-1"})"));
  EXPECT_EQ(dump(Json(std::string("bad \xff byte"))), "\"bad \xEF\xBF\xBD byte\"");
}

}  // namespace
}  // namespace stepd::server::rest
