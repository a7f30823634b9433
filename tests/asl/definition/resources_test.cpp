// Resource ARNs: syntax errors, what the default support accepts, strict vs non-strict loading,
// and a custom ResourceSupport.
#include "asl/definition.hpp"

#include <gtest/gtest.h>

#include <string>

namespace stepd::asl {
namespace {

std::string task_machine(const std::string& resource) {
  return R"j({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ")j" + resource +
         R"j(", "End": true}}})j";
}

TEST(DefaultResourceSupport, AcceptsWhatTheEngineServes) {
  ResourceSupport support = default_resource_support();
  for (const char* arn : {
           "arn:aws:lambda:us-east-1:123456789012:function:id_function",
           "arn:aws:lambda:us-east-1:123456789012:function:f:prod",
           "arn:aws:lambda:local:000000000000:function:my-fn_2:$LATEST",
           "arn:aws:states:::lambda:invoke",
           "arn:aws:states:::lambda:invoke.waitForTaskToken",
           "arn:aws:states:us-east-1:123456789012:lambda:invoke",
           "arn:aws:states:::http:invoke",
           "arn:aws:states:::http:invoke.waitForTaskToken",
           "arn:aws:states:us-east-1:123456789012:activity:work",
           "arn:aws:states:::states:startExecution",
           "arn:aws:states:::states:startExecution.sync",
           "arn:aws:states:::states:startExecution.sync:2",
           "arn:aws:states:::states:startExecution.waitForTaskToken",
           "arn:aws:states:eu-west-1:123456789012:states:startExecution.sync:2",
       }) {
    EXPECT_TRUE(support(arn)) << arn;
  }
}

TEST(DefaultResourceSupport, RejectsWhatTheEngineCannotServe) {
  ResourceSupport support = default_resource_support();
  for (const char* arn : {
           "arn:aws:states:::dynamodb:putItem",
           "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
           "arn:aws:states:::lambda:invoke.sync",
           "arn:aws:states:::states:startExecution.sync:3",
           "arn:aws:lambda:us-east-1:123456789012:function:",
           "arn:aws:lambda:::function:f",
           "arn:aws:lambda:us-east-1:123456789012:layer:x",
           "arn:aws:states:us-east-1:123456789012:activity:",
           "arn:aws:s3:::bucket",
           "not-an-arn",
       }) {
    EXPECT_FALSE(support(arn)) << arn;
  }
}

TEST(Resources, UnsupportedResourceIsAWarningByDefault) {
  LoadResult result = load_definition(task_machine("arn:aws:states:::dynamodb:putItem"));
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  const Diagnostic& d = result.diagnostics[0];
  EXPECT_EQ(d.severity, Severity::Warning);
  EXPECT_EQ(d.code, "UNSUPPORTED_RESOURCE");
  EXPECT_EQ(d.pointer, "/States/T/Resource");
  EXPECT_EQ(d.message,
            "Resource 'arn:aws:states:::dynamodb:putItem' is valid, but this engine cannot run it "
            "(supported: Lambda function ARNs, arn:aws:states:::lambda:invoke, "
            "arn:aws:states:::http:invoke, activity ARNs and "
            "arn:aws:states:::states:startExecution)");
}

TEST(Resources, UnsupportedResourceIsAnErrorWhenStrict) {
  LoadOptions options;
  options.strict = true;
  LoadResult result = load_definition(task_machine("arn:aws:states:::dynamodb:putItem"), options);
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].severity, Severity::Error);
  EXPECT_EQ(result.diagnostics[0].code, "UNSUPPORTED_RESOURCE");
  EXPECT_EQ(result.diagnostics[0].pointer, "/States/T/Resource");
}

TEST(Resources, SupportedResourceIsCleanEvenWhenStrict) {
  LoadOptions options;
  options.strict = true;
  LoadResult result = load_definition(
      task_machine("arn:aws:lambda:us-east-1:123456789012:function:id_function"), options);
  EXPECT_TRUE(result.ok());
  EXPECT_TRUE(result.diagnostics.empty());
}

TEST(Resources, CustomResourceSupport) {
  LoadOptions options;
  options.strict = true;
  options.resource_support = [](std::string_view arn) {
    return arn == "arn:aws:states:::dynamodb:putItem";
  };
  EXPECT_TRUE(load_definition(task_machine("arn:aws:states:::dynamodb:putItem"), options).ok());
  LoadResult result = load_definition(task_machine("arn:aws:states:::lambda:invoke"), options);
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].message,
            "Resource 'arn:aws:states:::lambda:invoke' is valid, but this engine cannot run it");
}

TEST(Resources, ArnSyntaxErrors) {
  struct Case {
    const char* resource;
    const char* why;
  };
  for (const Case& c : {
           Case{"lambda:f",
                "an ARN starts with 'arn:' (arn:PARTITION:SERVICE:REGION:ACCOUNT:"
                "RESOURCE)"},
           Case{"arn:aws:states",
                "an ARN has six ':'-separated parts: "
                "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE"},
           Case{"arn::states:::lambda:invoke",
                "the partition '' is not valid (e.g. 'aws', 'aws-cn', 'aws-us-gov')"},
           Case{"arn:aws:States:::lambda:invoke",
                "the service 'States' is not valid (e.g. 'states', 'lambda')"},
           Case{"arn:aws:states:US_EAST:123456789012:activity:a",
                "the region 'US_EAST' is not valid (e.g. 'us-east-1')"},
           Case{"arn:aws:states:us-east-1:me:activity:a",
                "the account 'me' is not valid (an account ID is digits, e.g. '123456789012')"},
           Case{"arn:aws:states:us-east-1:123456789012:",
                "the resource part after the account is empty"},
       }) {
    LoadResult result = load_definition(task_machine(c.resource));
    EXPECT_FALSE(result.ok()) << c.resource;
    ASSERT_EQ(result.diagnostics.size(), 1u) << c.resource;
    EXPECT_EQ(result.diagnostics[0].code, "INVALID_RESOURCE");
    EXPECT_EQ(result.diagnostics[0].pointer, "/States/T/Resource");
    EXPECT_EQ(result.diagnostics[0].message,
              "'" + std::string(c.resource) + "' is not a valid resource ARN: " + c.why);
  }
}

TEST(Resources, ItemReaderResourceIsCheckedToo) {
  LoadResult result = load_definition(R"j({"StartAt": "M", "States": {"M": {
    "Type": "Map", "End": true,
    "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                   "ReaderConfig": {"InputType": "JSON"},
                   "Parameters": {"Bucket": "b", "Key": "k"}},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                      "StartAt": "W", "States": {"W": {"Type": "Succeed"}}}}}})j");
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].severity, Severity::Warning);
  EXPECT_EQ(result.diagnostics[0].code, "UNSUPPORTED_RESOURCE");
  EXPECT_EQ(result.diagnostics[0].pointer, "/States/M/ItemReader/Resource");
  const auto& map = std::get<MapState>(result.machine->start->body);
  ASSERT_TRUE(map.item_reader.has_value());
  EXPECT_EQ(map.item_reader->at("Resource"), "arn:aws:states:::s3:getObject");
}

}  // namespace
}  // namespace stepd::asl
