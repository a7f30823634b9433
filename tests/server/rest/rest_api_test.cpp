#include "server/rest/rest_api.hpp"

#include "rest_fixture.hpp"

#include <regex>
#include <set>

namespace stepd::server::testing {
namespace {

class RestApiTest : public RestTest {};

const std::regex kTimestamp(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");

constexpr char kMachinePrefix[] = "arn:aws:states:local:000000000000:stateMachine:";
constexpr char kExecutionPrefix[] = "arn:aws:states:local:000000000000:execution:";

TEST_P(RestApiTest, StateMachinesAreCreatedReadListedRevisedAndDeleted) {
  open();
  const Json definition = Json::parse(kChain);
  Reply created =
      call("POST", "/v1/state-machines", Json{{"name", "Orders"}, {"definition", definition}});
  ASSERT_EQ(created.status, 201) << created;
  EXPECT_EQ(created.body["arn"], std::string(kMachinePrefix) + "Orders");
  EXPECT_EQ(created.body["name"], "Orders");
  EXPECT_EQ(created.body["type"], "STANDARD");
  EXPECT_EQ(created.body["status"], "ACTIVE");
  EXPECT_EQ(created.body["revisionId"], "1");
  EXPECT_EQ(created.body["definition"], definition);  // a JSON value, not a string
  EXPECT_EQ(created.body["tags"], Json::array());
  EXPECT_FALSE(created.body.contains("roleArn"));
  EXPECT_TRUE(std::regex_match(created.body["createdAt"].get<std::string>(), kTimestamp));
  ASSERT_NE(created.header("Location"), nullptr);
  EXPECT_EQ(*created.header("Location"), "/v1/state-machines/Orders");

  // A definition may also come as a string of JSON text; it is answered as a value.
  Reply text = call("POST", "/v1/state-machines",
                    Json{{"name", "Billing"},
                         {"definition", std::string(kChain)},
                         {"type", "EXPRESS"},
                         {"roleArn", "arn:aws:iam::1:role/r"}});
  ASSERT_EQ(text.status, 201) << text;
  EXPECT_EQ(text.body["definition"], definition);
  EXPECT_EQ(text.body["type"], "EXPRESS");
  EXPECT_EQ(text.body["roleArn"], "arn:aws:iam::1:role/r");

  // By name and by percent-encoded ARN.
  Reply by_name = call("GET", "/v1/state-machines/Orders");
  ASSERT_EQ(by_name.status, 200) << by_name;
  EXPECT_EQ(by_name.body, created.body);
  Reply by_arn = call("GET", "/v1/state-machines/" + enc(std::string(kMachinePrefix) + "Orders"));
  ASSERT_EQ(by_arn.status, 200) << by_arn;
  EXPECT_EQ(by_arn.body, created.body);

  // Listed by name, a page at a time; summaries carry no definition.
  Reply first = call("GET", "/v1/state-machines?maxResults=1");
  ASSERT_EQ(first.status, 200) << first;
  ASSERT_EQ(first.body["items"].size(), 1u);
  EXPECT_EQ(first.body["items"][0]["name"], "Billing");
  EXPECT_FALSE(first.body["items"][0].contains("definition"));
  ASSERT_TRUE(first.body.contains("nextToken"));
  Reply second = call("GET", "/v1/state-machines?maxResults=1&nextToken=" +
                                 enc(first.body["nextToken"].get<std::string>()));
  ASSERT_EQ(second.status, 200) << second;
  ASSERT_EQ(second.body["items"].size(), 1u);
  EXPECT_EQ(second.body["items"][0]["name"], "Orders");
  EXPECT_FALSE(second.body.contains("nextToken"));

  // Each update is a new revision.
  const Json other = Json::parse(R"({"StartAt":"Only","States":{"Only":{"Type":"Succeed"}}})");
  Reply updated = call("PUT", "/v1/state-machines/Orders", Json{{"definition", other}});
  ASSERT_EQ(updated.status, 200) << updated;
  EXPECT_EQ(updated.body["revisionId"], "2");
  EXPECT_EQ(updated.body["definition"], other);
  Reply role = call("PUT", "/v1/state-machines/Orders", Json{{"roleArn", "arn:aws:iam::1:role/x"}});
  ASSERT_EQ(role.status, 200) << role;
  EXPECT_EQ(role.body["revisionId"], "3");
  EXPECT_EQ(role.body["roleArn"], "arn:aws:iam::1:role/x");
  EXPECT_EQ(role.body["definition"], other);

  Reply deleted = call("DELETE", "/v1/state-machines/Orders");
  EXPECT_EQ(deleted.status, 204);
  EXPECT_EQ(deleted.raw, "");
  Reply gone = call("GET", "/v1/state-machines/Orders");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.body["code"], "StateMachineDoesNotExist");
  EXPECT_EQ(gone.body["message"],
            "State Machine Does Not Exist: '" + std::string(kMachinePrefix) + "Orders'");
  // AWS: deleting what does not exist succeeds.
  EXPECT_EQ(call("DELETE", "/v1/state-machines/Orders").status, 204);
}

TEST_P(RestApiTest, ValidateAnswersEveryProblemWithItsPointer) {
  open();
  Reply ok = call("POST", "/v1/state-machines:validate", Json{{"definition", Json::parse(kChain)}},
                  read_only());
  ASSERT_EQ(ok.status, 200) << ok;
  EXPECT_EQ(ok.body, Json::parse(R"({"valid":true,"problems":[]})"));

  const Json bad = Json::parse(R"({"StartAt":"A","States":{
      "A":{"Type":"Pass","Next":"Nowhere"},
      "B":{"Type":"Wait","End":true}}})");
  Reply r = call("POST", "/v1/state-machines:validate", Json{{"definition", bad}});
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.body["valid"], false);
  std::set<std::string> pointers;
  for (const Json& p : r.body["problems"]) {
    pointers.insert(p["pointer"].get<std::string>());
    EXPECT_FALSE(p["code"].get<std::string>().empty());
    EXPECT_FALSE(p["message"].get<std::string>().empty());
  }
  EXPECT_TRUE(pointers.count("/States/A/Next")) << r;
  EXPECT_TRUE(pointers.count("/States/B")) << r;

  Reply type = call("POST", "/v1/state-machines:validate",
                    Json{{"definition", Json::parse(kChain)}, {"type", "BATCH"}});
  EXPECT_EQ(type.status, 400);
  EXPECT_EQ(type.body["code"], "ValidationException");
  EXPECT_EQ(type.body["message"],
            "1 validation error detected: Value 'BATCH' at 'type' failed to satisfy constraint: "
            "Member must satisfy enum value set: [STANDARD, EXPRESS]");
}

TEST_P(RestApiTest, AnInvalidDefinitionIsRefusedWithEveryProblem) {
  open();
  Reply r = call("POST", "/v1/state-machines",
                 Json{{"name", "Broken"}, {"definition", Json::parse(R"({"StartAt":"A","States":{
                          "A":{"Type":"Pass","Next":"Nowhere"},
                          "B":{"Type":"Pass","End":true}}})")}});
  ASSERT_EQ(r.status, 400) << r;
  EXPECT_EQ(r.body["code"], "InvalidDefinition");
  EXPECT_EQ(r.body["message"].get<std::string>().rfind("Invalid State Machine Definition: ", 0),
            0u);
  bool next = false;
  for (const Json& p : r.body["problems"]) {
    if (p["pointer"] == "/States/A/Next" && p["severity"] == "ERROR") next = true;
  }
  EXPECT_TRUE(next) << r;
  EXPECT_GE(r.body["problems"].size(), 2u) << r;
  EXPECT_EQ(call("GET", "/v1/state-machines/Broken").status, 404);
}

TEST_P(RestApiTest, ExecutionsStartAndAreReadByArnAndByName) {
  open();
  create("Chain", kChain);
  Reply started = call("POST", "/v1/state-machines/Chain/executions",
                       Json{{"name", "run-1"}, {"input", Json{{"x", 0}}}});
  ASSERT_EQ(started.status, 201) << started;
  const std::string arn = std::string(kExecutionPrefix) + "Chain:run-1";
  EXPECT_EQ(started.body["arn"], arn);
  EXPECT_EQ(started.body["name"], "run-1");
  EXPECT_EQ(started.body["stateMachineArn"], std::string(kMachinePrefix) + "Chain");
  EXPECT_EQ(started.body["input"], Json::parse(R"({"x":0})"));
  EXPECT_EQ(started.body["redriveCount"], 0);
  EXPECT_TRUE(std::regex_match(started.body["startedAt"].get<std::string>(), kTimestamp));
  ASSERT_NE(started.header("Location"), nullptr);
  EXPECT_EQ(*started.header("Location"), "/v1/executions/" + enc(arn));

  Json done = wait_end(arn);
  EXPECT_EQ(done["status"], "SUCCEEDED");
  EXPECT_EQ(done["output"], Json::parse(R"({"x":0,"a":1,"b":2})"));
  EXPECT_TRUE(std::regex_match(done["stoppedAt"].get<std::string>(), kTimestamp));

  Reply by_name = call("GET", "/v1/state-machines/Chain/executions/run-1");
  ASSERT_EQ(by_name.status, 200) << by_name;
  EXPECT_EQ(by_name.body, done);
  // The path may also carry the ARN with raw colons.
  Reply raw = call("GET", "/v1/executions/" + arn);
  ASSERT_EQ(raw.status, 200) << raw;
  EXPECT_EQ(raw.body, done);

  // Any JSON value is an input; no name: a UUID.
  Reply scalar = call(
      "POST", "/v1/state-machines/" + enc(std::string(kMachinePrefix) + "Chain") + "/executions",
      Json{{"input", Json::array({1, 2})}});
  ASSERT_EQ(scalar.status, 201) << scalar;
  EXPECT_EQ(scalar.body["input"], Json::array({1, 2}));
  EXPECT_EQ(scalar.body["name"].get<std::string>().size(), 36u);
  // No body at all: the input is {}.
  Reply empty = call("POST", "/v1/state-machines/Chain/executions");
  ASSERT_EQ(empty.status, 201) << empty;
  EXPECT_EQ(empty.body["input"], Json::object());

  // The machine as the execution runs it: the revision it started with.
  ASSERT_EQ(call("PUT", "/v1/state-machines/Chain",
                 Json{{"definition",
                       Json::parse(R"({"StartAt":"S","States":{"S":{"Type":"Succeed"}}})")}})
                .status,
            200);
  Reply machine = call("GET", "/v1/executions/" + enc(arn) + "/state-machine");
  ASSERT_EQ(machine.status, 200) << machine;
  EXPECT_EQ(machine.body["revisionId"], "1");
  EXPECT_EQ(machine.body["definition"], Json::parse(kChain));
}

TEST_P(RestApiTest, StartSyncAnswersTheOutputWhenTheExecutionEnds) {
  open();
  create("Chain", kChain);
  Reply r = call("POST", "/v1/state-machines/Chain/executions:sync",
                 Json{{"name", "sync-1"}, {"input", Json{{"x", 7}}}});
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.body["status"], "SUCCEEDED");
  EXPECT_EQ(r.body["output"], Json::parse(R"({"x":7,"a":1,"b":2})"));
  EXPECT_EQ(r.body["arn"], std::string(kExecutionPrefix) + "Chain:sync-1");
  ASSERT_NE(r.header("Location"), nullptr);

  // A failure is answered too, with its error and cause.
  create("Fails",
         R"({"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Nope","Cause":"always"}}})");
  Reply failed = call("POST", "/v1/state-machines/Fails/executions:sync", "");
  ASSERT_EQ(failed.status, 201) << failed;
  EXPECT_EQ(failed.body["status"], "FAILED");
  EXPECT_EQ(failed.body["error"], "Nope");
  EXPECT_EQ(failed.body["cause"], "always");
  EXPECT_FALSE(failed.body.contains("output"));
}

TEST_P(RestApiTest, StartSyncAnswersARunningExecutionAfterItsWaitLimit) {
  RestOptions options;
  options.sync_timeout = 300ms;
  open({}, options);
  create("Waits", kWaitLong);
  auto begin = std::chrono::steady_clock::now();
  Reply r = call("POST", "/v1/state-machines/Waits/executions:sync", Json{{"name", "slow"}});
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 10s);
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.body["status"], "RUNNING");
  EXPECT_FALSE(r.body.contains("stoppedAt"));
}

TEST_P(RestApiTest, StopAbortsARunningExecution) {
  open();
  create("Waits", kWaitLong);
  const std::string arn = start("Waits", "w1", Json{{"k", 1}});
  Reply stopped = call("POST", "/v1/executions/" + enc(arn) + ":stop",
                       Json{{"error", "Manual"}, {"cause", "stopped by the test"}});
  ASSERT_EQ(stopped.status, 200) << stopped;
  EXPECT_EQ(stopped.body["status"], "ABORTED");
  EXPECT_EQ(stopped.body["error"], "Manual");
  EXPECT_EQ(stopped.body["cause"], "stopped by the test");
  EXPECT_TRUE(stopped.body.contains("stoppedAt"));

  Reply history = call("GET", "/v1/executions/" + enc(arn) + "/history?reverse=true&maxResults=1");
  ASSERT_EQ(history.status, 200) << history;
  ASSERT_EQ(history.body["items"].size(), 1u);
  EXPECT_EQ(history.body["items"][0]["type"], "ExecutionAborted");

  // AWS: stopping a finished execution answers it as it is.
  Reply again = call("POST", "/v1/executions/" + enc(arn) + ":stop");
  ASSERT_EQ(again.status, 200) << again;
  EXPECT_EQ(again.body["status"], "ABORTED");
  EXPECT_EQ(again.body["stoppedAt"], stopped.body["stoppedAt"]);
}

TEST_P(RestApiTest, RedriveContinuesAFailedExecutionFromTheFailedState) {
  std::atomic<int> attempts{0};
  open([&](const engine::TaskDispatch&) -> asl::Outcome {
    if (attempts.fetch_add(1) == 0) return asl::StatesError{"Boom", "first try fails"};
    return Json{{"ok", true}};
  });
  create("Flaky", R"({"StartAt":"Prepare","States":{
    "Prepare":{"Type":"Pass","Result":"ready","ResultPath":"$.prep","Next":"Call"},
    "Call":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:flaky",
            "ResultPath":"$.call","End":true}}})");
  const std::string arn = start("Flaky", "f1", Json{{"n", 1}});
  Json failed = wait_end(arn);
  ASSERT_EQ(failed["status"], "FAILED") << failed;
  EXPECT_EQ(failed["error"], "Boom");

  Reply redriven = call("POST", "/v1/executions/" + enc(arn) + ":redrive");
  ASSERT_EQ(redriven.status, 200) << redriven;
  EXPECT_EQ(redriven.body["arn"], arn);
  EXPECT_EQ(redriven.body["redriveCount"], 1);
  EXPECT_TRUE(redriven.body.contains("redrivenAt"));
  Json done = wait_end(arn);
  EXPECT_EQ(done["status"], "SUCCEEDED");
  EXPECT_EQ(done["output"], Json::parse(R"({"n":1,"prep":"ready","call":{"ok":true}})"));
  EXPECT_EQ(attempts.load(), 2);

  Reply again = call("POST", "/v1/executions/" + enc(arn) + ":redrive", "{}");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body["code"], "ExecutionNotRedrivable");
  EXPECT_EQ(again.body["message"],
            "Execution '" + arn + "' cannot be redriven: its status is SUCCEEDED");
}

TEST_P(RestApiTest, PagesThrough250ExecutionsWithoutDuplicatesOrGaps) {
  open();
  create("Many", R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})");
  create("Other", R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})");
  std::set<std::string> started;
  for (int i = 0; i < 250; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "e-%03d", i);
    started.insert(start("Many", name, Json{{"i", i}}));
  }
  start("Other", "not-listed", Json::object());
  ASSERT_EQ(started.size(), 250u);

  for (const std::string& first :
       {std::string("/v1/state-machines/Many/executions?maxResults=100"),
        std::string("/v1/executions?stateMachine=Many&maxResults=100")}) {
    std::vector<std::string> seen;
    std::vector<std::size_t> sizes;
    std::string target = first;
    for (int page = 0; page < 10; ++page) {
      Reply r = call("GET", target);
      ASSERT_EQ(r.status, 200) << r;
      sizes.push_back(r.body["items"].size());
      for (const Json& x : r.body["items"]) {
        seen.push_back(x["arn"].get<std::string>());
        EXPECT_FALSE(x.contains("input"));  // summaries only
      }
      if (!r.body.contains("nextToken")) break;
      target = first + "&nextToken=" + enc(r.body["nextToken"].get<std::string>());
    }
    EXPECT_EQ(sizes, (std::vector<std::size_t>{100, 100, 50})) << first;
    std::set<std::string> unique(seen.begin(), seen.end());
    EXPECT_EQ(unique.size(), seen.size()) << first << ": duplicates";
    EXPECT_EQ(unique, started) << first;
  }

  // All executions: 251, newest first.
  Reply all = call("GET", "/v1/executions?maxResults=1000");
  ASSERT_EQ(all.status, 200) << all;
  EXPECT_EQ(all.body["items"].size(), 251u);
  EXPECT_FALSE(all.body.contains("nextToken"));
  EXPECT_EQ(all.body["items"][0]["name"], "not-listed");
}

TEST_P(RestApiTest, ListsExecutionsByStatus) {
  open();
  create("Waits", kWaitLong);
  create("Quick", R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})");
  const std::string waiting = start("Waits", "w", Json::object());
  const std::string quick = start("Quick", "q", Json::object());
  wait_end(quick);
  Reply running = call("GET", "/v1/executions?status=RUNNING");
  ASSERT_EQ(running.status, 200) << running;
  ASSERT_EQ(running.body["items"].size(), 1u);
  EXPECT_EQ(running.body["items"][0]["arn"], waiting);
  Reply succeeded = call("GET", "/v1/state-machines/Quick/executions?status=SUCCEEDED");
  ASSERT_EQ(succeeded.status, 200) << succeeded;
  ASSERT_EQ(succeeded.body["items"].size(), 1u);
  EXPECT_EQ(succeeded.body["items"][0]["arn"], quick);
  Reply none = call("GET", "/v1/state-machines/Waits/executions?status=SUCCEEDED");
  EXPECT_EQ(none.body["items"], Json::array());
}

TEST_P(RestApiTest, HistoryPagesInBothOrders) {
  open();
  create("Five", R"({"StartAt":"S1","States":{
    "S1":{"Type":"Pass","Next":"S2"},"S2":{"Type":"Pass","Next":"S3"},
    "S3":{"Type":"Pass","Next":"S4"},"S4":{"Type":"Pass","Next":"S5"},
    "S5":{"Type":"Pass","End":true}}})");
  const std::string arn = start("Five", "h", Json{{"v", Json::array({1, "two"})}});
  ASSERT_EQ(wait_end(arn)["status"], "SUCCEEDED");

  auto read_all = [&](bool reverse) {
    std::vector<Json> events;
    const std::string base =
        "/v1/executions/" + enc(arn) + "/history?maxResults=5" + (reverse ? "&reverse=true" : "");
    std::string target = base;
    for (int page = 0; page < 10; ++page) {
      Reply r = call("GET", target);
      EXPECT_EQ(r.status, 200) << r;
      EXPECT_LE(r.body["items"].size(), 5u);
      for (const Json& e : r.body["items"]) events.push_back(e);
      if (!r.body.contains("nextToken")) break;
      target = base + "&nextToken=" + enc(r.body["nextToken"].get<std::string>());
    }
    return events;
  };
  std::vector<Json> forward = read_all(false);
  ASSERT_EQ(forward.size(), 12u);  // started, 5 x (entered, exited), succeeded
  for (std::size_t i = 0; i < forward.size(); ++i) {
    EXPECT_EQ(forward[i]["id"], static_cast<long long>(i + 1));
    EXPECT_TRUE(std::regex_match(forward[i]["timestamp"].get<std::string>(), kTimestamp));
  }
  EXPECT_EQ(forward[0]["type"], "ExecutionStarted");
  EXPECT_EQ(forward[0]["previousEventId"], 0);
  EXPECT_EQ(forward[0]["details"]["input"], Json::parse(R"({"v":[1,"two"]})"));
  EXPECT_EQ(forward[1]["type"], "PassStateEntered");
  EXPECT_EQ(forward[1]["details"]["name"], "S1");
  EXPECT_EQ(forward[2]["previousEventId"], 2);
  EXPECT_EQ(forward[11]["type"], "ExecutionSucceeded");
  EXPECT_EQ(forward[11]["details"]["output"], Json::parse(R"({"v":[1,"two"]})"));

  std::vector<Json> backward = read_all(true);
  ASSERT_EQ(backward.size(), 12u);
  for (std::size_t i = 0; i < backward.size(); ++i) {
    EXPECT_EQ(backward[i], forward[forward.size() - 1 - i]);
  }
}

TEST_P(RestApiTest, TagsAreAddedListedAndRemoved) {
  open();
  Reply created = call("POST", "/v1/state-machines",
                       Json{{"name", "Tagged"},
                            {"definition", Json::parse(kChain)},
                            {"tags", Json::parse(R"([{"key":"team","value":"a"}])")}});
  ASSERT_EQ(created.status, 201) << created;
  EXPECT_EQ(created.body["tags"], Json::parse(R"([{"key":"team","value":"a"}])"));

  Reply listed = call("GET", "/v1/state-machines/Tagged/tags");
  ASSERT_EQ(listed.status, 200) << listed;
  EXPECT_EQ(listed.body, Json::parse(R"({"tags":[{"key":"team","value":"a"}]})"));

  Reply added =
      call("POST", "/v1/state-machines/Tagged/tags",
           Json::parse(R"({"tags":[{"key":"env","value":"dev"},{"key":"team","value":"b"}]})"));
  ASSERT_EQ(added.status, 200) << added;
  EXPECT_EQ(added.body,
            Json::parse(R"({"tags":[{"key":"team","value":"b"},{"key":"env","value":"dev"}]})"));

  Reply removed = call("DELETE", "/v1/state-machines/Tagged/tags?key=team&key=absent");
  ASSERT_EQ(removed.status, 200) << removed;
  EXPECT_EQ(removed.body, Json::parse(R"({"tags":[{"key":"env","value":"dev"}]})"));
  EXPECT_EQ(call("GET", "/v1/state-machines/Tagged").body["tags"],
            Json::parse(R"([{"key":"env","value":"dev"}])"));

  Reply missing = call("GET", "/v1/state-machines/Nope/tags");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["code"], "ResourceNotFound");
  EXPECT_EQ(missing.body["message"],
            "Resource not found: '" + std::string(kMachinePrefix) + "Nope'");

  Reply no_keys = call("DELETE", "/v1/state-machines/Tagged/tags");
  EXPECT_EQ(no_keys.status, 400);
  EXPECT_EQ(no_keys.body["message"],
            "query parameter 'key' is required: one per tag key to remove");
  Reply long_key = call("POST", "/v1/state-machines/Tagged/tags",
                        Json{{"tags", Json::array({Json{{"key", std::string(129, 'k')}}})}});
  EXPECT_EQ(long_key.status, 400);
  EXPECT_EQ(long_key.body["message"], "Tag keys must be 1 to 128 characters long");
}

TEST_P(RestApiTest, TheAuditLogListsMutatingCallsNewestFirst) {
  open();
  const std::string machine = create("Audited", kChain);
  const std::string execution = start("Audited", "a1", Json::object());
  ASSERT_EQ(call("GET", "/v1/state-machines/Audited").status, 200);  // reads are not audited

  Reply all = call("GET", "/v1/audit");
  ASSERT_EQ(all.status, 200) << all;
  ASSERT_EQ(all.body["items"].size(), 2u) << all;
  const Json& newest = all.body["items"][0];
  EXPECT_EQ(newest["operation"], "StartExecution");
  EXPECT_EQ(newest["resource"], execution);
  EXPECT_EQ(newest["outcome"], "ok");
  EXPECT_EQ(newest["keyId"], "admin-key");
  EXPECT_EQ(newest["requestId"], "req-admin");
  EXPECT_EQ(newest["remote"], "127.0.0.1:40000");
  EXPECT_TRUE(std::regex_match(newest["time"].get<std::string>(), kTimestamp));
  EXPECT_EQ(all.body["items"][1]["operation"], "CreateStateMachine");
  EXPECT_EQ(all.body["items"][1]["resource"], machine);
  EXPECT_GT(newest["id"].get<long long>(), all.body["items"][1]["id"].get<long long>());

  Reply filtered = call("GET", "/v1/audit?operation=CreateStateMachine&key=admin-key");
  ASSERT_EQ(filtered.status, 200) << filtered;
  ASSERT_EQ(filtered.body["items"].size(), 1u);
  EXPECT_EQ(filtered.body["items"][0]["resource"], machine);
  Reply by_resource = call("GET", "/v1/audit?resource=" + enc(execution) + "&maxResults=1");
  ASSERT_EQ(by_resource.body["items"].size(), 1u);
  EXPECT_EQ(by_resource.body["items"][0]["operation"], "StartExecution");

  Reply denied = call("GET", "/v1/audit", "", read_only());
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body["code"], "AccessDeniedException");
  EXPECT_EQ(denied.body["message"], "User: viewer-key is not authorized to read the audit log");
}

TEST_P(RestApiTest, AReadOnlyCallerReadsButMayNotWrite) {
  open();
  create("Chain", kChain);
  const std::string arn = start("Chain", "r1", Json::object());
  EXPECT_EQ(call("GET", "/v1/state-machines", "", read_only()).status, 200);
  EXPECT_EQ(call("GET", "/v1/state-machines/Chain", "", read_only()).status, 200);
  EXPECT_EQ(call("GET", "/v1/executions/" + enc(arn), "", read_only()).status, 200);
  EXPECT_EQ(call("GET", "/v1/executions/" + enc(arn) + "/history", "", read_only()).status, 200);

  Reply create_denied =
      call("POST", "/v1/state-machines",
           Json{{"name", "Mine"}, {"definition", Json::parse(kChain)}}, read_only());
  EXPECT_EQ(create_denied.status, 403);
  EXPECT_EQ(create_denied.body["code"], "AccessDeniedException");
  EXPECT_EQ(create_denied.body["message"],
            "User: viewer-key is not authorized to perform: states:CreateStateMachine");
  EXPECT_EQ(create_denied.body["requestId"], "req-viewer");

  Reply start_denied = call("POST", "/v1/state-machines/Chain/executions", "{}", read_only());
  EXPECT_EQ(start_denied.status, 403);
  EXPECT_EQ(start_denied.body["message"],
            "User: viewer-key is not authorized to perform: states:StartExecution on resource: " +
                std::string(kMachinePrefix) + "Chain");
  Reply stop_denied = call("POST", "/v1/executions/" + enc(arn) + ":stop", "", read_only());
  EXPECT_EQ(stop_denied.status, 403);
  EXPECT_EQ(call("DELETE", "/v1/state-machines/Chain", "", read_only()).status, 403);
  EXPECT_EQ(call("GET", "/v1/state-machines/Chain", "", read_only()).status, 200);  // still there
}

INSTANTIATE_TEST_SUITE_P(Stores, RestApiTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace stepd::server::testing
