#include "server/rest/representation.hpp"

#include <ctime>

namespace stepd::server::rest {

std::string format_time(engine::Micros micros) {
  engine::Micros seconds = micros / 1'000'000;
  engine::Micros rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    seconds -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(rest / 1000));
  return buf;
}

Json payload_value(const std::string& text) {
  if (text.empty()) return text;
  Json v = Json::parse(text, nullptr, false);
  if (v.is_discarded()) return text;
  return v;
}

namespace {

// A record's stored tags (JSON text of [{key, value}]) as a value; [] when they are not an array.
Json stored_tags(const std::string& tags_json) {
  Json tags = Json::parse(tags_json, nullptr, false);
  return tags.is_array() ? tags : Json::array();
}

}  // namespace

Json machine_json(const StateMachineRecord& m, bool full) {
  Json out = Json::object();
  out["arn"] = m.arn;
  out["name"] = m.name;
  out["type"] = m.type;
  out["status"] = m.status.empty() ? "ACTIVE" : m.status;
  out["revisionId"] = m.revision_id;
  if (full) {
    out["definition"] = payload_value(m.definition);
    if (!m.role_arn.empty()) out["roleArn"] = m.role_arn;
    if (!m.description.empty()) out["description"] = m.description;
    out["tags"] = stored_tags(m.tags_json);
  }
  out["createdAt"] = format_time(m.created);
  out["updatedAt"] = format_time(m.updated);
  return out;
}

Json execution_json(const ExecutionRecord& x, bool full) {
  Json out = Json::object();
  out["arn"] = x.arn;
  out["name"] = x.name;
  out["stateMachineArn"] = x.machine_arn;
  out["revisionId"] = x.revision_id;
  out["type"] = x.type;
  out["status"] = x.status;
  out["startedAt"] = format_time(x.start);
  if (x.stop) out["stoppedAt"] = format_time(*x.stop);
  out["redriveCount"] = x.redrive_count;
  if (x.redrive_date) out["redrivenAt"] = format_time(*x.redrive_date);
  if (!full) return out;
  out["input"] = payload_value(x.input);
  if (x.output) out["output"] = payload_value(*x.output);
  if (x.error) out["error"] = *x.error;
  if (x.cause) out["cause"] = *x.cause;
  if (!x.trace_header.empty()) out["traceHeader"] = x.trace_header;
  if (x.compensation) out["compensation"] = payload_value(*x.compensation);
  return out;
}

Json event_json(const HistoryEvent& e) {
  Json out = Json::object();
  out["id"] = e.id;
  out["previousEventId"] = e.previous_id;
  out["timestamp"] = format_time(e.timestamp);
  out["type"] = e.type;
  if (!e.details.empty()) {
    Json details = Json::parse(e.details, nullptr, false);
    if (details.is_object()) {
      for (const char* key : {"input", "output", "parameters"}) {
        auto it = details.find(key);
        if (it != details.end() && it->is_string()) {
          *it = payload_value(it->get_ref<const std::string&>());
        }
      }
      out["details"] = std::move(details);
    }
  }
  return out;
}

Json audit_json(const AuditEntry& a) {
  Json out = Json::object();
  out["id"] = a.id;
  out["time"] = format_time(a.time);
  out["keyId"] = a.key_id;
  out["remote"] = a.remote;
  out["operation"] = a.operation;
  out["resource"] = a.resource;
  out["outcome"] = a.outcome;
  out["requestId"] = a.request_id;
  return out;
}

Json activity_json(const ActivityRecord& a, bool full) {
  Json out = Json::object();
  out["arn"] = a.arn;
  out["name"] = a.name;
  out["createdAt"] = format_time(a.created);
  if (full) {
    out["tags"] = stored_tags(a.tags_json);
  }
  return out;
}

Json route_json(const RouteRecord& r) {
  Json out = Json::object();
  out["kind"] = r.kind;
  out["name"] = r.name;
  out["url"] = r.url;
  out["updated"] = format_time(r.updated);
  return out;
}

Json activity_task_json(const engine::ActivityTask& t) {
  Json out = Json::object();
  out["token"] = t.token;
  out["input"] = payload_value(t.input);
  return out;
}

Json tags_json(const std::vector<Tag>& tags) {
  Json out = Json::array();
  for (const Tag& t : tags) {
    Json tag = Json::object();
    tag["key"] = t.key;
    tag["value"] = t.value;
    out.push_back(std::move(tag));
  }
  return out;
}

Json problem_json(const asl::Diagnostic& d) {
  Json out = Json::object();
  out["pointer"] = d.pointer;
  out["code"] = d.code;
  out["message"] = d.message;
  out["severity"] = d.severity == asl::Severity::Error ? "ERROR" : "WARNING";
  return out;
}

Json error_json(const ApiError& error, const std::string& request_id) {
  Json out = Json::object();
  out["code"] = error.type;
  out["message"] = error.message;
  Json problems = Json::array();
  for (const asl::Diagnostic& d : error.diagnostics) problems.push_back(problem_json(d));
  out["problems"] = std::move(problems);
  if (!request_id.empty()) out["requestId"] = request_id;
  return out;
}

}  // namespace stepd::server::rest
