#include "asl/core/error.hpp"

#include <gtest/gtest.h>

namespace stepd::asl {
namespace {

TEST(DiagnosticTest, PrintsPointerThenMessage) {
  Diagnostic d{"/States/Pay/Retry/0/BackoffRate", "SCHEMA_VALIDATION", "must be at least 1.0"};
  EXPECT_EQ(to_string(d), "/States/Pay/Retry/0/BackoffRate: must be at least 1.0");
  EXPECT_EQ(to_string(Diagnostic{"", "INVALID_JSON", "bad"}), "/: bad");
}

TEST(DiagnosticsTest, WarningsAreNotErrors) {
  Diagnostics diags;
  diags.warning("/States/A/Resource", "UNSUPPORTED_RESOURCE", "x");
  EXPECT_FALSE(diags.has_errors());
  diags.error("/StartAt", "MISSING_TRANSITION_TARGET", "y");
  EXPECT_TRUE(diags.has_errors());
  EXPECT_EQ(diags.items().size(), 2u);
}

}  // namespace
}  // namespace stepd::asl
