// The daemon's verdict on a held query of a workload whose queries are policed, and
// the answer it gives a denied one (daemon/query_verdict.h).
#include "daemon/query_verdict.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/compiled_policy.h"

namespace skouter::daemon {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr policy::RuleId kExactRule = 1;
constexpr policy::RuleId kWildcardRule = 2;
constexpr policy::RuleId kRegexRule = 3;
constexpr policy::RuleId kGoogleRule = 4;

// A policy of one of each kind of name rule, its queries policed as --deny-queries
// would police them: the cluster's names queryable, dns.google withheld.
policy::CompiledPolicy policedPolicy() {
  policy::CompiledPolicy policy;
  policy.polices = true;
  policy.names.addExact("api.example.com", kExactRule);
  policy.names.addWildcard("example.net", kWildcardRule);
  policy.names.addRegex(R"(^[a-z]+\.regex\.example$)", kRegexRule);
  policy.names.addWildcard("google", kGoogleRule);
  policy.names.compile();
  policy::policeQueries(policy, {.deny_by_default = true,
                                 .queryable_suffixes = {"cluster.local"},
                                 .encrypted_dns_names = {"dns.google"}});
  return policy;
}

TEST(JudgeQueryTest, ANameARuleAllowsIsAllowedByThatRule) {
  const auto policy = policedPolicy();
  ASSERT_TRUE(policy.queryable_suffixes.has_value());
  const std::pair<const char*, policy::RuleId> allowed[] = {
      {"api.example.com", kExactRule},    {"www.example.net", kWildcardRule},
      {"a.b.example.net", kWildcardRule}, {"abc.regex.example", kRegexRule},
      {"mail.google", kGoogleRule},
  };
  for (const auto& [name, rule] : allowed) {
    SCOPED_TRACE(name);
    const auto judged = judgeQuery(&policy, name);
    EXPECT_EQ(judged.verdict, FlowVerdict::kAllowed);
    EXPECT_EQ(judged.reason, QueryReason::kAllowedName);
    EXPECT_EQ(judged.rule, rule);
  }
}

TEST(JudgeQueryTest, TheClusterNamesAreQueryableAtAndBelowTheSuffixOnly) {
  const auto policy = policedPolicy();
  for (const char* name : {"cluster.local", "svc.cluster.local", "web.shop.svc.cluster.local"}) {
    SCOPED_TRACE(name);
    const auto judged = judgeQuery(&policy, name);
    EXPECT_EQ(judged.verdict, FlowVerdict::kAllowed);
    EXPECT_EQ(judged.reason, QueryReason::kQueryableName);
    EXPECT_EQ(judged.rule, std::nullopt);
  }
  // Names that only end in the same characters: another label, or a dot inside one
  // label (as dns_question.h writes it, escaped), which puts the name below `local`,
  // not below cluster.local.
  for (const char* name : {"evilcluster.local", "local", "cluster.local.evil.example",
                           "data\\.cluster.local", "x.data\\.cluster.local"}) {
    SCOPED_TRACE(name);
    const auto judged = judgeQuery(&policy, name);
    EXPECT_EQ(judged.verdict, FlowVerdict::kDenied);
    EXPECT_EQ(judged.reason, QueryReason::kNameNotAllowed);
  }
  // An escaped backslash before a dot leaves the dot a separator.
  EXPECT_EQ(judgeQuery(&policy, "a\\\\.cluster.local").verdict, FlowVerdict::kAllowed);
}

TEST(JudgeQueryTest, ANameNoRuleAllowsIsDenied) {
  const auto policy = policedPolicy();
  for (const char* name : {"c2VjcmV0.tunnel.example.org", "example.net", "www.api.example.com",
                           "x.abc.regex.example"}) {
    SCOPED_TRACE(name);
    const auto judged = judgeQuery(&policy, name);
    EXPECT_EQ(judged.verdict, FlowVerdict::kDenied);
    EXPECT_EQ(judged.reason, QueryReason::kNameNotAllowed);
    EXPECT_EQ(judged.rule, std::nullopt);
  }
}

// Through a public DNS-over-HTTPS resolver a workload could ask for any name: only a
// rule that names it exactly allows it, never a wildcard or a regex.
TEST(JudgeQueryTest, AWithheldResolverNameIsDeniedUnderAWildcardButAllowedByAnExactRule) {
  const auto policy = policedPolicy();
  const auto judged = judgeQuery(&policy, "dns.google");
  EXPECT_EQ(judged.verdict, FlowVerdict::kDenied);
  EXPECT_EQ(judged.reason, QueryReason::kEncryptedDnsResolver);

  policy::CompiledPolicy regex_only;
  regex_only.polices = true;
  regex_only.names.addRegex(R"(^dns\..*$)", kRegexRule);
  regex_only.names.compile();
  policy::policeQueries(
      regex_only,
      {.deny_by_default = true, .queryable_suffixes = {}, .encrypted_dns_names = {"dns.google"}});
  EXPECT_EQ(judgeQuery(&regex_only, "dns.google").reason, QueryReason::kEncryptedDnsResolver);
  EXPECT_EQ(judgeQuery(&regex_only, "dns.example").verdict, FlowVerdict::kAllowed);

  policy::CompiledPolicy exact;
  exact.polices = true;
  exact.names.addExact("dns.google", kExactRule);
  exact.names.addWildcard("google", kGoogleRule);
  exact.names.compile();
  policy::policeQueries(
      exact,
      {.deny_by_default = true, .queryable_suffixes = {}, .encrypted_dns_names = {"dns.google"}});
  const auto named = judgeQuery(&exact, "dns.google");
  EXPECT_EQ(named.verdict, FlowVerdict::kAllowed);
  EXPECT_EQ(named.reason, QueryReason::kAllowedName);
  EXPECT_EQ(named.rule, kExactRule);
}

TEST(JudgeQueryTest, AWorkloadWhoseQueriesAreNotPolicedIsDeniedNothing) {
  const auto not_policed = judgeQuery(nullptr, "c2VjcmV0.tunnel.example.org");
  EXPECT_EQ(not_policed.verdict, FlowVerdict::kAllowed);
  EXPECT_EQ(not_policed.reason, QueryReason::kNotPoliced);

  // A policy whose queries are allowed (spec.queries: allow, or no --deny-queries).
  policy::CompiledPolicy allowing;
  allowing.polices = true;
  allowing.names.addExact("api.example.com", kExactRule);
  allowing.names.compile();
  policy::policeQueries(
      allowing,
      {.deny_by_default = false, .queryable_suffixes = {"x.test"}, .encrypted_dns_names = {}});
  ASSERT_FALSE(allowing.queryable_suffixes.has_value());
  const auto judged = judgeQuery(&allowing, "c2VjcmV0.tunnel.example.org");
  EXPECT_EQ(judged.verdict, FlowVerdict::kAllowed);
  EXPECT_EQ(judged.reason, QueryReason::kNotPoliced);
}

TEST(JudgeQueryTest, ReasonsHaveTheirNames) {
  EXPECT_STREQ(toString(QueryReason::kAllowedName), "allowed_name");
  EXPECT_STREQ(toString(QueryReason::kQueryableName), "queryable_name");
  EXPECT_STREQ(toString(QueryReason::kNotPoliced), "not_policed");
  EXPECT_STREQ(toString(QueryReason::kNameNotAllowed), "name_not_allowed");
  EXPECT_STREQ(toString(QueryReason::kEncryptedDnsResolver), "encrypted_dns_resolver");
  EXPECT_STREQ(toString(QueryReason::kUnreadable), "unreadable");
}

Bytes operator+(Bytes left, const Bytes& right) {
  left.insert(left.end(), right.begin(), right.end());
  return left;
}

void put16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

// The question section of one question for `name` (type A, class IN), as sent.
Bytes question(const std::string& name, std::uint16_t type = 1) {
  Bytes out;
  std::size_t start = 0;
  while (start < name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
               name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  put16(out, type);
  put16(out, 1);
  return out;
}

// A query: `flags` (0x0100: recursion desired), `questions` counted, then `section`
// and, with `edns`, an OPT record in the additional section.
Bytes query(std::uint16_t id, std::uint16_t flags, const Bytes& section,
            std::uint16_t questions = 1, bool edns = false) {
  Bytes out;
  put16(out, id);
  put16(out, flags);
  put16(out, questions);
  put16(out, 0);
  put16(out, 0);
  put16(out, edns ? 1 : 0);
  out.insert(out.end(), section.begin(), section.end());
  if (edns) {
    out.push_back(0);  // the root
    put16(out, 41);    // OPT
    put16(out, 1232);
    put16(out, 0);
    put16(out, 0);
    put16(out, 0);
  }
  return out;
}

std::uint16_t get16(const Bytes& bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes.at(at) << 8 | bytes.at(at + 1));
}

TEST(RefusalOfTest, AnswersTheQuestionAskedWithNoRecords) {
  // Case as sent (0x20 randomization): the client compares the question byte for byte.
  const Bytes asked = question("WwW.ExAmple.com");
  const Bytes refusal =
      refusalOf(query(0xbeef, 0x0100, asked, 1, true), policy::DenyResponse::kNxdomain).value();
  ASSERT_EQ(refusal.size(), 12 + asked.size());
  EXPECT_EQ(get16(refusal, 0), 0xbeef);
  // A response, recursion desired as asked, recursion available; NXDOMAIN.
  EXPECT_EQ(get16(refusal, 2), 0x8183);
  EXPECT_EQ(get16(refusal, 4), 1);
  EXPECT_EQ(get16(refusal, 6), 0);   // no answer,
  EXPECT_EQ(get16(refusal, 8), 0);   // authority
  EXPECT_EQ(get16(refusal, 10), 0);  // or additional record: the query's OPT stays out
  EXPECT_EQ(Bytes(refusal.begin() + 12, refusal.end()), asked);
}

TEST(RefusalOfTest, TheRcodeFollowsTheDenyResponseAndRecursionDesiredIsCopied) {
  const Bytes asked = question("tunnel.example.org", 16);
  struct Case {
    std::uint16_t flags;
    policy::DenyResponse response;
    std::uint16_t answered;
  };
  const Case cases[] = {
      {0x0100, policy::DenyResponse::kNxdomain, 0x8183},
      {0x0100, policy::DenyResponse::kRefused, 0x8185},
      // Passthrough has no real answer to pass: NXDOMAIN.
      {0x0100, policy::DenyResponse::kPassthrough, 0x8183},
      {0x0000, policy::DenyResponse::kNxdomain, 0x8083},
      {0x0000, policy::DenyResponse::kRefused, 0x8085},
      // Checking disabled and other bits of the query are not the answer's.
      {0x0110, policy::DenyResponse::kNxdomain, 0x8183},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(static_cast<int>(c.response));
    SCOPED_TRACE(c.flags);
    const auto refusal = refusalOf(query(7, c.flags, asked), c.response);
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(get16(*refusal, 0), 7);
    EXPECT_EQ(get16(*refusal, 2), c.answered);
    EXPECT_EQ(Bytes(refusal->begin() + 12, refusal->end()), asked);
  }
}

TEST(RefusalOfTest, RefusesWhatIsNotOneStandardQuery) {
  const Bytes asked = question("www.example.com");
  const Bytes good = query(1, 0x0100, asked);
  ASSERT_TRUE(refusalOf(good, policy::DenyResponse::kNxdomain).has_value());
  struct Case {
    const char* description;
    Bytes message;
  };
  const Case cases[] = {
      {"a response", query(1, 0x8180, asked)},
      {"opcode NOTIFY", query(1, 0x2000, asked)},
      {"opcode UPDATE", query(1, 0x2800, asked)},
      {"two questions", query(1, 0x0100, asked + question("b.example.com"), 2)},
      {"no question", query(1, 0x0100, {}, 0)},
      {"a question counted, none there", query(1, 0x0100, {}, 1)},
      {"a question cut short", Bytes(good.begin(), good.end() - 3)},
      {"shorter than a header", Bytes(good.begin(), good.begin() + 11)},
      {"nothing", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    EXPECT_EQ(refusalOf(c.message, policy::DenyResponse::kNxdomain), std::nullopt);
  }
}

}  // namespace
}  // namespace skouter::daemon
