#include "asl/expr/payload.hpp"

#include "asl/core/codes.hpp"

#include <cassert>
#include <optional>
#include <vector>

#include "asl/expr/intrinsics.hpp"
#include "asl/expr/path_eval.hpp"
#include "asl/path/path.hpp"

namespace stepd::asl {

namespace payload_detail {

struct Member;

struct Node {
  enum class Kind : std::uint8_t { Constant, Object, Array, Path, Call };
  Kind kind = Kind::Constant;
  Json constant;                      // Kind::Constant: the value, built once
  std::vector<Member> members;        // Kind::Object, in template order
  std::vector<Node> items;            // Kind::Array
  std::optional<Path> path;           // Kind::Path
  std::optional<IntrinsicCall> call;  // Kind::Call
  std::string field;                  // Kind::Path / Kind::Call: the key as written ("y.$")
};

struct Member {
  std::string key;  // without ".$"
  Node value;
};

}  // namespace payload_detail

namespace {

using payload_detail::Member;
using payload_detail::Node;

constexpr std::string_view kDollarSuffix = ".$";

using codes::kDuplicateKey;
using codes::kIntrinsicArguments;
using codes::kInvalidIntrinsic;
using codes::kInvalidPath;
using codes::kInvalidValue;
using codes::kWrongType;

bool ends_with_dollar(std::string_view key) {
  return key.size() >= kDollarSuffix.size() &&
         key.substr(key.size() - kDollarSuffix.size()) == kDollarSuffix;
}

struct Compiler {
  std::string_view field;  // "Parameters", "Assign", ...
  Diagnostics& diags;
  bool uses_context = false;
  bool uses_variables = false;
  bool ok = true;

  void error(const std::string& pointer, const char* code, std::string message) {
    ok = false;
    diags.error(pointer, code, std::move(message));
  }

  // A "key.$" member: its value must be a path or an intrinsic call.
  Node compile_dynamic(const std::string& key, const Json& value, const std::string& pointer) {
    Node node;
    node.field = key;
    if (!value.is_string()) {
      error(pointer, kWrongType,
            std::string(field) + ": the value of the field '" + key +
                "' must be a string holding a JSONPath or an "
                "intrinsic function call, "
                "not a " +
                std::string(type_name(value)));
      return node;
    }
    const std::string& text = value.get_ref<const std::string&>();
    std::string why;
    if (!text.empty() && text.front() == '$') {
      node.path = Path::parse(text, &why);
      if (node.path) {
        node.kind = Node::Kind::Path;
        if (node.path->root() == Path::Root::Context) uses_context = true;
        if (node.path->root() == Path::Root::Variable) uses_variables = true;
        return node;
      }
      error(pointer, kInvalidPath,
            std::string(field) + ": the value of the field '" + key + "' ('" + text +
                "') is not a valid JSONPath: " + why);
      return node;
    }
    if (IntrinsicCall::looks_like_call(text)) {
      node.call = IntrinsicCall::parse(text, &why);
      if (node.call) {
        node.kind = Node::Kind::Call;
        uses_context = uses_context || node.call->uses_context();
        uses_variables = uses_variables || node.call->uses_variables();
        if (!node.call->problem().empty()) {
          // AWS accepts the definition; the call fails when it runs.
          diags.warning(
              pointer, kIntrinsicArguments,
              std::string(field) + ": the intrinsic call in the field '" + key +
                  "' will fail with States.Runtime when it runs: " + node.call->problem());
        }
        return node;
      }
      error(pointer, kInvalidIntrinsic,
            std::string(field) + ": the value of the field '" + key + "' ('" + text +
                "') is not a valid intrinsic function call: " + why);
      return node;
    }
    error(pointer, kInvalidValue,
          std::string(field) + ": the value of the field '" + key + "' ('" + text +
              "') must be a JSONPath (starting with '$') or an intrinsic function call "
              "(States.Name(...))");
    return node;
  }

  Node compile(const Json& value, const std::string& pointer) {
    Node node;
    if (value.is_object()) {
      bool constant = true;
      for (const auto& [key, member] : value.items()) {
        std::string member_pointer = pointer + "/" + pointer_token(key);
        Member m;
        if (ends_with_dollar(key)) {
          m.key = key.substr(0, key.size() - kDollarSuffix.size());
          m.value = compile_dynamic(key, member, member_pointer);
          constant = false;
        } else {
          m.key = key;
          m.value = compile(member, member_pointer);
          if (m.value.kind != Node::Kind::Constant) constant = false;
        }
        node.members.push_back(std::move(m));
      }
      // Two members that give the same key ("a" and "a.$").
      for (std::size_t i = 0; i < node.members.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
          if (node.members[i].key != node.members[j].key) continue;
          const std::string& k = node.members[i].key;
          error(pointer + "/" + pointer_token(k + std::string(kDollarSuffix)), kDuplicateKey,
                std::string(field) + ": the fields '" + k + "' and '" + k +
                    ".$' both produce the key '" + k + "'");
        }
      }
      if (constant) {
        node.members.clear();
        node.constant = value;
        return node;
      }
      node.kind = Node::Kind::Object;
      return node;
    }
    if (value.is_array()) {
      bool constant = true;
      node.items.reserve(value.size());
      for (std::size_t i = 0; i < value.size(); ++i) {
        node.items.push_back(compile(value[i], pointer + "/" + std::to_string(i)));
        if (node.items.back().kind != Node::Kind::Constant) constant = false;
      }
      if (constant) {
        node.items.clear();
        node.constant = value;
        return node;
      }
      node.kind = Node::Kind::Array;
      return node;
    }
    node.constant = value;
    return node;
  }
};

Json evaluate_node(const Node& node, const EvalContext& ctx) {
  switch (node.kind) {
    case Node::Kind::Constant:
      return node.constant;
    case Node::Kind::Path: {
      Json scratch;
      const Json& value = expr_detail::eval_path(*node.path, ctx, node.field, &scratch);
      if (&value == &scratch) return scratch;
      return value;
    }
    case Node::Kind::Call:
      return node.call->evaluate(ctx, node.field);
    case Node::Kind::Object: {
      Json out(Json::value_t::object);
      auto& object = out.get_ref<Json::object_t&>();
      object.reserve(node.members.size());
      // Keys are unique (checked at compile), so members are appended in template order.
      for (const Member& m : node.members) object.emplace_back(m.key, evaluate_node(m.value, ctx));
      return out;
    }
    case Node::Kind::Array: {
      Json out(Json::value_t::array);
      auto& array = out.get_ref<Json::array_t&>();
      array.reserve(node.items.size());
      for (const Node& item : node.items) array.push_back(evaluate_node(item, ctx));
      return out;
    }
  }
  return nullptr;
}

}  // namespace

PayloadTemplate PayloadTemplate::compile(const Json& tmpl, const std::string& pointer,
                                         std::string_view field, Diagnostics& diags) {
  Compiler compiler{field, diags};
  Node root = compiler.compile(tmpl, pointer);
  PayloadTemplate out;
  if (!compiler.ok) return out;
  out.root_ = std::make_shared<const Node>(std::move(root));
  out.uses_context_ = compiler.uses_context;
  out.uses_variables_ = compiler.uses_variables;
  return out;
}

bool PayloadTemplate::uses_context() const { return uses_context_; }
bool PayloadTemplate::uses_variables() const { return uses_variables_; }
bool PayloadTemplate::is_constant() const {
  return root_ != nullptr && root_->kind == Node::Kind::Constant;
}

Json PayloadTemplate::evaluate(const EvalContext& ctx) const {
  assert(root_ != nullptr && "evaluate() on a template that failed to compile");
  return evaluate_node(*root_, ctx);
}

}  // namespace stepd::asl
