// Per-operation benchmarks (Google Benchmark): the pieces one transition is made of.
//
// Inputs come from the benchmark machines in <shared>/bench/machines so the figures describe the
// whole-machine benchmark: chain100's Parameters and input, choiceloop1000's Choice rules,
// map1000's items. Every case checks its result once before timing (a wrong answer is reported
// as an error, not timed). Without the shared directory every case is skipped with a message.
//
// Run: build-*/bench/ops_bench [--benchmark_min_time=0.2] [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "asl/choice/choice_rule.hpp"
#include "asl/definition.hpp"
#include "asl/expr/intrinsics.hpp"
#include "asl/expr/payload.hpp"
#include "asl/path/path.hpp"
#include "asl/step.hpp"
#include "bench/bench_support.hpp"

namespace {

using stepd::asl::Json;
namespace asl = stepd::asl;

// The files the cases use, read once. `error` is set when they could not be read.
struct Fixtures {
  std::string error;
  std::string chain100_text;
  Json chain100;  // definition
  Json chain100_input;
  Json choiceloop1000;  // definition
  Json map1000_input;
};

const Fixtures& fixtures() {
  static const Fixtures f = [] {
    Fixtures f;
    const auto dir = stepd::bench::machines_dir();
    try {
      if (!std::filesystem::exists(dir / "manifest.json")) {
        f.error = "skipped: no benchmark machines at " + dir.string() +
                  " (set STEPD_SHARED_DIR to the shared directory)";
        return f;
      }
      f.chain100_text = stepd::bench::read_text(dir / "chain100.asl.json");
      f.chain100 = Json::parse(f.chain100_text);
      f.chain100_input = stepd::bench::read_json(dir / "chain100.input.json");
      f.choiceloop1000 = stepd::bench::read_json(dir / "choiceloop1000.asl.json");
      f.map1000_input = stepd::bench::read_json(dir / "map1000.input.json");
    } catch (const std::exception& e) {
      f.error = e.what();
    }
    return f;
  }();
  return f;
}

// Skips the case (with the fixtures' message) when the files are missing.
bool ready(benchmark::State& state) {
  if (!fixtures().error.empty()) {
    state.SkipWithError(fixtures().error.c_str());
    return false;
  }
  return true;
}

// Reports a wrong answer / unexpected exception instead of timing it.
bool check(benchmark::State& state, const std::function<std::string()>& verify) {
  try {
    std::string problem = verify();
    if (problem.empty()) return true;
    state.SkipWithError(problem.c_str());
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("threw: ") + e.what()).c_str());
  }
  return false;
}

std::optional<asl::Path> parse_path(benchmark::State& state, const std::string& text) {
  std::string error;
  auto path = asl::Path::parse(text, &error);
  if (!path) state.SkipWithError(("path '" + text + "' does not parse: " + error).c_str());
  return path;
}

std::string expect_equal(const Json& got, const Json& want) {
  if (got == want) return "";
  return "got " + got.dump() + ", expected " + want.dump();
}

// --- paths -------------------------------------------------------------------------------------

// A definite path without a copy: the pointer into the document (what the runtime should use).
void BM_PathDefiniteFind(benchmark::State& state) {
  if (!ready(state)) return;
  auto path = parse_path(state, "$.order.items[0].qty");
  if (!path) return;
  const Json& input = fixtures().chain100_input;
  if (!check(state, [&] {
        const Json* v = path->find_definite(input);
        return v ? expect_equal(*v, 2) : std::string("matched nothing");
      })) {
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(path->find_definite(input));
}
BENCHMARK(BM_PathDefiniteFind);

// Times path->evaluate() of the path `text` over `input` once it gives `want`; false (the case
// skipped with the reason) when the fixtures are missing, the path does not parse or the answer
// differs.
bool path_evaluate_case(benchmark::State& state, const std::string& text, const Json& input,
                        const Json& want) {
  if (!ready(state)) return false;
  auto path = parse_path(state, text);
  if (!path) return false;
  asl::EvalContext ctx;
  ctx.input = &input;
  if (!check(state, [&] {
        auto v = path->evaluate(ctx);
        return v ? expect_equal(*v, want) : "matched nothing";
      })) {
    return false;
  }
  for (auto _ : state) benchmark::DoNotOptimize(path->evaluate(ctx));
  return true;
}

// The same path through evaluate(): the matched value is copied out.
void BM_PathDefiniteEvaluate(benchmark::State& state) {
  path_evaluate_case(state, "$.order.items[0].qty", fixtures().chain100_input, 2);
}
BENCHMARK(BM_PathDefiniteEvaluate);

void BM_PathWildcard(benchmark::State& state) {
  path_evaluate_case(state, "$.order.items[*].sku", fixtures().chain100_input,
                     Json::array({"SKU-A", "SKU-B"}));
}
BENCHMARK(BM_PathWildcard);

void BM_PathFilter(benchmark::State& state) {
  path_evaluate_case(state, "$.order.items[?(@.qty > 1)].sku", fixtures().chain100_input,
                     Json::array({"SKU-A"}));
}
BENCHMARK(BM_PathFilter);

// A filter over map1000's 1,000 items (items with v >= 990): the per-item cost of a filter.
void BM_PathFilter1000(benchmark::State& state) {
  if (!ready(state)) return;
  Json want = Json::array();
  for (const Json& item : fixtures().map1000_input.at("items")) {
    if (item.at("v").get<double>() >= 990) want.push_back(item.at("id"));
  }
  if (path_evaluate_case(state, "$.items[?(@.v >= 990)].id", fixtures().map1000_input, want)) {
    state.SetItemsProcessed(state.iterations() * 1000);
  }
}
BENCHMARK(BM_PathFilter1000);

// ResultPath: writing the result into a copy of the input (what a Pass state with ResultPath
// does, the copy of the input included).
void BM_PathAssign(benchmark::State& state) {
  if (!ready(state)) return;
  std::string error;
  auto path = asl::Path::parse_reference("$.last", &error);
  if (!path) {
    state.SkipWithError(("'$.last' does not parse: " + error).c_str());
    return;
  }
  const Json& input = fixtures().chain100_input;
  const Json value = {{"step", 0}, {"orderId", "ord-000123"}, {"prev", -1}, {"qty", 2}};
  if (!check(state, [&] {
        Json target = input;
        path->assign(target, value);
        return expect_equal(target.at("last"), value);
      })) {
    return;
  }
  for (auto _ : state) {
    Json target = input;
    path->assign(target, value);
    benchmark::DoNotOptimize(target);
  }
}
BENCHMARK(BM_PathAssign);

// --- payload templates --------------------------------------------------------------------------

// chain100's Parameters (one constant, three paths) over chain100's input.
void BM_PayloadTemplate(benchmark::State& state) {
  if (!ready(state)) return;
  asl::Diagnostics diags;
  const Json& tmpl = fixtures().chain100.at("States").at("P000").at("Parameters");
  auto payload =
      asl::PayloadTemplate::compile(tmpl, "/States/P000/Parameters", "Parameters", diags);
  asl::EvalContext ctx;
  ctx.input = &fixtures().chain100_input;
  const Json want = {{"step", 0}, {"orderId", "ord-000123"}, {"prev", -1}, {"qty", 2}};
  if (!check(state, [&] { return expect_equal(payload.evaluate(ctx), want); })) return;
  for (auto _ : state) benchmark::DoNotOptimize(payload.evaluate(ctx));
}
BENCHMARK(BM_PayloadTemplate);

// --- intrinsic functions ------------------------------------------------------------------------

void intrinsic_case(benchmark::State& state, const std::string& text, const Json& input,
                    const Json& want) {
  if (!ready(state)) return;
  std::string error;
  auto call = asl::IntrinsicCall::parse(text, &error);
  if (!call) {
    state.SkipWithError(("'" + text + "' does not parse: " + error).c_str());
    return;
  }
  asl::EvalContext ctx;
  ctx.input = &input;
  if (!check(state, [&] { return expect_equal(call->evaluate(ctx), want); })) return;
  for (auto _ : state) benchmark::DoNotOptimize(call->evaluate(ctx));
}

void BM_IntrinsicFormat(benchmark::State& state) {
  intrinsic_case(state, "States.Format('order {} x{}', $.order.id, $.order.items[0].qty)",
                 fixtures().chain100_input, "order ord-000123 x2");
}
BENCHMARK(BM_IntrinsicFormat);

// choiceloop1000's Inc: "counter.$": "States.MathAdd($.counter, 1)".
void BM_IntrinsicMathAdd(benchmark::State& state) {
  static const Json input = {{"counter", 500}, {"limit", 1000}, {"mode", "run"}};
  intrinsic_case(state, "States.MathAdd($.counter, 1)", input, 501);
}
BENCHMARK(BM_IntrinsicMathAdd);

void BM_IntrinsicHash(benchmark::State& state) {
  // SHA-256 of "ord-000123" in lower-case hex (as AWS returns it; checked with sha256sum).
  intrinsic_case(state, "States.Hash($.order.id, 'SHA-256')", fixtures().chain100_input,
                 "1eb68f50a4c105a838825ca42862c81815698888ec12080cbc3f8d266d177b44");
}
BENCHMARK(BM_IntrinsicHash);

// --- Choice rules -------------------------------------------------------------------------------

// choiceloop1000's Check: its three rules in order, first match wins (none matches here:
// the Default branch, the common case of the loop).
void BM_ChoiceRules(benchmark::State& state) {
  if (!ready(state)) return;
  asl::Diagnostics diags;
  std::vector<asl::ChoiceRule> rules;
  const Json& choices = fixtures().choiceloop1000.at("States").at("Check").at("Choices");
  for (std::size_t i = 0; i < choices.size(); ++i) {
    rules.push_back(asl::ChoiceRule::compile(
        choices[i], "/States/Check/Choices/" + std::to_string(i), true, diags));
  }
  const Json input = {{"counter", 500}, {"limit", 1000}, {"mode", "run"}};
  const Json done = {{"counter", 1000}, {"limit", 1000}, {"mode", "run"}};
  auto first_match = [&](const Json& in) {
    asl::EvalContext ctx;
    ctx.input = &in;
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (rules[i].evaluate(ctx)) return static_cast<int>(i);
    }
    return -1;
  };
  if (!check(state, [&]() -> std::string {
        if (int m = first_match(input); m != -1)
          return "counter 500 matched rule " + std::to_string(m);
        if (int m = first_match(done); m != 2)
          return "counter 1000 matched rule " + std::to_string(m);
        return "";
      })) {
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(first_match(input));
}
BENCHMARK(BM_ChoiceRules);

// --- one state, whole
// -----------------------------------------------------------------------------

// enter_state on chain100's P000: Parameters + ResultPath, the input moved in (one copy of the
// input per iteration, as a runner that keeps the input would need). Target: ~1-2 us.
void BM_PassStateStep(benchmark::State& state) {
  if (!ready(state)) return;
  auto loaded = asl::load_definition(fixtures().chain100);
  if (!loaded.ok()) {
    state.SkipWithError("chain100 does not load");
    return;
  }
  const asl::State* p000 = loaded.machine->find("P000");
  asl::ExecutionInfo exec;
  exec.id = "arn:aws:states:local:000000000000:execution:bench:ops";
  exec.name = "ops";
  exec.state_machine_id = "arn:aws:states:local:000000000000:stateMachine:bench";
  exec.state_machine_name = "bench";
  exec.input = fixtures().chain100_input;
  asl::VariableScope vars;
  asl::SplitMixRandom random(1);
  std::vector<int> attempts;
  asl::StepContext ctx;
  ctx.execution = &exec;
  ctx.variables = &vars;
  ctx.random = &random;
  ctx.retry_attempts = &attempts;
  const Json& input = fixtures().chain100_input;
  if (!check(state, [&]() -> std::string {
        asl::Effect effect = asl::enter_state(*p000, input, ctx);
        auto* t = std::get_if<asl::Transition>(&effect);
        if (t == nullptr) return "effect is not a Transition";
        if (t->next != loaded.machine->find("P001")) return "next is not P001";
        Json want = input;
        want["last"] = {{"step", 0}, {"orderId", "ord-000123"}, {"prev", -1}, {"qty", 2}};
        return expect_equal(t->output, want);
      })) {
    return;
  }
  for (auto _ : state) {
    Json in = input;
    benchmark::DoNotOptimize(asl::enter_state(*p000, std::move(in), ctx));
  }
}
BENCHMARK(BM_PassStateStep);

// The copy of the input alone, to subtract from BM_PassStateStep.
void BM_InputCopy(benchmark::State& state) {
  if (!ready(state)) return;
  const Json& input = fixtures().chain100_input;
  for (auto _ : state) {
    Json in = input;
    benchmark::DoNotOptimize(in);
  }
}
BENCHMARK(BM_InputCopy);

// --- loading ------------------------------------------------------------------------------------

// load_definition of chain100 from its text: JSON parse, schema check, compile of 100 states.
void BM_LoadDefinitionChain100(benchmark::State& state) {
  if (!ready(state)) return;
  const std::string& text = fixtures().chain100_text;
  if (!check(state, [&]() -> std::string {
        auto r = asl::load_definition(std::string_view(text));
        if (!r.ok()) return "chain100 does not load";
        return r.machine->states.size() == 100 ? "" : "not 100 states";
      })) {
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(asl::load_definition(std::string_view(text)));
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_LoadDefinitionChain100);

}  // namespace

BENCHMARK_MAIN();
