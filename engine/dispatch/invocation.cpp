#include "engine/dispatch/invocation.hpp"

#include <boost/beast/http/status.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cassert>
#include <cmath>

namespace stepd::engine {
namespace {

using asl::Outcome;
using asl::StatesError;

constexpr std::string_view kLambdaServiceException = "Lambda.ServiceException";
constexpr std::string_view kLambdaAwsException = "Lambda.AWSLambdaException";
constexpr std::string_view kLambdaSdkClientException = "Lambda.SdkClientException";
constexpr std::string_view kLambdaTooManyRequests = "Lambda.TooManyRequestsException";
constexpr std::string_view kLambdaNotFound = "Lambda.ResourceNotFoundException";
constexpr std::string_view kLambdaUnknown = "Lambda.Unknown";
constexpr std::string_view kLambdaInvalidParameter = "Lambda.InvalidParameterValueException";

// AWS: headers an HTTP Task may not set (they fail the task with States.Runtime), besides every
// name starting x-forwarded-, x-amz- or x-amzn-.
constexpr std::array<std::string_view, 32> kReservedHttpHeaders = {
    "a-im",          "accept-charset",      "accept-datetime",  "accept-encoding",
    "authorization", "cache-control",       "connection",       "content-encoding",
    "content-md5",   "date",                "expect",           "forwarded",
    "from",          "host",                "http2-settings",   "if-match",
    "if-modified-since", "if-none-match",   "if-range",         "if-unmodified-since",
    "max-forwards",  "origin",              "pragma",           "proxy-authorization",
    "referer",       "server",              "te",               "trailer",
    "transfer-encoding", "upgrade",         "via",              "warning",
};

constexpr std::array<std::string_view, 7> kHttpMethods = {"GET",   "POST",    "PUT", "DELETE",
                                                          "PATCH", "OPTIONS", "HEAD"};
constexpr std::string_view kMethodList = "GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD";

StatesError task_failed(std::string cause) {
  return StatesError{std::string(asl::errors::kTaskFailed), std::move(cause)};
}

StatesError runtime_error(std::string cause) {
  return StatesError{std::string(asl::errors::kRuntime), std::move(cause)};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string trim(std::string_view s) {
  std::size_t start = 0;
  std::size_t end = s.size();
  while (start < end && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  while (end > start && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
  return std::string(s.substr(start, end - start));
}

bool has_header(const HttpHeaders& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return iequals(h.first, name); });
}

// `text` with every byte for which `escaped(byte)` holds written as %XX (upper-case hex).
template <typename Escaped>
std::string percent_escape(std::string_view text, Escaped escaped) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (escaped(c)) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

// Escapes what may not appear in a request target as written (controls, space, non-ASCII and
// a few delimiters); existing %XX escapes stay.
std::string escape_target(std::string_view target) {
  static constexpr std::string_view kUnsafe = "\"<>\\^`{|}";
  return percent_escape(target, [](unsigned char c) {
    return c <= 0x20 || c >= 0x7f || kUnsafe.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

// A header value as it goes on the wire: printable ASCII kept, anything else %XX.
std::string header_safe(std::string_view value) {
  return percent_escape(value, [](unsigned char c) { return c < 0x20 || c >= 0x7f || c == '%'; });
}

std::string endpoint_text(const HttpUrl& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  return url.scheme + "://" + host + ":" + url.port + url.target;
}

std::string duration_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

std::chrono::milliseconds deadline_for(const TaskDispatch& task, std::chrono::milliseconds limit) {
  if (task.timeout_seconds && *task.timeout_seconds > 0 &&
      *task.timeout_seconds * 1000.0 < static_cast<double>(limit.count())) {
    return std::chrono::milliseconds(
        static_cast<long long>(std::ceil(*task.timeout_seconds * 1000.0)));
  }
  return limit;
}

// A plan with what every call states: its kind, task and target, method, URL (its target
// escaped already) and endpoint text, failure names and deadline (deadline_for `limit`). The
// headers and body are the caller's to add.
HttpCallPlan plan_for(HttpCallPlan::Kind kind, const TaskDispatch& task, const TaskTarget& target,
                      std::string method, const HttpUrl& url, FailureNames names,
                      std::chrono::milliseconds limit) {
  HttpCallPlan plan;
  plan.kind = kind;
  plan.target = target;
  plan.resource = task.resource;
  plan.method = std::move(method);
  plan.url = url;
  plan.endpoint = endpoint_text(url);
  plan.names = names;
  plan.timeout = deadline_for(task, limit);
  return plan;
}

// The URL of a routed call (a function or a service integration): `route` parsed, http:// or
// https://, its target escaped. TaskFailed naming `callee` ("function 'f'") when it cannot be used.
std::variant<HttpUrl, StatesError> routed_url(const std::string& route, const std::string& callee) {
  std::string why;
  auto url = parse_http_url(route, &why, UrlSchemes::HttpOrHttps);
  if (!url) {
    return task_failed("The route of " + callee + " has a URL that cannot be used: " + route +
                       ": " + why);
  }
  url->target = escape_target(url->target);
  return *url;
}

// The headers every planned request carries after the kind's own.
void add_common_headers(HttpHeaders& headers, const TaskDispatch& task,
                        std::string_view content_type) {
  if (!has_header(headers, "Content-Type")) {
    headers.emplace_back("Content-Type", std::string(content_type));
  }
  if (!task.trace_header.empty()) {
    auto trace = trace_header(task.trace_header);
    if (!has_header(headers, trace.first)) {
      headers.emplace_back(std::move(trace.first), header_safe(trace.second));
    }
  }
  headers.emplace_back("X-Stepd-Idempotency-Key", idempotency_key(task.token));
  if (!task.execution_arn.empty()) {
    headers.emplace_back("X-Stepd-Execution-Arn", header_safe(task.execution_arn));
  }
  if (!task.state_name.empty()) headers.emplace_back("X-Stepd-State", header_safe(task.state_name));
}

std::string scalar_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  return asl::dump_compact(v);
}

void encode_member(std::string& out, const std::string& key, const Json& value,
                   ArrayFormat format) {
  auto pair = [&](const std::string& k, const std::string& encoded_value) {
    if (!out.empty()) out.push_back('&');
    out += percent_encode(k);
    out.push_back('=');
    out += encoded_value;
  };
  if (value.is_object()) {
    for (const auto& [k, v] : value.items()) encode_member(out, key + "[" + k + "]", v, format);
    return;
  }
  if (value.is_array()) {
    switch (format) {
      case ArrayFormat::Indices:
        for (std::size_t i = 0; i < value.size(); ++i) {
          encode_member(out, key + "[" + std::to_string(i) + "]", value[i], format);
        }
        return;
      case ArrayFormat::Brackets:
        for (const Json& item : value) encode_member(out, key + "[]", item, format);
        return;
      case ArrayFormat::Repeat:
        for (const Json& item : value) encode_member(out, key, item, format);
        return;
      case ArrayFormat::Commas: {
        std::string joined;
        for (std::size_t i = 0; i < value.size(); ++i) {
          if (i > 0) joined.push_back(',');
          joined += percent_encode(scalar_text(value[i]));
        }
        pair(key, joined);
        return;
      }
    }
    return;
  }
  pair(key, percent_encode(scalar_text(value)));
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::string media_type(const HttpAnswer& answer) {
  std::string ct = lower(answer.header("Content-Type").value_or(""));
  std::size_t semi = ct.find(';');
  if (semi != std::string::npos) ct.resize(semi);
  return trim(ct);
}

std::string status_text(const HttpAnswer& answer) {
  if (!answer.reason.empty()) return answer.reason;
  namespace http = boost::beast::http;
  return std::string(http::obsolete_reason(http::int_to_status(answer.status)));
}

bool is_2xx(unsigned status) { return status >= 200 && status < 300; }

// The rules shared by functions and service routes: `subject` ("function", "service") names
// the callee in causes; a lambda:invoke result is wrapped.
Outcome routed_outcome(const HttpAnswer& answer, const std::string& url, std::string_view subject,
                       bool lambda_invoke, FailureNames names,
                       const std::function<std::string()>& request_id) {
  std::string text = trim(answer.body);
  Json body;
  bool parsed = true;
  if (text.empty()) {
    body = nullptr;
  } else if (auto at = asl::nesting_beyond(text, asl::kMaxRuntimeNesting)) {
    return task_failed("The " + std::string(subject) + " at " + url +
                       " returned JSON that nests arrays and objects deeper than " +
                       std::to_string(asl::kMaxRuntimeNesting) + " levels (at byte " +
                       std::to_string(*at) + ")");
  } else {
    body = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    parsed = !body.is_discarded();
  }
  bool ok = is_2xx(answer.status);
  bool function_error = answer.header("X-Amz-Function-Error").has_value();
  bool typed = parsed && body.is_object() && body.contains("errorType") &&
               body["errorType"].is_string();
  bool error_shaped = typed && body.contains("errorMessage");
  std::string callee = "The " + std::string(subject) + " at " + url;
  if (ok && !function_error && !error_shaped) {
    if (!parsed) {
      return task_failed(callee + " returned a body that is not JSON: " + text.substr(0, 200));
    }
    if (lambda_invoke) return lambda_invoke_result(std::move(body), answer, request_id);
    return body;
  }
  // AWS: a Lambda function error fails the task with the function's errorType; the cause is
  // the error payload the function returned, as written for a Lambda ARN resource, serialised
  // compactly for arn:aws:states:::lambda:invoke.
  if (typed) {
    std::string cause = lambda_invoke ? asl::dump_compact(body) : text;
    return StatesError{body["errorType"].get<std::string>(), std::move(cause)};
  }
  if (!ok) {
    std::string cause = callee + " answered HTTP " + std::to_string(answer.status) +
                        (text.empty() ? "" : ": ") + text.substr(0, 500);
    if (names == FailureNames::Lambda) {
      std::string_view name = answer.status == 429   ? kLambdaTooManyRequests
                              : answer.status == 404 ? kLambdaNotFound
                              : answer.status >= 500 ? kLambdaServiceException
                                                     : kLambdaAwsException;
      return StatesError{std::string(name), std::move(cause)};
    }
    return task_failed(std::move(cause));
  }
  // A 2xx answer flagged X-Amz-Function-Error whose body names no error type. AWS: unhandled
  // function errors are Lambda.Unknown.
  if (text.empty()) {
    text = callee + " reported an error (X-Amz-Function-Error: " +
           answer.header("X-Amz-Function-Error").value_or("") + ") without an error body";
  }
  if (names == FailureNames::Lambda) return StatesError{std::string(kLambdaUnknown), text};
  return task_failed(text);
}

// --- Plans ------------------------------------------------------------------------------------

std::variant<HttpCallPlan, StatesError> plan_http_task(const TaskDispatch& task,
                                                       const TaskTarget& target,
                                                       const InvokerOptions& options) {
  const Json& p = task.payload;
  if (!p.is_object()) {
    return runtime_error(
        "The HTTP Task needs Parameters: an object with ApiEndpoint and Method, got " +
        std::string(p.type_name()));
  }
  auto ep = p.find("ApiEndpoint");
  if (ep == p.end() || !ep->is_string()) {
    return runtime_error("The HTTP Task needs Parameters.ApiEndpoint: a string URL");
  }
  const std::string endpoint = ep->get<std::string>();
  auto m = p.find("Method");
  if (m == p.end() || !m->is_string()) {
    return runtime_error("The HTTP Task needs Parameters.Method: one of " +
                         std::string(kMethodList));
  }
  const std::string method = m->get<std::string>();
  if (std::find(kHttpMethods.begin(), kHttpMethods.end(), method) == kHttpMethods.end()) {
    return runtime_error("The HTTP Task's Method '" + method + "' is not one of " +
                         std::string(kMethodList));
  }

  // The URL: http:// or https://; its query keeps going before QueryParameters.
  std::string_view rest = endpoint;
  if (rest.rfind("http://", 0) != 0 && rest.rfind("https://", 0) != 0) {
    return runtime_error("The HTTP Task's ApiEndpoint '" + endpoint +
                         "' is not an http:// or https:// URL");
  }
  rest = rest.substr(0, rest.find('#'));
  std::string query;
  std::size_t qmark = rest.find('?');
  if (qmark != std::string_view::npos) {
    query = std::string(rest.substr(qmark + 1));
    rest = rest.substr(0, qmark);
  }
  std::string why;
  auto url = parse_http_url(rest, &why, UrlSchemes::HttpOrHttps);
  if (!url) {
    return runtime_error("The HTTP Task's ApiEndpoint '" + endpoint + "' cannot be used: " + why);
  }

  auto qp = p.find("QueryParameters");
  if (qp != p.end() && !qp->is_null()) {
    std::string more;
    if (qp->is_object()) {
      more = url_encode_form(*qp, ArrayFormat::Repeat);
    } else if (qp->is_string()) {
      more = qp->get<std::string>();
      if (!more.empty() && more.front() == '?') more.erase(0, 1);
    } else {
      return runtime_error("The HTTP Task's QueryParameters must be an object or a string, got " +
                           std::string(qp->type_name()));
    }
    if (!more.empty()) query += (query.empty() ? "" : "&") + more;
  }
  url->target = escape_target(url->target + (query.empty() ? "" : "?" + query));

  HttpCallPlan plan = plan_for(HttpCallPlan::Kind::HttpTask, task, target, method, *url,
                               FailureNames::TaskFailed, options.http_task_timeout);

  auto hs = p.find("Headers");
  if (hs != p.end() && !hs->is_null()) {
    if (!hs->is_object()) {
      return runtime_error("The HTTP Task's Headers must be an object, got " +
                           std::string(hs->type_name()));
    }
    for (const auto& [name, value] : hs->items()) {
      std::string lname = lower(name);
      bool valid_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(ch) !=
                                      std::string_view::npos;
      });
      if (!valid_name) {
        return runtime_error("The HTTP Task's header name '" + name + "' is not a valid name");
      }
      if (std::find(kReservedHttpHeaders.begin(), kReservedHttpHeaders.end(), lname) !=
              kReservedHttpHeaders.end() ||
          lname.rfind("x-forwarded-", 0) == 0 || lname.rfind("x-amz-", 0) == 0 ||
          lname.rfind("x-amzn-", 0) == 0) {
        return runtime_error("The header '" + name +
                             "' cannot be set in an HTTP Task: AWS reserves it");
      }
      if (lname.rfind("x-stepd-", 0) == 0) {
        return runtime_error("The header '" + name +
                             "' cannot be set in an HTTP Task: Stepd sets it");
      }
      std::vector<const Json*> values;
      if (value.is_array()) {
        for (const Json& v : value) values.push_back(&v);
      } else {
        values.push_back(&value);
      }
      for (const Json* v : values) {
        if (v->is_null()) continue;
        if (v->is_object() || v->is_array()) {
          return runtime_error("The HTTP Task's header '" + name +
                               "' must be a string, a number, a boolean or an array of those");
        }
        std::string text = scalar_text(*v);
        if (text.find_first_of("\r\n") != std::string::npos) {
          return runtime_error("The HTTP Task's header '" + name + "' contains a line break");
        }
        plan.headers.emplace_back(name, std::move(text));
      }
    }
  }

  bool url_encoded = false;
  ArrayFormat array_format = ArrayFormat::Indices;
  auto tf = p.find("Transform");
  if (tf != p.end() && !tf->is_null()) {
    if (!tf->is_object()) {
      return runtime_error("The HTTP Task's Transform must be an object");
    }
    auto enc = tf->find("RequestBodyEncoding");
    if (enc != tf->end()) {
      if (*enc == "URL_ENCODED") {
        url_encoded = true;
      } else if (*enc != "NONE") {
        return runtime_error(
            "The HTTP Task's Transform.RequestBodyEncoding must be NONE or URL_ENCODED, got " +
            asl::dump_compact(*enc));
      }
    }
    auto opts = tf->find("RequestEncodingOptions");
    if (opts != tf->end() && opts->is_object()) {
      auto af = opts->find("ArrayFormat");
      if (af != opts->end()) {
        if (*af == "INDICES") {
          array_format = ArrayFormat::Indices;
        } else if (*af == "REPEAT") {
          array_format = ArrayFormat::Repeat;
        } else if (*af == "COMMAS") {
          array_format = ArrayFormat::Commas;
        } else if (*af == "BRACKETS") {
          array_format = ArrayFormat::Brackets;
        } else {
          return runtime_error(
              "The HTTP Task's Transform.RequestEncodingOptions.ArrayFormat must be INDICES, "
              "REPEAT, COMMAS or BRACKETS, got " +
              asl::dump_compact(*af));
        }
      }
    }
  }

  auto rb = p.find("RequestBody");
  if (rb != p.end()) {
    if (rb->is_string()) {
      plan.body = rb->get<std::string>();
    } else if (url_encoded) {
      if (!rb->is_object()) {
        return runtime_error("The HTTP Task's RequestBody must be an object to be URL-encoded, got " +
                             std::string(rb->type_name()));
      }
      plan.body = url_encode_form(*rb, array_format);
    } else {
      plan.body = asl::dump_compact(*rb);
    }
  }
  add_common_headers(plan.headers, task,
                     url_encoded ? "application/x-www-form-urlencoded" : "application/json");
  return plan;
}

std::variant<HttpCallPlan, StatesError> plan_function(const TaskDispatch& task,
                                                      const TaskTarget& target,
                                                      const RouteLookup& routes,
                                                      const InvokerOptions& options) {
  ResourceKind kind = target.kind == TaskTarget::Kind::LambdaFunction ? ResourceKind::LambdaFunction
                                                                      : ResourceKind::LambdaInvoke;
  auto call = function_call(kind, task.resource, task.payload);
  if (auto* e = std::get_if<StatesError>(&call)) return *e;
  FunctionCall& fc = std::get<FunctionCall>(call);
  if (!fc.ref) {
    return task_failed("FunctionName '" + fc.function_text +
                       "' does not name a Lambda function (NAME, NAME:QUALIFIER, "
                       "ACCOUNT:function:NAME or a function ARN)");
  }
  const std::string called =
      fc.ref->qualifier.empty() ? fc.ref->name : fc.ref->name + ":" + fc.ref->qualifier;
  std::optional<std::string> route;
  if (routes.function_url) route = routes.function_url(fc.ref->name, fc.ref->qualifier);
  if (!route) {
    std::string hint = "register a function route named '" + fc.ref->name + "'";
    if (!fc.ref->qualifier.empty()) hint += " or '" + called + "'";
    // AWS: calling a function that does not exist fails with Lambda.ResourceNotFoundException.
    return StatesError{std::string(kLambdaNotFound),
                       "No route is registered for the Lambda function '" + called + "' (" + hint +
                           ")"};
  }
  auto url = routed_url(*route, "function '" + called + "'");
  if (auto* e = std::get_if<StatesError>(&url)) return *e;
  HttpCallPlan plan = plan_for(HttpCallPlan::Kind::Function, task, target, "POST",
                               std::get<HttpUrl>(url), FailureNames::Lambda,
                               options.function_timeout);
  plan.function = called;
  plan.body = asl::dump_compact(fc.payload);
  add_common_headers(plan.headers, task, "application/json");
  return plan;
}

std::string_view pattern_name(IntegrationPattern p) {
  switch (p) {
    case IntegrationPattern::RequestResponse:
      return "REQUEST_RESPONSE";
    case IntegrationPattern::Sync:
      return "SYNC";
    case IntegrationPattern::Sync2:
      return "SYNC2";
    case IntegrationPattern::WaitForTaskToken:
      return "WAIT_FOR_TASK_TOKEN";
  }
  return "REQUEST_RESPONSE";
}

std::variant<HttpCallPlan, StatesError> plan_service(const TaskDispatch& task,
                                                     const TaskTarget& target,
                                                     const RouteLookup& routes,
                                                     const InvokerOptions& options) {
  const std::string called = target.service + ":" + target.action;
  std::optional<std::string> route;
  if (routes.service_url) route = routes.service_url(target.service, target.action);
  if (!route) {
    return task_failed("No route is registered for the service integration '" + called +
                       "' (resource " + task.resource + "): register a service route named '" +
                       called + "' or '" + target.service + "'");
  }
  auto url = routed_url(*route, "service integration '" + called + "'");
  if (auto* e = std::get_if<StatesError>(&url)) return *e;
  HttpCallPlan plan = plan_for(HttpCallPlan::Kind::Service, task, target, "POST",
                               std::get<HttpUrl>(url), FailureNames::TaskFailed,
                               options.service_timeout);
  Json body = Json::object();
  body["Service"] = target.service;
  body["Action"] = target.action;
  body["Resource"] = task.resource;
  body["IntegrationPattern"] = std::string(pattern_name(target.pattern));
  body["Parameters"] = task.payload;
  plan.body = asl::dump_compact(body);
  add_common_headers(plan.headers, task, "application/json");
  return plan;
}

}  // namespace

std::optional<std::string> HttpAnswer::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

// --- Whole calls ------------------------------------------------------------------------------

std::variant<HttpCallPlan, StatesError> plan_call(const TaskDispatch& task,
                                                  const RouteLookup& routes,
                                                  const InvokerOptions& options) {
  TaskTarget target = classify_task(task.resource);
  switch (target.kind) {
    case TaskTarget::Kind::HttpInvoke:
      return plan_http_task(task, target, options);
    case TaskTarget::Kind::LambdaFunction:
    case TaskTarget::Kind::LambdaInvoke:
      return plan_function(task, target, routes, options);
    case TaskTarget::Kind::Service:
      return plan_service(task, target, routes, options);
    case TaskTarget::Kind::Activity:
    case TaskTarget::Kind::StartExecution:
    case TaskTarget::Kind::Unknown:
      break;
  }
  return task_failed("The resource '" + task.resource +
                     "' is not an HTTP Task, a Lambda function or a service integration");
}

Outcome answer_outcome(const HttpCallPlan& plan, const HttpAnswer& answer,
                       const std::function<std::string()>& request_id) {
  switch (plan.kind) {
    case HttpCallPlan::Kind::Function:
      return routed_outcome(answer, plan.endpoint, "function",
                            plan.target.kind == TaskTarget::Kind::LambdaInvoke, plan.names,
                            request_id);
    case HttpCallPlan::Kind::Service:
      return routed_outcome(answer, plan.endpoint, "service", false, plan.names, request_id);
    case HttpCallPlan::Kind::HttpTask:
      break;
  }
  // AWS: answers the HTTP Task cannot use fail with States.Runtime.
  std::string media = media_type(answer);
  if (media == "application/octet-stream" || media.rfind("image/", 0) == 0 ||
      media.rfind("video/", 0) == 0 || media.rfind("audio/", 0) == 0) {
    return runtime_error("The answer from " + plan.method + " " + plan.endpoint +
                         " has content type '" + media + "', which an HTTP Task cannot use");
  }
  if (!valid_utf8(answer.body)) {
    return runtime_error("The answer from " + plan.method + " " + plan.endpoint +
                         " is not UTF-8 text");
  }
  Json headers = Json::object();
  for (const auto& [name, value] : answer.headers) {
    Json& values = headers[name];
    if (!values.is_array()) values = Json::array();
    values.push_back(value);
  }
  Json body = answer.body;
  if (media == "application/json" ||
      (media.size() > 5 && media.compare(media.size() - 5, 5, "+json") == 0)) {
    // JSON nested too deep to handle stays text, as a body that is not JSON does.
    if (!asl::nesting_beyond(answer.body, asl::kMaxRuntimeNesting)) {
      Json parsed = Json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) body = std::move(parsed);
    }
  }
  std::string text = status_text(answer);
  Json result = Json::object();
  result["Headers"] = std::move(headers);
  result["ResponseBody"] = std::move(body);
  result["StatusCode"] = answer.status;
  result["StatusText"] = text;
  if (is_2xx(answer.status)) return result;
  // AWS: a non-2xx answer fails the HTTP Task with States.Http.StatusCode.<code>.
  std::string cause = answer.body;
  if (cause.empty()) {
    cause = plan.method + " " + plan.endpoint + " answered HTTP " + std::to_string(answer.status) +
            (text.empty() ? "" : " " + text);
  }
  return StatesError{"States.Http.StatusCode." + std::to_string(answer.status), std::move(cause)};
}

StatesError failure_error(const HttpCallPlan& plan, const TransportFailure& failure) {
  FailureNames names =
      plan.kind == HttpCallPlan::Kind::Function ? plan.names : FailureNames::TaskFailed;
  return transport_error(failure, plan.endpoint, names);
}

StatesError timeout_error(const HttpCallPlan& plan) {
  std::string what = plan.kind == HttpCallPlan::Kind::HttpTask
                         ? plan.method + " " + plan.endpoint
                         : "The call to " + plan.endpoint;
  return StatesError{std::string(asl::errors::kTimeout),
                     what + " did not complete within " + duration_text(plan.timeout) +
                         " (the task's deadline)"};
}

// --- Functions ----------------------------------------------------------------------------------

std::variant<FunctionCall, StatesError> function_call(ResourceKind kind,
                                                      const std::string& resource,
                                                      const Json& payload) {
  FunctionCall call;
  if (kind == ResourceKind::LambdaFunction) {
    call.function_text = resource;
    call.ref = parse_lambda_function(resource);
    call.payload = payload;
    return call;
  }
  if (kind != ResourceKind::LambdaInvoke) {
    return task_failed("The resource '" + resource + "' does not call a Lambda function");
  }
  auto name = payload.is_object() ? payload.find("FunctionName") : payload.end();
  if (!payload.is_object() || name == payload.end() || !name->is_string()) {
    return task_failed(
        "arn:aws:states:::lambda:invoke needs Parameters.FunctionName (a string naming the "
        "function)");
  }
  call.function_text = name->get<std::string>();
  call.ref = parse_lambda_function(call.function_text);
  auto qualifier = payload.find("Qualifier");
  if (call.ref && qualifier != payload.end() && qualifier->is_string()) {
    std::string q = qualifier->get<std::string>();
    if (call.ref->qualifier.empty()) {
      call.ref->qualifier = q;
    } else if (call.ref->qualifier != q) {
      // AWS: Lambda refuses a Qualifier that differs from the one in the function name.
      return StatesError{std::string(kLambdaInvalidParameter),
                         "The derived qualifier from the function name does not match the "
                         "specified qualifier."};
    }
  }
  auto body = payload.find("Payload");
  call.payload = body != payload.end() ? *body : Json::object();
  return call;
}

Outcome function_outcome(const HttpAnswer& answer, const std::string& url, ResourceKind kind,
                         FailureNames names, const std::function<std::string()>& request_id) {
  return routed_outcome(answer, url, "function", kind == ResourceKind::LambdaInvoke, names,
                        request_id);
}

Json lambda_invoke_result(Json payload, const HttpAnswer& answer,
                          const std::function<std::string()>& request_id) {
  Json headers = Json::object();
  for (const auto& [name, value] : answer.headers) headers[name] = value;
  std::string version = answer.header("X-Amz-Executed-Version").value_or("$LATEST");
  std::optional<std::string> rid = answer.header("x-amzn-RequestId");
  if (!rid) rid = request_id ? request_id() : std::string();
  Json result = Json::object();
  result["ExecutedVersion"] = version;
  result["Payload"] = std::move(payload);
  result["SdkHttpMetadata"] = {{"HttpHeaders", std::move(headers)},
                               {"HttpStatusCode", answer.status}};
  result["SdkResponseMetadata"] = {{"RequestId", *rid}};
  result["StatusCode"] = answer.status;
  return result;
}

StatesError transport_error(const TransportFailure& failure, const std::string& url,
                            FailureNames names) {
  std::string cause;
  switch (failure.stage) {
    case TransportFailure::Stage::Resolve:
      cause = "cannot resolve " + url;
      break;
    case TransportFailure::Stage::Connect:
    case TransportFailure::Stage::ConnectTimeout:
      cause = "cannot connect to " + url;
      break;
    case TransportFailure::Stage::Tls:
      cause = "TLS handshake with " + url + " failed";
      break;
    case TransportFailure::Stage::Send:
      cause = "cannot send the request to " + url;
      break;
    case TransportFailure::Stage::Receive:
      cause = "no valid response from " + url;
      break;
    case TransportFailure::Stage::TooLarge:
      cause = "the answer from " + url + " is too large";
      break;
  }
  if (!failure.detail.empty()) cause += ": " + failure.detail;
  if (names == FailureNames::Lambda) {
    return StatesError{std::string(kLambdaSdkClientException), std::move(cause)};
  }
  return task_failed(std::move(cause));
}

// --- HTTP pieces --------------------------------------------------------------------------------

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string url_encode_form(const Json& object, ArrayFormat format) {
  assert(object.is_object());
  std::string out;
  for (const auto& [key, value] : object.items()) encode_member(out, key, value, format);
  return out;
}

std::string idempotency_key(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    length = 0;  // OpenSSL without SHA-256 is not a configuration Stepd runs on
  }
  assert(length == 32);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::pair<std::string, std::string> trace_header(std::string_view value) {
  auto hex = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  };
  // W3C Trace Context: version-traceid-parentid-flags, 2-32-16-2 hex digits.
  bool w3c = value.size() == 55 && value[2] == '-' && value[35] == '-' && value[52] == '-' &&
             hex(value.substr(0, 2)) && hex(value.substr(3, 32)) && hex(value.substr(36, 16)) &&
             hex(value.substr(53, 2));
  if (w3c) return {"traceparent", std::string(value)};
  return {"X-Amzn-Trace-Id", std::string(value)};
}

}  // namespace stepd::engine
