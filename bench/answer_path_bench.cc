// What the daemon spends on the DNS message of one held answer: decideAnswer, then
// rewriteAnswer (--max-ttl 60, --block-private-answers, --deny-response nxdomain),
// over the captured answers of tests/unit/data/answers. Prints the time per answer.
#include <benchmark/benchmark.h>

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

const char* const kAnswers[] = {"alias.wikipedia.org-A.bin",
                                "alias.wikipedia.org-AAAA.bin",
                                "blocked.test-A.bin",
                                "de.wikipedia.org-A.bin",
                                "de.wikipedia.org-AAAA.bin",
                                "example.com-A.bin",
                                "example.com-AAAA.bin",
                                "httpbin.org-A-edns.bin",
                                "missing.wikipedia.org-A.bin",
                                "mixed-case-example.com-A.bin",
                                "multi.wikipedia.org-A.bin",
                                "short.wikipedia.org-A.bin",
                                "wikipedia.org.attacker.test-A.bin"};

std::vector<Bytes> capturedAnswers() {
  std::vector<Bytes> answers;
  for (const char* name : kAnswers) {
    std::ifstream file(std::string(SKOUTER_ANSWERS_DIR) + "/" + name, std::ios::binary);
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
