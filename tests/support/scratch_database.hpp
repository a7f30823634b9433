// A database of its own for one test: a temporary SQLite file ("sqlite"), or a fresh schema on
// the PostgreSQL server STEPD_TEST_PG_URL names ("postgres"; unavailable when it is not set).
// Removed (file and its -wal/-shm deleted, schema dropped) when the ScratchDatabase is destroyed,
// which must be after every store on it is closed.
//
//   db_ = std::make_unique<ScratchDatabase>(GetParam(), "rest");
//   if (db_->url().empty()) GTEST_SKIP() << kNoPostgres;
//   auto store = engine::open_store(db_->url());
#pragma once

#include <postgresql/libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace stepd::test {

// Why a PostgreSQL test skips: say it in GTEST_SKIP.
inline constexpr const char* kNoPostgres =
    "STEPD_TEST_PG_URL is not set; start a server with: eval \"$(bash scripts/postgres.sh start)\"";

class ScratchDatabase {
 public:
  // `backend`: "postgres", else SQLite. `name` (lower-case letters, digits, '_') goes into the
  // schema's name (stepd_<name>_test_<pid>_<n>) and the file's (stepd-<name>-test-<pid>_<n>.db).
  ScratchDatabase(const std::string& backend, const std::string& name) {
    static std::atomic<int> counter{0};
    const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(counter++);
    if (backend == "postgres") {
      const char* base = std::getenv("STEPD_TEST_PG_URL");
      if (base == nullptr || *base == '\0') return;
      server_ = base;
      schema_ = "stepd_" + name + "_test_" + tag;
      url_ = server_ + (server_.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema_;
    } else {
      path_ = std::filesystem::temp_directory_path() / ("stepd-" + name + "-test-" + tag + ".db");
      std::filesystem::remove(path_);
      url_ = "sqlite:" + path_.string();
    }
  }
  ~ScratchDatabase() {
    if (!schema_.empty()) {
      PGconn* pg = PQconnectdb(server_.c_str());
      if (PQstatus(pg) == CONNECTION_OK) {
        PQsetNoticeProcessor(
            pg, [](void*, const char*) {}, nullptr);
        PQclear(PQexec(pg, ("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE").c_str()));
      }
      PQfinish(pg);
    }
    if (!path_.empty()) {
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code ec;
        std::filesystem::remove(path_.string() + suffix, ec);
      }
    }
  }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  // The store URL ("sqlite:<file>" or the server's URL with ?schema=); "" when the backend
  // cannot run here.
  const std::string& url() const { return url_; }
  // True for the SQLite file, false for a PostgreSQL schema.
  bool is_sqlite() const { return !path_.empty(); }

 private:
  std::string url_;
  std::string server_;
  std::string schema_;
  std::filesystem::path path_;
};

}  // namespace stepd::test
