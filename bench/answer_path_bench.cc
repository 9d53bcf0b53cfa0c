// What the daemon spends on the DNS message of one held answer: decideAnswer, then
// rewriteAnswer (--max-ttl 60, --block-private-answers, --deny-response nxdomain),
// over the captured answers of tests/unit/data/answers. Prints the time per answer.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"
#include "resolver/answer_rewriter.h"
#include "resolver/dns_message.h"

namespace skouter::resolver {
namespace {

using Bytes = std::vector<std::uint8_t>;

// The answers captured from real resolvers: the directory's crafted messages and
// whole frames are left out.
std::vector<Bytes> capturedAnswers() {
  std::vector<Bytes> answers;
  for (const auto& entry : std::filesystem::directory_iterator(SKOUTER_ANSWERS_DIR)) {
    const std::string name = entry.path().filename();
    if (entry.path().extension() != ".bin" || name.starts_with("crafted-") ||
        name.starts_with("frame-")) {
      continue;
    }
    std::ifstream file(entry.path(), std::ios::binary);
    answers.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  return answers;
}

void BM_DecideAndRewrite(benchmark::State& state) {
  const auto answers = capturedAnswers();
  policy::NameMatcher names;
  names.addExact("example.com", policy::RuleId{1});
  names.addExact("httpbin.org", policy::RuleId{2});
  names.addRegex(R"(.*\.wikipedia\.org)", policy::RuleId{3});
  names.compile();
  const TtlSettings ttl{.min_ttl_s = 30, .grace_s = 5, .max_ttl_s = 60};
  const RewriteSettings rewrite{
      .deny_response = DenyResponse::kNxdomain, .max_ttl_s = 60, .block_private_answers = true};
  const std::vector<policy::StaticEntry> static_entries;
  for (auto _ : state) {
    for (const Bytes& dns : answers) {
      const auto message = DnsMessage::read(dns);
      auto decision = decideAnswer(message, names, 1'000'000'000ULL, ttl);
      const auto rewritten = rewriteAnswer(message, decision, rewrite, static_entries);
      forgetRemoved(decision, rewritten);
      benchmark::DoNotOptimize(rewritten.dns.data());
      benchmark::DoNotOptimize(decision.addresses.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(answers.size()));
}
BENCHMARK(BM_DecideAndRewrite);

}  // namespace
}  // namespace skouter::resolver

BENCHMARK_MAIN();
