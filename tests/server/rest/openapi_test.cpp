#include "server/rest/openapi.hpp"

#include "rest_fixture.hpp"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <set>

namespace stepd::server::testing {
namespace {

using PlainJson = nlohmann::json;  // what valijson's adapter takes

PlainJson document() { return PlainJson::parse(rest::openapi_document()); }

// The object a local "$ref" ("#/components/...") names, or `v` itself.
const PlainJson& deref(const PlainJson& doc, const PlainJson& v) {
  if (!v.is_object() || !v.contains("$ref")) return v;
  const std::string ref = v["$ref"].get<std::string>();
  EXPECT_EQ(ref.rfind("#/", 0), 0u) << ref;
  return doc.at(PlainJson::json_pointer(ref.substr(1)));
}

// Every "$ref" in the document names something that exists.
void check_refs(const PlainJson& doc, const PlainJson& v, std::string where) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.key() == "$ref") {
        const std::string ref = it->get<std::string>();
        EXPECT_TRUE(doc.contains(PlainJson::json_pointer(ref.substr(1)))) << where << ": " << ref;
      } else {
        check_refs(doc, *it, where + "/" + it.key());
      }
    }
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i)
      check_refs(doc, v[i], where + "/" + std::to_string(i));
  }
}

// The query parameter names the operation documents (path-level and its own).
std::set<std::string> documented_query(const PlainJson& doc, const PlainJson& path_item,
                                       const PlainJson& operation) {
  std::set<std::string> out;
  for (const PlainJson* list : {&path_item, &operation}) {
    if (!list->contains("parameters")) continue;
    for (const PlainJson& p : (*list)["parameters"]) {
      const PlainJson& param = deref(doc, p);
      if (param["in"] == "query") out.insert(param["name"].get<std::string>());
    }
  }
  return out;
}

// Validates `body` against the schema the document gives the answer `status` of `method` on
// `path` (the status's own entry, else "default"); "" when it conforms, else what is wrong.
std::string conformance(const PlainJson& doc, const std::string& method, const std::string& path,
                        int status, const PlainJson& body) {
  const PlainJson& responses = doc["paths"][path][method]["responses"];
  const std::string code = std::to_string(status);
  if (!responses.contains(code) && !responses.contains("default")) {
    return "status " + code + " is not documented";
  }
  const PlainJson& response =
      deref(doc, responses.contains(code) ? responses[code] : responses["default"]);
  if (!response.contains("content")) {
    return body.is_null() ? "" : "a body where the document says none";
  }
  PlainJson root = response["content"]["application/json"]["schema"];
  root["components"] = doc["components"];
  valijson::Schema schema;
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter schema_adapter(root);
  try {
    parser.populateSchema(schema_adapter, schema);
  } catch (const std::exception& e) {
    return std::string("the schema does not load: ") + e.what();
  }
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(body);
  if (validator.validate(schema, target, &results)) return "";
  std::string out;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string context;
    for (const std::string& c : error.context) context += c;
    out += context + ": " + error.description + "\n";
  }
  return out;
}

class OpenApiTest : public RestTest {
 protected:
  // Sends the request and checks the answer against the document; returns it.
  Reply checked(const std::string& method, const std::string& doc_path, const std::string& target,
                const std::string& body = "", const Caller& caller = admin()) {
    Reply r = call(method, target, body, caller);
    std::string lower = method;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    PlainJson plain = r.raw.empty() ? PlainJson() : PlainJson::parse(r.raw, nullptr, false);
    EXPECT_FALSE(plain.is_discarded()) << method << " " << target << ": not JSON: " << r.raw;
    std::string problem = conformance(doc_, lower, doc_path, r.status, plain);
    EXPECT_EQ(problem, "") << method << " " << target << " answered " << r;
    ++checked_;
    return r;
  }
  Reply checked(const std::string& method, const std::string& doc_path, const std::string& target,
                const Json& body) {
    return checked(method, doc_path, target, body.dump());
  }

  PlainJson doc_ = document();
  int checked_ = 0;
};

TEST(OpenApiDocument, IsOpenApi3WithEveryReferenceResolved) {
  PlainJson doc = document();
  EXPECT_EQ(doc["openapi"], "3.0.3");
  EXPECT_EQ(doc["info"]["title"], "Stepd REST API");
  check_refs(doc, doc, "");
  // Every operation has an id, a 2xx answer and an error answer.
  std::set<std::string> ids;
  for (auto& [path, item] : doc["paths"].items()) {
    for (auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      ASSERT_TRUE(op.contains("operationId")) << method << " " << path;
      EXPECT_TRUE(ids.insert(op["operationId"].get<std::string>()).second) << op["operationId"];
      bool success = false;
      for (auto& [status, unused] : op["responses"].items()) {
        (void)unused;
        if (status[0] == '2') success = true;
      }
      EXPECT_TRUE(success) << method << " " << path;
      if (path != "/v1/openapi.json") {
        EXPECT_TRUE(op["responses"].contains("default")) << method << " " << path;
      }
    }
  }
}

TEST_P(OpenApiTest, TheServedDocumentIsTheEmbeddedOne) {
  open();
  Reply r = checked("GET", "/v1/openapi.json", "/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.raw, std::string(rest::openapi_document()));
}

TEST_P(OpenApiTest, EveryDocumentedRouteIsServedAndEveryRouteIsDocumented) {
  open();
  create("Probe", R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})");
  const std::string execution = start("Probe", "probe-run", Json::object());

  std::set<std::pair<std::string, std::string>> documented;
  std::map<std::pair<std::string, std::string>, std::set<std::string>> documented_queries;
  for (auto& [path, item] : doc_["paths"].items()) {
    for (auto& [method, op] : item.items()) {
      if (method == "parameters") continue;
      std::string upper = method;
      std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
      documented.insert({upper, path});
      documented_queries[{upper, path}] = documented_query(doc_, item, op);
    }
  }
  std::set<std::pair<std::string, std::string>> routed;
  for (const RestApi::RouteInfo& route : api_->routes()) {
    routed.insert({route.method, route.path});
    std::set<std::string> query(route.query.begin(), route.query.end());
    EXPECT_EQ(documented_queries[std::make_pair(route.method, route.path)], query)
        << route.method << " " << route.path << ": documented and accepted query parameters differ";
  }
  EXPECT_EQ(documented, routed);
  EXPECT_EQ(routed.size(), 35u);

  // Each documented operation reaches its handler: never an unknown route or a wrong method.
  for (const auto& [method, path] : documented) {
    std::string target = path;
    auto replace = [&](const std::string& from, const std::string& to) {
      auto at = target.find(from);
      if (at != std::string::npos) target.replace(at, from.size(), to);
    };
    replace("{stateMachine}", "Probe");
    replace("{execution}", enc(execution));
    replace("{name}", "probe-run");
    replace("{kind}", "function");
    replace("{activity}", "NoSuchActivity");  // a poll of it answers at once: 404
    replace("{token}", std::string(64, 'a'));
    Reply r = call(method, target, method == "GET" || method == "DELETE" ? "" : "{}");
    const std::string code = r.body.is_object() ? r.body.value("code", "") : "";
    EXPECT_NE(code, "UnknownOperationException") << method << " " << target << ": " << r;
    EXPECT_NE(code, "MethodNotAllowed") << method << " " << target << ": " << r;
    EXPECT_NE(r.status, 500) << method << " " << target << ": " << r;
  }
}

TEST_P(OpenApiTest, AnswersConformToTheDocumentSchemas) {
  std::atomic<int> tasks{0};
  open([&](const engine::TaskDispatch&) -> asl::Outcome {
    if (tasks.fetch_add(1) == 0) return asl::StatesError{"Boom", "fails once"};
    return Json{{"done", true}};
  });
  const std::string sm = "/v1/state-machines/{stateMachine}";
  const std::string ex = "/v1/executions/{execution}";

  Reply created = checked("POST", "/v1/state-machines", "/v1/state-machines",
                          Json{{"name", "Doc"},
                               {"definition", Json::parse(kChain)},
                               {"roleArn", "arn:aws:iam::1:role/r"},
                               {"tags", Json::parse(R"([{"key":"k","value":"v"}])")}});
  ASSERT_EQ(created.status, 201);
  checked("POST", "/v1/state-machines", "/v1/state-machines",
          Json{{"name", "Task"},
               {"definition", Json::parse(R"({"StartAt":"T","States":{"T":{"Type":"Task",
                 "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}})")}});
  checked("GET", "/v1/state-machines", "/v1/state-machines?maxResults=1");
  checked("GET", sm, "/v1/state-machines/Doc");
  checked("PUT", sm, "/v1/state-machines/Doc", Json{{"roleArn", "arn:aws:iam::1:role/s"}});
  checked("POST", "/v1/state-machines:validate", "/v1/state-machines:validate",
          Json{{"definition",
                Json::parse(R"({"StartAt":"X","States":{"A":{"Type":"Pass","End":true}}})")}});
  checked("POST", "/v1/state-machines:validate", "/v1/state-machines:validate",
          Json{{"definition", std::string(kChain)}});

  Reply started = checked("POST", sm + "/executions", "/v1/state-machines/Doc/executions",
                          Json{{"name", "d1"}, {"input", Json{{"x", 1}}}});
  ASSERT_EQ(started.status, 201);
  const std::string arn = started.body["arn"].get<std::string>();
  checked("POST", sm + "/executions:sync", "/v1/state-machines/Doc/executions:sync",
          Json{{"input", "scalar"}});
  wait_end(arn);
  checked("GET", ex, "/v1/executions/" + enc(arn));
  checked("GET", sm + "/executions/{name}", "/v1/state-machines/Doc/executions/d1");
  checked("GET", ex + "/state-machine", "/v1/executions/" + enc(arn) + "/state-machine");
  checked("GET", ex + "/history", "/v1/executions/" + enc(arn) + "/history?maxResults=3");
  checked("GET", ex + "/history", "/v1/executions/" + enc(arn) + "/history?reverse=true");
  checked("GET", "/v1/executions", "/v1/executions?maxResults=1");
  checked("GET", sm + "/executions", "/v1/state-machines/Doc/executions?status=SUCCEEDED");
  checked("POST", ex + ":stop", "/v1/executions/" + enc(arn) + ":stop");

  // A failed execution, its history (task events) and its redrive.
  Reply failing = checked("POST", sm + "/executions:sync",
                          "/v1/state-machines/Task/executions:sync", Json{{"name", "t1"}});
  ASSERT_EQ(failing.body["status"], "FAILED") << failing;
  const std::string task_arn = failing.body["arn"].get<std::string>();
  checked("GET", ex + "/history", "/v1/executions/" + enc(task_arn) + "/history");
  checked("POST", ex + ":redrive", "/v1/executions/" + enc(task_arn) + ":redrive");
  wait_end(task_arn);
  checked("POST", ex + ":redrive", "/v1/executions/" + enc(task_arn) + ":redrive");  // 409

  checked("GET", sm + "/tags", "/v1/state-machines/Doc/tags");
  checked("POST", sm + "/tags", "/v1/state-machines/Doc/tags",
          Json{{"tags", Json::parse(R"([{"key":"a","value":"b"}])")}});
  checked("DELETE", sm + "/tags", "/v1/state-machines/Doc/tags?key=a");
  checked("GET", "/v1/audit", "/v1/audit?maxResults=5");

  // Errors.
  Reply invalid =
      checked("POST", "/v1/state-machines", "/v1/state-machines",
              Json{{"name", "Bad"}, {"definition", Json::parse(R"({"StartAt":"X","States":{}})")}});
  EXPECT_EQ(invalid.status, 400);
  EXPECT_FALSE(invalid.body["problems"].empty());
  checked("GET", sm, "/v1/state-machines/Missing");  // 404
  checked("POST", sm + "/executions", "/v1/state-machines/Doc/executions",
          Json{{"name", "d1"}, {"input", Json{{"x", 2}}}});                       // 409
  checked("POST", "/v1/state-machines", "/v1/state-machines", "{", read_only());  // 400
  checked("POST", "/v1/state-machines", "/v1/state-machines",
          R"({"name":"N","definition":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}})",
          read_only());                                             // 403
  checked("GET", "/v1/audit", "/v1/audit", "", read_only());        // 403
  Reply deleted = checked("DELETE", sm, "/v1/state-machines/Doc");  // 204, no body
  EXPECT_EQ(deleted.status, 204);
  EXPECT_EQ(checked_, 32);
}

TEST_P(OpenApiTest, TaskRoutesConformToTheDocumentSchemas) {
  open();
  const std::string act = "/v1/activities/{activity}";
  const std::string task = "/v1/tasks/{token}";
  const std::string arn = "arn:aws:states:local:000000000000:activity:Work";

  Reply created =
      checked("POST", "/v1/activities", "/v1/activities",
              Json{{"name", "Work"}, {"tags", Json::parse(R"([{"key":"k","value":"v"}])")}});
  ASSERT_EQ(created.status, 201) << created;
  checked("POST", "/v1/activities", "/v1/activities", Json{{"name", "bad name"}});  // 400
  checked("GET", "/v1/activities", "/v1/activities?maxResults=1");
  checked("GET", act, "/v1/activities/Work");
  checked("GET", act, "/v1/activities/" + enc(arn));
  checked("GET", act, "/v1/activities/Missing");  // 404
  checked("GET", act + "/tags", "/v1/activities/Work/tags");
  checked("POST", act + "/tags", "/v1/activities/Work/tags",
          Json{{"tags", Json::parse(R"([{"key":"a","value":"b"}])")}});
  checked("DELETE", act + "/tags", "/v1/activities/Work/tags?key=a");
  Reply none = checked("GET", act + "/tasks", "/v1/activities/Work/tasks?wait=0");
  EXPECT_EQ(none.status, 204);
  checked("GET", act + "/tasks", "/v1/activities/Work/tasks?wait=61");  // 400
  checked("GET", act + "/tasks", "/v1/activities/Work/tasks?wait=0", "", read_only());  // 403

  create("Worked", R"({"StartAt":"T","States":{"T":{"Type":"Task",
    "Resource":"arn:aws:states:local:000000000000:activity:Work","End":true}}})");
  start("Worked", "w1", Json{{"n", 1}});
  start("Worked", "w2", Json{{"n", 2}});
  Reply first = checked("GET", act + "/tasks", "/v1/activities/Work/tasks?wait=10&worker=doc");
  ASSERT_EQ(first.status, 200) << first;
  Reply second = checked("GET", act + "/tasks", "/v1/activities/Work/tasks?wait=10");
  ASSERT_EQ(second.status, 200) << second;
  const std::string t1 = first.body["token"].get<std::string>();
  const std::string t2 = second.body["token"].get<std::string>();
  checked("POST", task + "/heartbeat", "/v1/tasks/" + t1 + "/heartbeat");
  const std::string success = "/v1/tasks/" + t1 + "/success";
  checked("POST", task + "/success", success, std::string("not json"));  // 400
  checked("POST", task + "/success", success, std::string(R"({"ok":true})"));
  checked("POST", task + "/success", success, std::string("{}"));  // 404
  checked("POST", task + "/failure", "/v1/tasks/" + t2 + "/failure",
          Json{{"error", "E"}, {"cause", "c"}});
  checked("POST", task + "/heartbeat", "/v1/tasks/" + t2 + "/heartbeat");  // 404

  checked("PUT", "/v1/routes/{kind}/{name}", "/v1/routes/function/charge",
          Json{{"url", "http://127.0.0.1:9/charge"}});
  checked("PUT", "/v1/routes/{kind}/{name}", "/v1/routes/queue/x",
          Json{{"url", "http://127.0.0.1:9/"}});  // 400
  checked("GET", "/v1/routes", "/v1/routes");
  checked("GET", "/v1/routes", "/v1/routes", "", read_only());  // 403
  checked("DELETE", "/v1/routes/{kind}/{name}", "/v1/routes/function/charge");
  checked("DELETE", "/v1/routes/{kind}/{name}", "/v1/routes/function/charge");  // 404
  checked("DELETE", act, "/v1/activities/Work");
  EXPECT_EQ(checked_, 27);
}

INSTANTIATE_TEST_SUITE_P(Stores, OpenApiTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace stepd::server::testing
