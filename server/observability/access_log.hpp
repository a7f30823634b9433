// What happens for every answered request: one access log line at info,
//   {"time":..,"level":"info","msg":"request","request_id":..,"remote":..,"method":..,
//    "path":..,"route":..,"status":..,"duration_ms":..,"trace_id":..,"execution_arn":..}
// (trace_id from a valid traceparent; execution_arn when the answer names one), and the HTTP
// metrics. Plug into ServerOptions::on_exchange.
#pragma once

#include "server/http/message.hpp"
#include "server/http/server.hpp"

#include <string>

namespace stepd::server::observability {

class Metrics;

// `metrics` may be null. Thread-safe; quick.
void record_exchange(Metrics* metrics, const Exchange& exchange, const HttpResponse& response);

// The value of the first "executionArn" member in a JSON body ("" when none), looked for in the
// first few KiB only.
std::string find_execution_arn(const std::string& body);

}  // namespace stepd::server::observability
