#include "engine/task_resource.hpp"

#include <gtest/gtest.h>

namespace stepd::engine {
namespace {

TEST(TaskResource, ClassifiesLambdaResources) {
  EXPECT_EQ(classify_resource("arn:aws:lambda:us-east-1:123456789012:function:f"),
            ResourceKind::LambdaFunction);
  EXPECT_EQ(classify_resource("arn:aws:lambda:us-east-1:123456789012:function:f:prod"),
            ResourceKind::LambdaFunction);
  EXPECT_EQ(classify_resource("arn:aws:states:::lambda:invoke"), ResourceKind::LambdaInvoke);
  EXPECT_EQ(classify_resource("arn:aws:states:::lambda:invoke.waitForTaskToken"),
            ResourceKind::Other);
  EXPECT_EQ(classify_resource("arn:aws:states:us-east-1:123456789012:activity:a"),
            ResourceKind::Other);
  EXPECT_EQ(classify_resource("arn:aws:lambda:us-east-1:123456789012:function:"),
            ResourceKind::Other);
}

TEST(TaskResource, ParsesFunctionNamesInEveryForm) {
  auto full = parse_lambda_function("arn:aws:lambda:us-east-1:123456789012:function:f:7");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->name, "f");
  EXPECT_EQ(full->qualifier, "7");
  auto partial = parse_lambda_function("123456789012:function:g");
  ASSERT_TRUE(partial);
  EXPECT_EQ(partial->name, "g");
  EXPECT_EQ(partial->qualifier, "");
  auto aliased = parse_lambda_function("h:live");
  ASSERT_TRUE(aliased);
  EXPECT_EQ(aliased->name, "h");
  EXPECT_EQ(aliased->qualifier, "live");
  EXPECT_FALSE(parse_lambda_function(""));
  EXPECT_FALSE(parse_lambda_function("arn:aws:sqs:us-east-1:1:queue"));
  EXPECT_FALSE(parse_lambda_function("a:b:c"));
}

TEST(TaskResource, ServiceResourceSplitsAsAwsRecordsIt) {
  auto invoke = service_resource("arn:aws:states:::lambda:invoke");
  EXPECT_EQ(invoke.resource_type, "lambda");
  EXPECT_EQ(invoke.resource, "invoke");
  auto sqs = service_resource("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
  EXPECT_EQ(sqs.resource_type, "sqs");
  EXPECT_EQ(sqs.resource, "sendMessage.waitForTaskToken");
  auto activity = service_resource("arn:aws:states:us-east-1:123456789012:activity:work");
  EXPECT_EQ(activity.resource_type, "activity");
  EXPECT_EQ(activity.resource, "work");
}

TEST(TaskResource, ParsesHttpUrls) {
  std::string why;
  auto u = parse_http_url("http://127.0.0.1:9000/fn/a?x=1", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "9000");
  EXPECT_EQ(u->target, "/fn/a?x=1");
  auto bare = parse_http_url("localhost", &why);
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->host, "localhost");
  EXPECT_EQ(bare->port, "80");
  EXPECT_EQ(bare->target, "/");
  auto v6 = parse_http_url("http://[::1]:8080", &why);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "8080");
  EXPECT_FALSE(parse_http_url("https://x/", &why));
  EXPECT_EQ(why, "https:// URLs are not supported here; use http://");
  EXPECT_FALSE(parse_http_url("ftp://x/", &why));
  EXPECT_EQ(why, "the URL scheme must be http://");
  EXPECT_FALSE(parse_http_url("http://:80/", &why));
  EXPECT_EQ(why, "the URL has no host");
  EXPECT_FALSE(parse_http_url("http://h:8a/", &why));
  EXPECT_EQ(why, "the URL has a bad port");
}

}  // namespace
}  // namespace stepd::engine
