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

// An http:// URL split into host, port and target.
struct HttpUrl {
  std::string host;
  std::string port;    // "80" when absent
  std::string target;  // "/" when absent
};

// Parses "http://HOST[:PORT][/PATH]" (also without scheme). Returns nullopt and sets `why` for
// anything else (https://, no host, a bad port).
std::optional<HttpUrl> parse_http_url(std::string_view url, std::string* why);

}  // namespace stepd::engine
