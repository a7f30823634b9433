// Runs the ASL conformance cases recorded against AWS (STEPD_SHARED_DIR/conformance/
// dev-cases.jsonl, see its README.md) through the in-memory runner with virtual time, and
// compares status, output, error and cause with AWS's, after the README's normalisation.
//
// One test per case. JSONata cases are skipped (not supported yet). Cases listed in
// tests/conformance/known_failures.txt ("<case id> <reason>" per line) are expected to fail; they
// are reported as skipped with their reason, and a listed case that passes fails its test so the
// list is kept honest.
#include "asl/definition.hpp"
#include "engine/local_runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace stepd::engine {
namespace {

using asl::Json;

constexpr const char* kDefaultCasesPath = STEPD_SHARED_DIR "/conformance/dev-cases.jsonl";

// STEPD_CONFORMANCE_CASES names another case file of the same format.
std::string cases_path() {
  const char* env = std::getenv("STEPD_CONFORMANCE_CASES");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(kDefaultCasesPath);
}
constexpr const char* kKnownFailuresPath = STEPD_SOURCE_DIR "/tests/conformance/known_failures.txt";

struct Case {
  std::string id;
  std::string test_name;
  Json data;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.id; }

std::string sanitise(const std::string& id) {
  std::string out;
  for (char c : id) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out;
}

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  std::ifstream in(cases_path());
  if (!in) return cases;
  std::set<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Case c;
    c.data = Json::parse(line);
    c.id = c.data.at("id").get<std::string>();
    std::string name = sanitise(c.id);
    std::string unique = name;
    for (int n = 2; names.count(unique) != 0; ++n) unique = name + "_" + std::to_string(n);
    names.insert(unique);
    c.test_name = unique;
    cases.push_back(std::move(c));
  }
  return cases;
}

// id -> reason
const std::map<std::string, std::string>& known_failures() {
  static const std::map<std::string, std::string> list = [] {
    std::map<std::string, std::string> out;
    std::ifstream in(kKnownFailuresPath);
    std::string line;
    while (std::getline(in, line)) {
      auto start = line.find_first_not_of(" \t");
      if (start == std::string::npos || line[start] == '#') continue;
      auto end = line.find_first_of(" \t", start);
      std::string id =
          line.substr(start, end == std::string::npos ? std::string::npos : end - start);
      std::string reason;
      if (end != std::string::npos) {
        auto r = line.find_first_not_of(" \t", end);
        if (r != std::string::npos) reason = line.substr(r);
      }
      out[id] = reason;
    }
    return out;
  }();
  return list;
}

// Normalisation ----------------------------------------------------------------------------------

// ISO-8601 date-times with a zone, with valid field ranges ("2016-12-05T25:29:29Z" is not one).
const std::regex& iso_regex() {
  static const std::regex re(
      R"((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2}))");
  return re;
}

bool valid_fields(const std::smatch& m) {
  int month = std::stoi(m[2]), day = std::stoi(m[3]), hour = std::stoi(m[4]);
  int minute = std::stoi(m[5]), second = std::stoi(m[6]);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 &&
         second <= 60;
}

std::string replace_dates(const std::string& s) {
  std::string out;
  auto begin = s.cbegin();
  std::smatch m;
  while (std::regex_search(begin, s.cend(), m, iso_regex())) {
    out.append(begin, m[0].first);
    out += valid_fields(m) ? std::string("date") : m.str(0);
    begin = m[0].second;
  }
  out.append(begin, s.cend());
  return out;
}

bool is_whole_timestamp(const std::string& s) {
  std::smatch m;
  return std::regex_match(s, m, iso_regex()) && valid_fields(m);
}

bool key_has_timestamp(const std::string& key) {
  std::string lower = key;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return lower.find("timestamp") != std::string::npos;
}

struct Normalise {
  bool dates = false;
  bool timestamp_keys = false;

  Json apply(const Json& v) const {
    if (v.is_string()) {
      return dates ? Json(replace_dates(v.get<std::string>())) : v;
    }
    if (v.is_array()) {
      Json out = Json::array();
      for (const auto& e : v) out.push_back(apply(e));
      return out;
    }
    if (v.is_object()) {
      Json out = Json::object();
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (timestamp_keys && key_has_timestamp(it.key()) &&
            !(it.value().is_string() && is_whole_timestamp(it.value().get<std::string>()))) {
          out[it.key()] = "timestamp";
        } else {
          out[it.key()] = apply(it.value());
        }
      }
      return out;
    }
    return v;
  }
};

// Comparison -------------------------------------------------------------------------------------

struct Matcher {
  std::vector<std::string> placeholders;

  bool is_placeholder(const std::string& s) const {
    return std::find(placeholders.begin(), placeholders.end(), s) != placeholders.end();
  }

  // Whether `actual` matches `expected`, a string that may contain placeholders.
  bool string_matches(const std::string& expected, const std::string& actual) const {
    std::string pattern;
    std::size_t pos = 0;
    bool any = false;
    while (pos < expected.size()) {
      std::size_t best = std::string::npos;
      const std::string* which = nullptr;
      for (const auto& p : placeholders) {
        std::size_t at = expected.find(p, pos);
        if (at != std::string::npos && (best == std::string::npos || at < best)) {
          best = at;
          which = &p;
        }
      }
      std::size_t literal_end = best == std::string::npos ? expected.size() : best;
      for (std::size_t i = pos; i < literal_end; ++i) {
        char c = expected[i];
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
          pattern.push_back('\\');
        }
        pattern.push_back(c);
      }
      if (which == nullptr) break;
      pattern += "([\\s\\S]+)";
      any = true;
      pos = best + which->size();
    }
    if (!any) return expected == actual;
    return std::regex_match(actual, std::regex(pattern));
  }

  bool equal(const Json& expected, const Json& actual, const std::string& where,
             std::string* why) const {
    auto mismatch = [&](const std::string& what) {
      *why = (where.empty() ? std::string("(root)") : where) + ": " + what + "; expected " +
             expected.dump() + ", got " + actual.dump();
      return false;
    };
    if (expected.is_string()) {
      const std::string& e = expected.get_ref<const std::string&>();
      if (is_placeholder(e)) return true;
      if (!actual.is_string()) return mismatch("type differs");
      if (!string_matches(e, actual.get<std::string>())) return mismatch("string differs");
      return true;
    }
    if (expected.is_number()) {
      if (!actual.is_number()) return mismatch("type differs");
      bool same;
      if (expected.is_number_float() || actual.is_number_float()) {
        same = expected.get<double>() == actual.get<double>();
      } else if (expected.is_number_unsigned() || actual.is_number_unsigned()) {
        same = expected.get<double>() == actual.get<double>() &&
               (expected.get<std::int64_t>() == actual.get<std::int64_t>());
      } else {
        same = expected.get<std::int64_t>() == actual.get<std::int64_t>();
      }
      return same ? true : mismatch("number differs");
    }
    if (expected.is_array()) {
      if (!actual.is_array()) return mismatch("type differs");
      if (expected.size() != actual.size()) return mismatch("array size differs");
      for (std::size_t i = 0; i < expected.size(); ++i) {
        if (!equal(expected[i], actual[i], where + "/" + std::to_string(i), why)) return false;
      }
      return true;
    }
    if (expected.is_object()) {
      if (!actual.is_object()) return mismatch("type differs");
      for (auto it = expected.begin(); it != expected.end(); ++it) {
        auto a = actual.find(it.key());
        if (a == actual.end()) return mismatch("member '" + it.key() + "' missing");
        if (!equal(it.value(), *a, where + "/" + it.key(), why)) return false;
      }
      for (auto it = actual.begin(); it != actual.end(); ++it) {
        if (!expected.contains(it.key())) return mismatch("unexpected member '" + it.key() + "'");
      }
      return true;
    }
    if (expected != actual) return mismatch("value differs");
    return true;
  }
};

bool is_jsonata(const Case& c) {
  const Json& features = c.data.value("features", Json::array());
  for (const auto& f : features) {
    if (f == "jsonata") return true;
  }
  return c.data.at("definition").dump().find("\"JSONata\"") != std::string::npos;
}

// Serves "id_function": the Lambda function that answers with its input unchanged.
std::variant<Json, asl::StatesError> id_function(const std::string& resource, const Json& payload) {
  if (resource == "arn:aws:states:::lambda:invoke") {
    std::string name = payload.value("FunctionName", "");
    if (name.find("id_function") == std::string::npos) {
      return asl::StatesError{"Lambda.ResourceNotFoundException", "no such function: " + name};
    }
    return Json{{"ExecutedVersion", "$LATEST"},
                {"Payload", payload.value("Payload", Json::object())},
                {"StatusCode", 200}};
  }
  if (resource.find(":function:id_function") != std::string::npos) return payload;
  return asl::StatesError{"States.TaskFailed",
                          "the conformance harness serves only id_function, "
                          "not " +
                              resource};
}

// Runs one case; returns "" when it matches AWS, else what differs.
std::string run_case(const Case& c) {
  const Json& data = c.data;
  asl::LoadResult loaded = asl::load_definition(data.at("definition"));
  if (!loaded.ok()) {
    std::string out = "the definition was rejected:";
    for (const auto& d : loaded.diagnostics) {
      if (d.severity == asl::Severity::Error)
        out += "\n  " + asl::to_string(d) + " [" + d.code + "]";
    }
    return out;
  }
  LocalRunOptions options;
  options.virtual_time = true;
  options.seed = 42;
  options.record_history = true;
  options.task_handler = id_function;
  LocalRunResult result = run_local(*loaded.machine, data.at("input"), options);
  for (std::size_t i = 0; i < result.history.size(); ++i) {
    if (result.history[i].at("id") != static_cast<long long>(i + 1)) {
      return "history event ids are not contiguous at " + result.history[i].dump();
    }
  }

  const Json& compare = data.value("compare", Json::object());
  Normalise normalise;
  for (const auto& n : compare.value("normalize", Json::array())) {
    if (n == "iso8601->date") normalise.dates = true;
    if (n == "timestamp-keys") normalise.timestamp_keys = true;
  }
  Matcher matcher;
  for (const auto& p : compare.value("placeholders", Json::array())) {
    matcher.placeholders.push_back(p.get<std::string>());
  }

  const Json& expected = data.at("expected");
  std::string expected_status = expected.at("status").get<std::string>();
  std::string actual_summary = "got status " + result.status;
  if (result.status == "SUCCEEDED") {
    actual_summary += " with output " + result.output.dump();
  } else {
    actual_summary += " with error " + (result.error ? "'" + *result.error + "'" : "(none)") +
                      " and cause " + (result.cause ? "'" + *result.cause + "'" : "(none)");
  }
  if (result.status != expected_status) {
    return "expected status " + expected_status + ", " + actual_summary;
  }
  std::string why;
  if (expected_status == "SUCCEEDED") {
    if (!matcher.equal(expected.at("output"), normalise.apply(result.output), "", &why)) {
      return "output differs: " + why;
    }
    return "";
  }
  // error: equal as strings (absent when AWS gave none).
  std::optional<std::string> want_error;
  if (expected.contains("error")) want_error = expected["error"].get<std::string>();
  std::optional<std::string> got_error = result.error;
  if (got_error && normalise.dates) got_error = replace_dates(*got_error);
  if (want_error.has_value() != got_error.has_value() ||
      (want_error && !matcher.string_matches(*want_error, *got_error))) {
    return "error differs: expected " + (want_error ? "'" + *want_error + "'" : "(none)") + ", " +
           actual_summary;
  }
  if (expected.contains("cause")) {
    const Json& want_cause = expected["cause"];
    if (!result.cause)
      return "cause missing: expected " + want_cause.dump() + ", " + actual_summary;
    if (want_cause.is_string()) {
      std::string got = normalise.dates ? replace_dates(*result.cause) : *result.cause;
      if (!matcher.string_matches(want_cause.get<std::string>(), got)) {
        return "cause differs:\n  expected: " + want_cause.get<std::string>() +
               "\n  actual:   " + got;
      }
    } else {
      Json got = Json::parse(*result.cause, nullptr, false);
      if (got.is_discarded()) {
        return "cause is not JSON: expected " + want_cause.dump() + ", got '" + *result.cause + "'";
      }
      if (!matcher.equal(want_cause, normalise.apply(got), "cause", &why)) {
        return "cause differs: " + why;
      }
    }
  } else if (result.cause) {
    return "expected no cause, " + actual_summary;
  }
  return "";
}

class ConformanceTest : public testing::TestWithParam<Case> {};

TEST_P(ConformanceTest, MatchesAws) {
  const Case& c = GetParam();
  if (is_jsonata(c)) GTEST_SKIP() << "JSONata: not supported yet";
  const Json& needs = c.data.value("needs", Json::array());
  for (const auto& n : needs) {
    if (n != "lambda:id_function") GTEST_SKIP() << "needs " << n.dump() << ": not available here";
  }
  std::string mismatch = run_case(c);
  auto known = known_failures().find(c.id);
  if (known != known_failures().end()) {
    if (mismatch.empty()) {
      FAIL() << "case " << c.id << " is listed in tests/conformance/known_failures.txt but "
             << "passes now: remove it from the list";
    }
    GTEST_SKIP() << "known failure (" << known->second << "): " << mismatch;
  }
  EXPECT_TRUE(mismatch.empty()) << "case " << c.id << ": " << mismatch;
}

std::vector<Case> all_cases() {
  static const std::vector<Case> cases = load_cases();
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Aws, ConformanceTest, testing::ValuesIn(all_cases()),
                         [](const testing::TestParamInfo<Case>& info) {
                           return info.param.test_name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ConformanceTest);

TEST(ConformanceFiles, CasesArePresent) {
  if (all_cases().empty()) {
    GTEST_SKIP() << "no conformance cases: " << cases_path()
                 << " is absent (the shared directory is not next to the repository)";
  }
  // Every entry of the known-failures list names a case that exists.
  std::set<std::string> ids;
  for (const auto& c : all_cases()) ids.insert(c.id);
  for (const auto& [id, reason] : known_failures()) {
    EXPECT_TRUE(ids.count(id)) << "known_failures.txt lists '" << id << "', which is no case";
    EXPECT_FALSE(reason.empty()) << "known_failures.txt gives no reason for '" << id << "'";
  }
}

// The harness itself: normalisation and placeholders as the README describes them.
TEST(ConformanceHarness, ReplacesValidIsoTimestampsWithDate) {
  EXPECT_EQ(replace_dates("at 2024-01-01T00:00:00.000Z, 2016-03-05T21:29:29.243167252Z and "
                          "2016-03-14T01:59:00+02:00"),
            "at date, date and date");
  // Not timestamps with a zone, or out of range: left alone.
  EXPECT_EQ(replace_dates("2016-12-05T25:29:29Z 2016-12-05 21:29:29Z 2016-12-05T21:29:29"),
            "2016-12-05T25:29:29Z 2016-12-05 21:29:29Z 2016-12-05T21:29:29");
}

TEST(ConformanceHarness, NormalisesTimestampKeys) {
  Normalise n{true, true};
  EXPECT_EQ(n.apply(Json::parse(R"({"StartTimestamp":12,"myTimeStampValue":"x",
      "Timestamp":"2024-01-01T00:00:00Z","nested":[{"at":"2024-01-01T00:00:00Z"}]})")),
            Json::parse(R"({"StartTimestamp":"timestamp","myTimeStampValue":"timestamp",
      "Timestamp":"date","nested":[{"at":"date"}]})"));
}

TEST(ConformanceHarness, PlaceholdersAreWildcards) {
  Matcher m;
  m.placeholders = {"<uuid:1>", "<ArnPart_0idx>"};
  std::string why;
  EXPECT_TRUE(m.equal(Json("id-<uuid:1>-end"), Json("id-abc-end"), "", &why));
  EXPECT_FALSE(m.equal(Json("id-<uuid:1>-end"), Json("id--end"), "", &why));
  EXPECT_EQ(why, "(root): string differs; expected \"id-<uuid:1>-end\", got \"id--end\"");
  EXPECT_TRUE(m.equal(Json("<ArnPart_0idx>"), Json::parse(R"({"any":[1]})"), "", &why));
  EXPECT_TRUE(m.equal(Json("a.b(<uuid:1>)"), Json("a.b(x)"), "", &why));
  EXPECT_FALSE(m.equal(Json("a.b(<uuid:1>)"), Json("aXb(x)"), "", &why));
}

TEST(ConformanceHarness, ComparesNumbersAsNumbersAndIgnoresKeyOrder) {
  Matcher m;
  std::string why;
  EXPECT_TRUE(
      m.equal(Json::parse(R"({"a":1,"b":[2.0]})"), Json::parse(R"({"b":[2],"a":1.0})"), "", &why));
  EXPECT_FALSE(m.equal(Json::parse(R"({"a":1})"), Json::parse(R"({"a":1,"c":2})"), "", &why));
  EXPECT_EQ(why, "(root): unexpected member 'c'; expected {\"a\":1}, got {\"a\":1,\"c\":2}");
  EXPECT_FALSE(m.equal(Json::parse("[1,2]"), Json::parse("[2,1]"), "", &why));
  EXPECT_FALSE(m.equal(Json("1"), Json(1), "", &why));
}

}  // namespace
}  // namespace stepd::engine
