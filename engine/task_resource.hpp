// What the in-memory runner makes of a Task's Resource: which Lambda function it calls, and the
// names AWS uses for it in history events. Pure string handling, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace stepd::engine {

enum class ResourceKind {
  LambdaFunction,  // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] (legacy form)
  LambdaInvoke,    // arn:aws:states:::lambda:invoke (optimised integration, request-response)
  Other,           // anything else (other integrations, activities, callback patterns)
};

ResourceKind classify_resource(std::string_view resource);

// A Lambda function named by a name, a name with qualifier, a partial ARN
// ("ACCOUNT:function:NAME") or a full ARN, as AWS accepts in FunctionName.
struct LambdaFunctionRef {
  std::string name;
  std::string qualifier;  // version or alias; empty when none
};

// Returns nullopt when `text` names no function (empty, or an ARN of something else).
std::optional<LambdaFunctionRef> parse_lambda_function(std::string_view text);

// resourceType / resource of TaskScheduled and friends: "arn:aws:states:::lambda:invoke" ->
// {"lambda", "invoke"}; an activity ARN -> {"activity", NAME}; otherwise {"", resource}.
struct ServiceResource {
  std::string resource_type;
  std::string resource;
};
ServiceResource service_resource(std::string_view resource);

// How a Task waits for its service: the Resource's suffix.
enum class IntegrationPattern {
  RequestResponse,   // no suffix: the call's answer is the result
  Sync,              // .sync: the call runs the job to its end (result as AWS's JSON-text form)
  Sync2,             // .sync:2 (results as JSON)
  WaitForTaskToken,  // .waitForTaskToken: the call hands on $$.Task.Token; SendTaskSuccess ends it
};

// Where a Task's work goes (engine/dispatch routes on this).
struct TaskTarget {
  enum class Kind {
    Activity,         // arn:aws:states:REGION:ACCOUNT:activity:NAME (workers poll for it)
    LambdaFunction,   // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    LambdaInvoke,     // arn:aws:states:::lambda:invoke[.waitForTaskToken]
    HttpInvoke,       // arn:aws:states:::http:invoke[.waitForTaskToken]
    StartExecution,   // arn:aws:states:::states:startExecution[.sync|.sync:2|.waitForTaskToken]
    Service,          // arn:aws:states:::SERVICE:ACTION[suffix], arn:aws:states:::aws-sdk:...
    Unknown,          // none of these (not an ARN of the states or lambda service)
  };
  Kind kind = Kind::Unknown;
  IntegrationPattern pattern = IntegrationPattern::RequestResponse;
  std::string service;  // Service: "dynamodb" (also for aws-sdk:dynamodb:getItem)
  std::string action;   // Service: "putItem"; Activity: the activity name
  bool sdk = false;     // Service: an aws-sdk: integration
  LambdaFunctionRef function;  // LambdaFunction
};

// Region and account may be present or empty in integration ARNs
// ("arn:aws:states:::sns:publish", "arn:aws:states:us-east-1:123456789012:sns:publish").
TaskTarget classify_task(std::string_view resource);

// An http:// or https:// URL split into scheme, host, port and target.
struct HttpUrl {
  std::string host;
  std::string port;             // "80" when absent ("443" for https)
  std::string target;           // "/" when absent
  std::string scheme = "http";  // "http", or "https" (only with UrlSchemes::HttpOrHttps)
};

// The schemes a caller of parse_http_url can serve.
enum class UrlSchemes {
  Http,         // plain HTTP only: an https:// URL is refused (run-local has no TLS client)
  HttpOrHttps,  // both (the HttpInvoker)
};

// Parses "http://HOST[:PORT][/PATH]" (also without scheme, which means http), and with
// UrlSchemes::HttpOrHttps also "https://HOST[:PORT][/PATH]". Returns nullopt and sets `why` for
// anything else: a scheme `schemes` does not allow ("https:// URLs are not supported here; use
// http://", "the URL scheme must be http://" or "... http:// or https://"), no host ("the URL
// has no host"), a bad port ("the URL has a bad port").
std::optional<HttpUrl> parse_http_url(std::string_view url, std::string* why,
                                      UrlSchemes schemes = UrlSchemes::Http);

}  // namespace stepd::engine
