#include "cli/command.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace stepd::cli {

std::string read_file(const std::string& path) {
  if (path == "-") {
    std::ostringstream out;
    out << std::cin.rdbuf();
    return out.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw UsageError("cannot read '" + path + "': " + std::strerror(errno));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw UsageError("cannot read '" + path + "': read error");
  return text;
}

UsageError json_usage_error(const std::string& what, const std::exception& e) {
  // nlohmann's message reads "[json.exception.parse_error.101] parse error at line 1, ...".
  std::string message = e.what();
  auto pos = message.find("] ");
  if (pos != std::string::npos) message = message.substr(pos + 2);
  return UsageError(what + " is not valid JSON: " + message);
}

asl::Json parse_json_argument(const std::string& text, const std::string& what) {
  try {
    return asl::Json::parse(text);
  } catch (const asl::Json::parse_error& e) {
    throw json_usage_error(what, e);
  }
}

}  // namespace stepd::cli
