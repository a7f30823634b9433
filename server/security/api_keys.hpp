// API keys: who may call Stepd, with which role. Loaded from a JSON file (--api-keys-file):
//
//   [ {"id": "ci",      "secret": "s3cr3t-value",     "role": "admin"},
//     {"id": "grafana", "sha256": "<64 hex digits>",  "role": "read-only"},
//     {"id": "billing", "secret": "...", "role": "worker",
//      "activities": ["arn:aws:states:local:000000000000:activity:Charge"]} ]
//
// "secret" is the key itself; "sha256" is the SHA-256 of the key in hex, for a file that must
// not hold the key (such a key works as a bearer token only: AWS Signature Version 4 needs the
// secret itself). Exactly one of the two per key. "role" is admin, read-only or worker;
// "activities" (worker keys only, and required for them) lists the activities the key may poll
// and report: activity ARNs, names of this node's activities, or "*" for all
// (server/operations/operations.hpp checks them).
#pragma once

#include "engine/result.hpp"
#include "server/http/message.hpp"

#include <optional>
#include <string>
#include <vector>

namespace stepd::server::security {

struct ApiKey {
  std::string id;
  Role role = Role::Admin;
  std::vector<std::string> activities;
  std::string digest;  // SHA-256 of the secret, 32 raw bytes
  std::string secret;  // the secret itself when the file holds it, else ""
};

// Parses the file's contents. `origin` names the file in error messages. InvalidArgument with a
// message naming the key and field at fault, e.g.
// "keys.json: key 2 (\"ci\"): \"role\" must be one of admin, read-only, worker".
engine::Result<std::vector<ApiKey>> parse_api_keys(const std::string& text,
                                                   const std::string& origin);
// Reads and parses the file. NotFound when it cannot be read.
engine::Result<std::vector<ApiKey>> load_api_keys(const std::string& path);

// "admin" | "read-only" | "worker"; nullopt otherwise.
std::optional<Role> parse_role(std::string_view text);

}  // namespace stepd::server::security
