// What an expression (path, payload template, intrinsic call, Choice rule) sees when it is
// evaluated. asl/ never reads a clock or a global random source: both come in through here.
#pragma once

#include "asl/core/json.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace stepd::asl {

using TimePoint = std::chrono::sys_time<std::chrono::microseconds>;

// A source of randomness, injected so that tests and replays are deterministic.
// Threads: one instance is used by one thread at a time.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual std::uint64_t next_u64() = 0;
  // A double uniformly distributed in [0, 1).
  double next_unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
};

// splitmix64: small, fast, good enough for jitter and UUIDs. Not for secrets.
class SplitMixRandom final : public RandomSource {
 public:
  explicit SplitMixRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64() override {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// The variables (Assign) a state can read. A Parallel branch or a Map iteration gets its own
// scope whose parent is the scope of the state that started it: it reads outer variables and
// writes only its own. Lookups walk outwards.
class VariableScope {
 public:
  explicit VariableScope(const VariableScope* parent = nullptr) : parent_(parent) {}

  // The value of `name`, or nullptr when no enclosing scope defines it.
  const Json* find(std::string_view name) const {
    for (const VariableScope* s = this; s != nullptr; s = s->parent_) {
      auto it = s->vars_.find(name);
      if (it != s->vars_.end()) return &it->second;
    }
    return nullptr;
  }
  void set(std::string name, Json value) { vars_.insert_or_assign(std::move(name), std::move(value)); }
  const std::map<std::string, Json, std::less<>>& own() const { return vars_; }
  const VariableScope* parent() const { return parent_; }

 private:
  const VariableScope* parent_;
  std::map<std::string, Json, std::less<>> vars_;
};

// Roots an expression may refer to. Pointers are borrowed for the duration of one evaluation.
struct EvalContext {
  const Json* input = nullptr;              // "$": the value the field applies to
  const Json* context = nullptr;            // "$$": the context object; null if not built
  const VariableScope* variables = nullptr; // "$name"; null means no variables are defined
  RandomSource* random = nullptr;           // States.MathRandom without seed, States.UUID
};

}  // namespace stepd::asl
