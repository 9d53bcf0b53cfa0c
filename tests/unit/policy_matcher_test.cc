#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "policy/compiled_policy.h"
#include "policy/loader.h"

namespace skouter::policy {
namespace {

IpPrefix prefix(const std::string& text) { return IpPrefix::parse(text).value(); }

EgressRule domainRule(const std::string& domain) {
  EgressRule rule;
  rule.domains = {domain};
  return rule;
}

EgressRule regexRule(const std::string& regex) {
  EgressRule rule;
  rule.regexes = {regex};
  return rule;
}

EgressRule addressRule(const std::string& ip, const std::string& cidr) {
  EgressRule rule;
  rule.ips = {prefix(ip)};
  rule.cidrs = {prefix(cidr)};
  return rule;
}

Egress egressNamed(const std::string& name, std::optional<LabelSelector> node_selector,
                   std::vector<EgressRule> rules) {
  Egress egress;
  egress.name = name;
  egress.source = "test.yaml";
  egress.document = 1;
  egress.node_selector = std::move(node_selector);
  egress.rules = std::move(rules);
  return egress;
}

std::vector<std::string> describe(const std::vector<StaticEntry>& entries,
                                  const CompiledPolicy& policy) {
  std::vector<std::string> described;
  for (const StaticEntry& entry : entries) {
    described.push_back(entry.prefix.toString() + " " + policy.rule_descriptions.at(entry.rule));
  }
  return described;
}

TEST(NameMatcherTest, EmptyMatcherMatchesNothing) {
  NameMatcher matcher;
  matcher.compile();
  EXPECT_EQ(matcher.match("example.com"), std::nullopt);
  EXPECT_EQ(matcher.match(""), std::nullopt);
}

TEST(NameMatcherTest, ExactNamesIgnoreCaseAndTrailingDot) {
  NameMatcher matcher;
  matcher.addExact("Example.COM.", 7);
  matcher.compile();
  EXPECT_EQ(matcher.match("example.com"), 7u);
  EXPECT_EQ(matcher.match("EXAMPLE.com."), 7u);
  EXPECT_EQ(matcher.match("www.example.com"), std::nullopt);
  EXPECT_EQ(matcher.match("example.com.."), std::nullopt);
  EXPECT_EQ(matcher.exactCount(), 1u);
}

TEST(NameMatcherTest, RegexesMatchTheWholeNameIgnoringCaseAndTrailingDot) {
  NameMatcher matcher;
  matcher.addRegex(R"(.*\.wikipedia\.org)", 3);
  matcher.addRegex(R"(api\.EXAMPLE\.com)", 4);
  matcher.compile();
  EXPECT_EQ(matcher.match("de.wikipedia.org"), 3u);
  EXPECT_EQ(matcher.match("DE.Wikipedia.ORG."), 3u);
  EXPECT_EQ(matcher.match("wikipedia.org"), std::nullopt);
  EXPECT_EQ(matcher.match("wikipedia.org.attacker.test"), std::nullopt);
  EXPECT_EQ(matcher.match("de.wikipedia.org.attacker.test"), std::nullopt);
  EXPECT_EQ(matcher.match("api.example.com"), 4u);
  EXPECT_EQ(matcher.match("xapi.example.com"), std::nullopt);
  EXPECT_EQ(matcher.regexCount(), 2u);
}

TEST(NameMatcherTest, ExactNameBeatsRegex) {
  NameMatcher matcher;
  matcher.addRegex(R"(.*\.example\.com)", 1);
  matcher.addExact("www.example.com", 2);
  matcher.compile();
  EXPECT_EQ(matcher.match("www.example.com"), 2u);
  EXPECT_EQ(matcher.match("mail.example.com"), 1u);
}

TEST(NameMatcherTest, EarliestMatchingRegexDecides) {
  NameMatcher matcher;
  matcher.addRegex(R"(mail\..*)", 1);
  matcher.addRegex(R"(.*\.example\.com)", 2);
  matcher.addRegex(R"(.*)", 3);
  matcher.compile();
  EXPECT_EQ(matcher.match("mail.example.com"), 1u);
  EXPECT_EQ(matcher.match("www.example.com"), 2u);
  EXPECT_EQ(matcher.match("anything.test"), 3u);
}

// Wildcard semantics as Kubernetes' FQDN policy proposal has them: "*.example.com"
// is one or more whole labels below example.com, never the apex.
TEST(NameMatcherTest, WildcardCases) {
  NameMatcher matcher;
  matcher.addWildcard("example.com", 1);
  matcher.addWildcard("xn--bcher-kva.example", 2);  // IDN (bücher) in punycode
  matcher.addExact("exact.example.net", 3);
  matcher.addWildcard("example.net", 4);
  matcher.compile();
  const struct {
    const char* name;
    std::optional<RuleId> rule;
  } cases[] = {
      {"example.com", std::nullopt},   // the apex
      {"a.example.com", 1},            // one label
      {"a.b.c.example.com", 1},        // several labels
      {"A.Example.COM", 1},            // case
      {"a.example.com.", 1},           // trailing dot
      {"example.com.", std::nullopt},  // apex with trailing dot
      {"aexample.com", std::nullopt},  // not a label boundary
      {"a.example.com.evil.test", std::nullopt},
      {"a\\.example.com", std::nullopt},  // one label "a.example" under com
      {"www.xn--bcher-kva.example", 2},
      {"xn--bcher-kva.example", std::nullopt},
      {"exact.example.net", 3},  // exact wins over a wildcard
      {"other.example.net", 4},
  };
  for (const auto& test : cases) {
    EXPECT_EQ(matcher.match(test.name), test.rule) << test.name;
  }
}

// The same semantics from the YAML an operator writes: the loader normalizes the
// pattern (case, trailing dot) and "*" alone allows every name, after all the rest.
TEST(CompileForNodeTest, WildcardTableFromYaml) {
  const auto wildcards = parsePolicyDocuments(R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: wild}
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.Example.COM.']
    - domains: ['*.xn--bcher-kva.example']
)",
                                              "wild.yaml");
  const CompiledPolicy policy = compileForNode(wildcards, {});
  const RuleId example = ruleIdOf("wild/rules[0]");
  const RuleId idn = ruleIdOf("wild/rules[1]");
  const struct {
    const char* name;
    std::optional<RuleId> rule;
  } cases[] = {
      {"example.com", std::nullopt},   // the apex
      {"example.com.", std::nullopt},  // the apex, with a trailing dot
      {"www.example.com", example},    // one label
      {"a.b.c.example.com", example},  // several labels
      {"WWW.EXAMPLE.com", example},    // case
      {"www.example.com.", example},   // trailing dot on the name
      {"wwwexample.com", std::nullopt},
      {"example.com.evil.test", std::nullopt},
      {"shop.xn--bcher-kva.example", idn},  // IDN, as DNS carries it
      {"xn--bcher-kva.example", std::nullopt},
      {"other.test", std::nullopt},
  };
  for (const auto& test : cases) {
    EXPECT_EQ(policy.names.match(test.name), test.rule) << test.name;
  }

  auto with_star = wildcards;
  with_star[0].rules.push_back(domainRule("*"));
  const CompiledPolicy star = compileForNode(with_star, {});
  const RuleId any = ruleIdOf("wild/rules[2]");
  EXPECT_EQ(star.names.match("www.example.com"), example);  // a wildcard still decides first
  EXPECT_EQ(star.names.match("example.com"), any);          // the apex is not below it
  EXPECT_EQ(star.names.match("other.test"), any);
  EXPECT_EQ(star.names.match("com"), any);
  EXPECT_EQ(star.names.match("localhost."), any);
}

TEST(NameMatcherTest, LongestWildcardSuffixDecides) {
  NameMatcher matcher;
  matcher.addWildcard("example.com", 1);
  matcher.addWildcard("b.example.com", 2);
  matcher.compile();
  EXPECT_EQ(matcher.match("a.b.example.com"), 2u);
  EXPECT_EQ(matcher.match("a.c.example.com"), 1u);
  EXPECT_EQ(matcher.match("b.example.com"), 1u);
}

TEST(NameMatcherTest, BareStarAllowsEveryNameLast) {
  NameMatcher matcher;
  matcher.addRegex(".*\\.wikipedia\\.org", 1);
  matcher.addAnyName(2);
  matcher.compile();
  EXPECT_EQ(matcher.match("de.wikipedia.org"), 1u);
  EXPECT_EQ(matcher.match("anything.test"), 2u);
  EXPECT_EQ(matcher.match("com"), 2u);
}

TEST(CompileForNodeTest, WildcardDomainsAndStarCompileToTheMatcher) {
  const auto egresses = parsePolicyDocuments(R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: wild}
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.example.com']
)",
                                             "wild.yaml");
  const CompiledPolicy policy = compileForNode(egresses, {});
  EXPECT_EQ(policy.names.match("a.b.example.com"), ruleIdOf("wild/rules[0]"));
  EXPECT_EQ(policy.names.match("example.com"), std::nullopt);
  EXPECT_TRUE(policy.names.exactNames().empty());
}

TEST(NameMatcherTest, FirstRuleKeepsAnExactName) {
  NameMatcher matcher;
  matcher.addExact("example.com", 1);
  matcher.addExact("EXAMPLE.com", 2);
  matcher.compile();
  EXPECT_EQ(matcher.match("example.com"), 1u);
}

TEST(NameMatcherTest, NamesLongerThanDnsAllowsNeverMatch) {
  NameMatcher matcher;
  matcher.addRegex(".*", 1);
  matcher.compile();
  EXPECT_EQ(matcher.match(std::string(253, 'a') + "."), 1u);
  EXPECT_EQ(matcher.match(std::string(254, 'a')), std::nullopt);
}

TEST(NameMatcherTest, RejectsAnInvalidRegex) {
  NameMatcher matcher;
  EXPECT_THROW(matcher.addRegex("(unclosed", 1), std::invalid_argument);
}

TEST(NameMatcherTest, MatchesFromManyThreadsAtOnce) {
  NameMatcher matcher;
  matcher.addExact("example.com", 1);
  matcher.addRegex(R"(.*\.wikipedia\.org)", 2);
  matcher.compile();
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int& thread_mismatches : mismatches) {
    threads.emplace_back([&matcher, &thread_mismatches] {
      for (int i = 0; i < 2000; ++i) {
        const std::string wiki = "w" + std::to_string(i) + ".wikipedia.org";
        if (matcher.match(wiki) != 2u || matcher.match("example.com") != 1u ||
            matcher.match("x" + std::to_string(i) + ".test").has_value()) {
          ++thread_mismatches;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(LabelSelectorTest, EveryMatchLabelMustBePresent) {
  const LabelSelector web{{{"role", "web"}, {"zone", "a"}}, {}};
  EXPECT_TRUE(web.matches({{"role", "web"}, {"zone", "a"}, {"extra", "x"}}));
  EXPECT_FALSE(web.matches({{"role", "web"}}));
  EXPECT_FALSE(web.matches({{"role", "db"}, {"zone", "a"}}));
  EXPECT_TRUE(LabelSelector{}.matches({}));
  EXPECT_TRUE(LabelSelector{}.matches({{"role", "db"}}));
}

TEST(CompileForNodeTest, NodeSelectorChoosesTheEgresses) {
  const std::vector<Egress> egresses = {
      egressNamed("web", LabelSelector{{{"role", "web"}}, {}}, {domainRule("web.example.com")}),
      egressNamed("db", LabelSelector{{{"role", "db"}}, {}}, {domainRule("db.example.com")}),
      egressNamed("pods", std::nullopt, {domainRule("pods.example.com")}),
  };

  const CompiledPolicy web = compileForNode(egresses, {{"role", "web"}, {"zone", "a"}});
  EXPECT_TRUE(web.polices);
  EXPECT_EQ(web.names.match("web.example.com"), ruleIdOf("web/rules[0]"));
  EXPECT_EQ(web.names.match("db.example.com"), std::nullopt);
  EXPECT_EQ(web.names.match("pods.example.com"), std::nullopt);

  const CompiledPolicy other = compileForNode(egresses, {{"role", "cache"}});
  EXPECT_FALSE(other.polices);
  EXPECT_EQ(other.names.match("web.example.com"), std::nullopt);
  EXPECT_TRUE(other.rule_descriptions.empty());
}

TEST(CompileForNodeTest, AnEgressWithoutRulesStillPolicesTheHost) {
  const CompiledPolicy policy = compileForNode({egressNamed("deny-all", LabelSelector{}, {})}, {});
  EXPECT_TRUE(policy.polices);
  EXPECT_EQ(policy.names.exactCount() + policy.names.regexCount(), 0u);
  EXPECT_TRUE(policy.static_entries.empty());
}

TEST(CompileForNodeTest, UnionsTheRulesOfEverySelectingEgress) {
  const std::vector<Egress> egresses = parsePolicyDocuments(
      "apiVersion: egress.skouter/v1alpha1\n"
      "kind: Egress\n"
      "metadata: {name: base}\n"
      "spec:\n"
      "  nodeSelector: {}\n"
      "  rules:\n"
      "    - domains: [base.example.com]\n"
      "    - ips: [2001:db8::1, 192.0.2.1]\n"
      "---\n"
      "apiVersion: egress.skouter/v1alpha1\n"
      "kind: Egress\n"
      "metadata: {name: web, namespace: prod}\n"
      "spec:\n"
      "  nodeSelector: {matchLabels: {role: web}}\n"
      "  rules:\n"
      "    - regex: ['.*\\.web\\.example\\.com']\n"
      "      cidrs: [2001:db8::1/32, 192.0.2.1/32, 10.1.2.3/8]\n",
      "union.yaml");

  const CompiledPolicy policy = compileForNode(egresses, {{"role", "web"}});
  EXPECT_TRUE(policy.polices);
  EXPECT_EQ(policy.rule_descriptions, (std::map<RuleId, std::string>{
                                          {ruleIdOf("base/rules[0]"), "base/rules[0]"},
                                          {ruleIdOf("base/rules[1]"), "base/rules[1]"},
                                          {ruleIdOf("prod/web/rules[0]"), "prod/web/rules[0]"},
                                      }));
  EXPECT_EQ(policy.names.match("base.example.com"), ruleIdOf("base/rules[0]"));
  EXPECT_EQ(policy.names.match("a.web.example.com"), ruleIdOf("prod/web/rules[0]"));
  // 192.0.2.1 is both an ip of base and a /32 cidr of web: the first rule keeps it.
  EXPECT_EQ(describe(policy.static_entries, policy), (std::vector<std::string>{
                                                         "10.0.0.0/8 prod/web/rules[0]",
                                                         "192.0.2.1/32 base/rules[1]",
                                                         "2001:db8::/32 prod/web/rules[0]",
                                                         "2001:db8::1/128 base/rules[1]",
                                                     }));

  const CompiledPolicy other = compileForNode(egresses, {{"role", "db"}});
  EXPECT_EQ(
      describe(other.static_entries, other),
      (std::vector<std::string>{"192.0.2.1/32 base/rules[1]", "2001:db8::1/128 base/rules[1]"}));
  EXPECT_EQ(other.names.match("a.web.example.com"), std::nullopt);
}

TEST(CompileForNodeTest, StaticEntriesContainTheirAddresses) {
  const CompiledPolicy policy = compileForNode(
      {egressNamed("v6", LabelSelector{}, {addressRule("2001:db8::10", "fd00::/8")})}, {});
  ASSERT_EQ(policy.static_entries.size(), 2u);
  EXPECT_TRUE(policy.static_entries[0].prefix.contains(IpAddress::parse("2001:db8::10").value()));
  EXPECT_FALSE(policy.static_entries[0].prefix.contains(IpAddress::parse("2001:db8::11").value()));
  EXPECT_TRUE(policy.static_entries[1].prefix.contains(IpAddress::parse("fd12::1").value()));
  EXPECT_FALSE(policy.static_entries[1].prefix.contains(IpAddress::parse("fe80::1").value()));
}

TEST(CompileForNodeTest, RejectsAnInvalidRegexNamingTheRule) {
  try {
    compileForNode({egressNamed("bad", LabelSelector{}, {regexRule("(unclosed")})}, {});
    FAIL() << "no PolicyError thrown";
  } catch (const PolicyError& error) {
    EXPECT_EQ(std::string(error.what()),
              "bad/rules[0] (test.yaml: document 1): invalid regex '(unclosed': missing ): "
              "(unclosed");
  }
}

TEST(CompileForNodeTest, RejectsTheSameEgressTwice) {
  const Egress twice = egressNamed("web", LabelSelector{}, {domainRule("example.com")});
  EXPECT_THROW(compileForNode({twice, twice}, {}), PolicyError);
}

PortRange tcp(std::uint16_t first, std::uint16_t last = 0) {
  return {PortProtocol::kTcp, first, last ? last : first};
}

PortRange udp(std::uint16_t first, std::uint16_t last = 0) {
  return {PortProtocol::kUdp, first, last ? last : first};
}

EgressRule cidrRule(const std::vector<std::string>& cidrs, PortSet ports = {}) {
  EgressRule rule;
  for (const std::string& cidr : cidrs) rule.cidrs.push_back(prefix(cidr));
  rule.ports = std::move(ports);
  return rule;
}

EgressRule ipRule(const std::string& ip, PortSet ports = {}) {
  EgressRule rule;
  rule.ips = {prefix(ip)};
  rule.ports = std::move(ports);
  return rule;
}

// "PREFIX RULE PORTS" for each entry, ports as describePorts writes them.
std::vector<std::string> describeWithPorts(const CompiledPolicy& policy) {
  std::vector<std::string> described;
  for (const StaticEntry& entry : policy.static_entries) {
    described.push_back(entry.prefix.toString() + " " + policy.rule_descriptions.at(entry.rule) +
                        " " + describePorts(entry.ports));
  }
  return described;
}

TEST(CompileForNodeTest, PortsOfEachRule) {
  EgressRule web = domainRule("web.example.com");
  web.ports = {tcp(443), udp(443)};
  const CompiledPolicy policy =
      compileForNode({egressNamed("p", LabelSelector{}, {web, domainRule("any.example.com")})}, {});
  const RuleId restricted = ruleIdOf("p/rules[0]");
  const RuleId unrestricted = ruleIdOf("p/rules[1]");
  EXPECT_EQ(policy.portsOf(restricted), (PortSet{tcp(443), udp(443)}));
  EXPECT_TRUE(policy.portsOf(unrestricted).empty());
  EXPECT_TRUE(policy.portsOf(ruleIdOf("no/rules[0]")).empty());
  // Only rules that restrict ports are listed.
  EXPECT_EQ(policy.rule_ports.size(), 1u);
  EXPECT_EQ(policy.rule_ports.count(unrestricted), 0u);
}

TEST(CompileForNodeTest, ThePortsOfAPrefixListedTwiceAreUnited) {
  const CompiledPolicy policy =
      compileForNode({egressNamed("a", LabelSelector{}, {cidrRule({"10.0.0.0/24"}, {tcp(443)})}),
                      egressNamed("b", LabelSelector{},
                                  {cidrRule({"10.0.0.0/24", "2001:db8::/64"}, {udp(53)}),
                                   cidrRule({"2001:db8::/64"}, {tcp(8000, 8080), tcp(8081)})})},
                     {});
  EXPECT_EQ(describeWithPorts(policy), (std::vector<std::string>{
                                           "10.0.0.0/24 a/rules[0] 443/TCP, 53/UDP",
                                           "2001:db8::/64 b/rules[0] 8000-8081/TCP, 53/UDP",
                                       }));
}

TEST(CompileForNodeTest, ANarrowerPrefixAlsoCarriesThePortsOfTheWiderOnes) {
  // The datapath finds only the longest matching prefix: 10.0.0.5 must still open
  // what 10.0.0.0/24 and 10.0.0.0/8 open.
  const CompiledPolicy policy = compileForNode(
      {egressNamed("p", LabelSelector{},
                   {cidrRule({"10.0.0.0/8"}, {tcp(22)}), cidrRule({"10.0.0.0/24"}, {tcp(80)}),
                    ipRule("10.0.0.5", {tcp(443)}), ipRule("10.1.0.5", {udp(53)}),
                    cidrRule({"192.0.2.0/24"}, {tcp(25)}), ipRule("2001:db8::5", {tcp(443)}),
                    cidrRule({"2001:db8::/32"}, {tcp(8443)})})},
      {});
  EXPECT_EQ(describeWithPorts(policy), (std::vector<std::string>{
                                           "10.0.0.0/8 p/rules[0] 22/TCP",
                                           "10.0.0.0/24 p/rules[1] 22/TCP, 80/TCP",
                                           "10.0.0.5/32 p/rules[2] 22/TCP, 80/TCP, 443/TCP",
                                           "10.1.0.5/32 p/rules[3] 22/TCP, 53/UDP",
                                           "192.0.2.0/24 p/rules[4] 25/TCP",
                                           "2001:db8::/32 p/rules[6] 8443/TCP",
                                           "2001:db8::5/128 p/rules[5] 443/TCP, 8443/TCP",
                                       }));
}

TEST(CompileForNodeTest, AWiderPrefixWithoutPortsOpensEveryPortOfTheNarrowerOnes) {
  const CompiledPolicy policy =
      compileForNode({egressNamed("p", LabelSelector{},
                                  {ipRule("10.0.0.5", {tcp(443)}), cidrRule({"10.0.0.0/8"}),
                                   cidrRule({"10.0.0.0/16"}, {tcp(80)}),
                                   ipRule("192.0.2.1", {tcp(443)}), cidrRule({"192.0.2.1/32"})})},
                     {});
  EXPECT_EQ(describeWithPorts(policy), (std::vector<std::string>{
                                           "10.0.0.0/8 p/rules[1] any port",
                                           "10.0.0.0/16 p/rules[2] any port",
                                           "10.0.0.5/32 p/rules[0] any port",
                                           "192.0.2.1/32 p/rules[3] any port",
                                       }));
  // The ports of the rules themselves are unchanged.
  EXPECT_EQ(policy.portsOf(ruleIdOf("p/rules[0]")), (PortSet{tcp(443)}));
}

Egress withMode(Egress egress, EgressMode mode, std::optional<DenyResponse> response = {}) {
  egress.mode = mode;
  egress.deny_response = response;
  return egress;
}

TEST(CompileForNodeTest, AuditListsTheSelectingEgressesInModeAudit) {
  Egress in_namespace = egressNamed("shop", LabelSelector{}, {domainRule("shop.example.com")});
  in_namespace.namespace_name = "prod";
  const std::vector<Egress> egresses = {
      withMode(egressNamed("enforced", LabelSelector{}, {domainRule("a.example.com")}),
               EgressMode::kEnforce),
      withMode(egressNamed("trial", LabelSelector{{{"role", "web"}}, {}}, {}), EgressMode::kAudit),
      withMode(egressNamed("elsewhere", LabelSelector{{{"role", "db"}}, {}}, {}),
               EgressMode::kAudit),
      withMode(egressNamed("pods", std::nullopt, {}), EgressMode::kAudit),
      withMode(in_namespace, EgressMode::kAudit),
  };
  const CompiledPolicy web = compileForNode(egresses, {{"role", "web"}});
  EXPECT_EQ(web.audit_egresses, (std::vector<std::string>{"trial", "prod/shop"}));
  EXPECT_FALSE(web.audit_everything);
  EXPECT_TRUE(web.audit());

  // Only enforcing Egresses select this node.
  const CompiledPolicy db = compileForNode({egresses[0], egresses[1]}, {{"role", "db"}});
  EXPECT_TRUE(db.audit_egresses.empty());
  EXPECT_FALSE(db.audit());

  CompiledPolicy everything = compileForNode({egresses[0], egresses[1]}, {{"role", "db"}});
  everything.audit_everything = true;  // --audit
  EXPECT_TRUE(everything.audit());
}

TEST(CompileForNodeTest, DenyResponseIsTheFirstSelectingEgressesThatSetsOne) {
  const std::vector<Egress> egresses = {
      withMode(egressNamed("other-node", LabelSelector{{{"role", "db"}}, {}}, {}),
               EgressMode::kEnforce, DenyResponse::kRefused),
      withMode(egressNamed("pods", std::nullopt, {}), EgressMode::kEnforce, DenyResponse::kRefused),
      withMode(egressNamed("silent", LabelSelector{}, {}), EgressMode::kEnforce),
      withMode(egressNamed("first", LabelSelector{}, {}), EgressMode::kEnforce,
               DenyResponse::kNxdomain),
      withMode(egressNamed("second", LabelSelector{}, {}), EgressMode::kAudit,
               DenyResponse::kPassthrough),
  };
  EXPECT_EQ(compileForNode(egresses, {{"role", "web"}}).deny_response, DenyResponse::kNxdomain);
  EXPECT_EQ(compileForNode({egresses[4], egresses[3]}, {}).deny_response,
            DenyResponse::kPassthrough);
  // Set only by Egresses that do not select the node: the daemon's --deny-response.
  EXPECT_EQ(
      compileForNode({egresses[0], egresses[1], egresses[2]}, {{"role", "web"}}).deny_response,
      std::nullopt);
  EXPECT_EQ(compileForNode({egresses[0]}, {{"role", "db"}}).deny_response, DenyResponse::kRefused);
}

Egress withQueries(Egress egress, std::optional<QueryMode> queries) {
  egress.queries = queries;
  return egress;
}

const QueryPolicingSettings kAllowByDefault = {.deny_by_default = false,
                                               .queryable_suffixes = {"cluster.local"},
                                               .encrypted_dns_names = {"dns.google"}};
const QueryPolicingSettings kDenyByDefault = {.deny_by_default = true,
                                              .queryable_suffixes = {"cluster.local"},
                                              .encrypted_dns_names = {"dns.google"}};

// Whether the node's queries are policed under `settings`: its queryable suffixes
// are set, and the encrypted DNS names withheld, then.
bool policed(const std::vector<Egress>& egresses, const QueryPolicingSettings& settings) {
  CompiledPolicy policy = compileForNode(egresses, {});
  policeQueries(policy, settings);
  const bool withheld = policy.names.withholds("dns.google");
  EXPECT_EQ(policy.queryable_suffixes.has_value(), withheld);
  if (policy.queryable_suffixes) {
    EXPECT_EQ(*policy.queryable_suffixes, std::vector<std::string>{"cluster.local"});
  }
  return policy.queryable_suffixes.has_value();
}

TEST(PoliceQueriesTest, AnEgressOrTheDefaultFlagDecides) {
  const std::vector<EgressRule> rules = {domainRule("*.google"), domainRule("api.example.com")};
  const Egress plain = egressNamed("plain", LabelSelector{}, rules);
  const Egress deny = withQueries(egressNamed("deny", LabelSelector{}, rules), QueryMode::kDeny);
  const Egress allow = withQueries(egressNamed("allow", LabelSelector{}, rules), QueryMode::kAllow);

  EXPECT_FALSE(policed({plain}, kAllowByDefault));
  EXPECT_TRUE(policed({deny}, kAllowByDefault));
  EXPECT_TRUE(policed({plain}, kDenyByDefault));
  // spec.queries: allow overrides --deny-queries.
  EXPECT_FALSE(policed({allow}, kDenyByDefault));
  // Deny wins over allow, in either order.
  EXPECT_TRUE(policed({allow, deny}, kAllowByDefault));
  EXPECT_TRUE(policed({deny, allow}, kDenyByDefault));
  // An Egress of another node says nothing for this one.
  const Egress elsewhere = withQueries(
      egressNamed("elsewhere", LabelSelector{{{"role", "db"}}, {}}, rules), QueryMode::kDeny);
  EXPECT_FALSE(policed({plain, elsewhere}, kAllowByDefault));
}

// A policy that allows every name has no name to deny a query for; one that polices
// nothing has no workload to police.
TEST(PoliceQueriesTest, APolicyAllowingEveryNameOrPolicingNothingIsLeftAlone) {
  const Egress star =
      withQueries(egressNamed("star", LabelSelector{}, {domainRule("*")}), QueryMode::kDeny);
  CompiledPolicy any = compileForNode({star}, {});
  policeQueries(any, kDenyByDefault);
  EXPECT_FALSE(any.queryable_suffixes.has_value());
  EXPECT_TRUE(any.names.match("dns.google").has_value());

  CompiledPolicy nothing = compileForNode({}, {});
  ASSERT_FALSE(nothing.polices);
  policeQueries(nothing, kDenyByDefault);
  EXPECT_FALSE(nothing.queryable_suffixes.has_value());
}

// Withheld names (the public DNS-over-HTTPS resolvers) are allowed by an exact rule
// only: no wildcard, regex or bare "*" covers them.
TEST(NameMatcherTest, AWithheldNameIsMatchedByAnExactRuleOnly) {
  NameMatcher wide;
  wide.addWildcard("google", 1);
  wide.addRegex(R"(^dns\..*$)", 2);
  wide.addAnyName(3);
  wide.compile();
  wide.withhold({"dns.google", "cloudflare-dns.com"});
  EXPECT_EQ(wide.match("dns.google"), std::nullopt);
  EXPECT_EQ(wide.match("DNS.Google."), std::nullopt);
  EXPECT_EQ(wide.match("cloudflare-dns.com"), std::nullopt);
  EXPECT_TRUE(wide.withholds("dns.google"));
  EXPECT_TRUE(wide.withholds("DNS.GOOGLE."));
  // What is near them is not withheld.
  EXPECT_EQ(wide.match("www.google"), 1u);
  EXPECT_EQ(wide.match("x.dns.google"), 1u);
  EXPECT_EQ(wide.match("dns.example"), 2u);
  EXPECT_EQ(wide.match("mozilla.cloudflare-dns.com"), 3u);
  EXPECT_FALSE(wide.withholds("x.dns.google"));
  EXPECT_FALSE(wide.withholds("www.google"));

  NameMatcher exact;
  exact.addExact("dns.google", 4);
  exact.addWildcard("google", 1);
  exact.compile();
  exact.withhold({"dns.google"});
  EXPECT_EQ(exact.match("dns.google"), 4u);
  EXPECT_FALSE(exact.withholds("dns.google"));
}

TEST(NameMatcherTest, WithholdsBelowASuffixOnlyWhatLiesBelowIt) {
  NameMatcher matcher;
  matcher.compile();
  matcher.withhold({"dns.google", "doh.opendns.com"});
  EXPECT_TRUE(matcher.withholdsBelow("google"));
  EXPECT_TRUE(matcher.withholdsBelow("opendns.com"));
  EXPECT_TRUE(matcher.withholdsBelow("com"));
  // Not the name itself (a wildcard never covers its apex), nor a suffix of its text
  // that is no whole label.
  EXPECT_FALSE(matcher.withholdsBelow("dns.google"));
  EXPECT_FALSE(matcher.withholdsBelow("oogle"));
  EXPECT_FALSE(matcher.withholdsBelow("s.google"));
  EXPECT_FALSE(matcher.withholdsBelow("example.com"));

  NameMatcher none;
  none.compile();
  EXPECT_FALSE(none.withholdsBelow("google"));
  EXPECT_FALSE(none.withholds("dns.google"));
}

TEST(RuleIdTest, IsFnv1aOfTheDescription) {
  // Published FNV-1a 32-bit test vectors: ids must never change between releases.
  EXPECT_EQ(ruleIdOf(""), 0x811c9dc5u);
  EXPECT_EQ(ruleIdOf("a"), 0xe40c292cu);
  EXPECT_EQ(ruleIdOf("foobar"), 0xbf9cf968u);
  // Pinned: a changed id would orphan what the datapath recorded under the old one.
  EXPECT_EQ(ruleIdOf("example/rules[0]"), 0xcbdb78c1u);
  EXPECT_NE(ruleIdOf("example/rules[0]"), ruleIdOf("example/rules[1]"));
}

}  // namespace
}  // namespace skouter::policy
