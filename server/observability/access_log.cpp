#include "server/observability/access_log.hpp"

#include "server/http/router.hpp"
#include "server/observability/log.hpp"
#include "server/observability/metrics.hpp"

#include <cmath>

namespace stepd::server::observability {

std::string find_execution_arn(const std::string& body) {
  static constexpr std::string_view kKey = "\"executionArn\":\"";
  const std::string_view head = std::string_view(body).substr(0, 4096);
  const auto at = head.find(kKey);
  if (at == std::string_view::npos) return "";
  const auto start = at + kKey.size();
  const auto end = head.find('"', start);
  if (end == std::string_view::npos || end - start > 2048) return "";
  return std::string(head.substr(start, end - start));
}

void record_exchange(Metrics* metrics, const Exchange& e, const HttpResponse& response) {
  const std::string_view route = e.method.empty()
                                     ? std::string_view("none")
                                     : to_string(classify_route(e.method, e.path, e.amz_target));
  if (metrics != nullptr) metrics->record_http(route, e.status, e.seconds);
  if (!log::enabled(log::Level::Info)) return;
  const std::string trace_id =
      valid_traceparent(e.traceparent) ? e.traceparent.substr(3, 32) : std::string();
  const std::string arn = find_execution_arn(response.body);
  const std::string operation =
      e.amz_target.empty()
          ? std::string()
          : e.amz_target.substr(
                e.amz_target.find('.') == std::string::npos ? 0 : e.amz_target.find('.') + 1);
  log::info("request", {{"request_id", e.request_id},
                        {"remote", e.remote},
                        {"method", e.method},
                        {"path", e.path},
                        {"route", route},
                        {"operation", operation},
                        {"status", e.status},
                        {"duration_ms", std::round(e.seconds * 1e6) / 1000.0},
                        {"trace_id", trace_id},
                        {"execution_arn", arn}});
}

}  // namespace stepd::server::observability
