#include "asl/core/json.hpp"

#include <gtest/gtest.h>

#include <string>

namespace stepd::asl {
namespace {

TEST(JsonTest, TypeNamesAndPointerTokens) {
  EXPECT_EQ(type_name(Json(1.5)), "number");
  EXPECT_EQ(type_name(Json::array()), "array");
  EXPECT_EQ(type_name(Json(nullptr)), "null");
  EXPECT_EQ(pointer_token("a/b~c"), "a~1b~0c");
  EXPECT_EQ(dump_compact(Json::parse(R"({"a": [1, 2]})")), R"({"a":[1,2]})");
}

TEST(JsonObjectTest, KeepsInsertionOrderAndComparesIgnoringOrder) {
  Json a = Json::parse(R"({"b":1,"a":{"y":2,"x":3}})");
  EXPECT_EQ(a.dump(), R"({"b":1,"a":{"y":2,"x":3}})");
  EXPECT_EQ(a, Json::parse(R"({"a":{"x":3,"y":2},"b":1})"));
  EXPECT_NE(a, Json::parse(R"({"a":{"x":3,"y":2},"b":2})"));
  const Json& c = a;
  EXPECT_NE(c.get_ref<const Json::object_t&>().find(std::string_view("a")),
            c.get_ref<const Json::object_t&>().end());
}

TEST(JsonObjectTest, GrowingMovesValuesInsteadOfCopyingThem) {
  Json obj = Json::object();
  obj["big"] = Json::array({1, 2, 3});
  const Json::array_t* before = &obj["big"].get_ref<const Json::array_t&>();
  for (int i = 0; i < 100; ++i) obj["k" + std::to_string(i)] = i;
  EXPECT_EQ(&obj["big"].get_ref<const Json::array_t&>(), before);
  EXPECT_EQ(obj.size(), 101u);
  EXPECT_EQ(obj.begin().key(), "big");
}

}  // namespace
}  // namespace stepd::asl
