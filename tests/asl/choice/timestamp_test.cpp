#include "asl/choice/timestamp.hpp"

#include <gtest/gtest.h>

#include <string>

namespace stepd::asl {
namespace {

std::int64_t micros(std::string_view text) {
  auto t = parse_timestamp(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t ? t->time_since_epoch().count() : 0;
}

TimePoint at_micros(std::int64_t us) { return TimePoint(std::chrono::microseconds(us)); }

TEST(ParseTimestamp, AcceptsUtcWithZ) {
  EXPECT_EQ(micros("2016-03-14T01:59:00Z"), 1457920740LL * 1'000'000);
  EXPECT_EQ(micros("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(micros("1969-12-31T23:59:59Z"), -1'000'000);
  EXPECT_EQ(micros("0001-01-01T00:00:00Z"), -62135596800LL * 1'000'000);
  EXPECT_EQ(micros("9999-12-31T23:59:59Z"), 253402300799LL * 1'000'000);
}

TEST(ParseTimestamp, AppliesOffsets) {
  const std::int64_t utc = micros("2016-03-14T01:59:00Z");
  EXPECT_EQ(micros("2016-03-14T03:59:00+02:00"), utc);
  EXPECT_EQ(micros("2016-03-13T20:29:00-05:30"), utc);
  EXPECT_EQ(micros("2016-03-14T01:59:00+00:00"), utc);
  EXPECT_EQ(micros("2016-03-14T01:59:00-00:00"), utc);
  EXPECT_EQ(micros("2016-03-14T19:59:00+18:00"), utc);
}

TEST(ParseTimestamp, KeepsFractionalSeconds) {
  const std::int64_t base = 1457920740LL * 1'000'000;
  EXPECT_EQ(micros("2016-03-14T01:59:00.1Z"), base + 100'000);
  EXPECT_EQ(micros("2016-03-14T01:59:00.123Z"), base + 123'000);
  EXPECT_EQ(micros("2016-03-14T01:59:00.123456Z"), base + 123'456);
  // Nanoseconds are accepted (AWS: Wait accepts "2016-03-05T21:29:29.243167252Z") and
  // truncated to microseconds.
  EXPECT_EQ(micros("2016-03-14T01:59:00.123456789Z"), base + 123'456);
  EXPECT_EQ(micros("2016-03-14T01:59:00.5+01:00"), base - 3600LL * 1'000'000 + 500'000);
}

TEST(ParseTimestamp, PreciseKeepsNanoseconds) {
  auto t = parse_precise_timestamp("2016-03-05T21:29:29.243167252Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->nanoseconds, 243167252);
  auto a = parse_precise_timestamp("2016-03-14T01:59:00.000000001Z");
  auto b = parse_precise_timestamp("2016-03-14T01:59:00Z");
  ASSERT_TRUE(a && b);
  EXPECT_GT(*a, *b);
  EXPECT_EQ(*parse_precise_timestamp("2016-03-14T01:59:00.100Z"),
            *parse_precise_timestamp("2016-03-14T01:59:00.1Z"));
}

TEST(ParseTimestamp, ChecksCalendar) {
  EXPECT_EQ(micros("2016-02-29T00:00:00Z"), 1456704000LL * 1'000'000);
  EXPECT_TRUE(parse_timestamp("2000-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_timestamp("2015-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_timestamp("1900-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_timestamp("2016-04-31T00:00:00Z"));
  EXPECT_FALSE(parse_timestamp("2016-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_timestamp("2016-00-01T00:00:00Z"));
  EXPECT_FALSE(parse_timestamp("2016-01-00T00:00:00Z"));
  EXPECT_TRUE(parse_timestamp("2016-12-31T23:59:59Z"));
}

TEST(ParseTimestamp, RejectsWhatAwsRejects) {
  for (const char* text : {
           "2016-12-05 21:29:29Z",             // AWS: no "T"
           "2016-12-05T25:29:29Z",             // AWS: hour 25
           "2016-12-05T24:00:00Z",             // hour 24
           "2016-12-05T21:60:29Z",             // minute 60
           "2016-12-05T21:29:60Z",             // no leap second
           "2012-10-09T19:00:55",              // no zone
           "2023-02-24",                       // no time
           "2023-02-24 12:15:56.832957",       // neither T nor zone
           "2016-12-05t21:29:29Z",             // lowercase t
           "2016-12-05T21:29:29z",             // lowercase z
           "2016-12-05T21:29Z",                // no seconds
           "2016-12-05T21:29:29.Z",            // empty fraction
           "2016-12-05T21:29:29.1234567890Z",  // more than nanoseconds
           "2016-12-05T21:29:29+0100",         // offset without colon
           "2016-12-05T21:29:29+01",           // offset without minutes
           "2016-12-05T21:29:29+18:01",        // offset beyond 18:00
           "2016-12-05T21:29:29+01:60",        // offset minutes 60
           "2016-12-05T21:29:29Z ",            // trailing space
           " 2016-12-05T21:29:29Z",            // leading space
           "2016-12-05T21:29:29ZZ",            // trailing garbage
           "16-12-05T21:29:29Z",               // two-digit year
           "2016-1-05T21:29:29Z",              // one-digit month
           "20161205T212929Z",                 // basic format
           "",
       }) {
    EXPECT_FALSE(parse_timestamp(text).has_value()) << text;
  }
}

TEST(FormatTimestamp, PrintsMillisecondsUtc) {
  EXPECT_EQ(format_timestamp(at_micros(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(*parse_timestamp("2024-01-01T00:00:00Z")), "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(*parse_timestamp("2016-03-14T03:59:00.123456+02:00")),
            "2016-03-14T01:59:00.123Z");
  EXPECT_EQ(format_timestamp(*parse_timestamp("2016-02-29T23:59:59.999999Z")),
            "2016-02-29T23:59:59.999Z");
}

TEST(FormatTimestamp, TruncatesTowardThePastBeforeTheEpoch) {
  EXPECT_EQ(format_timestamp(at_micros(-1)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_timestamp(at_micros(-1'000'000)), "1969-12-31T23:59:59.000Z");
  EXPECT_EQ(format_timestamp(*parse_timestamp("0001-01-01T00:00:00Z")), "0001-01-01T00:00:00.000Z");
}

TEST(FormatTimestamp, RoundTripsThroughParse) {
  for (const char* text : {"2024-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z",
                           "2016-02-29T12:34:56.789Z", "9999-12-31T23:59:59.000Z"}) {
    EXPECT_EQ(format_timestamp(*parse_timestamp(text)), text);
  }
}

}  // namespace
}  // namespace stepd::asl
