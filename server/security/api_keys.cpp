#include "server/security/api_keys.hpp"

#include "server/security/crypto.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>

namespace stepd::server::security {

using engine::Error;
using engine::ErrorCode;

std::optional<Role> parse_role(std::string_view text) {
  if (text == "admin") return Role::Admin;
  if (text == "read-only") return Role::ReadOnly;
  if (text == "worker") return Role::Worker;
  return std::nullopt;
}

engine::Result<std::vector<ApiKey>> parse_api_keys(const std::string& text,
                                                   const std::string& origin) {
  auto invalid = [&](const std::string& message) {
    return Error{ErrorCode::InvalidArgument, origin + ": " + message};
  };
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return invalid("not valid JSON");
  if (!doc.is_array()) return invalid("must be a JSON array of keys");
  if (doc.empty()) return invalid("holds no key");
  std::vector<ApiKey> keys;
  std::set<std::string> ids;
  std::set<std::string> digests;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& k = doc[i];
    std::string where = "key " + std::to_string(i + 1);
    if (!k.is_object()) return invalid(where + ": must be an object");
    for (const auto& [name, value] : k.items()) {
      (void)value;
      if (name != "id" && name != "secret" && name != "sha256" && name != "role" &&
          name != "activities") {
        return invalid(where + ": unknown field \"" + name + "\"");
      }
    }
    if (!k.contains("id") || !k["id"].is_string() || k["id"].get<std::string>().empty()) {
      return invalid(where + ": \"id\" must be a non-empty string");
    }
    ApiKey key;
    key.id = k["id"].get<std::string>();
    where += " (\"" + key.id + "\")";
    if (!ids.insert(key.id).second) return invalid(where + ": the id is used twice");
    const bool has_secret = k.contains("secret");
    const bool has_digest = k.contains("sha256");
    if (has_secret == has_digest) {
      return invalid(where + ": give exactly one of \"secret\" and \"sha256\"");
    }
    if (has_secret) {
      if (!k["secret"].is_string() || k["secret"].get<std::string>().empty()) {
        return invalid(where + ": \"secret\" must be a non-empty string");
      }
      key.secret = k["secret"].get<std::string>();
      key.digest = sha256(key.secret);
    } else {
      const std::string hex = k["sha256"].is_string() ? k["sha256"].get<std::string>() : "";
      key.digest = from_hex(hex);
      if (key.digest.size() != 32) {
        return invalid(where + ": \"sha256\" must be 64 hex digits (the SHA-256 of the secret)");
      }
    }
    if (!digests.insert(key.digest).second) {
      return invalid(where + ": the same secret is used by another key");
    }
    if (!k.contains("role") || !k["role"].is_string() ||
        !parse_role(k["role"].get<std::string>())) {
      return invalid(where + ": \"role\" must be one of admin, read-only, worker");
    }
    key.role = *parse_role(k["role"].get<std::string>());
    if (k.contains("activities")) {
      const std::string shape =
          where + ": \"activities\" must be an array of activity ARNs or names (\"*\" for all)";
      if (key.role != Role::Worker) {
        return invalid(where + ": \"activities\" is for worker keys only (admins reach every "
                               "activity, read-only keys none)");
      }
      const nlohmann::json& a = k["activities"];
      if (!a.is_array()) return invalid(shape);
      for (const nlohmann::json& grant : a) {
        if (!grant.is_string() || grant.get<std::string>().empty()) return invalid(shape);
        key.activities.push_back(grant.get<std::string>());
      }
    }
    if (key.role == Role::Worker && key.activities.empty()) {
      return invalid(where + ": a worker key needs \"activities\": the activity ARNs or names "
                             "it may poll and report (\"*\" for all)");
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

engine::Result<std::vector<ApiKey>> load_api_keys(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::NotFound, path + ": cannot read the API keys file"};
  std::ostringstream text;
  text << in.rdbuf();
  return parse_api_keys(text.str(), path);
}

}  // namespace stepd::server::security
