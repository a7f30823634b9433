#include "server/http/message.hpp"

#include <strings.h>

namespace stepd::server {

const std::string* HttpRequest::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (h.name.size() == name.size() &&
        strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
      return &h.value;
    }
  }
  return nullptr;
}

std::string_view to_string(Role role) {
  switch (role) {
    case Role::Admin: return "admin";
    case Role::ReadOnly: return "read-only";
    case Role::Worker: return "worker";
  }
  return "admin";
}

}  // namespace stepd::server
