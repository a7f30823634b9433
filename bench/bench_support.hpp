// Helpers shared by the benchmarks: where the benchmark machines live and how to read them.
//
// The machines are in <shared>/bench/machines (manifest.json lists them). <shared> is the
// STEPD_SHARED_DIR environment variable when set, else the STEPD_SHARED_DIR the build defined
// (../shared beside the source tree). A clone without it gets a clear "skipped" message.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "asl/core/json.hpp"

namespace stepd::bench {

using asl::Json;

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("STEPD_SHARED_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
#ifdef STEPD_SHARED_DIR
  return STEPD_SHARED_DIR;
#else
  return "../shared";
#endif
}

inline std::filesystem::path machines_dir() { return shared_dir() / "bench" / "machines"; }

// The whole file as a string. Throws std::runtime_error naming the file when it can't be read.
inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The file parsed as JSON. Throws std::runtime_error naming the file on a syntax error.
inline Json read_json(const std::filesystem::path& path) {
  std::string text = read_text(path);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw std::runtime_error(path.string() + ": invalid JSON: " + e.what());
  }
}

struct MachineSpec {
  std::string name;
  std::filesystem::path definition;  // absolute
  std::filesystem::path input;       // absolute
  long long transitions = 0;         // states entered by one run (manifest's convention)
};

// The machines of manifest.json in its order, or nullopt when the directory is absent.
// Throws std::runtime_error when the manifest exists but is malformed.
inline std::optional<std::vector<MachineSpec>> load_manifest(const std::filesystem::path& dir) {
  std::filesystem::path manifest = dir / "manifest.json";
  if (!std::filesystem::exists(manifest)) return std::nullopt;
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(read_text(manifest));
  } catch (const nlohmann::ordered_json::parse_error& e) {
    throw std::runtime_error(manifest.string() + ": invalid JSON: " + e.what());
  }
  std::vector<MachineSpec> specs;
  try {
    for (const auto& [name, m] : doc.at("machines").items()) {
      specs.push_back({name, dir / m.at("definition").get<std::string>(),
                       dir / m.at("input").get<std::string>(),
                       m.at("transitions").get<long long>()});
    }
  } catch (const nlohmann::ordered_json::exception& e) {
    throw std::runtime_error(manifest.string() + ": malformed manifest: " + e.what());
  }
  return specs;
}

}  // namespace stepd::bench
