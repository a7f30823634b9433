// list_partitions, on every store (the StoreSuite fixture is instantiated per backend).
#include "store_suite.hpp"

#include <gmock/gmock.h>

namespace stepd::engine::store_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST_P(StoreSuite, ListPartitionsShowsEveryLeaseRow) {
  const Micros t0 = 1'700'000'000'000'000;
  const Micros ttl = 10'000'000;
  Result<std::vector<PartitionLease>> none = store().list_partitions();
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
  ASSERT_TRUE(store().acquire_partitions("a", 3, 2, t0, ttl).ok());
  ASSERT_TRUE(store().acquire_partitions("b", 3, 3, t0, ttl).ok());
  ASSERT_TRUE(store().release_partitions("a").ok());
  Result<std::vector<PartitionLease>> all = store().list_partitions();
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, ElementsAre(PartitionLease{0, "", 1, t0 + ttl}, PartitionLease{1, "", 1, t0 + ttl},
                                PartitionLease{2, "b", 1, t0 + ttl}));
}

}  // namespace
}  // namespace stepd::engine::store_test
