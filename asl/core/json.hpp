// The JSON value type used throughout Stepd, and small helpers over it.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <type_traits>
#include <string_view>

namespace stepd::asl {

// Objects keep their members in the order they were written or inserted, as AWS Step Functions
// keeps them (outputs, wildcard and deep-scan results, States.Format all show that order).
// Equality of objects ignores member order, as JSON equality should.
template <class Key, class T, class IgnoredLess = std::less<Key>,
          class Allocator = std::allocator<std::pair<const Key, T>>>
struct JsonObjectMap : nlohmann::ordered_map<Key, T, IgnoredLess, Allocator> {
  using Base = nlohmann::ordered_map<Key, T, IgnoredLess, Allocator>;
  using Base::Base;
  using Base::find;
  using Base::operator[];
  using typename Base::iterator;
  using typename Base::value_type;

  // Inserting members. The element type has a const key, so a plain vector growth would copy
  // every member (values included); growing here moves the values and copies only the keys.
  template <class KeyType>
  std::pair<iterator, bool> emplace(KeyType&& key, T&& value) {
    reserve_for_insert();
    return Base::emplace(std::forward<KeyType>(key), std::move(value));
  }
  template <class KeyType>
  T& operator[](KeyType&& key) {
    reserve_for_insert();
    return Base::operator[](std::forward<KeyType>(key));
  }
  std::pair<iterator, bool> insert(value_type&& v) {
    reserve_for_insert();
    return Base::insert(std::move(v));
  }
  std::pair<iterator, bool> insert(const value_type& v) {
    reserve_for_insert();
    return Base::insert(v);
  }

  // Lookup by any string-like key on a const object (the base offers it only on non-const).
  template <class K>
    requires std::is_convertible_v<const K&, std::string_view>
  typename Base::const_iterator find(const K& key) const {
    const std::string_view k(key);
    for (auto it = this->begin(); it != this->end(); ++it) {
      if (it->first == k) return it;
    }
    return this->end();
  }
  bool operator==(const JsonObjectMap& other) const {
    if (this->size() != other.size()) return false;
    for (const auto& [key, value] : *this) {
      auto it = other.find(key);
      if (it == other.end() || !(it->second == value)) return false;
    }
    return true;
  }

 private:
  void reserve_for_insert() {
    if (this->size() < this->capacity()) return;
    typename Base::Container bigger;
    bigger.reserve(this->capacity() < 4 ? 4 : this->capacity() * 2);
    for (auto& member : *this) bigger.emplace_back(member.first, std::move(member.second));
    static_cast<typename Base::Container&>(*this).swap(bigger);
  }
};

using Json = nlohmann::basic_json<JsonObjectMap>;

// Serialises a value compactly, as AWS prints JSON inside error causes (no spaces).
std::string dump_compact(const Json& value);

// AWS's name for a JSON value's type, as used in error causes ("string", "number", ...).
std::string_view type_name(const Json& value);

// Appends the UTF-8 encoding of code point cp (REQUIRES: a valid code point, not a surrogate).
void append_utf8(std::string& out, char32_t cp);

// Escapes one JSON Pointer reference token (RFC 6901: "~" -> "~0", "/" -> "~1").
std::string pointer_token(std::string_view token);

// How deep JSON made while an execution runs (States.StringToJson, a function's answer) may
// nest arrays and objects. Serialising and evaluating JSON recurses once per level, so text
// nested deeper is refused before it is parsed instead of overflowing a thread's stack.
inline constexpr int kMaxRuntimeNesting = 512;

// The byte at which JSON text `text` opens its (max_depth+1)-th nested array or object
// (strings are skipped), or nullopt when it nests no deeper than max_depth. Does not check
// JSON syntax.
std::optional<std::size_t> nesting_beyond(std::string_view text, int max_depth);

}  // namespace stepd::asl
