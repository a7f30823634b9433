// worker-example: an activity worker that greets whoever the task names, and optionally a function
// host serving the same greeting as a push target.
//
//   worker-example --endpoint http://127.0.0.1:8080 --activity greet --in-flight 4
//   worker-example --endpoint http://127.0.0.1:8080 --activity greet --function-port 9000
//
// Task input {"name": "Ada"} -> output {"greeting": "Hello, Ada!"}; an input without "name" fails
// the task with the error "Greeting.NoName". Stops on SIGTERM or Ctrl-C after finishing the tasks
// it holds.
#include <stepd/worker/client.hpp>
#include <stepd/worker/function_host.hpp>
#include <stepd/worker/worker.hpp>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

namespace {

nlohmann::json greet(const nlohmann::json &input) {
  if (!input.is_object() || !input.contains("name") || !input["name"].is_string()) {
    throw stepd::worker::TaskFailure("Greeting.NoName", "the input has no \"name\" string");
  }
  return {{"greeting", "Hello, " + input["name"].get<std::string>() + "!"}};
}

void usage(const char *program) {
  std::cout << "Usage: " << program << " [options]\n"
            << "  --endpoint URL        Stepd's URL (default http://127.0.0.1:8080)\n"
            << "  --api-key KEY         API key (Authorization: Bearer)\n"
            << "  --activity NAME       the activity to serve (created if missing; "
               "default greet)\n"
            << "  --in-flight N         tasks handled at once (default 2)\n"
            << "  --function-port PORT  also serve POST /greet on 127.0.0.1:PORT and "
               "register it\n"
            << "                        as the function 'greet'\n"
            << "  --help                this text\n";
}

}  // namespace

int main(int argc, char **argv) {
  stepd::worker::ClientOptions client_options;
  std::string activity = "greet";
  int in_flight = 2;
  std::optional<unsigned short> function_port;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      usage(argv[0]);
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << flag << ": a value is missing (see --help)\n";
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--endpoint") {
      client_options.endpoint = value;
    } else if (flag == "--api-key") {
      client_options.api_key = value;
    } else if (flag == "--activity") {
      activity = value;
    } else if (flag == "--in-flight") {
      in_flight = std::atoi(value.c_str());
    } else if (flag == "--function-port") {
      function_port = static_cast<unsigned short>(std::atoi(value.c_str()));
    } else {
      std::cerr << "unknown option " << flag << " (see --help)\n";
      return 2;
    }
  }

  try {
    stepd::worker::Client client(client_options);
    const std::string activity_arn = client.create_activity(activity).activity_arn;
    std::cout << "serving activity " << activity_arn << std::endl;

    std::optional<stepd::worker::FunctionHost> host;
    if (function_port) {
      host.emplace(stepd::worker::FunctionHostOptions{.port = *function_port});
      host->handle("greet", [](const stepd::worker::Request &r) { return greet(r.input); });
      host->start();
      client.put_route("function", "greet", host->url("greet"));
      std::cout << "serving function greet at " << host->url("greet") << std::endl;
    }

    stepd::worker::WorkerOptions options;
    options.activity_arns = {activity_arn};
    options.max_in_flight = in_flight;
    stepd::worker::Worker worker(client_options, options, [](const stepd::worker::Task &task) {
      return greet(task.input());
    });
    const int signal = worker.run_until_signal();
    if (host) host->stop();
    std::cout << "stopped (signal " << signal << "), " << worker.stats().succeeded
              << " tasks succeeded" << std::endl;
    return 0;
  } catch (const stepd::worker::Error &e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
