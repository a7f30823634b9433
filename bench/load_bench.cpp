// load_bench: how many StartExecution requests per second the real `stepd` server answers over
// loopback, and how fast, on SQLite and on PostgreSQL (bench/README.md, "Server load").
//
// For each store it spawns the `stepd` binary (STEPD_PATH, a compile definition, through the
// tests' StepdProcess) with `--listen 127.0.0.1:0 --store URL --log-level warn`, and for each API
// (the AWS JSON protocol, `POST /` with X-Amz-Target AWSStepFunctions.StartExecution, then REST,
// `POST /v1/state-machines/{name}/executions`) runs three phases of `--duration` seconds:
//   1. open loop at half the issue's target rate (2,500/s on SQLite, 1,000/s on PostgreSQL), for
//      every API before any saturation phase, so that it measures operation at that rate;
//   2. saturation, closed loop: `--connections` keep-alive connections each send StartExecution
//      back to back -> answers per second, latency p50/p90/p99/max, errors;
//   3. open loop at 50% of the rate phase 2 measured (the store just after saturation).
// Open loop: request i is due at start + i / rate; a connection that is free takes the next due
// request, waits for its time and sends it. Latency runs from the due time, so a request that had
// to wait for a free connection (the server being slow) counts that wait: no coordinated omission.
//
// Every phase starts executions of a machine of its own (3 Pass states). After a phase the
// benchmark waits until the engine has finished them, then checks that the executions
// ListExecutions lists for the machine, the stepd_executions_started_total counter of the machine
// and its SUCCEEDED counter all equal the number of 2xx answers. Latency figures are over the 2xx
// answers; any other answer or a broken connection is an error, counted and printed.
//
// PostgreSQL runs when --pg URL or STEPD_TEST_PG_URL is set (a fresh schema, dropped at the end);
// otherwise a "skipped: ..." line says why.
//
// Threads: the load generator runs on one io_context served by `--threads` threads (default 1);
// stepd and the generator share the machine's cores.
//
// Exit: 0 when every phase ran without an error answer and verified (whether the targets were met
// or not is in the table), 1 otherwise (stepd did not start, an error answer, a lost or extra
// start), 2 for bad flags.
#include <postgresql/libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/common/bench_process.hpp"
#include "bench/common/server_bench.hpp"
#include "tests/server/process/stepd_process.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using stepd::bench::cpu_seconds;
using stepd::bench::fixed;
using stepd::bench::FlagUse;
using stepd::bench::grouped;
using stepd::bench::machine_busy_seconds;
using stepd::bench::metric_sum;
using stepd::bench::percentile;
using stepd::test::HttpReply;
using stepd::test::StepdProcess;

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

// The issue's targets on this 2-core machine.
constexpr double kSqliteTargetRate = 5000;
constexpr double kPostgresTargetRate = 2000;
constexpr double kP99LimitMs = 20;

constexpr std::chrono::seconds kRequestTimeout{30};
constexpr const char* kRoleArn = "arn:aws:iam::000000000000:role/stepd";
constexpr const char* kDefinition =
    R"({"Comment":"load_bench: three Pass states","StartAt":"Receive",)"
    R"("States":{"Receive":{"Type":"Pass","Next":"Enrich"},)"
    R"("Enrich":{"Type":"Pass","Result":{"checked":true},"ResultPath":"$.enriched","Next":"Done"},)"
    R"("Done":{"Type":"Pass","End":true}}})";
constexpr const char* kInput = R"({"orderId":42,"items":[{"sku":"A-1","qty":2}]})";

// The shared flags (--only, --pg, --sqlite-options, --stepd-arg, --perf, --perf-args) and these.
struct Options : stepd::bench::ServerFlags {
  Options() { perf_args = "-F 499 --call-graph dwarf,16384"; }
  double duration = 10;
  double warmup = 2;
  int connections = 64;
  int threads = 1;
  std::string api = "both";
  std::optional<double> rate;  // open loop at this rate instead of the two default rates
  bool steady = false;         // only the open phase(s), no saturation phase before them
  std::string latency_dir;     // one CSV of (due, latency) per measured phase
};

void usage() {
  std::printf(
      "usage: load_bench [--duration S] [--warmup S] [--connections N] [--threads N]\n"
      "                  [--only sqlite|postgres] [--api aws|rest|both] [--rate R] [--steady]\n"
      "                  [--pg URL] [--sqlite-options Q] [--stepd-arg ARG]...\n"
      "                  [--latency-log DIR] [--perf DIR [--perf-args ARGS]]\n"
      "  --duration S     seconds per phase (default 10)\n"
      "  --warmup S       closed-loop warm-up per store, not measured (default 2)\n"
      "  --connections N  keep-alive connections (default 64)\n"
      "  --threads N      load generator threads on one io_context (default 1)\n"
      "  --only STORE     sqlite or postgres (default both)\n"
      "  --api API        aws, rest or both (default both)\n"
      "  --rate R         one open-loop phase at R requests/s instead of 50%% of saturation\n"
      "                   and half the target\n"
      "  --steady         no saturation phase: one open-loop phase at half the target (or\n"
      "                   --rate) on the fresh store, for a long steady run (--duration 120)\n"
      "  --pg URL         PostgreSQL server (default $STEPD_TEST_PG_URL); a fresh schema is used\n"
      "  --sqlite-options Q  store URL options for SQLite, e.g. synchronous=normal\n"
      "  --stepd-arg ARG  one more argument for stepd (repeatable), e.g. --handler-threads=16\n"
      "  --latency-log DIR  write DIR/<store>-<api>-<phase>.csv: due_ms,latency_ms per answer\n"
      "  --perf DIR       run `perf record ARGS -p <stepd> -o DIR/<store>-<api>-<phase>.data`\n"
      "                   during each measured phase\n"
      "  --perf-args ARGS perf's options, split at spaces (default \"-F 499 --call-graph\n"
      "                   dwarf,16384\"; off-CPU: \"-e sched:sched_switch --call-graph dwarf\")\n");
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  auto on_value = [&](const std::string& flag, const std::string& value) {
    if (flag == "--duration" || flag == "--connections" || flag == "--threads" ||
        flag == "--rate") {
      char* end = nullptr;
      const double number = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || number <= 0) {
        std::fprintf(stderr, "load_bench: %s wants a positive number\n", flag.c_str());
        return FlagUse::Invalid;
      }
      if (flag == "--duration") {
        o.duration = number;
      } else if (flag == "--connections") {
        o.connections = static_cast<int>(number);
      } else if (flag == "--threads") {
        o.threads = static_cast<int>(number);
      } else {
        o.rate = number;
      }
    } else if (flag == "--warmup") {
      o.warmup = std::max(0.0, std::strtod(value.c_str(), nullptr));
    } else if (flag == "--api") {
      if (value != "aws" && value != "rest" && value != "both") {
        std::fprintf(stderr, "load_bench: --api aws|rest|both\n");
        return FlagUse::Invalid;
      }
      o.api = value;
    } else if (flag == "--latency-log") {
      o.latency_dir = value;
    } else {
      return FlagUse::Unknown;
    }
    return FlagUse::Taken;
  };
  if (!stepd::bench::read_server_flags(argc, argv, "load_bench", usage, o,
                                       {"--steady", &o.steady, true}, on_value)) {
    return std::nullopt;
  }
  if (o.connections < 1 || o.threads < 1) return std::nullopt;
  return o;
}

// ---- The load generator -------------------------------------------------------------------

// What one connection saw. Only its own coroutine writes it.
struct ConnectionStats {
  std::vector<std::uint32_t> latency_us;  // of the 2xx answers
  std::vector<std::uint32_t> due_us;      // when each was due, from the phase's start
  std::uint64_t ok = 0;
  std::map<std::string, std::uint64_t> errors;  // "HTTP 503", "read: ...": count
  std::map<std::string, std::string> samples;   // the first body of each HTTP error
  Clock::time_point last_answer{};
};

// One phase: the same request, sent on every connection, closed loop (rate 0) or open loop.
struct Phase {
  tcp::endpoint endpoint;
  const std::string* request = nullptr;  // the whole request, bytes as sent
  double rate = 0;
  Clock::time_point start;
  Clock::time_point end;
  std::atomic<std::uint64_t> next{0};  // open loop: the next due request
  std::vector<ConnectionStats> stats;
};

struct PhaseResult {
  double offered = 0;  // 0: closed loop
  std::uint64_t ok = 0;
  std::uint64_t errors = 0;
  std::map<std::string, std::uint64_t> error_counts;
  std::map<std::string, std::string> error_samples;
  double seconds = 0;                         // from the start to the last answer
  double rate = 0;                            // ok / seconds
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  // ms
  double stepd_cores = 0;                     // CPU seconds stepd used / seconds
  double generator_cores = 0;                 // the same for this process
  double pg_cores = 0;                        // the PostgreSQL server's processes
  double other_cores = 0;                     // the rest of the machine (other users' work)
};

asio::awaitable<void> run_connection(Phase& phase, ConnectionStats& stats) {
  auto executor = co_await asio::this_coro::executor;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  asio::steady_timer timer(executor);

  auto connect = [&]() -> asio::awaitable<bool> {
    stream.emplace(executor);
    stream->expires_after(kRequestTimeout);
    auto [ec] = co_await stream->async_connect(phase.endpoint, kUse);
    if (ec) {
      ++stats.errors["connect: " + ec.message()];
      stream.reset();
      co_return false;
    }
    stream->socket().set_option(tcp::no_delay(true));
    buffer.clear();
    co_return true;
  };

  // Connected before the phase starts, so that the first requests do not measure handshakes.
  co_await connect();
  timer.expires_at(phase.start);
  co_await timer.async_wait(kUse);

  for (;;) {
    Clock::time_point due;
    if (phase.rate > 0) {
      const std::uint64_t i = phase.next.fetch_add(1, std::memory_order_relaxed);
      due = phase.start + std::chrono::nanoseconds(
                              static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / phase.rate));
      if (due >= phase.end) break;
      if (Clock::now() < due) {
        timer.expires_at(due);
        co_await timer.async_wait(kUse);
      }
    } else {
      due = Clock::now();
      if (due >= phase.end) break;
    }
    if (!stream && !co_await connect()) {
      // A server that refuses connections: do not spin.
      timer.expires_after(std::chrono::milliseconds(50));
      co_await timer.async_wait(kUse);
      continue;
    }
    stream->expires_after(kRequestTimeout);
    auto [write_ec, written] =
        co_await asio::async_write(*stream, asio::buffer(*phase.request), kUse);
    (void)written;
    if (write_ec) {
      ++stats.errors["write: " + write_ec.message()];
      stream.reset();
      continue;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    auto [read_ec, read] = co_await http::async_read(*stream, buffer, parser, kUse);
    (void)read;
    const Clock::time_point now = Clock::now();
    if (read_ec) {
      ++stats.errors["read: " + read_ec.message()];
      stream.reset();
      continue;
    }
    const auto& response = parser.get();
    const unsigned status = response.result_int();
    if (status >= 200 && status < 300) {
      ++stats.ok;
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - due).count();
      stats.latency_us.push_back(static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX)));
      const auto since =
          std::chrono::duration_cast<std::chrono::microseconds>(due - phase.start).count();
      stats.due_us.push_back(static_cast<std::uint32_t>(std::max<long long>(since, 0)));
      stats.last_answer = std::max(stats.last_answer, now);
    } else {
      const std::string key = "HTTP " + std::to_string(status);
      if (stats.errors[key]++ == 0) stats.samples[key] = response.body().substr(0, 300);
    }
    if (!response.keep_alive()) stream.reset();
  }
  if (stream) {
    boost::system::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->socket().close(ignored);
  }
}

// The processes of the PostgreSQL server at `server` (its backends and background processes, as
// pg_stat_activity lists them); none when `server` is "" or cannot be reached.
std::vector<pid_t> postgres_pids(const std::string& server) {
  std::vector<pid_t> pids;
  if (server.empty()) return pids;
  PGconn* pg = PQconnectdb(server.c_str());
  if (PQstatus(pg) == CONNECTION_OK) {
    PGresult* r = PQexec(pg, "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      for (int i = 0; i < PQntuples(r); ++i) pids.push_back(std::atoi(PQgetvalue(r, i, 0)));
    }
    PQclear(r);
  }
  PQfinish(pg);
  return pids;
}

// CPU seconds used so far by each process of the PostgreSQL server at `server`.
std::map<pid_t, double> postgres_cpu(const std::string& server) {
  std::map<pid_t, double> cpu;
  for (pid_t pid : postgres_pids(server)) cpu[pid] = cpu_seconds(pid);
  return cpu;
}

// Runs one phase of `seconds` against stepd and gathers its figures. The CPU time of the
// PostgreSQL server at `pg_server` ("" : none) is counted apart. `latency_csv`: where to write
// every answer's due time and latency ("" : nowhere).
PhaseResult run_phase(const Options& options, unsigned short port, pid_t stepd_pid,
                      const std::string& pg_server, const std::string& request, double seconds,
                      double rate, const std::string& latency_csv) {
  asio::io_context ioc(options.threads);
  Phase phase;
  phase.endpoint = tcp::endpoint(asio::ip::make_address("127.0.0.1"), port);
  phase.request = &request;
  phase.rate = rate;
  phase.stats.resize(static_cast<std::size_t>(options.connections));
  const auto settle = std::chrono::milliseconds(300);  // for the connections to be made
  phase.start = Clock::now() + settle;
  phase.end = phase.start +
              std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (auto& stats : phase.stats) {
    asio::co_spawn(ioc, run_connection(phase, stats), asio::detached);
  }

  double stepd_cpu_before = 0;
  double self_cpu_before = 0;
  double machine_before = 0;
  std::map<pid_t, double> pg_before;
  // The CPU figures are taken at the phase's start: the generator thread(s) measure from there.
  std::thread sampler([&] {
    std::this_thread::sleep_until(phase.start);
    stepd_cpu_before = cpu_seconds(stepd_pid);
    self_cpu_before = cpu_seconds(::getpid());
    machine_before = machine_busy_seconds();
    pg_before = postgres_cpu(pg_server);
  });
  std::vector<std::thread> extra;
  for (int i = 1; i < options.threads; ++i) extra.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : extra) t.join();
  sampler.join();
  const double stepd_cpu = cpu_seconds(stepd_pid) - stepd_cpu_before;
  const double self_cpu = cpu_seconds(::getpid()) - self_cpu_before;
  const double machine = machine_busy_seconds() - machine_before;
  double pg = 0;  // processes that started during the phase count from 0
  for (const auto& [pid, seconds_used] : postgres_cpu(pg_server)) {
    const auto before = pg_before.find(pid);
    pg += seconds_used - (before == pg_before.end() ? 0 : before->second);
  }

  PhaseResult r;
  r.offered = rate;
  std::vector<std::uint32_t> latencies;
  Clock::time_point last = phase.start;
  for (const auto& s : phase.stats) {
    r.ok += s.ok;
    latencies.insert(latencies.end(), s.latency_us.begin(), s.latency_us.end());
    last = std::max(last, s.last_answer);
    for (const auto& [what, n] : s.errors) {
      r.error_counts[what] += n;
      r.errors += n;
    }
    for (const auto& [what, body] : s.samples) r.error_samples.emplace(what, body);
  }
  std::sort(latencies.begin(), latencies.end());
  if (!latency_csv.empty()) {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> points;  // due, latency
    for (const auto& s : phase.stats) {
      for (std::size_t i = 0; i < s.due_us.size(); ++i) {
        points.emplace_back(s.due_us[i], s.latency_us[i]);
      }
    }
    std::sort(points.begin(), points.end());
    std::ofstream out(latency_csv);
    out << "due_ms,latency_ms\n";
    for (const auto& [due, latency] : points)
      out << due / 1000.0 << ',' << latency / 1000.0 << '\n';
  }
  r.seconds = std::chrono::duration<double>(last - phase.start).count();
  if (r.seconds <= 0) r.seconds = seconds;
  r.rate = static_cast<double>(r.ok) / r.seconds;
  r.p50 = percentile(latencies, 0.50) / 1000.0;
  r.p90 = percentile(latencies, 0.90) / 1000.0;
  r.p99 = percentile(latencies, 0.99) / 1000.0;
  r.max = latencies.empty() ? 0 : latencies.back() / 1000.0;
  r.stepd_cores = stepd_cpu / r.seconds;
  r.generator_cores = self_cpu / r.seconds;
  r.pg_cores = pg / r.seconds;
  r.other_cores = std::max(0.0, machine - stepd_cpu - self_cpu - pg) / r.seconds;
  return r;
}

// ---- Talking to stepd ---------------------------------------------------------------------

enum class Api { Aws, Rest };

const char* api_name(Api api) { return api == Api::Aws ? "aws" : "rest"; }

std::string aws_request_text(const std::string& operation, const std::string& body) {
  return stepd::test::format_request("POST", "/", body,
                                     {{"Content-Type", "application/x-amz-json-1.0"},
                                      {"X-Amz-Target", "AWSStepFunctions." + operation}});
}

// One AWS protocol call on a fresh connection; the answer's JSON, or nullopt (printed).
std::optional<nlohmann::json> aws_call(unsigned short port, const std::string& operation,
                                       const nlohmann::json& body) {
  const HttpReply reply =
      stepd::test::http_request(port, "POST", "/", body.dump(),
                                {{"Content-Type", "application/x-amz-json-1.0"},
                                 {"X-Amz-Target", "AWSStepFunctions." + operation}},
                                std::chrono::seconds(60));
  if (reply.status != 200) {
    std::printf("load_bench: %s answered %d %s%s\n", operation.c_str(), reply.status,
                reply.body.c_str(), reply.error.c_str());
    return std::nullopt;
  }
  return nlohmann::json::parse(reply.body, nullptr, false);
}

// The StartExecution request of `api` for the machine, as sent on the wire.
std::string start_request(Api api, const std::string& machine_name,
                          const std::string& machine_arn) {
  if (api == Api::Aws) {
    const nlohmann::json body = {{"stateMachineArn", machine_arn}, {"input", kInput}};
    return aws_request_text("StartExecution", body.dump());
  }
  const nlohmann::json body = {{"input", nlohmann::json::parse(kInput)}};
  return stepd::test::format_request("POST", "/v1/state-machines/" + machine_name + "/executions",
                                     body.dump(), {{"Content-Type", "application/json"}});
}

// What stepd's own metrics say about a phase: the store's commits and the time requests spent
// inside the server (from the request read to the answer written), as differences of two
// /metrics snapshots.
struct ServerSnapshot {
  double commits = 0, commit_seconds = 0, batched_steps = 0;
  double commits_within_50ms = 0, commits_within_250ms = 0;
  double requests = 0, request_seconds = 0;
  std::map<double, double> request_buckets;  // upper bound in seconds: cumulative count
};

ServerSnapshot server_snapshot(unsigned short port, const std::string& route) {
  const HttpReply m = stepd::test::http_request(port, "GET", "/metrics");
  const std::string by_route = "route=\"" + route + "\"";
  ServerSnapshot s;
  s.commits = metric_sum(m.body, "stepd_store_commit_seconds_count", {});
  s.commit_seconds = metric_sum(m.body, "stepd_store_commit_seconds_sum", {});
  s.batched_steps = metric_sum(m.body, "stepd_store_commit_batch_size_sum", {});
  s.commits_within_50ms = metric_sum(m.body, "stepd_store_commit_seconds_bucket", {"le=\"0.05\""});
  s.commits_within_250ms = metric_sum(m.body, "stepd_store_commit_seconds_bucket", {"le=\"0.25\""});
  s.requests = metric_sum(m.body, "stepd_http_request_duration_seconds_count", {by_route});
  s.request_seconds = metric_sum(m.body, "stepd_http_request_duration_seconds_sum", {by_route});
  std::istringstream in(m.body);
  const std::string bucket = "stepd_http_request_duration_seconds_bucket{";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(bucket, 0) != 0 || line.find(by_route) == std::string::npos) continue;
    const auto le = line.find("le=\"");
    if (le == std::string::npos || line.compare(le + 4, 4, "+Inf") == 0) continue;
    s.request_buckets[std::strtod(line.c_str() + le + 4, nullptr)] =
        std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return s;
}

void print_server_figures(const ServerSnapshot& before, const ServerSnapshot& after) {
  const double commits = after.commits - before.commits;
  const double requests = after.requests - before.requests;
  if (commits <= 0 || requests <= 0) return;
  const double over_50 = commits - (after.commits_within_50ms - before.commits_within_50ms);
  const double over_250 = commits - (after.commits_within_250ms - before.commits_within_250ms);
  // The p99 of the time inside stepd, as the histogram's bucket that holds it.
  std::string p99 = "> 10 s";
  for (const auto& [le, count] : after.request_buckets) {
    const auto b = before.request_buckets.find(le);
    const double in_phase = count - (b == before.request_buckets.end() ? 0 : b->second);
    if (in_phase >= 0.99 * requests) {
      p99 = "<= " + fixed(le * 1000, le < 0.001 ? 1 : 0) + " ms";
      break;
    }
  }
  std::printf(
      "  stepd: %s commits of %s steps, %s ms each on average (%s over 50 ms, %s over "
      "250 ms); inside stepd a request took %s ms on average, p99 %s\n",
      grouped(commits).c_str(),
      fixed((after.batched_steps - before.batched_steps) / commits, 1).c_str(),
      fixed(1000 * (after.commit_seconds - before.commit_seconds) / commits, 2).c_str(),
      grouped(over_50).c_str(), grouped(over_250).c_str(),
      fixed(1000 * (after.request_seconds - before.request_seconds) / requests, 2).c_str(),
      p99.c_str());
}

// Executions ListExecutions lists for the machine (all pages), or nullopt when a call failed.
std::optional<std::uint64_t> count_listed(unsigned short port, const std::string& machine_arn) {
  std::uint64_t count = 0;
  std::string token;
  for (;;) {
    nlohmann::json body = {{"stateMachineArn", machine_arn}, {"maxResults", 1000}};
    if (!token.empty()) body["nextToken"] = token;
    auto page = aws_call(port, "ListExecutions", body);
    if (!page || !page->is_object() || !page->contains("executions")) return std::nullopt;
    count += page->at("executions").size();
    if (!page->contains("nextToken")) return count;
    token = page->at("nextToken").get<std::string>();
  }
}

// Waits (up to two minutes) until the machine's executions have all ended, then checks that
// ListExecutions, the started counter and the SUCCEEDED counter all say `answered`. Prints one
// line; false when a figure differs.
bool verify(unsigned short port, const std::string& machine_arn, std::uint64_t answered) {
  const std::string label = "state_machine=\"" + machine_arn + "\"";
  const auto deadline = Clock::now() + std::chrono::minutes(2);
  double started = 0;
  double succeeded = 0;
  const auto wait_from = Clock::now();
  for (;;) {
    const HttpReply m = stepd::test::http_request(port, "GET", "/metrics");
    started = metric_sum(m.body, "stepd_executions_started_total", {label});
    succeeded =
        metric_sum(m.body, "stepd_executions_finished_total", {label, "status=\"SUCCEEDED\""});
    if ((started >= static_cast<double>(answered) && succeeded >= started) ||
        Clock::now() > deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double waited = std::chrono::duration<double>(Clock::now() - wait_from).count();
  const auto listed = count_listed(port, machine_arn);
  const bool good = listed && *listed == answered && started == static_cast<double>(answered) &&
                    succeeded == started;
  std::printf(
      "  %s: %s 2xx answers; %s executions listed, %s started, %s SUCCEEDED (%s s after "
      "the phase)\n",
      good ? "verified" : "MISMATCH", grouped(static_cast<double>(answered)).c_str(),
      listed ? grouped(static_cast<double>(*listed)).c_str() : "?", grouped(started).c_str(),
      grouped(succeeded).c_str(), fixed(waited, 1).c_str());
  if (!good) {
    std::printf(
        "  load_bench: the server's count of executions differs from the 2xx answers: "
        "starts were lost or made twice\n");
  }
  return good;
}

// Starts `perf record` on stepd for `seconds` (its output in DIR/NAME.log); the perf process's
// id, or -1 (printed) when it could not start.
pid_t start_perf(const Options& options, pid_t stepd_pid, const std::string& name, double seconds) {
  std::filesystem::create_directories(options.perf_dir);
  const std::string base = options.perf_dir + "/" + name;
  std::vector<std::string> args =
      stepd::bench::perf_record_args(stepd_pid, base + ".data", options.perf_args);
  args.insert(args.end(), {"--", "sleep", fixed(seconds, 1)});
  std::string error;
  const pid_t pid = stepd::bench::spawn_logged(args, base + ".log", error);
  if (pid < 0) std::printf("load_bench: %s\n", error.c_str());
  return pid;
}

// ---- The table ----------------------------------------------------------------------------

struct Row {
  std::string store;
  std::string api;
  std::string phase;
  PhaseResult result;
  std::string target;   // what the issue asks of this row ("" : none)
  std::string verdict;  // achieved/target and met/missed
};

void print_header() {
  std::printf("%-8s %-4s %-18s %9s %10s %7s %7s %7s %8s %6s %5s %5s %5s %5s  %-13s %s\n", "store",
              "api", "phase", "offered/s", "achieved/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
              "errors", "stepd", "gen", "pg", "other", "target", "achieved/target");
  std::printf("%-8s %-4s %-18s %9s %10s %7s %7s %7s %8s %6s %5s %5s %5s %5s  %-13s %s\n", "", "",
              "", "", "", "", "", "", "", "", "cores", "cores", "cores", "cores", "", "");
}

void print_row(const Row& row) {
  const PhaseResult& r = row.result;
  std::printf("%-8s %-4s %-18s %9s %10s %7s %7s %7s %8s %6s %5s %5s %5s %5s  %-13s %s\n",
              row.store.c_str(), row.api.c_str(), row.phase.c_str(),
              r.offered > 0 ? grouped(r.offered).c_str() : "closed", grouped(r.rate).c_str(),
              fixed(r.p50, 2).c_str(), fixed(r.p90, 2).c_str(), fixed(r.p99, 2).c_str(),
              fixed(r.max, 1).c_str(), grouped(static_cast<double>(r.errors)).c_str(),
              fixed(r.stepd_cores, 2).c_str(), fixed(r.generator_cores, 2).c_str(),
              row.store == "postgres" ? fixed(r.pg_cores, 2).c_str() : "-",
              fixed(r.other_cores, 2).c_str(), row.target.c_str(), row.verdict.c_str());
  std::fflush(stdout);
}

void print_errors(const PhaseResult& r) {
  for (const auto& [what, n] : r.error_counts) {
    std::printf("  error: %s x %s", what.c_str(), grouped(static_cast<double>(n)).c_str());
    if (auto it = r.error_samples.find(what); it != r.error_samples.end()) {
      std::printf(": %s", it->second.c_str());
    }
    std::printf("\n");
  }
}

// ---- One store ----------------------------------------------------------------------------

struct StoreRun {
  std::string name;  // "sqlite" or "postgres"
  std::string url;   // "" : the StepdProcess's own SQLite file
  double target_rate = 0;
  std::string server;  // PostgreSQL: the server's URL, to find its processes
};

// Runs every phase on one store; appends the rows; false when anything failed.
bool run_store(const Options& options, const StoreRun& store, std::vector<Row>& rows) {
  StepdProcess stepd;
  if (!stepd::bench::start_stepd(stepd, options, "load_bench", store.name, store.url)) return false;
  const unsigned short port = stepd.port();

  // A machine of its own for each phase, so that its executions can be counted: {name, ARN}.
  int machines = 0;
  auto create_machine =
      [&](const std::string& purpose) -> std::optional<std::pair<std::string, std::string>> {
    const std::string name = "Load" + std::to_string(++machines) + "_" + purpose;
    auto created = aws_call(port, "CreateStateMachine",
                            {{"name", name}, {"definition", kDefinition}, {"roleArn", kRoleArn}});
    if (!created || !created->contains("stateMachineArn")) return std::nullopt;
    return std::make_pair(name, created->at("stateMachineArn").get<std::string>());
  };

  bool good = true;
  std::vector<Api> apis;
  if (options.api != "rest") apis.push_back(Api::Aws);
  if (options.api != "aws") apis.push_back(Api::Rest);

  // Runs one phase on a fresh machine, verifies it, prints and keeps its row.
  auto measure = [&](Api api, const std::string& phase_name, double rate, double seconds,
                     bool keep) -> std::optional<PhaseResult> {
    const std::string purpose = std::string(api_name(api)) + "_" + (rate > 0 ? "open" : "closed");
    const auto machine = create_machine(purpose);
    if (!machine) {
      good = false;
      return std::nullopt;
    }
    const std::string request = start_request(api, machine->first, machine->second);
    const ServerSnapshot before = server_snapshot(port, api_name(api));
    std::string id = store.name + "-" + api_name(api) + "-" + phase_name;  // for file names
    for (char& c : id) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
    }
    pid_t perf = -1;
    if (!options.perf_dir.empty() && keep) {
      perf = start_perf(options, stepd.pid(), id, seconds + 0.3);
    }
    std::string csv;
    if (!options.latency_dir.empty() && keep) {
      std::filesystem::create_directories(options.latency_dir);
      csv = options.latency_dir + "/" + id + ".csv";
    }
    PhaseResult r =
        run_phase(options, port, stepd.pid(), store.server, request, seconds, rate, csv);
    const ServerSnapshot after = server_snapshot(port, api_name(api));
    if (perf > 0) {
      int status = 0;
      ::waitpid(perf, &status, 0);
    }
    if (!stepd.running()) {
      std::printf("load_bench: stepd exited during the phase:\n%s\n", stepd.log().c_str());
      good = false;
      return std::nullopt;
    }
    Row row{store.name, api_name(api), phase_name, r, "", ""};
    if (!keep) {
      std::printf("  warm-up %s: %s/s, p99 %s ms\n", api_name(api), grouped(r.rate).c_str(),
                  fixed(r.p99, 2).c_str());
    } else if (rate <= 0) {
      row.target = ">= " + grouped(store.target_rate) + "/s";
      const double ratio = r.rate / store.target_rate;
      row.verdict = fixed(ratio, 2) + "x " + (ratio >= 1 ? "met" : "MISSED");
    } else if (std::fabs(rate - store.target_rate / 2) < 0.5) {
      row.target = "p99 <= " + fixed(kP99LimitMs, 0) + " ms";
      // Met when the server kept the pace (within 2%) and p99 is within the limit.
      const bool pace = r.rate >= 0.98 * rate;
      const bool met = pace && r.errors == 0 && r.p99 <= kP99LimitMs;
      row.verdict = "p99 " + fixed(r.p99 / kP99LimitMs, 2) + "x of limit, rate " +
                    fixed(r.rate / rate, 2) + "x, " + (met ? "met" : "MISSED");
    }
    if (keep) {
      print_row(row);
      rows.push_back(row);
    }
    if (keep) print_server_figures(before, after);
    if (r.errors > 0) {
      print_errors(r);
      good = false;
    }
    if (!verify(port, machine->second, r.ok)) good = false;
    return r;
  };

  if (options.warmup > 0) {
    for (Api api : apis) measure(api, "warm-up", 0, options.warmup, false);
  }
  print_header();
  // The target-rate phase of every API comes first, on the store as the warm-up left it: it
  // measures operation at that rate, not the store's recovery from a saturation phase (on
  // PostgreSQL the kernel writes back a saturation phase's data ~30 s later, and WAL flushes
  // wait behind that; the phase at 50% of saturation, right after saturation, shows that).
  if (options.steady || !options.rate) {
    const double rate = options.rate ? *options.rate : store.target_rate / 2;
    const bool half = std::fabs(rate - store.target_rate / 2) < 0.5;
    for (Api api : apis) {
      measure(api, half ? "open 50% of target" : "open " + grouped(rate) + "/s", rate,
              options.duration, true);
    }
  }
  if (options.steady) apis.clear();
  for (Api api : apis) {
    const auto saturation = measure(api, "saturation", 0, options.duration, true);
    if (!saturation) continue;
    const double rate = options.rate ? *options.rate : std::max(1.0, saturation->rate / 2);
    measure(api, options.rate ? "open " + grouped(rate) + "/s" : "open 50% of sat.", rate,
            options.duration, true);
  }

  const int code = stepd.stop();
  if (code != 0) {
    std::printf("load_bench: stepd exited with %d on SIGTERM:\n%s\n", code, stepd.log().c_str());
    good = false;
  }
  return good;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) {
    usage();
    return 2;
  }
  std::printf("load_bench: StartExecution on a 3-Pass-state machine, stepd %s\n",
              stepd::test::kStepdPath);
  std::printf(
      "load_bench: %d keep-alive connections, %d generator thread(s), %s s per phase, "
      "%u hardware threads\n",
      options->connections, options->threads, fixed(options->duration, 1).c_str(),
      std::thread::hardware_concurrency());
  std::printf(
      "load_bench: latency from the due time in open loop (no coordinated omission); "
      "figures over 2xx answers\n");

  std::vector<Row> rows;
  std::vector<std::string> skipped;
  const bool good = stepd::bench::run_each_store(
      *options, "load_bench", skipped,
      [&](const std::string& name, const std::string& url, const std::string& server) {
        const double target = name == "sqlite" ? kSqliteTargetRate : kPostgresTargetRate;
        return run_store(*options, {name, url, target, server}, rows);
      });

  std::printf(
      "\nSummary (targets: >= %s/s on SQLite, >= %s/s on PostgreSQL; p99 <= %s ms at 50%% "
      "of the target rate):\n",
      grouped(kSqliteTargetRate).c_str(), grouped(kPostgresTargetRate).c_str(),
      fixed(kP99LimitMs, 0).c_str());
  print_header();
  for (const Row& row : rows) print_row(row);
  for (const auto& line : skipped) std::printf("%s\n", line.c_str());
  std::printf("load_bench: %s\n", good ? "every phase verified, no error answer"
                                       : "FAILED (errors, a mismatch or stepd trouble above)");
  return good ? 0 : 1;
}
