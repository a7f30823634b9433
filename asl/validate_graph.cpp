// The transition graph of every scope: targets exist (in the same scope), every state is
// reachable from StartAt, and some state ends the scope.
#include "asl/definition_detail.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace stepd::asl::definition_detail {
namespace {

std::string_view scope_name(ScopeKind kind) {
  switch (kind) {
    case ScopeKind::TopLevel:
      return "the state machine";
    case ScopeKind::Branch:
      return "this Parallel branch";
    case ScopeKind::Processor:
      return "this Map item processor";
  }
  return "this scope";
}

class ScopeChecker {
 public:
  ScopeChecker(const GraphInput& input, const GraphInput::Scope& scope, Diagnostics& diags)
      : input_(input), scope_(scope), machine_(*scope.machine), diags_(diags) {}

  void run() {
    if (!machine_.start_at.empty()) {
      machine_.start = resolve(machine_.start_at, machine_.pointer + "/StartAt");
    }
    bool has_terminal = false;
    for (const auto& state : machine_.states) {
      std::vector<const State*>& out = edges_[state.get()];
      auto broken = input_.broken.find(state.get());
      if (broken != input_.broken.end()) {
        has_terminal = true;  // unknown: do not guess
        for (const auto& [pointer, name] : broken->second) {
          if (const State* target = machine_.find(name)) out.push_back(target);
        }
        continue;
      }
      CommonFields& common = state->common;
      has_terminal |= common.end || state->type == StateType::Succeed ||
                      state->type == StateType::Fail ||
                      input_.maybe_terminal.count(state.get()) != 0;
      if (!common.next_name.empty()) {
        common.next = resolve(common.next_name, state->pointer + "/Next");
        if (common.next != nullptr) out.push_back(common.next);
      }
      for (Catcher& catcher : common.catchers) {
        if (catcher.next_name.empty()) continue;
        catcher.next = resolve(catcher.next_name, catcher.pointer + "/Next");
        if (catcher.next != nullptr) out.push_back(catcher.next);
      }
      if (auto* choice = std::get_if<ChoiceState>(&state->body)) {
        for (ChoiceBranch& branch : choice->choices) {
          if (branch.next_name.empty()) continue;
          branch.next = resolve(branch.next_name, branch.pointer + "/Next");
          if (branch.next != nullptr) out.push_back(branch.next);
        }
        if (!choice->default_name.empty()) {
          choice->default_state = resolve(choice->default_name, state->pointer + "/Default");
          if (choice->default_state != nullptr) out.push_back(choice->default_state);
        }
      }
    }

    if (!has_terminal && !machine_.states.empty()) {
      diags_.error(machine_.pointer + "/States", codes::kNoTerminalState,
                   std::string(scope_.kind == ScopeKind::TopLevel ? "the state machine"
                                                                  : scope_name(scope_.kind)) +
                       " has no terminal state: a Succeed or Fail state, or a state with "
                       "\"End\": true");
    }
    if (machine_.start != nullptr) check_reachable();
  }

 private:
  const State* resolve(const std::string& name, const std::string& pointer) {
    if (const State* s = machine_.find(name)) return s;
    std::string message;
    auto elsewhere = input_.state_pointers.find(name);
    if (elsewhere != input_.state_pointers.end()) {
      message = "state '" + name + "' (" + elsewhere->second + ") is not in " +
                std::string(scope_name(scope_.kind)) +
                ": a transition cannot leave its Parallel branch or Map item processor, nor "
                "enter one";
    } else {
      message = "there is no state named '" + name + "'";
      if (scope_.kind != ScopeKind::TopLevel)
        message += " in " + std::string(scope_name(scope_.kind));
    }
    diags_.error(pointer, codes::kMissingTransitionTarget, message);
    return nullptr;
  }

  void check_reachable() {
    std::unordered_map<const State*, bool> seen;
    std::vector<const State*> stack{machine_.start};
    seen[machine_.start] = true;
    while (!stack.empty()) {
      const State* s = stack.back();
      stack.pop_back();
      for (const State* t : edges_[s]) {
        if (!seen[t]) {
          seen[t] = true;
          stack.push_back(t);
        }
      }
    }
    for (const auto& state : machine_.states) {
      if (seen[state.get()]) continue;
      diags_.error(state->pointer, codes::kUnreachableState,
                   "state '" + state->name + "' cannot be reached from StartAt ('" +
                       machine_.start_at + "')");
    }
  }

  const GraphInput& input_;
  const GraphInput::Scope& scope_;
  Machine& machine_;
  Diagnostics& diags_;
  std::unordered_map<const State*, std::vector<const State*>> edges_;
};

}  // namespace

void check_graph(const GraphInput& input, Diagnostics& diags) {
  for (const GraphInput::Scope& scope : input.scopes) ScopeChecker(input, scope, diags).run();
}

}  // namespace stepd::asl::definition_detail
