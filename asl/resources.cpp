// Resource ARNs: the syntax AWS requires of every Resource, and the set this engine can serve
// out of the box (default_resource_support()).
#include "asl/definition.hpp"
#include "asl/definition_detail.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace stepd::asl {
namespace {

struct Arn {
  std::string_view partition, service, region, account, resource;
};

bool all_of(std::string_view s, bool (*pred)(char)) {
  return std::all_of(s.begin(), s.end(), pred);
}
bool is_lower_alnum_dash(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}
bool is_qualifier_char(char c) { return is_name_char(c) || c == '$'; }

// Splits "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE" (the resource may contain ':').
bool split_arn(std::string_view text, Arn* arn, std::string* why) {
  auto fail = [why](std::string message) {
    if (why != nullptr) *why = std::move(message);
    return false;
  };
  constexpr std::string_view kForm = "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE";
  if (text.substr(0, 4) != "arn:") {
    return fail("an ARN starts with 'arn:' (" + std::string(kForm) + ")");
  }
  std::array<std::string_view, 5> parts;
  std::size_t pos = 4;
  for (std::size_t i = 0; i < 4; ++i) {
    std::size_t colon = text.find(':', pos);
    if (colon == std::string_view::npos) {
      return fail("an ARN has six ':'-separated parts: " + std::string(kForm));
    }
    parts[i] = text.substr(pos, colon - pos);
    pos = colon + 1;
  }
  parts[4] = text.substr(pos);
  *arn = Arn{parts[0], parts[1], parts[2], parts[3], parts[4]};
  if (arn->partition.empty() || !all_of(arn->partition, is_lower_alnum_dash)) {
    return fail("the partition '" + std::string(arn->partition) +
                "' is not valid (e.g. 'aws', 'aws-cn', 'aws-us-gov')");
  }
  if (arn->service.empty() || !all_of(arn->service, is_lower_alnum_dash)) {
    return fail("the service '" + std::string(arn->service) +
                "' is not valid (e.g. 'states', 'lambda')");
  }
  if (!all_of(arn->region, is_lower_alnum_dash)) {
    return fail("the region '" + std::string(arn->region) + "' is not valid (e.g. 'us-east-1')");
  }
  if (!all_of(arn->account, is_digit)) {
    return fail("the account '" + std::string(arn->account) +
                "' is not valid (an account ID is digits, e.g. '123456789012')");
  }
  if (arn->resource.empty()) return fail("the resource part after the account is empty");
  return true;
}

bool is_lambda_function(const Arn& arn) {
  // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
  if (arn.service != "lambda" || arn.region.empty() || arn.account.empty()) return false;
  std::string_view rest = arn.resource;
  if (rest.substr(0, 9) != "function:") return false;
  rest.remove_prefix(9);
  std::size_t colon = rest.find(':');
  std::string_view name = rest.substr(0, colon);
  if (name.empty() || name.size() > 64 || !all_of(name, is_name_char)) return false;
  if (colon == std::string_view::npos) return true;
  std::string_view qualifier = rest.substr(colon + 1);
  return !qualifier.empty() && qualifier.size() <= 128 && all_of(qualifier, is_qualifier_char);
}

bool is_states_resource(const Arn& arn) {
  if (arn.service != "states") return false;
  std::string_view r = arn.resource;
  if (r.substr(0, 9) == "activity:") {
    std::string_view name = r.substr(9);
    return !name.empty() && name.size() <= 80 && name.find(':') == std::string_view::npos;
  }
  static constexpr std::string_view kIntegrations[] = {
      "lambda:invoke",
      "lambda:invoke.waitForTaskToken",
      "http:invoke",
      "http:invoke.waitForTaskToken",
      "states:startExecution",
      "states:startExecution.sync",
      "states:startExecution.sync:2",
      "states:startExecution.waitForTaskToken",
  };
  return std::find(std::begin(kIntegrations), std::end(kIntegrations), r) !=
         std::end(kIntegrations);
}

}  // namespace

namespace definition_detail {

bool is_valid_arn(std::string_view arn, std::string* why) {
  Arn parts;
  return split_arn(arn, &parts, why);
}

}  // namespace definition_detail

ResourceSupport default_resource_support() {
  return [](std::string_view resource) {
    Arn arn;
    if (!split_arn(resource, &arn, nullptr)) return false;
    return is_lambda_function(arn) || is_states_resource(arn);
  };
}

}  // namespace stepd::asl
