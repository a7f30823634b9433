#include "asl/choice/timestamp.hpp"

#include <cstdio>

namespace stepd::asl {
namespace {

// Reads exactly n decimal digits at text[pos]; false when any is not a digit.
bool read_digits(std::string_view text, std::size_t pos, int n, int* out) {
  if (pos + static_cast<std::size_t>(n) > text.size()) return false;
  int value = 0;
  for (int i = 0; i < n; ++i) {
    char c = text[pos + static_cast<std::size_t>(i)];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

}  // namespace

std::optional<PreciseTimestamp> parse_precise_timestamp(std::string_view text) {
  // YYYY-MM-DDThh:mm:ss
  int year, month, day, hour, minute, second;
  if (text.size() < 20) return std::nullopt;  // shortest: "2016-03-14T01:59:00Z"
  if (!read_digits(text, 0, 4, &year) || text[4] != '-' || !read_digits(text, 5, 2, &month) ||
      text[7] != '-' || !read_digits(text, 8, 2, &day) || text[10] != 'T' ||
      !read_digits(text, 11, 2, &hour) || text[13] != ':' || !read_digits(text, 14, 2, &minute) ||
      text[16] != ':' || !read_digits(text, 17, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return std::nullopt;
  if (hour > 23 || minute > 59 || second > 59) return std::nullopt;

  std::size_t pos = 19;
  std::int32_t nanos = 0;
  if (text[pos] == '.') {
    ++pos;
    int digits = 0;
    std::int32_t scale = 100'000'000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (++digits > 9) return std::nullopt;
      nanos += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
  }

  if (pos >= text.size()) return std::nullopt;  // no zone
  std::int64_t offset_seconds = 0;
  if (text[pos] == 'Z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    int oh, om;
    if (!read_digits(text, pos + 1, 2, &oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !read_digits(text, pos + 4, 2, &om)) {
      return std::nullopt;
    }
    if (om > 59 || oh * 60 + om > 18 * 60) return std::nullopt;
    offset_seconds = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;

  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  PreciseTimestamp out;
  out.seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  out.nanoseconds = nanos;
  return out;
}

std::optional<TimePoint> parse_timestamp(std::string_view text) {
  auto precise = parse_precise_timestamp(text);
  if (!precise) return std::nullopt;
  return TimePoint(
      std::chrono::microseconds(precise->seconds * 1'000'000 + precise->nanoseconds / 1000));
}

std::string format_timestamp(TimePoint t) {
  const std::int64_t us = t.time_since_epoch().count();
  std::int64_t ms = us / 1000;
  if (us % 1000 < 0) --ms;  // floor toward the past
  std::int64_t secs = ms / 1000;
  std::int64_t milli = ms % 1000;
  if (milli < 0) {
    milli += 1000;
    --secs;
  }
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  const Civil c = civil_from_days(days);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<long long>(c.year), c.month, c.day, static_cast<int>(rem / 3600),
                static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60),
                static_cast<int>(milli));
  return buf;
}

}  // namespace stepd::asl
