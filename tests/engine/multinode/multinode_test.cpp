// Three engine processes share one PostgreSQL database: each holds some partitions (leases),
// starts a third of the executions, and steps only the executions of its partitions. One of them
// is killed with SIGKILL mid-run; the other two take over its partitions when its leases expire
// and finish its executions. Every execution must end exactly as in a single-node run: the same
// output, the same history events (no state stepped twice, every timer fired once), contiguous
// ids. A stale node's writes are refused by the fences (tests/engine/store cover the refusal).
#include "../crash/outcomes.hpp"

#include <cstdlib>

namespace stepd::engine::crash_test {
namespace {

TEST(MultiNodeTest, SurvivorsFinishTheExecutionsOfAKilledNode) {
  const char* base = std::getenv("STEPD_TEST_PG_URL");
  if (base == nullptr || *base == '\0') {
    GTEST_SKIP() << "STEPD_TEST_PG_URL is not set: start a server with scripts/postgres.sh";
  }
  const std::string sep = std::string(base).find('?') == std::string::npos ? "?" : "&";
  const std::string tag = std::to_string(::getpid());
  const std::string reference = std::string(base) + sep + "schema=multi_ref_" + tag;
  const std::string shared = std::string(base) + sep + "schema=multi_run_" + tag;

  pid_t ref = spawn_worker(reference);
  ASSERT_GT(ref, 0);
  ASSERT_EQ(wait_worker(ref, 300s), 0) << "the single-node run did not finish";

  const int third = kExecutions / 3;
  auto node = [&](int i) {
    const int first = i * third;
    const int count = i == 2 ? kExecutions - first : third;
    return spawn_worker(shared, {"--node", "node-" + std::to_string(i), "--first",
                                 std::to_string(first), "--count", std::to_string(count),
                                 "--lease-ttl-ms", "2000", "--max-partitions", "6"});
  };
  pid_t nodes[3] = {node(0), node(1), node(2)};
  for (pid_t p : nodes) ASSERT_GT(p, 0);
  std::this_thread::sleep_for(1500ms);
  int status = 0;
  ASSERT_EQ(waitpid(nodes[1], &status, WNOHANG), 0) << "node-1 ended before it could be killed";
  kill(nodes[1], SIGKILL);
  waitpid(nodes[1], &status, 0);
  EXPECT_EQ(wait_worker(nodes[0], 300s), 0) << "node-0 did not see every execution end";
  EXPECT_EQ(wait_worker(nodes[2], 300s), 0) << "node-2 did not see every execution end";

  auto store = open_store(shared);
  ASSERT_TRUE(store.ok());
  auto leases = (*store)->list_partitions();
  ASSERT_TRUE(leases.ok());
  std::set<std::string> owners;
  for (const PartitionLease& l : *leases) {
    owners.insert(l.node);
    // A partition of the killed node was taken over: its epoch moved on.
    if (l.node != "node-1" && l.node != "") {
      EXPECT_GE(l.epoch, 1);
    }
  }
  EXPECT_EQ(owners.count("node-1"), 0u) << "the killed node still holds a partition";

  expect_same_outcomes(reference, shared);
}

}  // namespace
}  // namespace stepd::engine::crash_test
