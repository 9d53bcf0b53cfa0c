// How fast the compiled policy answers "may this name be resolved?" at scale:
// 100,000 patterns (exact names, "*." wildcards and 1,000 regexes) in one matcher.
// Prints the time per lookup for names that hit each kind of pattern and for names
// that miss, the compile time, and the resident memory the matcher adds.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "policy/compiled_policy.h"

namespace skouter::policy {
namespace {

constexpr int kExactNames = 79'000;
constexpr int kWildcards = 20'000;
constexpr int kRegexes = 1'000;

std::string exactName(int i) {
  return "host" + std::to_string(i) + ".service" + std::to_string(i % 97) + ".example.com";
}
std::string wildcardSuffix(int i) { return "tenant" + std::to_string(i) + ".cdn.example.net"; }
std::string regexOf(int i) {
  return "api-[0-9]+\\.region" + std::to_string(i) + "\\.example\\.org";
}

long residentKiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

std::unique_ptr<NameMatcher> build() {
  auto matcher = std::make_unique<NameMatcher>();
  for (int i = 0; i < kExactNames; ++i) matcher->addExact(exactName(i), 1);
  for (int i = 0; i < kWildcards; ++i) matcher->addWildcard(wildcardSuffix(i), 2);
  for (int i = 0; i < kRegexes; ++i) matcher->addRegex(regexOf(i), 3);
  matcher->compile();
  return matcher;
}

const NameMatcher& matcher() {
  static const std::unique_ptr<NameMatcher> instance = [] {
    const long before = residentKiB();
    const auto started = std::chrono::steady_clock::now();
    auto built = build();
    const auto elapsed = std::chrono::steady_clock::now() - started;
    std::printf(
        "matcher: %d exact, %d wildcard, %d regex patterns; built and compiled in %.0f ms; "
        "resident memory +%ld MiB\n",
        kExactNames, kWildcards, kRegexes,
        std::chrono::duration<double, std::milli>(elapsed).count(),
        (residentKiB() - before) / 1024);
    return built;
  }();
  return *instance;
}

void lookup(benchmark::State& state, std::vector<std::string> names) {
  const NameMatcher& patterns = matcher();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(patterns.match(names[i++ % names.size()]));
  }
}

std::vector<std::string> many(std::string (*make)(int), int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back(make(i * 7919 % count));
  return names;
}

void ExactHit(benchmark::State& state) { lookup(state, many(exactName, kExactNames)); }
void WildcardHit(benchmark::State& state) {
  lookup(state, many([](int i) { return "a.b." + wildcardSuffix(i); }, kWildcards));
}
void RegexHit(benchmark::State& state) {
  lookup(state, many([](int i) { return "api-42.region" + std::to_string(i) + ".example.org"; },
                     kRegexes));
}
void Miss(benchmark::State& state) {
  lookup(state, many([](int i) { return "unknown" + std::to_string(i) + ".example.io"; }, 1000));
}

BENCHMARK(ExactHit);
BENCHMARK(WildcardHit);
BENCHMARK(RegexHit);
BENCHMARK(Miss);

}  // namespace
}  // namespace skouter::policy

BENCHMARK_MAIN();
