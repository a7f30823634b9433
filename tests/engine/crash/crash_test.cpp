// Kills a real engine process with SIGKILL at random moments, restarts it, and checks that every
// execution ends exactly as in a run that was never killed: same status and output, a history
// with contiguous ids and the same events (no state run twice or skipped), no task result lost.
#include "outcomes.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace stepd::engine::crash_test {
namespace {

constexpr int kKills = 5;

void run_crash_test(const std::string& reference_url, const std::string& crash_url) {
  // A run that is never killed; how long it takes sets when the kills fall.
  const auto began = std::chrono::steady_clock::now();
  pid_t ref = spawn_worker(reference_url);
  ASSERT_GT(ref, 0);
  ASSERT_EQ(wait_worker(ref, 300s), 0) << "the reference run did not finish";
  const auto whole = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - began)
                         .count();

  // The same work, killed at random moments: each within the first fifth of a whole run's
  // time, so that most kills land while there is work left, however fast the machine is.
  std::mt19937 rng(std::random_device{}());
  const int low = static_cast<int>(std::max<long long>(30, whole / 20));
  const int high = static_cast<int>(std::max<long long>(low + 20, whole / 5));
  std::uniform_int_distribution<int> delay_ms(low, high);
  int killed = 0;
  for (int k = 0; k < kKills; ++k) {
    pid_t pid = spawn_worker(crash_url);
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ++killed;
    }
  }
  EXPECT_GE(killed, 3) << "the worker finished before most kills: the test proves little";
  pid_t last = spawn_worker(crash_url);
  ASSERT_GT(last, 0);
  ASSERT_EQ(wait_worker(last, 300s), 0) << "the run after the kills did not finish";

  expect_same_outcomes(reference_url, crash_url);
}

TEST(CrashTest, SqliteExecutionsSurviveRepeatedSigkill) {
  const std::string dir = std::filesystem::temp_directory_path().string() + "/stepd-crash-" +
                          std::to_string(::getpid());
  remove_sqlite(dir + "-ref.db");
  remove_sqlite(dir + "-crash.db");
  run_crash_test("sqlite:" + dir + "-ref.db", "sqlite:" + dir + "-crash.db");
  remove_sqlite(dir + "-ref.db");
  remove_sqlite(dir + "-crash.db");
}

TEST(CrashTest, PostgresExecutionsSurviveRepeatedSigkill) {
  const char* base = std::getenv("STEPD_TEST_PG_URL");
  if (base == nullptr || *base == '\0') {
    GTEST_SKIP() << "STEPD_TEST_PG_URL is not set: start a server with scripts/postgres.sh";
  }
  const std::string sep = std::string(base).find('?') == std::string::npos ? "?" : "&";
  const std::string tag = std::to_string(::getpid());
  run_crash_test(std::string(base) + sep + "schema=crash_ref_" + tag,
                 std::string(base) + sep + "schema=crash_run_" + tag);
}

}  // namespace
}  // namespace stepd::engine::crash_test
