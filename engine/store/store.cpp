#include "engine/store/store.hpp"

#include "engine/store/postgres_store.hpp"
#include "engine/store/sqlite_store.hpp"

#include <string_view>

namespace stepd::engine {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::NotFound:
      return "NotFound";
    case ErrorCode::AlreadyExists:
      return "AlreadyExists";
    case ErrorCode::Conflict:
      return "Conflict";
    case ErrorCode::InvalidArgument:
      return "InvalidArgument";
    case ErrorCode::Unavailable:
      return "Unavailable";
    case ErrorCode::Internal:
      return "Internal";
  }
  return "Internal";
}

namespace {

// A bare path names an SQLite file when it ends in one of these (before any query).
bool has_sqlite_suffix(std::string_view url) {
  url = url.substr(0, url.find('?'));
  for (std::string_view suffix : {".db", ".sqlite", ".sqlite3"}) {
    if (url.size() > suffix.size() && url.ends_with(suffix)) return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<Store>> open_store(const std::string& url) {
  std::string_view u = url;
  if (u.starts_with("postgresql://") || u.starts_with("postgres://")) {
    return open_postgres_store(url);
  }
  if (u.starts_with("sqlite:") || has_sqlite_suffix(u)) return open_sqlite_store(url);
  return Error{ErrorCode::InvalidArgument,
               "unknown store URL \"" + url +
                   "\": expected sqlite:PATH, PATH.db, sqlite::memory: or postgresql://..."};
}

}  // namespace stepd::engine
