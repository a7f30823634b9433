// Proves that evaluating Choice rules over definite paths allocates nothing: this test binary
// replaces the global operator new with one that counts.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "asl/choice/choice_rule.hpp"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// GCC sees the replaced operators inlined into std::allocator and wrongly reports that free()
// gets a pointer from operator new; here operator new is malloc, so the pairing is right.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace stepd::asl {
namespace {

TEST(ChoiceAllocation, EvaluatingDefinitePathsAllocatesNothing) {
  const Json rules = Json::array({
      {{"Variable", "$.order.status"}, {"StringEquals", "PAID"}, {"Next", "X"}},
      {{"Variable", "$.order.total"}, {"NumericGreaterThanEquals", 100.5}, {"Next", "X"}},
      {{"Variable", "$.order.total"}, {"NumericLessThanPath", "$.limits.max"}, {"Next", "X"}},
      {{"Variable", "$.order.flags[0]"}, {"BooleanEquals", true}, {"Next", "X"}},
      {{"Variable", "$.order.at"}, {"TimestampLessThan", "2030-01-01T00:00:00Z"}, {"Next", "X"}},
      {{"Variable", "$.order.at"}, {"TimestampEqualsPath", "$.limits.at"}, {"Next", "X"}},
      {{"Variable", "$.order.file"}, {"StringMatches", "log-*.txt"}, {"Next", "X"}},
      {{"Variable", "$.order.missing"}, {"IsPresent", false}, {"Next", "X"}},
      {{"And",
        {{{"Variable", "$.order.status"}, {"IsString", true}},
         {{"Not", {{"Variable", "$.order.total"}, {"IsNull", true}}}},
         {{"Or",
           {{{"Variable", "$.order.status"}, {"StringLessThan", "A"}},
            {{"Variable", "$.order.status"}, {"StringGreaterThanEqualsPath", "$.limits.s"}}}}}}},
       {"Next", "X"}},
  });
  const Json input = {{"order",
                       {{"status", "PAID"},
                        {"total", 120},
                        {"flags", {true}},
                        {"at", "2024-01-01T00:00:00.123Z"},
                        {"file", "log-2024.txt"}}},
                      {"limits", {{"max", 1000}, {"at", "2024-01-01T00:00:00.123Z"}, {"s", "P"}}}};
  const long before_compile = g_allocations.load();
  std::vector<ChoiceRule> compiled;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    Diagnostics diags;
    compiled.push_back(ChoiceRule::compile(rules[i], "/r/" + std::to_string(i), true, diags));
    ASSERT_TRUE(diags.items().empty()) << to_string(diags.items()[0]);
  }
  ASSERT_GT(g_allocations.load() - before_compile, 0) << "the counter must see allocations";
  EvalContext ctx;
  ctx.input = &input;

  const long before = g_allocations.load();
  int matched = 0;
  for (int round = 0; round < 100; ++round) {
    for (const ChoiceRule& r : compiled) matched += r.evaluate(ctx) ? 1 : 0;
  }
  const long allocations = g_allocations.load() - before;
  EXPECT_EQ(allocations, 0);
  EXPECT_EQ(matched, 100 * static_cast<int>(compiled.size()));
}

}  // namespace
}  // namespace stepd::asl
