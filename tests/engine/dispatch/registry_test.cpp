#include "engine/dispatch/registry.hpp"

#include "engine/store/sqlite_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <unistd.h>
#include <memory>
#include <string>

namespace stepd::engine {
namespace {

constexpr Micros kSecond = 1'000'000;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SqliteOptions o;
    o.path = ":memory:";
    auto opened = SqliteStore::open(o);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
    ASSERT_TRUE(store_->migrate().ok());
    registry_ = make_registry();
  }

  std::unique_ptr<Registry> make_registry() {
    return std::make_unique<Registry>(*store_, [this] { return now_.load(); });
  }

  RouteRecord put_ok(Registry& r, const std::string& kind, const std::string& name,
                     const std::string& url) {
    auto result = r.put(kind, name, url);
    if (auto* e = std::get_if<ApiError>(&result)) {
      ADD_FAILURE() << e->type << ": " << e->message;
      return {};
    }
    return std::get<RouteRecord>(result);
  }

  ApiError put_error(const std::string& kind, const std::string& name, const std::string& url) {
    auto result = registry_->put(kind, name, url);
    if (auto* e = std::get_if<ApiError>(&result)) return *e;
    ADD_FAILURE() << "put " << kind << " " << name << " succeeded";
    return {};
  }

  std::atomic<Micros> now_{1'700'000'000 * kSecond};
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, PutListAndRemoveGoThroughTheStore) {
  RouteRecord f = put_ok(*registry_, "function", "echo", "http://127.0.0.1:9000/echo");
  EXPECT_EQ(f, (RouteRecord{"function", "echo", "http://127.0.0.1:9000/echo", now_.load()}));
  put_ok(*registry_, "service", "dynamodb:putItem", "http://127.0.0.1:9001/");
  put_ok(*registry_, "function", "echo", "http://127.0.0.1:9002/echo");  // replaces

  auto stored = store_->list_routes();
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(stored->size(), 2u);
  std::vector<RouteRecord> listed = registry_->list();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].kind, "function");
  EXPECT_EQ(listed[0].url, "http://127.0.0.1:9002/echo");
  EXPECT_EQ(listed[1].name, "dynamodb:putItem");

  auto removed = registry_->remove("function", "echo");
  ASSERT_TRUE(std::holds_alternative<bool>(removed));
  EXPECT_EQ(registry_->function_url("echo", ""), std::nullopt);
  EXPECT_EQ(registry_->list().size(), 1u);

  auto again = registry_->remove("function", "echo");
  ASSERT_TRUE(std::holds_alternative<ApiError>(again));
  EXPECT_EQ(std::get<ApiError>(again).type, "ResourceNotFound");
  EXPECT_EQ(std::get<ApiError>(again).message, "There is no function route named 'echo'");
}

TEST_F(RegistryTest, ValidationSaysWhatWhereAndWhy) {
  auto check = [&](const std::string& kind, const std::string& name, const std::string& url,
                   const std::string& message) {
    ApiError e = put_error(kind, name, url);
    EXPECT_EQ(e.type, "ValidationException") << name;
    EXPECT_EQ(e.message, message);
  };
  check("queue", "q", "http://h/", "Invalid route kind 'queue': the kind must be 'function' or "
                                   "'service'");
  check("function", "", "http://h/",
        "Invalid function route name '': the function name is empty (the form is "
        "NAME[:QUALIFIER])");
  check("function", "my fn", "http://h/",
        "Invalid function route name 'my fn': the function name 'my fn' contains ' '; allowed "
        "are letters, digits, '-' and '_' (the form is NAME[:QUALIFIER])");
  check("function", "f:a:b", "http://h/",
        "Invalid function route name 'f:a:b': it has more than one ':' (the form is "
        "NAME[:QUALIFIER])");
  check("function", "f:", "http://h/",
        "Invalid function route name 'f:': the qualifier is empty (the form is "
        "NAME[:QUALIFIER])");
  check("function", std::string(141, 'a'), "http://h/",
        "Invalid function route name '" + std::string(141, 'a') +
            "': the function name is 141 characters long; the most is 140 (the form is "
            "NAME[:QUALIFIER])");
  check("service", "dynamo/db", "http://h/",
        "Invalid service route name 'dynamo/db': the service name 'dynamo/db' contains '/'; "
        "allowed are letters, digits, '-', '_' and '.' (the form is SERVICE[:ACTION])");
  check("function", "f", "ftp://h/",
        "Invalid URL 'ftp://h/' for the function route 'f': the URL scheme must be http:// or "
        "https://");
  put_ok(*registry_, "function", "secure", "https://h/fn");  // https routes are served too
  check("service", "sns", "http://h:9x/",
        "Invalid URL 'http://h:9x/' for the service route 'sns': the URL has a bad port");
  check("service", "sns", "http://h:99999/",
        "Invalid URL 'http://h:99999/' for the service route 'sns': the URL's port must be 1 to "
        "65535");
  // Versions, aliases and $LATEST are qualifiers.
  put_ok(*registry_, "function", "f:$LATEST", "http://h/latest");
  put_ok(*registry_, "function", "f:7", "http://h/v7");
  put_ok(*registry_, "service", "aws.sdk-svc:get_item.v2", "http://h/");
  EXPECT_EQ(registry_->function_url("f", "$LATEST"), "http://h/latest");
}

TEST_F(RegistryTest, QualifiedFunctionRouteWinsOverThePlainOne) {
  put_ok(*registry_, "function", "f", "http://h/plain");
  put_ok(*registry_, "function", "f:live", "http://h/live");
  EXPECT_EQ(registry_->function_url("f", "live"), "http://h/live");
  EXPECT_EQ(registry_->function_url("f", "beta"), "http://h/plain");
  EXPECT_EQ(registry_->function_url("f", ""), "http://h/plain");
  EXPECT_EQ(registry_->function_url("g", "live"), std::nullopt);
  EXPECT_EQ(registry_->function_url("live", ""), std::nullopt);
}

TEST_F(RegistryTest, ActionRouteWinsOverTheServiceRoute) {
  put_ok(*registry_, "service", "dynamodb", "http://h/ddb");
  put_ok(*registry_, "service", "dynamodb:putItem", "http://h/put");
  EXPECT_EQ(registry_->service_url("dynamodb", "putItem"), "http://h/put");
  EXPECT_EQ(registry_->service_url("dynamodb", "getItem"), "http://h/ddb");
  EXPECT_EQ(registry_->service_url("dynamodb", "PutItem"), "http://h/ddb");  // names are exact
  EXPECT_EQ(registry_->service_url("sqs", "sendMessage"), std::nullopt);
  // Function and service names do not mix.
  EXPECT_EQ(registry_->function_url("dynamodb", ""), std::nullopt);
}

TEST_F(RegistryTest, AMissSeesAnotherNodesRouteAtMostOnceASecond) {
  auto other = make_registry();  // another node on the same database
  EXPECT_EQ(registry_->function_url("f", ""), std::nullopt);  // first miss: loads (empty)
  put_ok(*other, "function", "f", "http://h/f");
  now_ += kSecond / 2;
  EXPECT_EQ(registry_->function_url("f", ""), std::nullopt);  // the last load is too recent
  now_ += kSecond / 2;
  EXPECT_EQ(registry_->function_url("f", ""), "http://h/f");  // a second later: reloaded
}

TEST_F(RegistryTest, RefreshReloadsWhenOlderThanMaxAge) {
  auto other = make_registry();
  put_ok(*registry_, "service", "sns", "http://h/sns");
  ASSERT_TRUE(registry_->load().ok());
  ASSERT_TRUE(std::holds_alternative<bool>(other->remove("service", "sns")));
  // Hits are served from the cache: the removal is not seen yet.
  EXPECT_EQ(registry_->service_url("sns", "publish"), "http://h/sns");
  now_ += 4 * kSecond;
  registry_->refresh(std::chrono::seconds(5));
  EXPECT_EQ(registry_->service_url("sns", "publish"), "http://h/sns");
  now_ += kSecond;
  registry_->refresh(std::chrono::seconds(5));
  EXPECT_EQ(registry_->service_url("sns", "publish"), std::nullopt);
}

TEST_F(RegistryTest, RoutesOutliveTheRegistry) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("stepd-registry-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "routes.db").string();
  std::filesystem::remove(path);
  {
    SqliteOptions o;
    o.path = path;
    auto s = SqliteStore::open(o);
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE((*s)->migrate().ok());
    Registry r(**s);
    put_ok(r, "function", "f:1", "http://h/one");
  }
  SqliteOptions o;
  o.path = path;
  auto s = SqliteStore::open(o);
  ASSERT_TRUE(s.ok()) << s.error().message;
  Registry r(**s);
  ASSERT_TRUE(r.load().ok());
  EXPECT_EQ(r.function_url("f", "1"), "http://h/one");
  ASSERT_EQ(r.list().size(), 1u);
  EXPECT_GT(r.list()[0].updated, 0);
  s->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stepd::engine
