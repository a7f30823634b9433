// A small worker process for the process tests (worker_test.cpp, worker_kill_test.cpp): polls one
// activity, and for each task writes "started n=<n> token=<task token>" to --out, sleeps
// --sleep-ms, writes "finished n=<n>" and returns {"n": <n>, "worker": <its name>}. Stops on
// SIGTERM/SIGINT (run_until_signal), then writes "stopped by signal <s> succeeded=<k>" and exits 0.
// Options: --in-flight N (max_in_flight, 1), --name NAME (worker_name; "" is the default
// "<host>:<pid>"), --heartbeat-ms MS (heartbeat_interval, 10000; 0 for none), --reporters N
// (WorkerOptions::reporters, 0 for the default). The log (Debug and above) goes to stderr.
#include "stepd/worker/worker.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

int main(int argc, char **argv) {
  std::string endpoint;
  std::string activity;
  std::string out_path;
  std::string name;
  int in_flight = 1;
  int sleep_ms = 0;
  int heartbeat_ms = 10'000;
  int reporters = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--endpoint")
      endpoint = value;
    else if (flag == "--activity")
      activity = value;
    else if (flag == "--out")
      out_path = value;
    else if (flag == "--in-flight")
      in_flight = std::atoi(value.c_str());
    else if (flag == "--sleep-ms")
      sleep_ms = std::atoi(value.c_str());
    else if (flag == "--name")
      name = value;
    else if (flag == "--heartbeat-ms")
      heartbeat_ms = std::atoi(value.c_str());
    else if (flag == "--reporters")
      reporters = std::atoi(value.c_str());
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (endpoint.empty() || activity.empty() || out_path.empty()) {
    std::cerr << "usage: " << argv[0]
              << " --endpoint URL --activity ARN --out FILE [--in-flight N] [--sleep-ms MS] "
                 "[--name NAME] [--heartbeat-ms MS] [--reporters N]\n";
    return 2;
  }
  std::mutex mu;
  auto note = [&](const std::string &line) {
    std::lock_guard lock(mu);
    std::ofstream out(out_path, std::ios::app);
    out << line << "\n";
  };
  stepd::worker::WorkerOptions options;
  options.activity_arns = {activity};
  options.max_in_flight = in_flight;
  options.worker_name = name;
  options.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  options.reporters = reporters;
  options.backoff_min = std::chrono::milliseconds(20);
  options.backoff_max = std::chrono::milliseconds(200);
  options.log = stepd::worker::stderr_logger(stepd::worker::LogLevel::Debug);
  stepd::worker::Worker worker(
      {.endpoint = endpoint}, options, [&](const stepd::worker::Task &task) {
        const std::string n = task.input().value("n", nlohmann::json()).dump();
        note("started n=" + n + " token=" + task.token());
        std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
        note("finished n=" + n);
        return nlohmann::json{{"n", task.input().value("n", nlohmann::json())},
                              {"worker", task.worker_name()}};
      });
  const int signal = worker.run_until_signal();
  note("stopped by signal " + std::to_string(signal) +
       " succeeded=" + std::to_string(worker.stats().succeeded));
  return 0;
}
