// Pass 2: meaning. Builds the Machine tree, compiling every path, template, intrinsic call and
// Choice rule, and checks what the schema cannot: ranges, exclusive fields, transitions, ARNs.
// Fields of the wrong type are reported (the schema reports them too; load_definition keeps one
// diagnostic per pointer and code) and skipped, so a broken document still yields every problem.
#include "asl/choice/timestamp.hpp"
#include "asl/definition_detail.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

namespace stepd::asl::definition_detail {
namespace {

constexpr std::size_t kMaxStateNameLength = 80;
constexpr long long kMaxRetrySeconds = 99999999;  // AWS: IntervalSeconds, MaxAttempts
constexpr long long kMaxDelaySeconds = 31622400;  // AWS: MaxDelaySeconds < 31622401
constexpr double kDefaultTaskTimeout = 99999999;  // AWS: Task TimeoutSeconds default

std::string child_pointer(const std::string& pointer, std::string_view key) {
  return pointer + "/" + pointer_token(key);
}
std::string child_pointer(const std::string& pointer, std::size_t index) {
  return pointer + "/" + std::to_string(index);
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Typed access to the members of one object; a member of the wrong type is reported and read as
// absent.
class Fields {
 public:
  Fields(const Json& obj, std::string pointer, Diagnostics& diags)
      : obj_(obj), pointer_(std::move(pointer)), diags_(diags) {}

  const std::string& pointer() const { return pointer_; }
  std::string at(std::string_view key) const { return child_pointer(pointer_, key); }
  const Json* find(std::string_view key) const {
    if (!obj_.is_object()) return nullptr;
    auto it = obj_.find(std::string(key));
    return it == obj_.end() ? nullptr : &*it;
  }
  bool has(std::string_view key) const { return find(key) != nullptr; }

  const std::string* str(std::string_view key) const {
    const Json* v = find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_string()) return wrong(key, "string");
    return &v->get_ref<const std::string&>();
  }
  std::optional<bool> boolean(std::string_view key) const {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) return wrong(key, "boolean"), std::nullopt;
    return v->get<bool>();
  }
  std::optional<long long> integer(std::string_view key) const {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_number_unsigned()) {
      auto u = v->get<std::uint64_t>();
      return u > static_cast<std::uint64_t>(std::numeric_limits<long long>::max())
                 ? std::numeric_limits<long long>::max()
                 : static_cast<long long>(u);
    }
    if (!v->is_number_integer()) return wrong(key, "integer"), std::nullopt;
    return v->get<long long>();
  }
  std::optional<double> number(std::string_view key) const {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) return wrong(key, "number"), std::nullopt;
    return v->get<double>();
  }
  const Json* object(std::string_view key) const {
    const Json* v = find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) return wrong(key, "object");
    return v;
  }
  const Json* array(std::string_view key) const {
    const Json* v = find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) return wrong(key, "array");
    return v;
  }

 private:
  std::nullptr_t wrong(std::string_view key, const char* type) const {
    diags_.error(at(key), codes::kWrongType, type_requirement({type}));
    return nullptr;
  }

  const Json& obj_;
  std::string pointer_;
  Diagnostics& diags_;
};

// Whether a state's compiled expressions read "$$" or variables.
struct Uses {
  bool context = false;
  bool variables = false;

  void add(const Path& p) {
    context |= p.root() == Path::Root::Context;
    variables |= p.root() == Path::Root::Variable;
  }
  void add(const std::optional<Path>& p) {
    if (p) add(*p);
  }
  void add(const PayloadTemplate& t) {
    context |= t.uses_context();
    variables |= t.uses_variables();
  }
  void add(const IntrinsicCall& c) {
    context |= c.uses_context();
    variables |= c.uses_variables();
  }
  void add(const ChoiceRule& r) {
    context |= r.uses_context();
    variables |= r.uses_variables();
  }
};

std::optional<StateType> parse_state_type(const std::string& name) {
  static constexpr std::pair<std::string_view, StateType> kTypes[] = {
      {"Pass", StateType::Pass},         {"Task", StateType::Task},
      {"Choice", StateType::Choice},     {"Wait", StateType::Wait},
      {"Succeed", StateType::Succeed},   {"Fail", StateType::Fail},
      {"Parallel", StateType::Parallel}, {"Map", StateType::Map},
  };
  for (const auto& [text, type] : kTypes) {
    if (name == text) return type;
  }
  return std::nullopt;
}

class Compiler {
 public:
  Compiler(const LoadOptions& options, Diagnostics& diags, CompileInfo* info)
      : options_(options),
        support_(options.resource_support ? options.resource_support : default_resource_support()),
        diags_(diags),
        info_(info) {}

  std::unique_ptr<Machine> machine(const Json& obj, const std::string& pointer, ScopeKind kind);
  const GraphInput& graph() const { return graph_; }

 private:
  std::unique_ptr<State> state(const std::string& name, const Json& obj, const std::string& pointer,
                               Machine& owner);
  void check_state_name(const std::string& name, const std::string& pointer);
  void query_language(const Fields& f, const std::string& scope);

  std::optional<Path> path(const Fields& f, std::string_view key, Uses& uses,
                           bool reference = false);
  IoPath io_path(const Fields& f, std::string_view key, Uses& uses);
  ResultPathSpec result_path(const Fields& f, Uses& uses);
  std::optional<PayloadTemplate> payload(const Fields& f, std::string_view key,
                                         std::string_view field, Uses& uses);
  void path_or_call(const Fields& f, std::string_view key, std::optional<Path>& path_out,
                    std::optional<IntrinsicCall>& call_out, Uses& uses);
  bool exclusive(const Fields& f, std::string_view a, std::string_view b);
  void resource(const std::string& pointer, const std::string& arn);

  std::vector<std::string> error_equals(const Fields& f, bool* has_all);
  void retriers(const Fields& f, std::vector<Retrier>& out);
  void catchers(const Fields& f, std::vector<Catcher>& out, Uses& uses);

  void task(const Fields& f, State& s, Uses& uses);
  void compensate(const Fields& f, TaskState& t);
  void choice(const Fields& f, State& s, Uses& uses);
  void wait(const Fields& f, State& s, Uses& uses);
  void fail(const Fields& f, State& s, Uses& uses);
  void parallel(const Fields& f, State& s);
  void map(const Fields& f, State& s, Uses& uses);
  void broken_edges(const Fields& f, const State& s);

  template <typename T>
  void value_or_path(const Fields& f, std::string_view key, std::string_view path_key,
                     ValueOrPath<T>& out, Uses& uses);

  const LoadOptions& options_;
  ResourceSupport support_;
  Diagnostics& diags_;
  CompileInfo* info_;
  GraphInput graph_;
};

// ----------------------------------------------------------------------------------------------
// Small field compilers

std::optional<Path> Compiler::path(const Fields& f, std::string_view key, Uses& uses,
                                   bool reference) {
  const std::string* text = f.str(key);
  if (text == nullptr) return std::nullopt;
  std::string error;
  std::optional<Path> p =
      reference ? Path::parse_reference(*text, &error) : Path::parse(*text, &error);
  if (!p) {
    diags_.error(f.at(key), codes::kInvalidPath,
                 std::string(reference ? "invalid reference path '" : "invalid JSONPath '") +
                     *text + "': " + error);
    return std::nullopt;
  }
  uses.add(*p);
  return p;
}

IoPath Compiler::io_path(const Fields& f, std::string_view key, Uses& uses) {
  IoPath out;
  const Json* v = f.find(key);
  if (v != nullptr && v->is_null()) {
    out.is_null = true;
  } else {
    out.path = path(f, key, uses);
  }
  return out;
}

ResultPathSpec Compiler::result_path(const Fields& f, Uses& uses) {
  ResultPathSpec out;
  const Json* v = f.find("ResultPath");
  if (v != nullptr && v->is_null()) {
    out.is_null = true;
  } else {
    out.path = path(f, "ResultPath", uses, /*reference=*/true);
  }
  return out;
}

std::optional<PayloadTemplate> Compiler::payload(const Fields& f, std::string_view key,
                                                 std::string_view field, Uses& uses) {
  const Json* obj = f.object(key);
  if (obj == nullptr) return std::nullopt;
  PayloadTemplate t = PayloadTemplate::compile(*obj, f.at(key), field, diags_);
  uses.add(t);
  return t;
}

void Compiler::path_or_call(const Fields& f, std::string_view key, std::optional<Path>& path_out,
                            std::optional<IntrinsicCall>& call_out, Uses& uses) {
  const std::string* text = f.str(key);
  if (text == nullptr) return;
  if (!IntrinsicCall::looks_like_call(*text)) {
    path_out = path(f, key, uses);
    return;
  }
  std::string error;
  call_out = IntrinsicCall::parse(*text, &error);
  if (!call_out) {
    diags_.error(f.at(key), codes::kInvalidIntrinsic,
                 "invalid intrinsic function call '" + *text + "': " + error);
    return;
  }
  // AWS accepts a call with wrong arguments when the machine is created; it fails when it runs.
  if (!call_out->problem().empty()) {
    diags_.warning(f.at(key), codes::kIntrinsicArguments,
                   std::string(key) +
                       ": the intrinsic call will fail with States.Runtime when "
                       "it runs: " +
                       call_out->problem());
  }
  uses.add(*call_out);
}

bool Compiler::exclusive(const Fields& f, std::string_view a, std::string_view b) {
  if (!f.has(a) || !f.has(b)) return true;
  diags_.error(f.at(b), codes::kExclusiveFields,
               std::string(a) + " and " + std::string(b) + " are mutually exclusive");
  return false;
}

void Compiler::resource(const std::string& pointer, const std::string& arn) {
  std::string why;
  if (!is_valid_arn(arn, &why)) {
    diags_.error(pointer, codes::kInvalidResource,
                 "'" + arn + "' is not a valid resource ARN: " + why);
    return;
  }
  if (support_(arn)) return;
  std::string message = "Resource '" + arn + "' is valid, but this engine cannot run it";
  if (!options_.resource_support) {
    message +=
        " (supported: Lambda function ARNs, arn:aws:states:::lambda:invoke, "
        "arn:aws:states:::http:invoke, activity ARNs and "
        "arn:aws:states:::states:startExecution)";
  }
  if (options_.strict) {
    diags_.error(pointer, codes::kUnsupportedResource, message);
  } else {
    diags_.warning(pointer, codes::kUnsupportedResource, message);
  }
}

template <typename T>
void Compiler::value_or_path(const Fields& f, std::string_view key, std::string_view path_key,
                             ValueOrPath<T>& out, Uses& uses) {
  exclusive(f, key, path_key);
  if constexpr (std::is_integral_v<T>) {
    if (auto v = f.integer(key)) out.value = static_cast<T>(*v);
  } else {
    if (auto v = f.number(key)) out.value = static_cast<T>(*v);
  }
  out.path = path(f, path_key, uses);
}

// ----------------------------------------------------------------------------------------------
// Retry and Catch

std::vector<std::string> Compiler::error_equals(const Fields& f, bool* has_all) {
  std::vector<std::string> out;
  *has_all = false;
  const Json* list = f.array("ErrorEquals");
  if (list == nullptr) return out;
  for (const Json& name : *list) {
    if (!name.is_string()) continue;  // the schema reports it
    out.push_back(name.get<std::string>());
    if (out.back() == errors::kAll) *has_all = true;
  }
  // AWS: States.ALL must appear alone in its ErrorEquals.
  if (*has_all && list->size() > 1) {
    diags_.error(f.at("ErrorEquals"), codes::kStatesAllNotAlone,
                 "States.ALL must be the only error name in its ErrorEquals");
  }
  return out;
}

void Compiler::retriers(const Fields& f, std::vector<Retrier>& out) {
  const Json* list = f.array("Retry");
  if (list == nullptr) return;
  std::string list_pointer = f.at("Retry");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& obj = (*list)[i];
    std::string pointer = child_pointer(list_pointer, i);
    if (!obj.is_object()) continue;  // the schema reports it
    Fields r(obj, pointer, diags_);
    Retrier retrier;
    retrier.pointer = pointer;
    bool has_all = false;
    retrier.errors = error_equals(r, &has_all);
    // AWS: a retrier with States.ALL must be the last one.
    if (has_all && i + 1 < list->size()) {
      diags_.error(pointer, codes::kStatesAllNotLast,
                   "a retrier with States.ALL must be the last retrier in Retry");
    }
    if (auto v = r.integer("IntervalSeconds")) {
      if (*v < 1) {
        diags_.error(r.at("IntervalSeconds"), codes::kInvalidValue, "must be at least 1");
      } else if (*v > kMaxRetrySeconds) {
        diags_.error(r.at("IntervalSeconds"), codes::kInvalidValue, "must be at most 99999999");
      } else {
        retrier.interval_seconds = static_cast<double>(*v);
      }
    }
    if (auto v = r.integer("MaxAttempts")) {
      if (*v < 0) {
        diags_.error(r.at("MaxAttempts"), codes::kInvalidValue, "must be at least 0");
      } else if (*v > kMaxRetrySeconds) {
        diags_.error(r.at("MaxAttempts"), codes::kInvalidValue, "must be at most 99999999");
      } else {
        retrier.max_attempts = static_cast<int>(*v);
      }
    }
    if (auto v = r.number("BackoffRate")) {
      if (*v < 1.0) {
        diags_.error(r.at("BackoffRate"), codes::kInvalidValue, "must be at least 1.0");
      } else {
        retrier.backoff_rate = *v;
      }
    }
    if (auto v = r.integer("MaxDelaySeconds")) {
      if (*v <= 0) {
        diags_.error(r.at("MaxDelaySeconds"), codes::kInvalidValue, "must be greater than 0");
      } else if (*v > kMaxDelaySeconds) {
        diags_.error(r.at("MaxDelaySeconds"), codes::kInvalidValue, "must be at most 31622400");
      } else {
        retrier.max_delay_seconds = static_cast<double>(*v);
      }
    }
    if (const std::string* jitter = r.str("JitterStrategy")) {
      if (*jitter == "FULL") retrier.jitter = JitterStrategy::Full;
      // Any other value than FULL / NONE is reported by the schema.
    }
    out.push_back(std::move(retrier));
  }
}

void Compiler::catchers(const Fields& f, std::vector<Catcher>& out, Uses& uses) {
  const Json* list = f.array("Catch");
  if (list == nullptr) return;
  std::string list_pointer = f.at("Catch");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& obj = (*list)[i];
    std::string pointer = child_pointer(list_pointer, i);
    if (!obj.is_object()) continue;  // the schema reports it
    Fields c(obj, pointer, diags_);
    Catcher catcher;
    catcher.pointer = pointer;
    bool has_all = false;
    catcher.errors = error_equals(c, &has_all);
    // AWS: a catcher with States.ALL must be the last one.
    if (has_all && i + 1 < list->size()) {
      diags_.error(pointer, codes::kStatesAllNotLast,
                   "a catcher with States.ALL must be the last catcher in Catch");
    }
    if (const std::string* next = c.str("Next")) catcher.next_name = *next;
    catcher.result_path = result_path(c, uses);
    catcher.assign = payload(c, "Assign", "Assign", uses);
    out.push_back(std::move(catcher));
  }
}

// ----------------------------------------------------------------------------------------------
// State types

void Compiler::task(const Fields& f, State& s, Uses& uses) {
  TaskState& t = s.body.emplace<TaskState>();
  if (const std::string* arn = f.str("Resource")) {
    t.resource = *arn;
    resource(f.at("Resource"), *arn);
  }
  value_or_path(f, "TimeoutSeconds", "TimeoutSecondsPath", t.timeout_seconds, uses);
  value_or_path(f, "HeartbeatSeconds", "HeartbeatSecondsPath", t.heartbeat_seconds, uses);
  if (t.timeout_seconds.value && *t.timeout_seconds.value <= 0) {
    diags_.error(f.at("TimeoutSeconds"), codes::kInvalidValue, "must be greater than 0");
    t.timeout_seconds.value.reset();
  }
  if (t.heartbeat_seconds.value) {
    double heartbeat = *t.heartbeat_seconds.value;
    if (heartbeat <= 0) {
      diags_.error(f.at("HeartbeatSeconds"), codes::kInvalidValue, "must be greater than 0");
    } else if (t.timeout_seconds.value && heartbeat >= *t.timeout_seconds.value) {
      // AWS: HeartbeatSeconds must be smaller than TimeoutSeconds.
      diags_.error(f.at("HeartbeatSeconds"), codes::kInvalidValue,
                   "must be less than TimeoutSeconds (" +
                       std::to_string(static_cast<long long>(*t.timeout_seconds.value)) + ")");
    } else if (!t.timeout_seconds.present() && heartbeat >= kDefaultTaskTimeout) {
      diags_.error(f.at("HeartbeatSeconds"), codes::kInvalidValue,
                   "must be less than the default TimeoutSeconds (99999999)");
    }
  }
  if (const Json* credentials = f.object("Credentials")) t.credentials = *credentials;
  compensate(f, t);
}

// Stepd extension (docs/saga.md): the action that undoes the task. Its fields are checked like a
// Task's: Resource like a Task's Resource, Retry like a Task's Retry, the same time-out rules.
void Compiler::compensate(const Fields& f, TaskState& t) {
  const Json* obj = f.object("Compensate");
  if (obj == nullptr) return;
  Compensation c;
  c.pointer = f.at("Compensate");
  Fields cf(*obj, c.pointer, diags_);
  if (const std::string* arn = cf.str("Resource")) {
    c.resource = *arn;
    resource(cf.at("Resource"), *arn);
  }
  Uses uses;
  c.parameters = payload(cf, "Parameters", "Parameters", uses);
  if (uses.variables) {
    diags_.error(cf.at("Parameters"), codes::kInvalidValue,
                 "a compensation cannot read variables ($name): it runs after the execution "
                 "failed, when the scopes that assigned them have ended; pass what it needs "
                 "through the task's input or result ($.Input, $.Output)");
  }
  c.uses_context = uses.context;
  retriers(cf, c.retry);
  if (auto v = cf.integer("TimeoutSeconds")) {
    if (*v <= 0) {
      diags_.error(cf.at("TimeoutSeconds"), codes::kInvalidValue, "must be greater than 0");
    } else {
      c.timeout_seconds = static_cast<double>(*v);
    }
  }
  if (auto v = cf.integer("HeartbeatSeconds")) {
    if (*v <= 0) {
      diags_.error(cf.at("HeartbeatSeconds"), codes::kInvalidValue, "must be greater than 0");
    } else if (c.timeout_seconds && static_cast<double>(*v) >= *c.timeout_seconds) {
      diags_.error(cf.at("HeartbeatSeconds"), codes::kInvalidValue,
                   "must be less than TimeoutSeconds (" +
                       std::to_string(static_cast<long long>(*c.timeout_seconds)) + ")");
    } else if (!cf.has("TimeoutSeconds") && static_cast<double>(*v) >= kDefaultTaskTimeout) {
      diags_.error(cf.at("HeartbeatSeconds"), codes::kInvalidValue,
                   "must be less than the default TimeoutSeconds (99999999)");
    } else {
      c.heartbeat_seconds = static_cast<double>(*v);
    }
  }
  if (const std::string* comment = cf.str("Comment")) c.comment = *comment;
  t.compensate = std::move(c);
}

void Compiler::choice(const Fields& f, State& s, Uses& uses) {
  ChoiceState& c = s.body.emplace<ChoiceState>();
  if (const Json* list = f.array("Choices")) {
    std::string list_pointer = f.at("Choices");
    for (std::size_t i = 0; i < list->size(); ++i) {
      const Json& obj = (*list)[i];
      std::string pointer = child_pointer(list_pointer, i);
      if (!obj.is_object()) continue;  // the schema reports it
      Fields r(obj, pointer, diags_);
      ChoiceBranch branch;
      branch.pointer = pointer;
      branch.rule = ChoiceRule::compile(obj, pointer, /*top_level=*/true, diags_);
      uses.add(branch.rule);
      if (const std::string* next = r.str("Next")) branch.next_name = *next;
      branch.assign = payload(r, "Assign", "Assign", uses);
      c.choices.push_back(std::move(branch));
    }
  }
  if (const std::string* def = f.str("Default")) c.default_name = *def;
}

void Compiler::wait(const Fields& f, State& s, Uses& uses) {
  WaitState& w = s.body.emplace<WaitState>();
  static constexpr std::string_view kFields[] = {"Seconds", "SecondsPath", "Timestamp",
                                                 "TimestampPath"};
  std::vector<std::string_view> present;
  for (std::string_view key : kFields) {
    if (f.has(key)) present.push_back(key);
  }
  if (present.empty()) {
    diags_.error(f.pointer(), codes::kMissingField,
                 "a Wait state needs one of Seconds, SecondsPath, Timestamp or TimestampPath");
  }
  for (std::size_t i = 1; i < present.size(); ++i) {
    diags_.error(f.at(present[i]), codes::kExclusiveFields,
                 std::string(present[0]) + " and " + std::string(present[i]) +
                     " are mutually exclusive: a Wait state has exactly one of Seconds, "
                     "SecondsPath, Timestamp and TimestampPath");
  }
  if (auto seconds = f.integer("Seconds")) {
    if (*seconds < 0) {
      diags_.error(f.at("Seconds"), codes::kInvalidValue, "must be at least 0");
    } else {
      w.seconds = static_cast<double>(*seconds);
    }
  }
  w.seconds_path = path(f, "SecondsPath", uses);
  if (const std::string* text = f.str("Timestamp")) {
    w.timestamp = parse_timestamp(*text);
    if (!w.timestamp) {
      diags_.error(f.at("Timestamp"), codes::kInvalidTimestamp,
                   "'" + *text + "' is not an ISO-8601 timestamp such as \"2016-03-14T01:59:00Z\"");
    }
  }
  w.timestamp_path = path(f, "TimestampPath", uses);
}

void Compiler::fail(const Fields& f, State& s, Uses& uses) {
  FailState& fs = s.body.emplace<FailState>();
  exclusive(f, "Error", "ErrorPath");
  exclusive(f, "Cause", "CausePath");
  if (const std::string* error = f.str("Error")) fs.error = *error;
  if (const std::string* cause = f.str("Cause")) fs.cause = *cause;
  path_or_call(f, "ErrorPath", fs.error_path, fs.error_call, uses);
  path_or_call(f, "CausePath", fs.cause_path, fs.cause_call, uses);
}

void Compiler::parallel(const Fields& f, State& s) {
  ParallelState& p = s.body.emplace<ParallelState>();
  const Json* list = f.array("Branches");
  if (list == nullptr) return;
  std::string list_pointer = f.at("Branches");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& branch = (*list)[i];
    if (!branch.is_object()) continue;  // the schema reports it
    p.branches.push_back(machine(branch, child_pointer(list_pointer, i), ScopeKind::Branch));
  }
}

void Compiler::map(const Fields& f, State& s, Uses& uses) {
  MapState& m = s.body.emplace<MapState>();

  // The processor: ItemProcessor, or the legacy Iterator.
  if (!f.has("ItemProcessor") && !f.has("Iterator")) {
    diags_.error(f.pointer(), codes::kMissingField,
                 "a Map state needs an ItemProcessor (or the legacy Iterator)");
  }
  exclusive(f, "ItemProcessor", "Iterator");
  std::string_view processor_key = f.has("ItemProcessor") ? "ItemProcessor" : "Iterator";
  if (const Json* processor = f.object(processor_key)) {
    std::string pointer = f.at(processor_key);
    Fields pf(*processor, pointer, diags_);
    if (const Json* config = pf.object("ProcessorConfig")) {
      Fields cf(*config, pf.at("ProcessorConfig"), diags_);
      if (const std::string* mode = cf.str("Mode")) {
        if (*mode == "DISTRIBUTED") m.mode = MapMode::Distributed;
      }
      if (const std::string* type = cf.str("ExecutionType")) m.execution_type = *type;
    }
    m.processor = machine(*processor, pointer, ScopeKind::Processor);
  }

  // Items: ItemsPath or a literal Items array.
  exclusive(f, "ItemsPath", "Items");
  m.items_path = path(f, "ItemsPath", uses);
  if (const Json* items = f.array("Items")) m.items = *items;

  // ItemSelector, or the legacy Parameters that means the same on a Map state.
  exclusive(f, "ItemSelector", "Parameters");
  if (f.has("ItemSelector")) {
    m.item_selector = payload(f, "ItemSelector", "ItemSelector", uses);
  } else {
    m.item_selector = payload(f, "Parameters", "Parameters", uses);
  }

  if (const Json* reader = f.object("ItemReader")) {
    m.item_reader = *reader;
    Fields rf(*reader, f.at("ItemReader"), diags_);
    if (const std::string* arn = rf.str("Resource")) resource(rf.at("Resource"), *arn);
  }
  if (const Json* batcher = f.object("ItemBatcher")) m.item_batcher = *batcher;
  if (const Json* writer = f.object("ResultWriter")) {
    m.result_writer = *writer;
    Fields wf(*writer, f.at("ResultWriter"), diags_);
    if (const std::string* arn = wf.str("Resource")) resource(wf.at("Resource"), *arn);
  }

  value_or_path(f, "MaxConcurrency", "MaxConcurrencyPath", m.max_concurrency, uses);
  if (m.max_concurrency.value && *m.max_concurrency.value < 0) {
    diags_.error(f.at("MaxConcurrency"), codes::kInvalidValue, "must be at least 0");
  }
  value_or_path(f, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
                m.tolerated_failure_percentage, uses);
  if (m.tolerated_failure_percentage.value &&
      (*m.tolerated_failure_percentage.value < 0 || *m.tolerated_failure_percentage.value > 100)) {
    diags_.error(f.at("ToleratedFailurePercentage"), codes::kInvalidValue,
                 "must be between 0 and 100");
  }
  value_or_path(f, "ToleratedFailureCount", "ToleratedFailureCountPath", m.tolerated_failure_count,
                uses);
  if (m.tolerated_failure_count.value && *m.tolerated_failure_count.value < 0) {
    diags_.error(f.at("ToleratedFailureCount"), codes::kInvalidValue, "must be at least 0");
  }
  if (const std::string* label = f.str("Label")) m.label = *label;
}

// A state whose Type is missing or unknown: keep the names it transitions to, so the graph
// checks do not report states reachable only through it.
void Compiler::broken_edges(const Fields& f, const State& s) {
  auto& edges = graph_.broken[&s];
  auto add = [&](const Json& obj, const std::string& pointer, const char* key) {
    auto it = obj.find(key);
    if (it != obj.end() && it->is_string()) {
      edges.emplace_back(child_pointer(pointer, key), it->get<std::string>());
    }
  };
  if (const Json* next = f.find("Next"); next != nullptr && next->is_string()) {
    edges.emplace_back(f.at("Next"), next->get<std::string>());
  }
  if (const Json* def = f.find("Default"); def != nullptr && def->is_string()) {
    edges.emplace_back(f.at("Default"), def->get<std::string>());
  }
  for (const char* list_key : {"Choices", "Catch"}) {
    const Json* list = f.find(list_key);
    if (list == nullptr || !list->is_array()) continue;
    for (std::size_t i = 0; i < list->size(); ++i) {
      if ((*list)[i].is_object()) {
        add((*list)[i], child_pointer(f.at(list_key), i), "Next");
      }
    }
  }
}

// ----------------------------------------------------------------------------------------------
// States and scopes

void Compiler::query_language(const Fields& f, const std::string& scope) {
  const std::string* language = f.str("QueryLanguage");
  if (language == nullptr || *language != "JSONata") return;
  diags_.error(f.at("QueryLanguage"), codes::kUnsupportedQueryLanguage,
               "JSONata is not supported yet: Stepd runs JSONPath state machines only (remove "
               "QueryLanguage or set it to \"JSONPath\")");
  info_->jsonata_scopes.push_back(scope);
}

void Compiler::check_state_name(const std::string& name, const std::string& pointer) {
  if (name.empty()) {
    diags_.error(pointer, codes::kInvalidStateName, "a state name must not be empty");
  }
  std::size_t length = utf8_length(name);
  if (length > kMaxStateNameLength) {
    diags_.error(pointer, codes::kInvalidStateName,
                 "state name is " + std::to_string(length) + " characters long; the limit is 80");
  }
  auto [it, inserted] = graph_.state_pointers.emplace(name, pointer);
  if (!inserted) {
    // AWS: state names are unique in the whole state machine, nested scopes included.
    diags_.error(pointer, codes::kDuplicateStateName,
                 "state name '" + name + "' is already used at " + it->second +
                     "; state names must be unique in the whole state machine, Parallel "
                     "branches and Map processors included");
  }
}

std::unique_ptr<State> Compiler::state(const std::string& name, const Json& obj,
                                       const std::string& pointer, Machine& owner) {
  auto s = std::make_unique<State>();
  s->name = name;
  s->pointer = pointer;
  s->owner = &owner;
  Fields f(obj, s->pointer, diags_);
  if (!obj.is_object()) {  // the schema reports it
    graph_.broken[s.get()];
    return s;
  }
  query_language(f, s->pointer);

  std::optional<StateType> type;
  if (const std::string* type_text = f.str("Type")) type = parse_state_type(*type_text);
  if (!type) {  // the schema reports a missing or unknown Type
    broken_edges(f, *s);
    return s;
  }
  s->type = *type;

  const bool is_fail = s->type == StateType::Fail;
  const bool is_succeed = s->type == StateType::Succeed;
  const bool is_choice = s->type == StateType::Choice;
  const bool executes =
      s->type == StateType::Task || s->type == StateType::Parallel || s->type == StateType::Map;
  const bool has_result = executes || s->type == StateType::Pass;

  Uses uses;
  CommonFields& common = s->common;
  if (const std::string* comment = f.str("Comment")) common.comment = *comment;
  if (!is_fail) {
    common.input_path = io_path(f, "InputPath", uses);
    common.output_path = io_path(f, "OutputPath", uses);
  }
  if (has_result) common.result_path = result_path(f, uses);
  if (s->type == StateType::Pass || s->type == StateType::Task || s->type == StateType::Parallel) {
    common.parameters = payload(f, "Parameters", "Parameters", uses);
  }
  if (executes) {
    common.result_selector = payload(f, "ResultSelector", "ResultSelector", uses);
    retriers(f, common.retry);
    catchers(f, common.catchers, uses);
  }
  if (!is_fail && !is_succeed) common.assign = payload(f, "Assign", "Assign", uses);

  // Transitions: Succeed and Fail end by themselves, Choice names its targets in its rules;
  // every other state has exactly one of Next and "End": true.
  if (!is_fail && !is_succeed && !is_choice) {
    const std::string* next = f.str("Next");
    std::optional<bool> end = f.boolean("End");
    common.end = end.value_or(false);
    if (next != nullptr) common.next_name = *next;
    if (next == nullptr && !common.end) graph_.maybe_terminal.insert(s.get());
    if (next != nullptr && common.end) {
      diags_.error(f.at("End"), codes::kInvalidTransition,
                   "\"End\": true and Next are mutually exclusive");
    } else if (next == nullptr && !common.end && !f.has("Next") &&
               !(f.has("End") && !f.find("End")->is_boolean())) {
      diags_.error(
          s->pointer, codes::kInvalidTransition,
          "a " + std::string(type_name(s->type)) + " state needs either Next or \"End\": true");
    }
  }

  switch (s->type) {
    case StateType::Pass:
      if (const Json* result = f.find("Result")) {
        s->body.emplace<PassState>().result = *result;
      } else {
        s->body.emplace<PassState>();
      }
      break;
    case StateType::Task:
      task(f, *s, uses);
      break;
    case StateType::Choice:
      choice(f, *s, uses);
      break;
    case StateType::Wait:
      wait(f, *s, uses);
      break;
    case StateType::Succeed:
      s->body.emplace<SucceedState>();
      break;
    case StateType::Fail:
      fail(f, *s, uses);
      break;
    case StateType::Parallel:
      parallel(f, *s);
      break;
    case StateType::Map:
      map(f, *s, uses);
      break;
  }
  s->uses_context = uses.context;
  s->uses_variables = uses.variables;
  return s;
}

std::unique_ptr<Machine> Compiler::machine(const Json& obj, const std::string& pointer,
                                           ScopeKind kind) {
  auto m = std::make_unique<Machine>();
  m->pointer = pointer;
  graph_.scopes.push_back({m.get(), kind});
  if (!obj.is_object()) return m;
  Fields f(obj, m->pointer, diags_);
  if (const std::string* comment = f.str("Comment")) m->comment = *comment;
  if (const std::string* start = f.str("StartAt")) m->start_at = *start;
  if (kind == ScopeKind::TopLevel) {
    if (const std::string* version = f.str("Version")) m->version = *version;
    if (auto timeout = f.integer("TimeoutSeconds")) {
      if (*timeout <= 0) {
        diags_.error(f.at("TimeoutSeconds"), codes::kInvalidValue, "must be greater than 0");
      } else {
        m->timeout_seconds = *timeout;
      }
    }
    if (const std::string* language = f.str("QueryLanguage")) m->query_language = *language;
    query_language(f, "");
  }

  const Json* states = f.object("States");
  if (states == nullptr) return m;
  std::string states_pointer = f.at("States");
  info_->state_maps.insert(states_pointer);
  auto add = [&](const std::string& name, const Json& value) {
    std::string state_pointer = child_pointer(states_pointer, name);
    check_state_name(name, state_pointer);
    std::unique_ptr<State> s = state(name, value, state_pointer, *m);
    m->by_name.emplace(name, s.get());
    m->states.push_back(std::move(s));
  };
  // Json keeps members in document order.
  for (auto it = states->begin(); it != states->end(); ++it) add(it.key(), it.value());
  return m;
}

}  // namespace

std::unique_ptr<Machine> compile(const Json& doc, const LoadOptions& options, Diagnostics& diags,
                                 CompileInfo* info) {
  Compiler compiler(options, diags, info);
  std::unique_ptr<Machine> top = compiler.machine(doc, "", ScopeKind::TopLevel);
  check_graph(compiler.graph(), diags);
  return top;
}

}  // namespace stepd::asl::definition_detail
