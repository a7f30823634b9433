#include "asl/path/path.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "asl/core/error.hpp"

namespace stepd::asl {
namespace {

Json J(const char* text) { return Json::parse(text); }

Path compile(std::string_view text) {
  std::string error;
  std::optional<Path> p = Path::parse(text, &error);
  if (!p) throw std::runtime_error("parse failed for '" + std::string(text) + "': " + error);
  return *p;
}

Path compile_reference(std::string_view text) {
  std::string error;
  std::optional<Path> p = Path::parse_reference(text, &error);
  if (!p) throw std::runtime_error("parse failed for '" + std::string(text) + "': " + error);
  return *p;
}

std::string parse_error(std::string_view text) {
  std::string error;
  std::optional<Path> p = Path::parse(text, &error);
  if (p) return "<parsed>";
  return error;
}

std::string reference_error(std::string_view text) {
  std::string error;
  std::optional<Path> p = Path::parse_reference(text, &error);
  if (p) return "<parsed>";
  return error;
}

// Evaluates and renders the result as compact JSON, or "<none>" when nothing matched.
std::string eval(std::string_view path, const Json& doc) {
  std::optional<Json> r = compile(path).evaluate_on(doc);
  return r ? r->dump() : "<none>";
}

const Json& store() {
  static const Json doc = J(R"({
    "store": {
      "book": [
        {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
        {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
        {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick",
         "isbn": "0-553-21311-3", "price": 8.99},
        {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord",
         "isbn": "0-395-19395-8", "price": 22.99}
      ],
      "bicycle": {"color": "red", "price": 19.95}
    },
    "expensive": 10
  })");
  return doc;
}

// ---------------------------------------------------------------------------------------------
// Roots and simple definite paths

TEST(PathParseTest, RootsAndAccessors) {
  Path in = compile("$");
  EXPECT_EQ(in.root(), Path::Root::Input);
  EXPECT_TRUE(in.is_root_only());
  EXPECT_TRUE(in.is_definite());
  EXPECT_EQ(in.text(), "$");

  Path ctx = compile("$$.Execution.Id");
  EXPECT_EQ(ctx.root(), Path::Root::Context);
  EXPECT_FALSE(ctx.is_root_only());
  EXPECT_TRUE(ctx.is_definite());

  EXPECT_TRUE(compile("$$").is_root_only());
  EXPECT_EQ(compile("$$").root(), Path::Root::Context);

  Path var = compile("$x.field");
  EXPECT_EQ(var.root(), Path::Root::Variable);
  EXPECT_EQ(var.variable(), "x");
  EXPECT_FALSE(var.is_root_only());

  Path var_only = compile("$my_var2");
  EXPECT_EQ(var_only.variable(), "my_var2");
  EXPECT_TRUE(var_only.is_root_only());

  Path var_index = compile("$items[0]");
  EXPECT_EQ(var_index.variable(), "items");
  EXPECT_TRUE(var_index.is_definite());
}

TEST(PathEvalTest, DotAndBracketNames) {
  Json doc = J(R"({"a": {"b": {"c": 1}}, "a b": 2, "input-value": 3, "é": 4, "x:y": 5,
                  "it's": 6, "q\"uote": 7})");
  EXPECT_EQ(eval("$", doc), doc.dump());
  EXPECT_EQ(eval("$.a.b.c", doc), "1");
  EXPECT_EQ(eval("$.a.b", doc), R"({"c":1})");
  EXPECT_EQ(eval("$['a']['b']['c']", doc), "1");
  EXPECT_EQ(eval(R"($["a"]["b"])", doc), R"({"c":1})");
  EXPECT_EQ(eval("$['a b']", doc), "2");
  EXPECT_EQ(eval("$.input-value", doc), "3");
  EXPECT_EQ(eval("$.é", doc), "4");
  EXPECT_EQ(eval("$.x:y", doc), "5");
  EXPECT_EQ(eval(R"($["it's"])", doc), "6");
  EXPECT_EQ(eval(R"($['q"uote'])", doc), "7");
  // Jayway forms with an extra dot before a bracket.
  EXPECT_EQ(eval("$.['a'].b", doc), R"({"c":1})");
  EXPECT_EQ(eval("$.a.['b'].c", doc), "1");
  // Missing members.
  EXPECT_EQ(eval("$.nope", doc), "<none>");
  EXPECT_EQ(eval("$.a.nope.c", doc), "<none>");
  EXPECT_EQ(eval("$.a.b.c.d", doc), "<none>");
}

TEST(PathEvalTest, NullValueIsFound) {
  Json doc = J(R"({"a": null})");
  EXPECT_EQ(eval("$.a", doc), "null");
  EXPECT_EQ(eval("$.a.b", doc), "<none>");
}

// AWS (conformance case ESCAPE_SEQUENCES_JSONPATH): inside a quoted bracket name a backslash is
// kept as written; it only stops the next character from closing the name.
TEST(PathEvalTest, BackslashInQuotedNameIsKept) {
  Json doc;
  doc["Test\\\"\"Name\""] = "Value\"\\";
  EXPECT_EQ(compile("$['Test\\\"\"Name\"']").evaluate_on(doc), Json("Value\"\\"));
  Json doc2;
  doc2["it\\'s"] = 1;
  EXPECT_EQ(eval("$['it\\'s']", doc2), "1");
}

TEST(PathEvalTest, Indexes) {
  Json doc = J(R"({"a": [10, 20, 30, 40], "m": [[1, 2], [3, 4]]})");
  EXPECT_EQ(eval("$.a[0]", doc), "10");
  EXPECT_EQ(eval("$.a[3]", doc), "40");
  EXPECT_EQ(eval("$.a[4]", doc), "<none>");
  EXPECT_EQ(eval("$.a[-1]", doc), "40");
  EXPECT_EQ(eval("$.a[-4]", doc), "10");
  EXPECT_EQ(eval("$.a[-5]", doc), "<none>");
  EXPECT_EQ(eval("$.m[1][0]", doc), "3");
  EXPECT_EQ(eval("$.m.[1].[0]", doc), "3");
  EXPECT_EQ(eval("$.a[ 1 ]", doc), "20");
  EXPECT_EQ(eval("$.a.b", doc), "<none>");  // name on an array
  EXPECT_EQ(eval("$.a[0].b", doc), "<none>");
  EXPECT_TRUE(compile("$.a[-1]").is_definite());
  EXPECT_EQ(eval("$[1]", J("[5, 6]")), "6");
  EXPECT_EQ(eval("$.[1]", J("[5, 6]")), "6");
  EXPECT_EQ(eval("$[0]", J(R"({"0": 1})")), "<none>");  // an index never reads an object
}

// AWS (conformance case test_json_path_array_access[$.items[0]]).
TEST(PathEvalTest, ConformanceArrayAccess) {
  Json input = J(R"({"items": [{"item_key": 0}, {"item_key": 1}, {"item_key": 2}]})");
  EXPECT_EQ(eval("$.items[0]", input), R"({"item_key":0})");
}

// AWS (conformance cases test_json_path_array_wildcard_or_slice_with_no_input): an indefinite
// path over a missing member gives an empty array, not a failure.
TEST(PathEvalTest, IndefiniteOverMissingInputIsEmptyArray) {
  Json empty = Json::object();
  EXPECT_EQ(eval("$.items[*]", empty), "[]");
  EXPECT_EQ(eval("$.item.items[*]", empty), "[]");
  EXPECT_EQ(eval("$.items[*].itemValue", empty), "[]");
  EXPECT_EQ(eval("$.items[:1].itemValue", empty), "[]");
  EXPECT_EQ(eval("$.item.items[1:5].itemValue", empty), "[]");
}

// ---------------------------------------------------------------------------------------------
// Indefinite paths

TEST(PathEvalTest, Wildcards) {
  EXPECT_EQ(eval("$.store.book[*].author", store()),
            R"(["Nigel Rees","Evelyn Waugh","Herman Melville","J. R. R. Tolkien"])");
  EXPECT_EQ(eval("$.store.book.*.price", store()), "[8.95,12.99,8.99,22.99]");
  EXPECT_EQ(eval("$.store.bicycle.*", store()), R"(["red",19.95])");
  EXPECT_EQ(eval("$.store.bicycle[*]", store()), R"(["red",19.95])");
  EXPECT_EQ(eval("$.expensive[*]", store()), "[]");
  EXPECT_EQ(eval("$[*]", J("[1, [2], {\"a\": 3}]")), R"([1,[2],{"a":3}])");
  EXPECT_EQ(eval("$.*.a", J(R"({"x": {"a": 1}, "y": {"b": 2}, "z": {"a": 3}})")), "[1,3]");
  EXPECT_FALSE(compile("$.a[*]").is_definite());
  EXPECT_FALSE(compile("$.*").is_definite());
}

TEST(PathEvalTest, Unions) {
  Json doc = J(R"({"a": [10, 20, 30, 40], "o": {"x": 1, "y": 2, "z": 3}})");
  EXPECT_EQ(eval("$.a[0,2]", doc), "[10,30]");
  EXPECT_EQ(eval("$.a[3, 0, -1]", doc), "[40,10,40]");
  EXPECT_EQ(eval("$.a[0,9]", doc), "[10]");
  EXPECT_FALSE(compile("$.a[0,2]").is_definite());
  // Jayway: a union of names as the last step after a definite prefix gives one merged object
  // of the members that exist.
  EXPECT_EQ(eval("$.o['x','z']", doc), R"({"x":1,"z":3})");
  EXPECT_EQ(eval("$.o['x', \"nope\"]", doc), R"({"x":1})");
  EXPECT_EQ(eval("$.a['x','y']", doc), "<none>");
  EXPECT_EQ(eval("$.nope['x','y']", doc), "<none>");
  // Not last: each member in turn.
  Json nested = J(R"({"p": {"a": {"v": 1}, "b": {"v": 2}, "c": {"v": 3}}})");
  EXPECT_EQ(eval("$.p['c','a'].v", nested), "[3,1]");
  // After an indefinite prefix: one merged object per match.
  EXPECT_EQ(eval("$.store.book[*]['author','price']", store()),
            R"([{"author":"Nigel Rees","price":8.95},{"author":"Evelyn Waugh","price":12.99},)"
            R"({"author":"Herman Melville","price":8.99},)"
            R"({"author":"J. R. R. Tolkien","price":22.99}])");
}

TEST(PathEvalTest, Slices) {
  Json doc = J(R"({"a": [0, 1, 2, 3, 4, 5]})");
  EXPECT_EQ(eval("$.a[1:3]", doc), "[1,2]");
  EXPECT_EQ(eval("$.a[:2]", doc), "[0,1]");
  EXPECT_EQ(eval("$.a[4:]", doc), "[4,5]");
  EXPECT_EQ(eval("$.a[-2:]", doc), "[4,5]");
  EXPECT_EQ(eval("$.a[:-2]", doc), "[0,1,2,3]");
  EXPECT_EQ(eval("$.a[-3:-1]", doc), "[3,4]");
  EXPECT_EQ(eval("$.a[::2]", doc), "[0,2,4]");
  EXPECT_EQ(eval("$.a[1::2]", doc), "[1,3,5]");
  EXPECT_EQ(eval("$.a[1:5:3]", doc), "[1,4]");
  EXPECT_EQ(eval("$.a[:]", doc), "[0,1,2,3,4,5]");
  EXPECT_EQ(eval("$.a[2:100]", doc), "[2,3,4,5]");
  EXPECT_EQ(eval("$.a[-100:1]", doc), "[0]");
  EXPECT_EQ(eval("$.a[4:2]", doc), "[]");
  EXPECT_EQ(eval("$.a[9:]", doc), "[]");
  EXPECT_EQ(eval("$.a.b[1:]", doc), "[]");
  EXPECT_FALSE(compile("$.a[1:2]").is_definite());
}

TEST(PathEvalTest, DeepScan) {
  EXPECT_EQ(eval("$..author", store()),
            R"(["Nigel Rees","Evelyn Waugh","Herman Melville","J. R. R. Tolkien"])");
  // Object members in document order: the store's books come before its bicycle.
  EXPECT_EQ(eval("$.store..price", store()), "[8.95,12.99,8.99,22.99,19.95]");
  EXPECT_EQ(eval("$..book[2].title", store()), R"(["Moby Dick"])");
  EXPECT_EQ(eval("$..book[-1:].title", store()), R"(["The Lord"])");
  EXPECT_EQ(eval("$..book[0,1].title", store()), R"(["Sayings","Sword"])");
  EXPECT_EQ(eval("$..book[?(@.isbn)].title", store()), R"(["Moby Dick","The Lord"])");
  EXPECT_EQ(eval("$..nope", store()), "[]");
  EXPECT_EQ(eval("$..[?(@.isbn)].title", store()), R"(["Moby Dick","The Lord"])");
  EXPECT_EQ(eval("$..[?(@.price > 19)]", store()),
            R"([{"category":"fiction","author":"J. R. R. Tolkien","title":"The Lord",)"
            R"("isbn":"0-395-19395-8","price":22.99},{"color":"red","price":19.95}])");
  // Document order: a node first, then each child's subtree.
  Json doc = J(R"({"a": {"b": 1, "c": {"b": 2}}, "d": [{"b": 3}, {"e": {"b": 4}}]})");
  EXPECT_EQ(eval("$..b", doc), "[1,2,3,4]");
  EXPECT_EQ(eval("$..*", J(R"({"a": {"b": 1}, "c": [2]})")), R"([{"b":1},[2],1,2])");
  EXPECT_EQ(eval("$..[0]", J(R"({"x": [1, [2, 3]], "y": {"z": [4]}})")), "[1,2,4]");
  EXPECT_EQ(eval("$..['b']", doc), "[1,2,3,4]");
  EXPECT_FALSE(compile("$..b").is_definite());
}

// ---------------------------------------------------------------------------------------------
// Filters

TEST(PathFilterTest, Comparisons) {
  EXPECT_EQ(eval("$.store.book[?(@.price < 10)].title", store()), R"(["Sayings","Moby Dick"])");
  EXPECT_EQ(eval("$.store.book[?(@.price <= 8.99)].title", store()), R"(["Sayings","Moby Dick"])");
  EXPECT_EQ(eval("$.store.book[?(@.price > 12.99)].title", store()), R"(["The Lord"])");
  EXPECT_EQ(eval("$.store.book[?(@.price >= 12.99)].title", store()), R"(["Sword","The Lord"])");
  EXPECT_EQ(eval("$.store.book[?(@.category == 'reference')].title", store()), R"(["Sayings"])");
  EXPECT_EQ(eval(R"($.store.book[?(@.category == "reference")].title)", store()), R"(["Sayings"])");
  EXPECT_EQ(eval("$.store.book[?(@.category != 'fiction')].title", store()), R"(["Sayings"])");
  EXPECT_EQ(eval("$.store.book[?(@.price<9)].price", store()), "[8.95,8.99]");
  // AWS docs example.
  Json doc = J(R"({"jar": [{"a": 1}, {"a": 5}, {"a": 2}, {"a": 7}, {"a": 3}]})");
  EXPECT_EQ(eval("$.jar[?(@.a >= 5)]", doc), R"([{"a":5},{"a":7}])");
}

TEST(PathFilterTest, LogicalOperators) {
  Json doc = J(R"({"items": [
      {"a": "x", "b": 1}, {"a": "x", "b": 2}, {"a": "y", "b": 3}, {"a": "z"}]})");
  EXPECT_EQ(eval("$.items[?(@.a == 'x' && @.b > 1)].b", doc), "[2]");
  EXPECT_EQ(eval("$.items[?(@.a == 'y' || @.b == 1)].b", doc), "[1,3]");
  EXPECT_EQ(eval("$.items[?(@.a == 'z' || @.a == 'x' && @.b == 2)].a", doc),
            R"(["x","z"])");  // && binds tighter than ||
  EXPECT_EQ(eval("$.items[?((@.a == 'z' || @.a == 'x') && @.b == 2)].a", doc), R"(["x"])");
  EXPECT_EQ(eval("$.items[?(!(@.a == 'x'))].a", doc), R"(["y","z"])");
  EXPECT_EQ(eval("$.items[?(!@.b)].a", doc), R"(["z"])");
  EXPECT_EQ(eval("$.items[?(@.b)].a", doc), R"(["x","x","y"])");
}

TEST(PathFilterTest, ExistenceAndLiterals) {
  Json doc = J(R"({"l": [
      {"v": true}, {"v": false}, {"v": null}, {"v": 0}, {"v": "s"}, {"w": 1},
      {"v": [1, 2]}, {"v": {"k": 1}}, {"v": -2.5}, {"v": 1e3}]})");
  // Existence ignores the value.
  EXPECT_EQ(eval("$.l[?(@.v)].v", doc), R"([true,false,null,0,"s",[1,2],{"k":1},-2.5,1000.0])");
  EXPECT_EQ(eval("$.l[?(@.v == true)].v", doc), "[true]");
  EXPECT_EQ(eval("$.l[?(@.v == false)].v", doc), "[false]");
  EXPECT_EQ(eval("$.l[?(@.v == null)].v", doc), "[null]");
  EXPECT_EQ(eval("$.l[?(@.v == -2.5)].v", doc), "[-2.5]");
  EXPECT_EQ(eval("$.l[?(@.v == 1000)].v", doc), "[1000.0]");
  EXPECT_EQ(eval("$.l[?(@.v == 1E3)].v", doc), "[1000.0]");
  EXPECT_EQ(eval("$.l[?(@.v < 0)].v", doc), "[-2.5]");
  EXPECT_EQ(eval("$.l[?(@.v.k == 1)].v", doc), R"([{"k":1}])");
  EXPECT_EQ(eval("$.l[?(@.v[1] == 2)].v", doc), "[[1,2]]");
  // A missing member is unequal to everything and never ordered.
  EXPECT_EQ(eval("$.l[?(@.v != 's')].w", doc), "[1]");
  EXPECT_EQ(eval("$.l[?(@.w < 5)].w", doc), "[1]");
  EXPECT_EQ(eval("$.l[?(@.nope >= 0)]", doc), "[]");
  // Strings compare with strings only; string escapes in literals.
  Json s = J(R"({"l": [{"n": "apple"}, {"n": "banana"}, {"n": "it's"}, {"n": "a\nb"}]})");
  EXPECT_EQ(eval("$.l[?(@.n < 'b')].n", s), R"(["apple","a\nb"])");
  EXPECT_EQ(eval("$.l[?(@.n > 10)].n", s), "[]");
  EXPECT_EQ(eval(R"($.l[?(@.n == 'it\'s')].n)", s), R"(["it's"])");
  EXPECT_EQ(eval(R"($.l[?(@.n == 'a\nb')].n)", s), R"(["a\nb"])");
  EXPECT_EQ(eval(R"($.l[?(@.n == '\u0061pple')].n)", s), R"(["apple"])");
}

TEST(PathFilterTest, NumericStringsCompareByValue) {
  Json doc = J(R"({"l": [{"v": 5}, {"v": "5"}, {"v": "x"}]})");
  EXPECT_EQ(eval("$.l[?(@.v == '5')].v", doc), R"([5,"5"])");
  EXPECT_EQ(eval("$.l[?(@.v == 5)].v", doc), R"([5,"5"])");
}

TEST(PathFilterTest, ScalarsNeverMatch) {
  // AWS: "@" matches objects only.
  EXPECT_EQ(eval("$.a[?(@ > 1)]", J(R"({"a": [1, 2, 3]})")), "[]");
  EXPECT_EQ(eval("$.a[?(@.x)]", J(R"({"a": [1, "x", {"x": 0}]})")), R"([{"x":0}])");
}

TEST(PathFilterTest, FilterOnObjectTestsTheObject) {
  Json doc = J(R"({"o": {"k": 1}})");
  EXPECT_EQ(eval("$.o[?(@.k == 1)]", doc), R"([{"k":1}])");
  EXPECT_EQ(eval("$.o[?(@.k == 2)]", doc), "[]");
}

TEST(PathFilterTest, NestedAndIndefiniteOperands) {
  Json doc = J(R"({"orders": [
      {"id": 1, "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}]},
      {"id": 2, "lines": [{"sku": "c", "qty": 1}]},
      {"id": 3, "lines": []}]})");
  EXPECT_EQ(eval("$.orders[?(@.lines[?(@.qty > 2)])].id", doc), "[1]");
  EXPECT_EQ(eval("$.orders[?(@.lines[*])].id", doc), "[1,2]");
  EXPECT_EQ(eval("$.orders[?(@['id'] == 2)].lines[0].sku", doc), R"(["c"])");
  EXPECT_EQ(eval("$.orders[?(@.id == 1)].lines[*].sku", doc), R"(["a","b"])");
}

// ---------------------------------------------------------------------------------------------
// Functions: AWS accepts the syntax and reports the path as not found.

TEST(PathEvalTest, FunctionCallsNeverMatch) {
  Path p = compile("$.Jobs.sum()");
  EXPECT_FALSE(p.is_definite());
  EXPECT_EQ(p.evaluate_on(J(R"({"Jobs": [1, 2]})")), std::nullopt);
  EXPECT_EQ(eval("$.a.length()", J(R"({"a": [1]})")), "<none>");
  EXPECT_EQ(compile("$.a.length()").normalized(), "$['a'].length()");
}

// ---------------------------------------------------------------------------------------------
// Roots through EvalContext

TEST(PathContextTest, PicksTheRoot) {
  Json input = J(R"({"a": 1})");
  Json context = J(R"({"Execution": {"Id": "arn:x"}})");
  VariableScope outer;
  outer.set("x", J(R"({"field": [7, 8]})"));
  VariableScope inner(&outer);
  inner.set("y", Json("yv"));
  EvalContext ctx;
  ctx.input = &input;
  ctx.context = &context;
  ctx.variables = &inner;

  EXPECT_EQ(compile("$.a").evaluate(ctx), Json(1));
  EXPECT_EQ(compile("$").evaluate(ctx), input);
  EXPECT_EQ(compile("$$.Execution.Id").evaluate(ctx), Json("arn:x"));
  EXPECT_EQ(compile("$$").evaluate(ctx), context);
  EXPECT_EQ(compile("$x.field[1]").evaluate(ctx), Json(8));
  EXPECT_EQ(compile("$x.field").evaluate(ctx), J("[7, 8]"));
  EXPECT_EQ(compile("$x").evaluate(ctx), J(R"({"field": [7, 8]})"));
  EXPECT_EQ(compile("$y").evaluate(ctx), Json("yv"));
  EXPECT_EQ(compile("$x.field[*]").evaluate(ctx), J("[7, 8]"));
  EXPECT_EQ(compile("$x.nope").evaluate(ctx), std::nullopt);
  EXPECT_EQ(compile("$$.Nope").evaluate(ctx), std::nullopt);

  const Json* found = compile("$x.field[0]").find_definite(ctx);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found, &(*outer.find("x"))["field"][0]);  // a pointer into the variable, no copy
}

TEST(PathContextTest, UndefinedVariableIsStatesRuntime) {
  Json input = Json::object();
  VariableScope scope;
  EvalContext ctx;
  ctx.input = &input;
  ctx.variables = &scope;
  try {
    compile("$noSuchVar.noSuchMember").evaluate(ctx);
    FAIL() << "expected StatesException";
  } catch (const StatesException& e) {
    EXPECT_EQ(e.error().error, "States.Runtime");
    EXPECT_EQ(e.error().cause, "The variable '$noSuchVar' is not defined");
  }
  ctx.variables = nullptr;
  try {
    compile("$v").evaluate(ctx);
    FAIL() << "expected StatesException";
  } catch (const StatesException& e) {
    EXPECT_EQ(e.error().cause, "The variable '$v' is not defined");
  }
}

TEST(PathContextTest, MissingContextObjectIsABug) {
  Json input = Json::object();
  EvalContext ctx;
  ctx.input = &input;
  EXPECT_THROW(compile("$$.Execution").evaluate(ctx), std::logic_error);
  EvalContext none;
  EXPECT_THROW(compile("$.a").evaluate(none), std::logic_error);
}

TEST(PathContextTest, FindDefiniteReturnsPointerIntoDocument) {
  Json doc = J(R"({"order": {"items": [{"qty": 3}, {"qty": 4}]}})");
  Path p = compile("$.order.items[0].qty");
  ASSERT_TRUE(p.is_definite());
  const Json* q = p.find_definite(doc);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q, &doc["order"]["items"][0]["qty"]);
  EXPECT_EQ(compile("$.order.items[-1].qty").find_definite(doc), &doc["order"]["items"][1]["qty"]);
  EXPECT_EQ(compile("$.order.items[2].qty").find_definite(doc), nullptr);
  EXPECT_EQ(compile("$").find_definite(doc), &doc);
}

TEST(PathContextTest, CopiesAreIndependent) {
  Path a = compile("$.a[?(@.b == 1)].c");
  Path b = a;
  Path c = compile("$");
  c = b;
  Path d = std::move(b);
  Json doc = J(R"({"a": [{"b": 1, "c": "x"}, {"b": 2, "c": "y"}]})");
  EXPECT_EQ(c.evaluate_on(doc), J(R"(["x"])"));
  EXPECT_EQ(d.evaluate_on(doc), J(R"(["x"])"));
  EXPECT_EQ(a.text(), "$.a[?(@.b == 1)].c");
}

// ---------------------------------------------------------------------------------------------
// Normalized form and not-found messages

TEST(PathMessageTest, NormalizedForm) {
  EXPECT_EQ(compile("$").normalized(), "$");
  EXPECT_EQ(compile("$.a.b[0]").normalized(), "$['a']['b'][0]");
  EXPECT_EQ(compile("$$.Execution.Id").normalized(), "$['Execution']['Id']");
  EXPECT_EQ(compile("$x.y").normalized(), "$['y']");
  EXPECT_EQ(compile("$..a[*]").normalized(), "$..['a'][*]");
  EXPECT_EQ(compile("$.a[?(@.b)]").normalized(), "$['a'][?]");
  EXPECT_EQ(compile("$.a[1:3]").normalized(), "$['a'][1:3]");
  EXPECT_EQ(compile("$.a[:3]").normalized(), "$['a'][:3]");
  EXPECT_EQ(compile("$.a[-2:]").normalized(), "$['a'][-2:]");
  EXPECT_EQ(compile("$.a[::2]").normalized(), "$['a'][::2]");
  EXPECT_EQ(compile("$.a[0,-1]").normalized(), "$['a'][0,-1]");
  EXPECT_EQ(compile("$['a','b']").normalized(), "$['a','b']");
  EXPECT_EQ(compile(R"($["a"])").normalized(), R"($["a"])");
  EXPECT_EQ(compile("$.*").normalized(), "$[*]");
  EXPECT_EQ(compile("$..*").normalized(), "$..[*]");
}

TEST(PathMessageTest, NotFoundReasons) {
  Json doc = J(R"({"a": {"b": {}}, "s": "x"})");
  EXPECT_EQ(compile("$.foo").not_found_reason(doc), "No results for path: $['foo']");
  EXPECT_EQ(compile("$.a.b.c").not_found_reason(doc), "No results for path: $['a']['b']['c']");
  EXPECT_EQ(compile("$.a.x.c").not_found_reason(doc), "Missing property in path $['a']['x']");
  EXPECT_EQ(compile("$.s.c").not_found_reason(doc), "No results for path: $['s']['c']");
  EXPECT_EQ(compile("$.a[0]").not_found_reason(doc), "No results for path: $['a'][0]");
}

// AWS: "Invalid path '$.Payload' : No results for path: $['Payload']" (OutputPath failure cause).
TEST(PathMessageTest, InvalidPathCause) {
  EXPECT_EQ(compile("$.Payload").invalid_path_cause(J(R"({"StatusCode": 200})")),
            "Invalid path '$.Payload' : No results for path: $['Payload']");
}

// AWS (conformance case test_invalid_jsonpath[ST.INVALID_JSONPATH_IN_CAUSEPATH]).
TEST(PathMessageTest, NotFoundCause) {
  EXPECT_EQ(compile("$.NoSuchCausePath").not_found_cause("CausePath", J(R"({"Error":"e"})")),
            "The JSONPath '$.NoSuchCausePath' specified for the field 'CausePath' could not be "
            R"(found in the input '{"Error":"e"}')");
  EXPECT_EQ(compile("$.JobName").not_found_cause("JobName.$", Json::object()),
            "The JSONPath '$.JobName' specified for the field 'JobName.$' could not be found in "
            "the input '{}'");
}

// ---------------------------------------------------------------------------------------------
// Reference paths and assign

TEST(ReferencePathTest, Accepts) {
  EXPECT_TRUE(compile_reference("$").is_reference());
  EXPECT_TRUE(compile_reference("$.a.b").is_reference());
  EXPECT_TRUE(compile_reference("$['a']").is_reference());
  EXPECT_TRUE(compile_reference("$.a[0]").is_reference());
  EXPECT_TRUE(compile_reference("$.a-b.['c d'][2]").is_reference());
  EXPECT_FALSE(compile("$.a").is_reference());
}

TEST(ReferencePathTest, RejectsWithReason) {
  EXPECT_EQ(reference_error("$$.a"),
            "a reference path cannot refer to the context object '$$' at offset 0");
  EXPECT_EQ(reference_error("$x.a"),
            "a reference path cannot refer to the variable '$x' at offset 0");
  EXPECT_EQ(reference_error("$.a[*]"),
            "a reference path has only names and non-negative indexes; found a wildcard '*' at "
            "offset 3");
  EXPECT_EQ(reference_error("$.a.*"),
            "a reference path has only names and non-negative indexes; found a wildcard '*' at "
            "offset 3");
  EXPECT_EQ(reference_error("$..a"),
            "a reference path has only names and non-negative indexes; found deep scan '..' at "
            "offset 1");
  EXPECT_EQ(reference_error("$.a[?(@.b)]"),
            "a reference path has only names and non-negative indexes; found a filter at "
            "offset 3");
  EXPECT_EQ(reference_error("$.a[1:2]"),
            "a reference path has only names and non-negative indexes; found a slice at offset 3");
  EXPECT_EQ(reference_error("$.a[-1]"),
            "a reference path has only names and non-negative indexes; found a negative index "
            "at offset 3");
  EXPECT_EQ(reference_error("$.a[0,1]"),
            "a reference path has only names and non-negative indexes; found a union of indexes "
            "at offset 3");
  EXPECT_EQ(reference_error("$['a','b']"),
            "a reference path has only names and non-negative indexes; found a union of names "
            "at offset 1");
  EXPECT_EQ(reference_error("$.a.length()"),
            "a reference path has only names and non-negative indexes; found a function call at "
            "offset 3");
  EXPECT_EQ(reference_error("$.a["), "missing ']' for the '[' opened at offset 3");
}

TEST(ReferencePathTest, AssignCreatesObjects) {
  Json doc = J(R"({"keep": 1})");
  compile_reference("$.a.b").assign(doc, Json(5));
  EXPECT_EQ(doc, J(R"({"keep": 1, "a": {"b": 5}})"));
  compile_reference("$.a.c.d").assign(doc, J("[1]"));
  EXPECT_EQ(doc, J(R"({"keep": 1, "a": {"b": 5, "c": {"d": [1]}}})"));
  compile_reference("$.a.b").assign(doc, Json("over"));
  EXPECT_EQ(doc, J(R"({"keep": 1, "a": {"b": "over", "c": {"d": [1]}}})"));
  compile_reference("$['x y']").assign(doc, Json(nullptr));
  EXPECT_EQ(doc["x y"], Json(nullptr));

  Json empty = Json::object();
  compile_reference("$.a.b").assign(empty, Json(1));
  EXPECT_EQ(empty, J(R"({"a": {"b": 1}})"));
}

TEST(ReferencePathTest, AssignRootReplaces) {
  Json doc = J(R"({"a": 1})");
  compile_reference("$").assign(doc, Json("new"));
  EXPECT_EQ(doc, Json("new"));
}

TEST(ReferencePathTest, AssignIntoArrayElement) {
  Json doc = J(R"({"a": [{"x": 1}, {"x": 2}]})");
  compile_reference("$.a[1].y").assign(doc, Json(3));
  EXPECT_EQ(doc, J(R"({"a": [{"x": 1}, {"x": 2, "y": 3}]})"));
  compile_reference("$.a[0]").assign(doc, Json("r"));
  EXPECT_EQ(doc, J(R"({"a": ["r", {"x": 2, "y": 3}]})"));
}

void expect_match_failure(std::string_view path, Json doc, const std::string& cause) {
  Json before = doc;
  try {
    compile_reference(path).assign(doc, Json(1));
    ADD_FAILURE() << "expected States.ResultPathMatchFailure for " << path;
  } catch (const StatesException& e) {
    EXPECT_EQ(e.error().error, "States.ResultPathMatchFailure") << path;
    EXPECT_EQ(e.error().cause, cause) << path;
  }
  EXPECT_EQ(doc, before) << "target must be unchanged after a failure: " << path;
}

TEST(ReferencePathTest, AssignFailures) {
  expect_match_failure("$.a.b", J(R"({"a": "str"})"),
                       R"(Unable to apply ReferencePath $.a.b to input {"a":"str"})");
  expect_match_failure("$.a", Json("{\"min\":1}"),
                       R"(Unable to apply ReferencePath $.a to input "{\"min\":1}")");
  expect_match_failure("$.a.b", J(R"({"a": null})"),
                       R"(Unable to apply ReferencePath $.a.b to input {"a":null})");
  expect_match_failure("$.a.b", J(R"({"a": [1]})"),
                       R"(Unable to apply ReferencePath $.a.b to input {"a":[1]})");
  expect_match_failure("$.a[0]", J(R"({"a": {}})"),
                       R"(Unable to apply ReferencePath $.a[0] to input {"a":{}})");
  expect_match_failure("$.a[2]", J(R"({"a": [1, 2]})"),
                       R"(Unable to apply ReferencePath $.a[2] to input {"a":[1,2]})");
  expect_match_failure("$.a[0]", J(R"({})"), R"(Unable to apply ReferencePath $.a[0] to input {})");
  expect_match_failure("$.x", J("[1]"), R"(Unable to apply ReferencePath $.x to input [1])");
}

// ---------------------------------------------------------------------------------------------
// Parse errors: what and where

TEST(PathParseTest, ErrorMessages) {
  EXPECT_EQ(parse_error(""), "empty path: a path starts with '$' at offset 0");
  EXPECT_EQ(parse_error("a.b"), "a path starts with '$', found 'a' at offset 0");
  EXPECT_EQ(parse_error("$."), "path ends with '.' at offset 1");
  EXPECT_EQ(parse_error("$.a."), "path ends with '.' at offset 3");
  EXPECT_EQ(parse_error("$.."), "path ends with '..' at offset 1");
  EXPECT_EQ(parse_error("$...a"), "unexpected '.' at offset 3");
  EXPECT_EQ(parse_error("$.a b"),
            "unexpected whitespace after name 'a'; a name with spaces needs bracket notation "
            "['a b'] at offset 3");
  EXPECT_EQ(parse_error("$. a"),
            "unexpected whitespace; a name with spaces needs bracket notation ['a b'] at offset 2");
  EXPECT_EQ(parse_error("$.a]"), "unexpected ']' at offset 3");
  EXPECT_EQ(parse_error("$.a["), "missing ']' for the '[' opened at offset 3");
  EXPECT_EQ(parse_error("$.a[0"),
            "unexpected end of path, expected ',' or ']' after an index at offset 5");
  EXPECT_EQ(parse_error("$.a[]"), "empty brackets '[]' at offset 3");
  EXPECT_EQ(parse_error("$.a[x]"),
            "unexpected 'x' after '[', expected a quoted name, an index, a slice, '*' or a filter "
            "'?(...)' at offset 4");
  EXPECT_EQ(parse_error("$['a"), "missing closing ' for the name opened at offset 2");
  EXPECT_EQ(parse_error("$['a' 'b']"),
            "unexpected ''', expected ',' or ']' after a quoted name at offset 6");
  EXPECT_EQ(parse_error("$[*"), "unexpected end of path, expected ']' after '[*' at offset 3");
  EXPECT_EQ(parse_error("$[1:2:0]"), "a slice step must be greater than 0 at offset 6");
  EXPECT_EQ(parse_error("$[99999999999999999999]"),
            "index '99999999999999999999' is out of range at offset 2");
  EXPECT_EQ(parse_error("$a-b"),
            "invalid character '-' in variable name 'a-b': a variable name has letters, digits "
            "and '_' and does not start with a digit at offset 2");
  EXPECT_EQ(parse_error("$1x"),
            "invalid character '1' in variable name '1x': a variable name has letters, digits "
            "and '_' and does not start with a digit at offset 1");
  EXPECT_EQ(parse_error("$$$"), "unexpected '$', expected '.' or '[' at offset 2");
  EXPECT_EQ(parse_error("$.a(x)"), "function arguments are not supported in 'a(' at offset 3");
  EXPECT_EQ(parse_error("$.a().b"),
            "a function call must be the last step of a path; unexpected '.' at offset 5");
  EXPECT_EQ(parse_error("$.a)"), "unexpected ')' at offset 3");
}

TEST(PathParseTest, FilterErrorMessages) {
  EXPECT_EQ(parse_error("$.a[?(@.b =~ /x/)]"),
            "regular expressions (=~) are not supported in filters at offset 10");
  EXPECT_EQ(parse_error("$.a[?(@.b in ['x'])]"),
            "the operator 'in' is not supported in filters at offset 10");
  EXPECT_EQ(parse_error("$.a[?(@.b nin ['x'])]"),
            "the operator 'nin' is not supported in filters at offset 10");
  EXPECT_EQ(parse_error("$.a[?(@.b = 1)]"), "unexpected '=', use '==' to compare at offset 10");
  EXPECT_EQ(parse_error("$.a[?(@.b == $.c)]"),
            "a filter can only refer to the current item '@', not to '$' at offset 13");
  EXPECT_EQ(parse_error("$.a[?(@.b == )]"),
            "unexpected ')' in the filter, expected '@', a number, a quoted string, true, false "
            "or null at offset 13");
  EXPECT_EQ(parse_error("$.a[?(1)]"),
            "a literal alone is not a condition; compare it with == != < <= > >= at offset 6");
  EXPECT_EQ(parse_error("$.a[?(@.b == 1]"),
            "unexpected ']', expected ')' or a logical operator in the filter at offset 14");
  EXPECT_EQ(parse_error("$.a[?(@.b == 'x)]"),
            "missing closing ' for the string opened at offset 13");
  EXPECT_EQ(parse_error("$.a[?@.b]"), "unexpected '@', expected '(' after '[?' at offset 5");
  EXPECT_EQ(parse_error("$.a[?(@.b)"),
            "unexpected end of path, expected ']' after the filter at offset 10");
  EXPECT_EQ(parse_error("$.a[?(@.b.length() > 1)]"),
            "functions are not supported in filters at offset 9");
}

TEST(PathParseTest, AcceptsWhitespaceInsideBrackets) {
  Json doc = J(R"({"a": [{"b": 1}, {"b": 2}], "x y": 3})");
  EXPECT_EQ(eval("$.a[ ?( @.b == 2 ) ].b", doc), "[2]");
  EXPECT_EQ(eval("$[ 'x y' ]", doc), "3");
  EXPECT_EQ(eval("$.a[ * ].b", doc), "[1,2]");
  EXPECT_EQ(eval("$.a[ 0 , 1 ].b", doc), "[1,2]");
  EXPECT_EQ(eval("$.a[?(@.b==1||@.b==2)].b", doc), "[1,2]");
}

}  // namespace
}  // namespace stepd::asl
