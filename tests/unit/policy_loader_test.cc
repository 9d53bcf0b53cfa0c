#include "policy/loader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "policy/compiled_policy.h"

namespace skouter::policy {
namespace {

const std::string kPolicies = std::string(SKOUTER_TEST_DATA) + "/policies";
const std::string kExample =
    std::string(SKOUTER_TEST_DATA) + "/../../../deploy/examples/egress-example.yaml";

std::vector<std::string> toStrings(const std::vector<IpPrefix>& prefixes) {
  std::vector<std::string> strings;
  for (const IpPrefix& prefix : prefixes) strings.push_back(prefix.toString());
  return strings;
}

// The message of the PolicyError that `load` throws, or a test failure.
template <typename Load>
std::string policyErrorOf(Load load) {
  try {
    load();
  } catch (const PolicyError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no PolicyError thrown";
  return "";
}

std::string parseError(const std::string& yaml) {
  return policyErrorOf([&] { parsePolicyDocuments(yaml, "inline.yaml"); });
}

testing::AssertionResult startsWith(const std::string& text, const std::string& prefix) {
  if (text.starts_with(prefix)) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "'" << text << "' does not start with '" << prefix << "'";
}

testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// A valid Egress named web whose spec.rules list is `rules`, which starts on line 8.
std::string egressWithRules(const std::string& rules) {
  return "apiVersion: egress.skouter/v1alpha1\n"
         "kind: Egress\n"
         "metadata:\n"
         "  name: web\n"
         "spec:\n"
         "  nodeSelector: {}\n"
         "  rules:\n" +
         rules;
}

const std::string kRuleLocation = "inline.yaml: document 1 (metadata.name=web), line 8: ";

TEST(PolicyLoaderTest, LoadsTheExampleExactlyAsWritten) {
  const std::vector<Egress> egresses = loadPolicyPath(kExample);

  ASSERT_EQ(egresses.size(), 1u);
  const Egress& example = egresses[0];
  EXPECT_EQ(example.name, "example");
  EXPECT_EQ(example.namespace_name, "");
  EXPECT_EQ(example.source, kExample);
  EXPECT_EQ(example.document, 1);
  ASSERT_TRUE(example.node_selector.has_value());
  EXPECT_TRUE(example.node_selector->match_labels.empty());

  ASSERT_EQ(example.rules.size(), 4u);
  EXPECT_EQ(example.rules[0].domains, (std::vector<std::string>{"example.com", "httpbin.org"}));
  EXPECT_TRUE(example.rules[0].ips.empty());
  EXPECT_TRUE(example.rules[0].cidrs.empty());
  EXPECT_TRUE(example.rules[0].regexes.empty());

  EXPECT_EQ(toStrings(example.rules[1].ips),
            (std::vector<std::string>{"1.2.3.4/32", "5.7.3.1/32"}));
  EXPECT_TRUE(example.rules[1].domains.empty());

  EXPECT_EQ(toStrings(example.rules[2].cidrs),
            (std::vector<std::string>{"127.0.0.0/8", "10.0.10.0/24"}));
  EXPECT_TRUE(example.rules[2].ips.empty());

  EXPECT_EQ(example.rules[3].regexes, (std::vector<std::string>{R"(.*\.wikipedia\.org)"}));
  EXPECT_TRUE(example.rules[3].domains.empty());

  const CompiledPolicy policy = compileForNode(egresses, {{"kubernetes.io/hostname", "n1"}});
  EXPECT_TRUE(policy.polices);
  EXPECT_EQ(policy.names.match("httpbin.org"), ruleIdOf("example/rules[0]"));
  EXPECT_EQ(policy.names.match("de.wikipedia.org"), ruleIdOf("example/rules[3]"));
  EXPECT_EQ(policy.names.match("wikipedia.org.attacker.test"), std::nullopt);
  EXPECT_EQ(policy.names.match("wikipedia.org"), std::nullopt);
  ASSERT_EQ(policy.static_entries.size(), 4u);
  EXPECT_EQ(policy.rule_descriptions.at(ruleIdOf("example/rules[2]")), "example/rules[2]");
}

TEST(PolicyLoaderTest, ReadsEveryDocumentOfAFileAndCountsEmptyOnes) {
  const std::vector<Egress> egresses = loadPolicyPath(kPolicies + "/multi.yaml");

  ASSERT_EQ(egresses.size(), 3u);
  const Egress& web = egresses[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.namespace_name, "prod");
  EXPECT_EQ(web.document, 1);
  ASSERT_TRUE(web.node_selector.has_value());
  EXPECT_EQ(web.node_selector->match_labels, (std::map<std::string, std::string>{{"role", "web"}}));
  ASSERT_EQ(web.rules.size(), 2u);
  EXPECT_EQ(web.rules[0].domains, std::vector<std::string>{"api.example.com"});
  EXPECT_EQ(toStrings(web.rules[1].cidrs),
            (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));

  const Egress& db = egresses[1];
  EXPECT_EQ(db.name, "db");
  EXPECT_EQ(db.document, 3);  // the empty document between them still counts
  ASSERT_TRUE(db.node_selector.has_value());
  EXPECT_EQ(db.node_selector->match_labels, (std::map<std::string, std::string>{{"role", "db"}}));
  ASSERT_EQ(db.rules.size(), 2u);
  EXPECT_EQ(toStrings(db.rules[0].ips),
            (std::vector<std::string>{"192.0.2.10/32", "2001:db8::10/128"}));
  EXPECT_EQ(db.rules[1].regexes.size(), 2u);

  const Egress& pods_only = egresses[2];
  EXPECT_EQ(pods_only.document, 4);
  EXPECT_FALSE(pods_only.node_selector.has_value());
  EXPECT_TRUE(pods_only.rules.empty());
}

TEST(PolicyLoaderTest, SkipsEmptyAndCommentOnlyDocuments) {
  EXPECT_TRUE(parsePolicyDocuments("", "empty.yaml").empty());
  EXPECT_TRUE(parsePolicyDocuments("# nothing yet\n---\n---\n", "empty.yaml").empty());
}

TEST(PolicyLoaderTest, LoadsTheYamlFilesOfADirectoryInNameOrder) {
  const std::vector<Egress> egresses = loadPolicyPath(kPolicies + "/dir");

  ASSERT_EQ(egresses.size(), 2u);
  EXPECT_EQ(egresses[0].name, "base");
  EXPECT_EQ(egresses[0].source, kPolicies + "/dir/10-base.yaml");
  EXPECT_EQ(egresses[1].name, "extra");
  EXPECT_EQ(egresses[1].source, kPolicies + "/dir/20-extra.yml");
}

TEST(PolicyLoaderTest, ErrorNamesFileDocumentLineAndField) {
  EXPECT_EQ(policyErrorOf([] { loadPolicyPath(kPolicies + "/bad-second-document.yaml"); }),
            kPolicies +
                "/bad-second-document.yaml: document 2 (metadata.name=web), line 14: "
                "spec.rules[1].cidrs[0]: '10.0.0.0/33' is not a valid CIDR: the prefix length "
                "must be 0 to 32");
}

TEST(PolicyLoaderTest, RejectsAnotherApiVersion) {
  const std::string error =
      parseError("apiVersion: egress.skouter/v1\nkind: Egress\nmetadata: {name: web}\nspec: {}\n");
  EXPECT_EQ(error,
            "inline.yaml: document 1 (metadata.name=web), line 1: apiVersion: must be "
            "egress.skouter/v1alpha1, not 'egress.skouter/v1'");
}

TEST(PolicyLoaderTest, RejectsAnotherKind) {
  const std::string error = parseError(
      "apiVersion: egress.skouter/v1alpha1\nkind: NetworkPolicy\nmetadata: {name: web}\nspec: "
      "{}\n");
  EXPECT_EQ(error,
            "inline.yaml: document 1 (metadata.name=web), line 2: kind: must be Egress, not "
            "'NetworkPolicy'");
}

TEST(PolicyLoaderTest, RequiresTheTopLevelFields) {
  EXPECT_EQ(parseError("kind: Egress\nmetadata: {name: web}\nspec: {}\n"),
            "inline.yaml: document 1 (metadata.name=web), line 1: apiVersion: is required");
  EXPECT_EQ(parseError("apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: "
                       "web}\n"),
            "inline.yaml: document 1 (metadata.name=web), line 1: spec: is required");
}

TEST(PolicyLoaderTest, RequiresANonEmptyName) {
  EXPECT_EQ(parseError("apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n"
                       "  namespace: prod\nspec: {}\n"),
            "inline.yaml: document 1, line 3: metadata.name: is required");
  EXPECT_EQ(parseError("apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n"
                       "  name: ''\nspec: {}\n"),
            "inline.yaml: document 1, line 4: metadata.name: must not be empty");
}

TEST(PolicyLoaderTest, AcceptsKubernetesMetadataAndStatus) {
  const std::vector<Egress> egresses = parsePolicyDocuments(
      "apiVersion: egress.skouter/v1alpha1\n"
      "kind: Egress\n"
      "metadata:\n"
      "  name: web\n"
      "  namespace: prod\n"
      "  generation: 3\n"
      "  labels: {app: web}\n"
      "  annotations: {note: hi}\n"
      "  managedFields: [{manager: kubectl}]\n"
      "spec: {}\n"
      "status: {observedGeneration: 3}\n",
      "inline.yaml");
  ASSERT_EQ(egresses.size(), 1u);
  EXPECT_EQ(egresses[0].namespace_name, "prod");
  EXPECT_FALSE(egresses[0].node_selector.has_value());
  EXPECT_TRUE(egresses[0].rules.empty());
}

TEST(PolicyLoaderTest, RejectsUnknownFieldsByName) {
  EXPECT_TRUE(startsWith(
      parseError("apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: web}\n"
                 "spec: {}\nspecs: {}\n"),
      "inline.yaml: document 1 (metadata.name=web), line 5: specs: unknown field 'specs'"));
  EXPECT_TRUE(startsWith(
      parseError("apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: web}\n"
                 "spec:\n  egress: []\n"),
      "inline.yaml: document 1 (metadata.name=web), line 5: spec.egress: unknown field "
      "'egress'"));
  const std::string in_rule = parseError(egressWithRules("    - domain: [example.com]\n"));
  EXPECT_TRUE(startsWith(in_rule, kRuleLocation + "spec.rules[0].domain: unknown field 'domain'"));
  EXPECT_TRUE(contains(in_rule, "domains, ips, cidrs, regex, fqdn"));
}

TEST(PolicyLoaderTest, SuggestsTheFieldATypoMeant) {
  const std::string in_rule = parseError(egressWithRules("    - domain: [example.com]\n"));
  EXPECT_TRUE(contains(in_rule, "unknown field 'domain'; did you mean 'domains'?")) << in_rule;
  const std::string swapped = parseError(egressWithRules("    - cdirs: [10.0.0.0/8]\n"));
  EXPECT_TRUE(contains(swapped, "did you mean 'cidrs'?")) << swapped;
  const std::string selector = parseError(
      "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: web}\n"
      "spec:\n  nodeselector: {}\n");
  EXPECT_TRUE(contains(selector, "did you mean 'nodeSelector'?")) << selector;
  // Nothing close: no guess.
  const std::string far = parseError(egressWithRules("    - hostnames: [example.com]\n"));
  EXPECT_FALSE(contains(far, "did you mean")) << far;
}

// "TCP 443-443, UDP 1-65535": the loaded port set, written independently of
// describePorts so a bug there cannot hide one here.
std::string portText(const PortSet& ports) {
  std::string text;
  for (const PortRange& range : ports) {
    if (!text.empty()) text += ", ";
    text += std::string(range.protocol == PortProtocol::kTcp    ? "TCP"
                        : range.protocol == PortProtocol::kUdp  ? "UDP"
                        : range.protocol == PortProtocol::kSctp ? "SCTP"
                                                                : "?") +
            " " + std::to_string(range.first) + "-" + std::to_string(range.last);
  }
  return text;
}

// The ports of the only rule of an Egress whose rule 0 (line 8) allows example.com
// with `ports` (starting on line 9).
std::string loadedPorts(const std::string& ports) {
  const std::vector<Egress> egresses = parsePolicyDocuments(
      egressWithRules("    - domains: [example.com]\n      ports:" + ports), "inline.yaml");
  return portText(egresses.at(0).rules.at(0).ports);
}

std::string portsError(const std::string& ports) {
  return parseError(egressWithRules("    - domains: [example.com]\n      ports:" + ports));
}

const std::string kPortsLocation = "inline.yaml: document 1 (metadata.name=web), line 9: ";
const std::string kFirstPortLocation = "inline.yaml: document 1 (metadata.name=web), line 10: ";

TEST(PolicyLoaderTest, ARuleWithoutPortsAllowsEveryPort) {
  const auto egresses =
      parsePolicyDocuments(egressWithRules("    - domains: [example.com]\n"), "inline.yaml");
  EXPECT_TRUE(egresses.at(0).rules.at(0).ports.empty());
}

TEST(PolicyLoaderTest, ReadsPortsInEveryForm) {
  EXPECT_EQ(loadedPorts("\n"
                        "        - port: 443\n"                    // port only: TCP
                        "        - {port: 8000, endPort: 8080}\n"  // a range
                        "        - {port: 53, protocol: UDP}\n"    // another protocol
                        "        - {port: 22, protocol: TCP}\n"    // TCP spelled out
                        "        - {protocol: SCTP}\n"),           // no port: all of them
            "TCP 22-22, TCP 443-443, TCP 8000-8080, UDP 53-53, SCTP 1-65535");
  EXPECT_EQ(loadedPorts(" [{port: 1}, {port: 65535, endPort: 65535, protocol: UDP}]\n"),
            "TCP 1-1, UDP 65535-65535");
  EXPECT_EQ(loadedPorts(" [{}]\n"), "TCP 1-65535");  // TCP by default, every port
  EXPECT_EQ(loadedPorts(" [{protocol: UDP}]\n"), "UDP 1-65535");
}

TEST(PolicyLoaderTest, MergesOverlappingAndAdjacentPortsOfOneProtocol) {
  EXPECT_EQ(loadedPorts(" [{port: 81}, {port: 80}, {port: 8000, endPort: 9000}, {port: 8080},"
                        " {port: 82, endPort: 90}, {port: 80, protocol: UDP}]\n"),
            "TCP 80-90, TCP 8000-9000, UDP 80-80");
  // A protocol without port swallows that protocol's single ports, not the others'.
  EXPECT_EQ(loadedPorts(" [{port: 443}, {protocol: TCP}, {port: 53, protocol: UDP}]\n"),
            "TCP 1-65535, UDP 53-53");
}

TEST(PolicyLoaderTest, AcceptsUpToThirtyTwoPortsAndRejectsMore) {
  std::string ports = "\n";
  for (int i = 1; i <= 32; ++i) ports += "        - port: " + std::to_string(i * 2) + "\n";
  const auto egresses = parsePolicyDocuments(
      egressWithRules("    - domains: [example.com]\n      ports:" + ports), "inline.yaml");
  EXPECT_EQ(egresses.at(0).rules.at(0).ports.size(), 32u);

  ports += "        - port: 1000\n";
  EXPECT_EQ(portsError(ports),
            kFirstPortLocation +
                "spec.rules[0].ports: lists 33 entries; at most 32 are allowed (use endPort for "
                "ranges)");
}

TEST(PolicyLoaderTest, RequiresPortsToBeANonEmptyListOfMaps) {
  const std::string list_expected =
      "spec.rules[0].ports: must be a non-empty list of {port, endPort, protocol}; leave ports "
      "out to allow every port";
  EXPECT_EQ(portsError(" 443\n"), kPortsLocation + list_expected);
  EXPECT_EQ(portsError(" []\n"), kPortsLocation + list_expected);
  EXPECT_EQ(portsError(" {port: 443}\n"), kPortsLocation + list_expected);
  EXPECT_EQ(portsError(" [443]\n"), kPortsLocation + "spec.rules[0].ports[0]: must be a map");
}

TEST(PolicyLoaderTest, RejectsPortsOutsideOneTo65535AndNamedPorts) {
  for (const std::string port : {"0", "65536", "99999", "123456", "-1", "http", "8o"}) {
    SCOPED_TRACE(port);
    EXPECT_EQ(portsError("\n        - port: 443\n        - port: " + port + "\n"),
              "inline.yaml: document 1 (metadata.name=web), line 11: "
              "spec.rules[0].ports[1].port: '" +
                  port + "' is not a port number from 1 to 65535 (named ports are not supported)");
  }
  EXPECT_EQ(portsError("\n        - {port: 80, endPort: 65536}\n"),
            kFirstPortLocation +
                "spec.rules[0].ports[0].endPort: '65536' is not a port number from 1 to 65535 "
                "(named ports are not supported)");
  EXPECT_EQ(portsError("\n        - port: [80]\n"),
            kFirstPortLocation +
                "spec.rules[0].ports[0].port: must be a port number from 1 to 65535 (named "
                "ports are not supported)");
}

TEST(PolicyLoaderTest, ReadsARulesMinTtlAndCompilesItForItsRule) {
  const auto egresses = parsePolicyDocuments(egressWithRules("    - domains: [slow.example]\n"
                                                             "      minTTL: 300\n"
                                                             "    - domains: [fast.example]\n"
                                                             "    - domains: [zero.example]\n"
                                                             "      minTTL: 0\n"
                                                             "    - ips: [192.0.2.1]\n"
                                                             "      minTTL: 604800\n"),
                                             "inline.yaml");
  const auto& rules = egresses.at(0).rules;
  EXPECT_EQ(rules.at(0).min_ttl_s, 300u);
  EXPECT_EQ(rules.at(1).min_ttl_s, std::nullopt);
  EXPECT_EQ(rules.at(2).min_ttl_s, 0u);
  EXPECT_EQ(rules.at(3).min_ttl_s, kMaxRuleMinTtl);

  const auto policy = compileForNode(egresses, {});
  EXPECT_EQ(policy.rule_min_ttls,
            (std::map<RuleId, std::uint32_t>{{ruleIdOf("web/rules[0]"), 300},
                                             {ruleIdOf("web/rules[2]"), 0},
                                             {ruleIdOf("web/rules[3]"), kMaxRuleMinTtl}}));
}

TEST(PolicyLoaderTest, RejectsAMinTtlThatIsNotWholeSecondsUpToAWeek) {
  for (const std::string written : {"-1", "604801", "1000000000", "30s", "1.5", "1e3", "''"}) {
    SCOPED_TRACE(written);
    std::string shown = written == "''" ? "" : written;
    EXPECT_EQ(parseError(egressWithRules("    - domains: [example.com]\n"
                                         "      minTTL: " +
                                         written + "\n")),
              "inline.yaml: document 1 (metadata.name=web), line 9: spec.rules[0].minTTL: '" +
                  shown + "' is not a whole number of seconds from 0 to 604800");
  }
  EXPECT_EQ(parseError(egressWithRules("    - domains: [example.com]\n"
                                       "      minTTL: [30]\n")),
            "inline.yaml: document 1 (metadata.name=web), line 9: spec.rules[0].minTTL: must be "
            "a whole number of seconds from 0 to 604800");
}

TEST(PolicyLoaderTest, RejectsAnEndPortBelowItsPortOrWithoutOne) {
  EXPECT_EQ(portsError("\n        - {port: 8080, endPort: 80}\n"),
            kFirstPortLocation + "spec.rules[0].ports[0].endPort: 80 is below port 8080");
  EXPECT_EQ(portsError("\n        - {endPort: 80}\n"),
            kFirstPortLocation + "spec.rules[0].ports[0].endPort: needs port");
  // endPort equal to port is one port.
  EXPECT_EQ(loadedPorts(" [{port: 80, endPort: 80}]\n"), "TCP 80-80");
}

TEST(PolicyLoaderTest, RejectsAProtocolOtherThanTcpUdpOrSctp) {
  for (const std::string protocol : {"ICMP", "ALL", "6"}) {
    SCOPED_TRACE(protocol);
    EXPECT_EQ(portsError("\n        - {port: 80, protocol: " + protocol + "}\n"),
              kFirstPortLocation + "spec.rules[0].ports[0].protocol: '" + protocol +
                  "' is not TCP, UDP or SCTP");
  }
  EXPECT_EQ(portsError("\n        - {port: 80, protocol: [TCP]}\n"),
            kFirstPortLocation + "spec.rules[0].ports[0].protocol: must be a string");
}

TEST(PolicyLoaderTest, RejectsUnknownFieldsOfAPortEntryWithASuggestion) {
  const std::string typo = portsError("\n        - port: 53\n          protcol: UDP\n");
  EXPECT_TRUE(startsWith(typo,
                         "inline.yaml: document 1 (metadata.name=web), line 11: "
                         "spec.rules[0].ports[0].protcol: unknown field 'protcol'; did "
                         "you mean 'protocol'?"))
      << typo;
  EXPECT_TRUE(contains(typo, "(expected one of: port, endPort, protocol)")) << typo;
  const std::string case_typo = portsError("\n        - {port: 80, endport: 90}\n");
  EXPECT_TRUE(contains(case_typo,
                       "spec.rules[0].ports[0].endport: unknown field 'endport'; "
                       "did you mean 'endPort'?"))
      << case_typo;
  const std::string far = portsError("\n        - {port: 80, targetPort: 90}\n");
  EXPECT_TRUE(startsWith(far, kFirstPortLocation + "spec.rules[0].ports[0].targetPort: unknown "
                                                   "field 'targetPort'"))
      << far;
  EXPECT_FALSE(contains(far, "did you mean")) << far;
}

// A valid Egress named web; `spec` is appended under spec: and starts on line 5.
std::string egressWithSpec(const std::string& spec) {
  return "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: web}\nspec:\n" + spec;
}

const std::string kSpecLocation = "inline.yaml: document 1 (metadata.name=web), line 5: ";

TEST(PolicyLoaderTest, ReadsTheMode) {
  const auto defaulted = parsePolicyDocuments(egressWithSpec("  nodeSelector: {}\n"), "i.yaml");
  EXPECT_EQ(defaulted.at(0).mode, EgressMode::kEnforce);
  const auto enforce = parsePolicyDocuments(egressWithSpec("  mode: enforce\n"), "i.yaml");
  EXPECT_EQ(enforce.at(0).mode, EgressMode::kEnforce);
  const auto audit = parsePolicyDocuments(egressWithSpec("  mode: audit\n"), "i.yaml");
  EXPECT_EQ(audit.at(0).mode, EgressMode::kAudit);

  EXPECT_EQ(parseError(egressWithSpec("  mode: Audit\n")),
            kSpecLocation + "spec.mode: 'Audit' is not enforce or audit");
  EXPECT_EQ(parseError(egressWithSpec("  mode: dryrun\n")),
            kSpecLocation + "spec.mode: 'dryrun' is not enforce or audit");
  EXPECT_EQ(parseError(egressWithSpec("  mode: [audit]\n")),
            kSpecLocation + "spec.mode: must be a string");
}

TEST(PolicyLoaderTest, ReadsTheDenyResponse) {
  const auto absent = parsePolicyDocuments(egressWithSpec("  nodeSelector: {}\n"), "i.yaml");
  EXPECT_EQ(absent.at(0).deny_response, std::nullopt);
  const std::pair<const char*, DenyResponse> responses[] = {
      {"passthrough", DenyResponse::kPassthrough},
      {"nxdomain", DenyResponse::kNxdomain},
      {"refused", DenyResponse::kRefused},
  };
  for (const auto& [text, response] : responses) {
    SCOPED_TRACE(text);
    const auto egresses =
        parsePolicyDocuments(egressWithSpec(std::string("  denyResponse: ") + text + "\n"), "i");
    EXPECT_EQ(egresses.at(0).deny_response, response);
  }
  EXPECT_EQ(parseError(egressWithSpec("  denyResponse: drop\n")),
            kSpecLocation + "spec.denyResponse: 'drop' is not passthrough, nxdomain or refused");
  EXPECT_EQ(
      parseError(egressWithSpec("  denyResponse: NXDOMAIN\n")),
      kSpecLocation + "spec.denyResponse: 'NXDOMAIN' is not passthrough, nxdomain or refused");
  EXPECT_EQ(parseError(egressWithSpec("  denyResponse: {nxdomain: true}\n")),
            kSpecLocation + "spec.denyResponse: must be a string");
}

TEST(PolicyLoaderTest, ReadsWhetherQueriesArePoliced) {
  const auto absent = parsePolicyDocuments(egressWithSpec("  nodeSelector: {}\n"), "i.yaml");
  EXPECT_EQ(absent.at(0).queries, std::nullopt);
  const auto allow = parsePolicyDocuments(egressWithSpec("  queries: allow\n"), "i.yaml");
  EXPECT_EQ(allow.at(0).queries, QueryMode::kAllow);
  const auto deny = parsePolicyDocuments(egressWithSpec("  queries: deny\n"), "i.yaml");
  EXPECT_EQ(deny.at(0).queries, QueryMode::kDeny);

  EXPECT_EQ(parseError(egressWithSpec("  queries: Deny\n")),
            kSpecLocation + "spec.queries: 'Deny' is not allow or deny");
  EXPECT_EQ(parseError(egressWithSpec("  queries: [deny]\n")),
            kSpecLocation + "spec.queries: must be a string");
  // The line of the value, wherever it is in the spec.
  EXPECT_EQ(parseError(egressWithSpec("  mode: enforce\n  denyResponse: refused\n"
                                      "  queries: block\n")),
            "inline.yaml: document 1 (metadata.name=web), line 7: spec.queries: 'block' is not "
            "allow or deny");
}

// The Egresses of one workload say together: deny when any says deny.
TEST(PolicyLoaderTest, AnyEgressThatDeniesQueriesDeniesThemForTheWorkload) {
  const auto egress = [](const std::string& name, const std::string& queries) {
    return "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: " + name +
           "}\nspec:\n  nodeSelector: {}\n" +
           (queries.empty() ? "" : "  queries: " + queries + "\n") + "  rules:\n    - domains: [" +
           name + ".example.com]\n";
  };
  const auto mode = [&](const std::vector<std::string>& modes) {
    std::string yaml;
    for (std::size_t i = 0; i < modes.size(); ++i) {
      yaml += (i ? "---\n" : "") + egress("e" + std::to_string(i), modes[i]);
    }
    return compileForNode(parsePolicyDocuments(yaml, "i.yaml"), {}).query_mode;
  };
  EXPECT_EQ(mode({""}), std::nullopt);
  EXPECT_EQ(mode({"", ""}), std::nullopt);
  EXPECT_EQ(mode({"allow"}), QueryMode::kAllow);
  EXPECT_EQ(mode({"", "allow"}), QueryMode::kAllow);
  EXPECT_EQ(mode({"deny"}), QueryMode::kDeny);
  EXPECT_EQ(mode({"allow", "deny"}), QueryMode::kDeny);
  EXPECT_EQ(mode({"deny", "allow"}), QueryMode::kDeny);
  EXPECT_EQ(mode({"deny", "", "allow"}), QueryMode::kDeny);
}

TEST(PolicyLoaderTest, ReadsTheServerNameCheck) {
  const auto absent = parsePolicyDocuments(egressWithSpec("  nodeSelector: {}\n"), "i.yaml");
  EXPECT_EQ(absent.at(0).server_names, std::nullopt);
  const auto off = parsePolicyDocuments(egressWithSpec("  tls: {verifySNI: false}\n"), "i.yaml");
  EXPECT_EQ(off.at(0).server_names, std::nullopt);
  const auto defaults =
      parsePolicyDocuments(egressWithSpec("  tls: {verifySNI: true}\n"), "i.yaml");
  ASSERT_TRUE(defaults.at(0).server_names);
  EXPECT_EQ(defaults.at(0).server_names->ports, defaultServerNamePorts());
  EXPECT_EQ(defaults.at(0).server_names->match, ServerNameMatch::kLearnedForAddress);
  const auto given = parsePolicyDocuments(
      egressWithSpec("  tls: {verifySNI: true, ports: [8443], serverNames: allowedByPolicy}\n"),
      "i.yaml");
  ASSERT_TRUE(given.at(0).server_names);
  EXPECT_EQ(given.at(0).server_names->ports,
            (PortSet{{PortProtocol::kTcp, 8443, 8443}, {PortProtocol::kUdp, 8443, 8443}}));
  EXPECT_EQ(given.at(0).server_names->match, ServerNameMatch::kAllowedByPolicy);

  EXPECT_EQ(parseError(egressWithSpec("  tls: {verifySNI: yes}\n")),
            kSpecLocation + "spec.tls.verifySNI: must be true or false");
  EXPECT_EQ(
      parseError(egressWithSpec("  tls: {verifySNI: true, serverNames: any}\n")),
      kSpecLocation + "spec.tls.serverNames: 'any' is not learnedForAddress or allowedByPolicy");
  EXPECT_EQ(parseError(egressWithSpec("  tls: {verifySNI: true, ports: []}\n")),
            kSpecLocation + "spec.tls.ports: must be a non-empty list of port numbers");
  EXPECT_EQ(parseError(egressWithSpec("  tls: {verifySNI: true, ports: [0]}\n")),
            kSpecLocation +
                "spec.tls.ports[0]: '0' is not a port number from 1 to 65535 (named "
                "ports are not supported)");
  EXPECT_NE(parseError(egressWithSpec("  tls: {verifySni: true}\n")).find("spec.tls"),
            std::string::npos);
}

TEST(PolicyLoaderTest, TheServerNameCheckReachesEveryRuleOfItsEgressOnly) {
  const auto egresses = parsePolicyDocuments(
      "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: cdn}\nspec:\n"
      "  nodeSelector: {}\n  tls: {verifySNI: true}\n  rules:\n"
      "    - domains: [shop.cdn.test]\n    - domains: [api.cdn.test]\n"
      "---\napiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: plain}\n"
      "spec:\n  nodeSelector: {}\n  rules:\n    - domains: [example.com]\n",
      "i.yaml");
  auto policy = compileForNode(egresses, {});
  const auto checked = [&](const std::string& name) {
    const auto rule = policy.names.match(name);
    return rule && policy.server_name_checks.contains(*rule);
  };
  EXPECT_TRUE(checked("shop.cdn.test"));
  EXPECT_TRUE(checked("api.cdn.test"));
  EXPECT_FALSE(checked("example.com"));
  // --verify-sni: the rules of Egresses without a check of their own get the flag's.
  checkServerNamesOfEveryRule(policy, {.ports = {{PortProtocol::kTcp, 8443, 8443}}});
  EXPECT_TRUE(checked("example.com"));
  EXPECT_EQ(policy.server_name_checks.at(*policy.names.match("shop.cdn.test")).ports,
            defaultServerNamePorts());
}

TEST(PolicyLoaderTest, SuggestsModeAndDenyResponseForTypos) {
  const std::string mode = parseError(egressWithSpec("  mod: audit\n"));
  EXPECT_TRUE(startsWith(mode, kSpecLocation + "spec.mod: unknown field 'mod'; did you mean "
                                               "'mode'?"))
      << mode;
  EXPECT_TRUE(contains(mode, "mode, denyResponse")) << mode;
  const std::string response = parseError(egressWithSpec("  denyresponse: refused\n"));
  EXPECT_TRUE(contains(response, "did you mean 'denyResponse'?")) << response;
}

TEST(PolicyLoaderTest, RejectsDuplicateKeys) {
  EXPECT_EQ(parseError(egressWithRules("    - domains: [a.example.com]\n"
                                       "      domains: [b.example.com]\n")),
            "inline.yaml: document 1 (metadata.name=web), line 9: spec.rules[0].domains: "
            "duplicate key");
}

TEST(PolicyLoaderTest, RejectsAnInvalidCidr) {
  EXPECT_EQ(parseError(egressWithRules("    - cidrs: [10.0.0.0/33]\n")),
            kRuleLocation +
                "spec.rules[0].cidrs[0]: '10.0.0.0/33' is not a valid CIDR: the prefix length "
                "must be 0 to 32");
  EXPECT_EQ(parseError(egressWithRules("    - cidrs: [2001:db8::/129]\n")),
            kRuleLocation +
                "spec.rules[0].cidrs[0]: '2001:db8::/129' is not a valid CIDR: the prefix "
                "length must be 0 to 128");
  EXPECT_EQ(parseError(egressWithRules("    - cidrs: [10.0.0/8]\n")),
            kRuleLocation +
                "spec.rules[0].cidrs[0]: '10.0.0/8' is not a valid CIDR: '10.0.0' is not an IP "
                "address");
}

TEST(PolicyLoaderTest, RejectsACidrWithoutLength) {
  EXPECT_EQ(parseError(egressWithRules("    - cidrs: [10.0.0.1]\n")),
            kRuleLocation +
                "spec.rules[0].cidrs[0]: '10.0.0.1' has no prefix length; list single "
                "addresses under ips");
}

TEST(PolicyLoaderTest, RejectsAnIpWithLength) {
  EXPECT_EQ(parseError(egressWithRules("    - ips: [1.2.3.4, 10.0.0.0/8]\n")),
            kRuleLocation + "spec.rules[0].ips[1]: '10.0.0.0/8' is a CIDR; list it under cidrs");
  EXPECT_EQ(parseError(egressWithRules("    - ips: [1.2.3.256]\n")),
            kRuleLocation + "spec.rules[0].ips[0]: '1.2.3.256' is not a valid IP address");
}

TEST(PolicyLoaderTest, NormalizesDomains) {
  const std::vector<Egress> egresses = parsePolicyDocuments(
      egressWithRules("    - domains: [WWW.Example.COM., _dmarc.x-y.org]\n"), "inline.yaml");
  ASSERT_EQ(egresses.size(), 1u);
  EXPECT_EQ(egresses[0].rules[0].domains,
            (std::vector<std::string>{"www.example.com", "_dmarc.x-y.org"}));
}

TEST(PolicyLoaderTest, RejectsInvalidDomains) {
  const std::string long_label(64, 'a');
  std::string long_name;
  for (int i = 0; i < 4; ++i) long_name += std::string(63, 'a') + ".";
  long_name += "com";  // 4 * 64 + 3 = 259 characters
  for (const std::string& domain : {std::string("bad..example.com"), std::string("ex@mple.com"),
                                    std::string("."), long_label + ".com", long_name}) {
    SCOPED_TRACE(domain);
    const std::string error = parseError(egressWithRules("    - domains: ['" + domain + "']\n"));
    EXPECT_TRUE(startsWith(error, kRuleLocation + "spec.rules[0].domains[0]: '" + domain +
                                      "' is not a valid domain name"));
  }
}

TEST(PolicyLoaderTest, AcceptsLeadingWildcardsAndABareStar) {
  const auto egresses = parsePolicyDocuments(
      egressWithRules("    - domains: ['*.Example.COM.', '*', '*.a.b.example.org']\n"), "p.yaml");
  ASSERT_EQ(egresses.size(), 1u);
  EXPECT_EQ(egresses[0].rules.at(0).domains,
            (std::vector<std::string>{"*.example.com", "*", "*.a.b.example.org"}));
}

TEST(PolicyLoaderTest, RejectsOtherWildcardsWithAHint) {
  for (const std::string domain :
       {"a.*.example.com", "*example.com", "**.example.com", "example.*", "*.*.example.com"}) {
    SCOPED_TRACE(domain);
    const std::string error = parseError(egressWithRules("    - domains: ['" + domain + "']\n"));
    EXPECT_TRUE(startsWith(error, kRuleLocation + "spec.rules[0].domains[0]: '" + domain + "'"));
    EXPECT_TRUE(contains(error, "use regex")) << error;
  }
  const std::string error = parseError(egressWithRules("    - domains: ['*.bad..example.com']\n"));
  EXPECT_TRUE(contains(error, "is not '*.' followed by a valid domain name")) << error;
}

TEST(PolicyLoaderTest, RejectsAnInvalidRegexWithRe2sReason) {
  EXPECT_EQ(parseError(egressWithRules("    - regex: ['(unclosed']\n")),
            kRuleLocation +
                "spec.rules[0].regex[0]: invalid regex '(unclosed': missing ): "
                "(unclosed");
  EXPECT_TRUE(startsWith(parseError(egressWithRules("    - fqdn: ['a**']\n")),
                         kRuleLocation + "spec.rules[0].fqdn[0]: invalid regex 'a**': "));
}

TEST(PolicyLoaderTest, RequiresListsOfStrings) {
  EXPECT_EQ(parseError(egressWithRules("    - domains: example.com\n")),
            kRuleLocation + "spec.rules[0].domains: must be a list of strings");
  EXPECT_EQ(parseError(egressWithRules("    - ips: [{address: 1.2.3.4}]\n")),
            kRuleLocation + "spec.rules[0].ips[0]: must be a string");
  EXPECT_EQ(parseError(egressWithRules("    - cidrs:\n      - [10.0.0.0/8]\n")),
            "inline.yaml: document 1 (metadata.name=web), line 9: spec.rules[0].cidrs[0]: must "
            "be a string");
  EXPECT_EQ(parseError(egressWithRules("    - domains: [~]\n")),
            kRuleLocation + "spec.rules[0].domains[0]: must be a string");
}

TEST(PolicyLoaderTest, RejectsARuleThatAllowsNothing) {
  EXPECT_EQ(parseError(egressWithRules("    - {}\n")),
            kRuleLocation +
                "spec.rules[0]: a rule must list at least one of domains, ips, cidrs, regex, "
                "fqdn");
  EXPECT_EQ(parseError(egressWithRules("    - domains: []\n")),
            kRuleLocation +
                "spec.rules[0]: a rule must list at least one of domains, ips, cidrs, regex, "
                "fqdn");
  EXPECT_EQ(parseError(egressWithRules("    - example.com\n")),
            kRuleLocation + "spec.rules[0]: must be a map");
}

TEST(PolicyLoaderTest, ReadsMatchExpressions) {
  const auto egresses = parsePolicyDocuments(R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: web}
spec:
  nodeSelector:
    matchLabels: {zone: a}
    matchExpressions:
      - {key: role, operator: In, values: [web, api]}
      - {key: tier, operator: NotIn, values: [test]}
      - {key: gpu, operator: DoesNotExist}
      - {key: kubernetes.io/os, operator: Exists}
)",
                                             "inline.yaml");
  ASSERT_EQ(egresses.size(), 1u);
  const LabelSelector& selector = egresses[0].node_selector.value();
  EXPECT_EQ(selector.match_expressions.size(), 4u);
  const std::map<std::string, std::string> node = {
      {"zone", "a"}, {"role", "api"}, {"kubernetes.io/os", "linux"}};
  EXPECT_TRUE(selector.matches(node));
  auto with = [&](const std::string& key, const std::string& value) {
    auto labels = node;
    labels[key] = value;
    return labels;
  };
  EXPECT_FALSE(selector.matches(with("role", "db")));    // In
  EXPECT_FALSE(selector.matches(with("tier", "test")));  // NotIn
  EXPECT_TRUE(selector.matches(with("tier", "prod")));   // NotIn, another value
  EXPECT_FALSE(selector.matches(with("gpu", "yes")));    // DoesNotExist
  auto without_os = node;
  without_os.erase("kubernetes.io/os");
  EXPECT_FALSE(selector.matches(without_os));         // Exists
  EXPECT_FALSE(selector.matches(with("zone", "b")));  // matchLabels still apply
}

TEST(PolicyLoaderTest, RejectsMalformedSelectors) {
  const std::string header =
      "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: web}\nspec:\n";
  EXPECT_EQ(parseError(header + "  nodeSelector:\n"),
            "inline.yaml: document 1 (metadata.name=web), line 5: spec.nodeSelector: must be a "
            "map");
  EXPECT_EQ(parseError(header + "  nodeSelector: {matchLabels: {role: [web]}}\n"),
            "inline.yaml: document 1 (metadata.name=web), line 5: "
            "spec.nodeSelector.matchLabels.role: must be a string");
  EXPECT_EQ(parseError(header + "  nodeSelector: {matchLabels: {}, zone: a}\n"),
            "inline.yaml: document 1 (metadata.name=web), line 5: spec.nodeSelector.zone: "
            "unknown field 'zone' (expected one of: matchLabels, matchExpressions)");
  const std::string expressions = header + "  nodeSelector:\n    matchExpressions:\n";
  EXPECT_EQ(parseError(expressions + "      - {key: role, operator: Is, values: [web]}\n"),
            "inline.yaml: document 1 (metadata.name=web), line 7: "
            "spec.nodeSelector.matchExpressions[0].operator: 'Is' is not In, NotIn, Exists or "
            "DoesNotExist");
  EXPECT_TRUE(contains(parseError(expressions + "      - {key: role, operator: In}\n"),
                       "spec.nodeSelector.matchExpressions[0].values: In needs a non-empty list"));
  EXPECT_TRUE(
      contains(parseError(expressions + "      - {key: role, operator: Exists, values: [a]}\n"),
               "spec.nodeSelector.matchExpressions[0].values: Exists takes no values"));
  EXPECT_TRUE(contains(parseError(expressions + "      - {operator: Exists}\n"),
                       "spec.nodeSelector.matchExpressions[0]"));
  EXPECT_EQ(parseError(header + "  podSelector: [app]\n"),
            "inline.yaml: document 1 (metadata.name=web), line 5: spec.podSelector: must be a "
            "map");
  EXPECT_EQ(parseError(header + "  rules: {domains: [a.com]}\n"),
            "inline.yaml: document 1 (metadata.name=web), line 5: spec.rules: must be a list "
            "of rules");
}

TEST(PolicyLoaderTest, RejectsADocumentThatIsNotAMap) {
  EXPECT_EQ(parseError("---\n- apiVersion: egress.skouter/v1alpha1\n"),
            "inline.yaml: document 1, line 2: a policy document must be a map");
}

TEST(PolicyLoaderTest, ReportsYamlSyntaxErrorsWithFileAndLine) {
  EXPECT_EQ(parseError("apiVersion: egress.skouter/v1alpha1\nkind: Egress\n"
                       "metadata: {name: web\nspec: {}\n"),
            "inline.yaml: line 4: invalid YAML: end of map flow not found");
}

TEST(PolicyLoaderTest, RejectsTwoEgressesWithOneName) {
  EXPECT_EQ(policyErrorOf([] { loadPolicyPath(kPolicies + "/duplicate-names"); }),
            kPolicies +
                "/duplicate-names/b.yaml: document 1 (metadata.name=shared): "
                "metadata.name: Egress 'shared' is already defined in " +
                kPolicies + "/duplicate-names/a.yaml document 1");
  // The same name in two namespaces is two different Egress resources.
  const std::string in_namespace =
      "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: {name: web, namespace: "
      "a}\nspec: {}\n";
  EXPECT_EQ(parsePolicyDocuments(in_namespace + "---\n" + egressWithRules("    - ips: [::1]\n"),
                                 "inline.yaml")
                .size(),
            2u);
}

TEST(PolicyLoaderTest, RejectsAMissingPath) {
  const std::string missing = kPolicies + "/no-such-file.yaml";
  EXPECT_EQ(policyErrorOf([&] { loadPolicyPath(missing); }),
            missing + ": cannot read: No such file or directory");
}

class PolicyLoaderTempDirTest : public testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::path(testing::TempDir()) /
                 ("policy_loader_test_" + std::to_string(getpid()));
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  std::filesystem::path directory_;
};

TEST_F(PolicyLoaderTempDirTest, RejectsADirectoryWithoutPolicyFiles) {
  EXPECT_EQ(policyErrorOf([&] { loadPolicyPath(directory_.string()); }),
            directory_.string() + ": directory has no *.yaml or *.yml files");
  std::ofstream(directory_ / "notes.txt") << "not a policy\n";
  std::filesystem::create_directory(directory_ / "nested.yaml");
  EXPECT_EQ(policyErrorOf([&] { loadPolicyPath(directory_.string()); }),
            directory_.string() + ": directory has no *.yaml or *.yml files");
}

TEST_F(PolicyLoaderTempDirTest, RejectsAnUnreadableFile) {
  const std::string file = (directory_ / "locked.yaml").string();
  std::ofstream(file) << "kind: Egress\n";
  chmod(file.c_str(), 0);
  const std::string expected = file + ": cannot read: Permission denied";
  if (geteuid() != 0) {
    EXPECT_EQ(policyErrorOf([&] { loadPolicyPath(file); }), expected);
    return;
  }
  // Root reads everything: try as nobody, in a child process.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const bool dropped = setgid(65534) == 0 && setuid(65534) == 0;
    _exit(dropped && policyErrorOf([&] { loadPolicyPath(file); }) == expected ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "as nobody, loading " << file << " did not fail with: " << expected;
}

}  // namespace
}  // namespace skouter::policy
