// Which workloads an Egress selects (podSelector, namespaceSelector, nodeSelector), and
// how the rules of every Egress selecting one workload are united into its policy.
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "policy/compiled_policy.h"
#include "policy/loader.h"

namespace skouter::policy {
namespace {

// One Egress document; `metadata` and `spec` are flow maps or block YAML indented by two.
std::string egressDocument(const std::string& metadata, const std::string& spec) {
  return "apiVersion: egress.skouter/v1alpha1\n"
         "kind: Egress\n"
         "metadata: " +
         metadata +
         "\n"
         "spec:\n" +
         spec;
}

Egress loadOne(const std::string& yaml) {
  std::vector<Egress> egresses = parsePolicyDocuments(yaml, "inline.yaml");
  if (egresses.size() != 1) throw std::logic_error("expected one Egress document");
  return std::move(egresses.front());
}

// An Egress named `name` in `namespace_name` (none when empty) with `selectors` (spec
// lines) and one rule allowing NAME.example.com.
Egress egressIn(const std::string& namespace_name, const std::string& name,
                const std::string& selectors) {
  const std::string metadata = namespace_name.empty()
                                   ? "{name: " + name + "}"
                                   : "{name: " + name + ", namespace: " + namespace_name + "}";
  return loadOne(egressDocument(
      metadata, selectors + "  rules:\n    - domains: [" + name + ".example.com]\n"));
}

// The namespaces of the cluster in these tests, with their labels as Kubernetes sets
// them (kubernetes.io/metadata.name is always there).
const std::map<std::string, Labels> kNamespaceLabels = {
    {"default", {{"kubernetes.io/metadata.name", "default"}}},
    {"prod", {{"kubernetes.io/metadata.name", "prod"}}},
    {"staging", {{"kubernetes.io/metadata.name", "staging"}, {"team", "shop"}}},
    {"tools", {{"kubernetes.io/metadata.name", "tools"}, {"team", "ops"}}},
};

PodSelectionFacts pod(const std::string& namespace_name, Labels labels) {
  return {namespace_name, std::move(labels), kNamespaceLabels.at(namespace_name)};
}

struct SelectionCase {
  std::string description;
  std::string egress_namespace;  // empty: metadata.namespace absent
  std::string selectors;         // spec lines
  PodSelectionFacts pod;
  bool selected = false;
};

void PrintTo(const SelectionCase& selection, std::ostream* out) { *out << selection.description; }

class SelectsPodTest : public ::testing::TestWithParam<SelectionCase> {};

TEST_P(SelectsPodTest, Case) {
  const SelectionCase& selection = GetParam();
  const Egress egress = egressIn(selection.egress_namespace, "policy", selection.selectors);
  EXPECT_EQ(selectsPod(egress, selection.pod), selection.selected);
}

const std::string kWebPods = "  podSelector: {matchLabels: {app: web}}\n";
const std::string kShopNamespaces = "  namespaceSelector: {matchLabels: {team: shop}}\n";

INSTANTIATE_TEST_SUITE_P(
    Table, SelectsPodTest,
    ::testing::Values(
        // podSelector alone: the Egress's own namespace only.
        SelectionCase{"podSelector, a matching pod in the own namespace", "prod", kWebPods,
                      pod("prod", {{"app", "web"}, {"tier", "front"}}), true},
        SelectionCase{"podSelector, a pod without the label", "prod", kWebPods,
                      pod("prod", {{"app", "db"}}), false},
        SelectionCase{"podSelector, a pod without labels", "prod", kWebPods, pod("prod", {}),
                      false},
        SelectionCase{"podSelector, a matching pod in another namespace", "prod", kWebPods,
                      pod("staging", {{"app", "web"}}), false},
        SelectionCase{"empty podSelector, any pod of the own namespace", "prod",
                      "  podSelector: {}\n", pod("prod", {}), true},
        SelectionCase{"empty podSelector, a pod of another namespace", "prod",
                      "  podSelector: {}\n", pod("default", {{"app", "web"}}), false},
        // An Egress written without a namespace stands in "default", as kubectl puts it.
        SelectionCase{"no namespace, a matching pod in default", "", kWebPods,
                      pod("default", {{"app", "web"}}), true},
        SelectionCase{"no namespace, a matching pod in prod", "", kWebPods,
                      pod("prod", {{"app", "web"}}), false},
        // namespaceSelector widens podSelector to the namespaces it matches.
        SelectionCase{"both selectors, a matching pod in a matching namespace", "prod",
                      kWebPods + kShopNamespaces, pod("staging", {{"app", "web"}}), true},
        SelectionCase{"both selectors, a matching pod in the own namespace", "prod",
                      kWebPods + kShopNamespaces, pod("prod", {{"app", "web"}}), true},
        SelectionCase{"both selectors, another pod in a matching namespace", "prod",
                      kWebPods + kShopNamespaces, pod("staging", {{"app", "db"}}), false},
        SelectionCase{"both selectors, a matching pod in a namespace not matching", "prod",
                      kWebPods + kShopNamespaces, pod("tools", {{"app", "web"}}), false},
        // namespaceSelector without podSelector: every pod there.
        SelectionCase{"namespaceSelector alone, any pod of a matching namespace", "prod",
                      kShopNamespaces, pod("staging", {{"app", "db"}}), true},
        SelectionCase{"namespaceSelector alone, a pod without labels in a matching namespace",
                      "prod", kShopNamespaces, pod("staging", {}), true},
        SelectionCase{"namespaceSelector alone, a pod of the own namespace", "prod",
                      kShopNamespaces, pod("prod", {{"app", "db"}}), true},
        SelectionCase{"namespaceSelector alone, a pod of a namespace not matching", "prod",
                      kShopNamespaces, pod("tools", {{"app", "web"}}), false},
        SelectionCase{"empty namespaceSelector, a pod of any namespace", "prod",
                      "  namespaceSelector: {}\n", pod("tools", {}), true},
        // matchExpressions on both.
        SelectionCase{"matchExpressions, a pod and namespace meeting every requirement", "prod",
                      "  podSelector:\n"
                      "    matchExpressions:\n"
                      "      - {key: app, operator: In, values: [web, api]}\n"
                      "      - {key: canary, operator: DoesNotExist}\n"
                      "  namespaceSelector:\n"
                      "    matchExpressions:\n"
                      "      - {key: team, operator: Exists}\n"
                      "      - {key: kubernetes.io/metadata.name, operator: NotIn, values: "
                      "[tools]}\n",
                      pod("staging", {{"app", "api"}}), true},
        SelectionCase{"matchExpressions, a canary pod", "prod",
                      "  podSelector:\n"
                      "    matchExpressions:\n"
                      "      - {key: app, operator: In, values: [web, api]}\n"
                      "      - {key: canary, operator: DoesNotExist}\n",
                      pod("prod", {{"app", "web"}, {"canary", "true"}}), false},
        SelectionCase{"matchExpressions, a pod whose value is not listed", "prod",
                      "  podSelector:\n"
                      "    matchExpressions:\n"
                      "      - {key: app, operator: In, values: [web, api]}\n",
                      pod("prod", {{"app", "db"}}), false},
        SelectionCase{"matchExpressions, a namespace excluded by NotIn", "prod",
                      "  namespaceSelector:\n"
                      "    matchExpressions:\n"
                      "      - {key: team, operator: Exists}\n"
                      "      - {key: kubernetes.io/metadata.name, operator: NotIn, values: "
                      "[tools]}\n",
                      pod("tools", {{"app", "web"}}), false},
        // No pod selector at all: the Egress is not meant for pods.
        SelectionCase{"neither selector", "prod", "", pod("prod", {{"app", "web"}}), false},
        SelectionCase{"nodeSelector alone", "prod", "  nodeSelector: {}\n",
                      pod("prod", {{"app", "web"}}), false},
        SelectionCase{"nodeSelector and podSelector, a matching pod", "prod",
                      "  nodeSelector: {}\n" + kWebPods, pod("prod", {{"app", "web"}}), true}),
    [](const ::testing::TestParamInfo<SelectionCase>& info) {
      std::string name;
      bool word_start = true;
      for (const char c : info.param.description) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
          word_start = true;
          continue;
        }
        name += word_start ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
        word_start = false;
      }
      return name;
    });

TEST(SelectsNodeTest, OnlyANodeSelectorSelectsTheNode) {
  const NodeLabels web_node = {{"kubernetes.io/hostname", "n1"}, {"role", "web"}};
  EXPECT_TRUE(selectsNode(egressIn("prod", "any", "  nodeSelector: {}\n"), web_node));
  EXPECT_TRUE(selectsNode(egressIn("prod", "web", "  nodeSelector: {role: web}\n"), web_node));
  EXPECT_FALSE(selectsNode(egressIn("prod", "db", "  nodeSelector: {role: db}\n"), web_node));
  EXPECT_TRUE(selectsNode(egressIn("prod", "not-db",
                                   "  nodeSelector:\n"
                                   "    matchExpressions:\n"
                                   "      - {key: role, operator: NotIn, values: [db]}\n"),
                          web_node));
  // Selecting pods, even every pod of every namespace, is not selecting the node.
  EXPECT_FALSE(selectsNode(egressIn("prod", "pods", "  podSelector: {}\n"), web_node));
  EXPECT_FALSE(selectsNode(egressIn("prod", "all", "  namespaceSelector: {}\n"), web_node));
  EXPECT_FALSE(selectsNode(egressIn("prod", "nothing", ""), web_node));
}

// The policy of `facts`' pod under `egresses`, as the daemon compiles it.
CompiledPolicy compileForPod(const std::vector<Egress>& egresses, const PodSelectionFacts& facts) {
  return compileSelected(egresses,
                         [&facts](const Egress& egress) { return selectsPod(egress, facts); });
}

// "PREFIX RULE PORTS" for each static entry.
std::vector<std::string> describeStaticEntries(const CompiledPolicy& policy) {
  std::vector<std::string> described;
  for (const StaticEntry& entry : policy.static_entries) {
    described.push_back(entry.prefix.toString() + " " + policy.rule_descriptions.at(entry.rule) +
                        " " + describePorts(entry.ports));
  }
  return described;
}

// Four Egresses of a cluster: the web pods of prod are selected by web (prod), by
// shop-wide (staging, widened to every namespace), and by audit-all (no namespace, so
// default, widened to prod); batch selects other pods.
std::vector<Egress> clusterEgresses() {
  return parsePolicyDocuments(
      egressDocument("{name: web, namespace: prod}",
                     "  podSelector: {matchLabels: {app: web}}\n"
                     "  rules:\n"
                     "    - domains: [api.example.com]\n"
                     "      ips: [192.0.2.10]\n"
                     "      ports: [{port: 443}]\n"
                     "    - cidrs: [198.51.100.0/24]\n"
                     "      ports: [{port: 80}]\n") +
          "---\n" +
          egressDocument("{name: batch, namespace: prod}",
                         "  podSelector: {matchLabels: {app: batch}}\n"
                         "  denyResponse: refused\n"
                         "  rules:\n"
                         "    - domains: [batch.example.com]\n"
                         "      cidrs: [203.0.113.0/24]\n") +
          "---\n" +
          egressDocument(
              "{name: shop-wide, namespace: staging}",
              "  namespaceSelector: {}\n"
              "  podSelector: {matchLabels: {app: web}}\n"
              "  denyResponse: nxdomain\n"
              "  rules:\n"
              "    - domains: ['*.cdn.example.net']\n"
              "      cidrs: [198.51.100.0/24]\n"
              "      ports: [{port: 8080, protocol: TCP}, {port: 53, protocol: UDP}]\n") +
          "---\n" +
          egressDocument("{name: audit-all}",
                         "  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: prod}}\n"
                         "  mode: audit\n"
                         "  denyResponse: passthrough\n"
                         "  rules:\n"
                         "    - regex: ['^telemetry[0-9]+\\.example\\.org$']\n"),
      "cluster.yaml");
}

TEST(CompileSelectedTest, UnitesTheRulesOfEveryEgressSelectingThePod) {
  const std::vector<Egress> egresses = clusterEgresses();
  const CompiledPolicy web = compileForPod(egresses, pod("prod", {{"app", "web"}}));

  EXPECT_TRUE(web.polices);
  EXPECT_EQ(web.rule_descriptions,
            (std::map<RuleId, std::string>{
                {ruleIdOf("prod/web/rules[0]"), "prod/web/rules[0]"},
                {ruleIdOf("prod/web/rules[1]"), "prod/web/rules[1]"},
                {ruleIdOf("staging/shop-wide/rules[0]"), "staging/shop-wide/rules[0]"},
                {ruleIdOf("audit-all/rules[0]"), "audit-all/rules[0]"},
            }));
  EXPECT_EQ(web.names.match("api.example.com"), ruleIdOf("prod/web/rules[0]"));
  EXPECT_EQ(web.names.match("img.cdn.example.net"), ruleIdOf("staging/shop-wide/rules[0]"));
  EXPECT_EQ(web.names.match("telemetry7.example.org"), ruleIdOf("audit-all/rules[0]"));
  EXPECT_EQ(web.names.match("batch.example.com"), std::nullopt);
  EXPECT_EQ(web.names.exactNames(), std::vector<std::string>{"api.example.com"});

  // 198.51.100.0/24 is in two Egresses: it keeps the first rule and opens both's ports.
  EXPECT_EQ(describeStaticEntries(web), (std::vector<std::string>{
                                            "192.0.2.10/32 prod/web/rules[0] 443/TCP",
                                            "198.51.100.0/24 prod/web/rules[1] 80/TCP, "
                                            "8080/TCP, 53/UDP",
                                        }));
  EXPECT_EQ(web.portsOf(ruleIdOf("prod/web/rules[0]")), (PortSet{{PortProtocol::kTcp, 443, 443}}));
  EXPECT_EQ(web.portsOf(ruleIdOf("staging/shop-wide/rules[0]")),
            (PortSet{{PortProtocol::kTcp, 8080, 8080}, {PortProtocol::kUdp, 53, 53}}));
  EXPECT_TRUE(web.portsOf(ruleIdOf("audit-all/rules[0]")).empty());

  // One audited Egress puts the whole pod in audit; the first denyResponse set wins.
  EXPECT_EQ(web.audit_egresses, std::vector<std::string>{"audit-all"});
  EXPECT_TRUE(web.audit());
  EXPECT_FALSE(web.audit_everything);
  EXPECT_EQ(web.deny_response, DenyResponse::kNxdomain);
}

TEST(CompileSelectedTest, EachPodGetsOnlyTheEgressesSelectingIt) {
  const std::vector<Egress> egresses = clusterEgresses();

  const CompiledPolicy batch = compileForPod(egresses, pod("prod", {{"app", "batch"}}));
  EXPECT_TRUE(batch.polices);
  EXPECT_EQ(batch.names.match("batch.example.com"), ruleIdOf("prod/batch/rules[0]"));
  EXPECT_EQ(batch.names.match("api.example.com"), std::nullopt);
  EXPECT_EQ(batch.names.match("img.cdn.example.net"), std::nullopt);
  EXPECT_EQ(batch.names.match("telemetry1.example.org"), ruleIdOf("audit-all/rules[0]"));
  EXPECT_EQ(describeStaticEntries(batch),
            std::vector<std::string>{"203.0.113.0/24 prod/batch/rules[0] any port"});
  EXPECT_EQ(batch.audit_egresses, std::vector<std::string>{"audit-all"});
  EXPECT_EQ(batch.deny_response, DenyResponse::kRefused);

  // A web pod of staging: only shop-wide (its own namespace); enforced.
  const CompiledPolicy staging_web = compileForPod(egresses, pod("staging", {{"app", "web"}}));
  EXPECT_TRUE(staging_web.polices);
  EXPECT_EQ(staging_web.rule_descriptions.size(), 1u);
  EXPECT_EQ(staging_web.names.match("img.cdn.example.net"), ruleIdOf("staging/shop-wide/rules[0]"));
  EXPECT_EQ(staging_web.names.match("api.example.com"), std::nullopt);
  EXPECT_TRUE(staging_web.audit_egresses.empty());
  EXPECT_FALSE(staging_web.audit());
  EXPECT_EQ(staging_web.deny_response, DenyResponse::kNxdomain);
}

TEST(CompileSelectedTest, APodNoEgressSelectsIsNotPoliced) {
  const CompiledPolicy tools = compileForPod(clusterEgresses(), pod("tools", {{"app", "db"}}));
  EXPECT_FALSE(tools.polices);
  EXPECT_TRUE(tools.rule_descriptions.empty());
  EXPECT_TRUE(tools.static_entries.empty());
  EXPECT_TRUE(tools.audit_egresses.empty());
  EXPECT_EQ(tools.deny_response, std::nullopt);
  EXPECT_EQ(tools.names.match("api.example.com"), std::nullopt);
}

TEST(CompileSelectedTest, AnEgressWithoutRulesStillPolicesThePod) {
  const CompiledPolicy policy = compileForPod(
      {loadOne(egressDocument("{name: deny-all, namespace: prod}", "  podSelector: {}\n"))},
      pod("prod", {}));
  EXPECT_TRUE(policy.polices);
  EXPECT_TRUE(policy.rule_descriptions.empty());
  EXPECT_EQ(policy.names.match("example.com"), std::nullopt);
}

TEST(CompileSelectedTest, TheFirstSelectingEgressThatSetsADenyResponseWins) {
  const auto egress = [](const std::string& name, const std::string& deny_response) {
    return egressIn("prod", name,
                    "  podSelector: {}\n" +
                        (deny_response.empty() ? "" : "  denyResponse: " + deny_response + "\n"));
  };
  const PodSelectionFacts any = pod("prod", {});
  const Egress unset = egress("unset", "");
  const Egress nxdomain = egress("nxdomain", "nxdomain");
  const Egress refused = egress("refused", "refused");
  EXPECT_EQ(compileForPod({unset, nxdomain, refused}, any).deny_response, DenyResponse::kNxdomain);
  EXPECT_EQ(compileForPod({refused, unset, nxdomain}, any).deny_response, DenyResponse::kRefused);
  EXPECT_EQ(compileForPod({unset}, any).deny_response, std::nullopt);
  // An Egress that does not select the pod has no say.
  const Egress other_namespace =
      egressIn("staging", "other", "  podSelector: {}\n  denyResponse: passthrough\n");
  EXPECT_EQ(compileForPod({other_namespace, unset, refused}, any).deny_response,
            DenyResponse::kRefused);
}

TEST(CompileSelectedTest, AuditEgressesAreListedInLoadOrder) {
  const auto audited = [](const std::string& namespace_name, const std::string& name) {
    return egressIn(namespace_name, name, "  namespaceSelector: {}\n  mode: audit\n");
  };
  const CompiledPolicy policy =
      compileForPod({audited("staging", "second"),
                     egressIn("prod", "enforced", "  podSelector: {}\n"), audited("", "first")},
                    pod("prod", {}));
  EXPECT_EQ(policy.audit_egresses, (std::vector<std::string>{"staging/second", "first"}));
}

TEST(CompileSelectedTest, TheSameEgressTwiceIsAnError) {
  const Egress web = egressIn("prod", "web", "  podSelector: {}\n");
  try {
    compileForPod({web, web}, pod("prod", {}));
    FAIL() << "no PolicyError thrown";
  } catch (const PolicyError& error) {
    EXPECT_EQ(std::string(error.what()),
              "prod/web/rules[0] (inline.yaml: document 1): Egress prod/web is defined more "
              "than once");
  }
}

TEST(CompileSelectedTest, CompileForNodeSelectsByNodeSelectorOnly) {
  const std::vector<Egress> egresses = {
      egressIn("", "host", "  nodeSelector: {matchLabels: {role: web}}\n"),
      egressIn("prod", "pods", "  podSelector: {}\n  namespaceSelector: {}\n"),
  };
  const CompiledPolicy node = compileForNode(egresses, {{"role", "web"}});
  EXPECT_TRUE(node.polices);
  EXPECT_EQ(node.names.match("host.example.com"), ruleIdOf("host/rules[0]"));
  EXPECT_EQ(node.names.match("pods.example.com"), std::nullopt);
  EXPECT_FALSE(compileForNode(egresses, {{"role", "db"}}).polices);

  const CompiledPolicy pod_policy = compileForPod(egresses, pod("default", {}));
  EXPECT_EQ(pod_policy.names.match("pods.example.com"), ruleIdOf("prod/pods/rules[0]"));
  EXPECT_EQ(pod_policy.names.match("host.example.com"), std::nullopt);
}

// Which Egresses are left out of a workload's policy when they cannot be united, and
// why. Every selected Egress here selects the workload (`everything`).

bool everything(const Egress&) { return true; }

// These two names were found by a birthday search: their rule ids (32-bit FNV-1a of
// "other/NAME/rules[0]") are equal, as a tenant who wants one Egress to break the
// others' can arrange.
const char* const kCollidingFirst = "tool-3vja";
const char* const kCollidingSecond = "tool-kpfs";

// An Egress of namespace prod whose one rule allows the names `regexes` match.
Egress regexEgress(const std::string& name, const std::string& regexes) {
  return loadOne(egressDocument("{name: " + name + ", namespace: prod}",
                                "  podSelector: {}\n  rules:\n    - regex: [" + regexes + "]\n"));
}

// A regex RE2 compiles alone but not twice over within its memory budget: every name of
// 80 letters (of any script) and a suffix.
std::string bigRegex(const std::string& label) { return "'" + label + "\\pL{80}\\.example\\.com'"; }

TEST(CompileLeavingOutTest, NothingIsLeftOutOfEgressesThatUnite) {
  const std::vector<Egress> egresses = clusterEgresses();
  const auto selects = [](const Egress& egress) {
    return selectsPod(egress, pod("prod", {{"app", "web"}}));
  };
  const WorkloadPolicy united = compileLeavingOut(egresses, selects);
  EXPECT_TRUE(united.left_out.empty());
  EXPECT_EQ(united.policy.rule_descriptions, compileSelected(egresses, selects).rule_descriptions);

  const WorkloadPolicy unselected =
      compileLeavingOut(egresses, [](const Egress&) { return false; });
  EXPECT_FALSE(unselected.policy.polices);
  EXPECT_TRUE(unselected.left_out.empty());
}

// THREATS "What must hold" 5: a tenant's Egress changes the policy of its own namespace
// only. Two Egresses whose rule ids collide made the whole policy fail to compile, and
// skouterd kept the previous one for every workload; now the later one is left out of
// the workloads both select, and the others are enforced.
TEST(CompileLeavingOutTest, ARuleIdCollisionLeavesOutTheLaterEgressAlone) {
  ASSERT_EQ(ruleIdOf(std::string("other/") + kCollidingFirst + "/rules[0]"),
            ruleIdOf(std::string("other/") + kCollidingSecond + "/rules[0]"));
  const std::vector<Egress> egresses = {
      egressIn("other", kCollidingFirst, "  podSelector: {}\n"),
      egressIn("other", "tool-base", "  podSelector: {}\n"),
      egressIn("other", kCollidingSecond, "  podSelector: {}\n"),
  };
  EXPECT_THROW(compileSelected(egresses, everything), PolicyError);

  const WorkloadPolicy united = compileLeavingOut(egresses, everything);
  ASSERT_EQ(united.left_out.size(), 1u);
  EXPECT_EQ(united.left_out[0].index, 2u);
  EXPECT_EQ(united.left_out[0].reason,
            "other/tool-kpfs/rules[0] (inline.yaml: document 1): its rule id collides with "
            "other/tool-3vja/rules[0]; rename one of the two Egress resources");
  EXPECT_TRUE(united.policy.polices);
  EXPECT_EQ(united.policy.names.match("tool-3vja.example.com"),
            ruleIdOf("other/tool-3vja/rules[0]"));
  EXPECT_EQ(united.policy.names.match("tool-base.example.com"),
            ruleIdOf("other/tool-base/rules[0]"));
  EXPECT_EQ(united.policy.names.match("tool-kpfs.example.com"), std::nullopt);

  // The earlier one is kept, whichever it is.
  const WorkloadPolicy reversed = compileLeavingOut({egresses[2], egresses[0]}, everything);
  ASSERT_EQ(reversed.left_out.size(), 1u);
  EXPECT_EQ(reversed.left_out[0].index, 1u);
  EXPECT_EQ(reversed.policy.names.match("tool-kpfs.example.com"),
            ruleIdOf("other/tool-kpfs/rules[0]"));
  EXPECT_EQ(reversed.policy.names.match("tool-3vja.example.com"), std::nullopt);

  // Where they do not meet, nothing is left out.
  const WorkloadPolicy apart = compileLeavingOut(
      egresses, [](const Egress& egress) { return egress.name != kCollidingFirst; });
  EXPECT_TRUE(apart.left_out.empty());
  EXPECT_EQ(apart.policy.names.match("tool-kpfs.example.com"),
            ruleIdOf("other/tool-kpfs/rules[0]"));
}

// THREATS "What must hold" 5. Regexes that fit RE2's memory budget one Egress at a
// time need not fit together; the Egress that overflows it is left out, and a later one
// that still fits is kept.
TEST(CompileLeavingOutTest, RegexesBeyondRe2sBudgetTogetherLeaveOutTheEgressThatOverflowsIt) {
  const std::vector<Egress> egresses = {
      regexEgress("first", bigRegex("a")),
      regexEgress("second", bigRegex("b")),
      regexEgress("third", "'api[0-9]+\\.example\\.com'"),
  };
  EXPECT_THROW(compileSelected(egresses, everything), PolicyError);

  const WorkloadPolicy united = compileLeavingOut(egresses, everything);
  ASSERT_EQ(united.left_out.size(), 1u);
  EXPECT_EQ(united.left_out[0].index, 1u);
  EXPECT_EQ(united.left_out[0].reason,
            "Egress prod/second (inline.yaml: document 1): its regexes and those of prod/first "
            "together exceed RE2's memory budget");
  EXPECT_EQ(united.policy.names.match("a" + std::string(80, 'x') + ".example.com"),
            ruleIdOf("prod/first/rules[0]"));
  EXPECT_EQ(united.policy.names.match("b" + std::string(80, 'x') + ".example.com"), std::nullopt);
  EXPECT_EQ(united.policy.names.match("api7.example.com"), ruleIdOf("prod/third/rules[0]"));
}

TEST(CompileLeavingOutTest, TheSameEgressTwiceIsLeftOutTheSecondTime) {
  const Egress web = egressIn("prod", "web", "  podSelector: {}\n");
  const WorkloadPolicy united = compileLeavingOut({web, web}, everything);
  ASSERT_EQ(united.left_out.size(), 1u);
  EXPECT_EQ(united.left_out[0].index, 1u);
  EXPECT_EQ(united.left_out[0].reason,
            "prod/web/rules[0] (inline.yaml: document 1): Egress prod/web is defined more "
            "than once");
  EXPECT_EQ(united.policy.names.match("web.example.com"), ruleIdOf("prod/web/rules[0]"));
}

// Leaving an Egress out never opens a workload: one whose every selecting Egress is left
// out is still policed, and allows nothing.
TEST(CompileLeavingOutTest, AWorkloadWhoseEveryEgressIsLeftOutStaysPolicedAndAllowsNothing) {
  // Not from the loader, which would refuse it: the two regexes exceed the budget alone.
  Egress heavy;
  heavy.name = "heavy";
  heavy.namespace_name = "prod";
  heavy.pod_selector = LabelSelector{};
  EgressRule rule;
  rule.regexes = {"a\\pL{80}\\.example\\.com", "b\\pL{80}\\.example\\.com"};
  heavy.rules.push_back(rule);
  const WorkloadPolicy united = compileLeavingOut({heavy}, everything);
  ASSERT_EQ(united.left_out.size(), 1u);
  EXPECT_EQ(united.left_out[0].reason,
            "Egress prod/heavy: its regexes alone exceed RE2's memory budget");
  EXPECT_TRUE(united.policy.polices);
  EXPECT_TRUE(united.policy.rule_descriptions.empty());
  EXPECT_EQ(united.policy.names.match("a" + std::string(80, 'x') + ".example.com"), std::nullopt);
}

// The loader's side: podSelector and namespaceSelector in every form, and their errors.

TEST(PodSelectorLoaderTest, AbsentSelectorsAreNotEmptyOnes) {
  const Egress absent = egressIn("prod", "absent", "  nodeSelector: {}\n");
  EXPECT_EQ(absent.pod_selector, std::nullopt);
  EXPECT_EQ(absent.namespace_selector, std::nullopt);

  const Egress empty = egressIn("prod", "empty", "  podSelector: {}\n  namespaceSelector: {}\n");
  ASSERT_TRUE(empty.pod_selector.has_value());
  ASSERT_TRUE(empty.namespace_selector.has_value());
  EXPECT_TRUE(empty.pod_selector->match_labels.empty());
  EXPECT_TRUE(empty.pod_selector->match_expressions.empty());
  EXPECT_TRUE(empty.namespace_selector->match_labels.empty());
  EXPECT_EQ(empty.node_selector, std::nullopt);
}

TEST(PodSelectorLoaderTest, ReadsMatchLabelsMatchExpressionsAndThePlainMapForm) {
  const Egress egress = egressIn("prod", "web",
                                 "  podSelector:\n"
                                 "    matchLabels: {app: web}\n"
                                 "    matchExpressions:\n"
                                 "      - {key: tier, operator: In, values: [front, edge]}\n"
                                 "      - key: canary\n"
                                 "        operator: DoesNotExist\n"
                                 "  namespaceSelector:\n"
                                 "    team: shop\n"
                                 "    env: staging\n");
  ASSERT_TRUE(egress.pod_selector.has_value());
  EXPECT_EQ(egress.pod_selector->match_labels, (Labels{{"app", "web"}}));
  ASSERT_EQ(egress.pod_selector->match_expressions.size(), 2u);
  const LabelRequirement& tier = egress.pod_selector->match_expressions[0];
  EXPECT_EQ(tier.key, "tier");
  EXPECT_EQ(tier.op, LabelRequirement::Operator::kIn);
  EXPECT_EQ(tier.values, (std::vector<std::string>{"front", "edge"}));
  const LabelRequirement& canary = egress.pod_selector->match_expressions[1];
  EXPECT_EQ(canary.key, "canary");
  EXPECT_EQ(canary.op, LabelRequirement::Operator::kDoesNotExist);
  EXPECT_TRUE(canary.values.empty());

  // The plain map is matchLabels.
  ASSERT_TRUE(egress.namespace_selector.has_value());
  EXPECT_EQ(egress.namespace_selector->match_labels,
            (Labels{{"env", "staging"}, {"team", "shop"}}));
  EXPECT_TRUE(egress.namespace_selector->match_expressions.empty());

  const Labels shop_staging = {{"team", "shop"}, {"env", "staging"}};
  EXPECT_TRUE(selectsPod(egress, {"staging", {{"app", "web"}, {"tier", "edge"}}, shop_staging}));
  EXPECT_FALSE(selectsPod(egress, {"staging", {{"app", "web"}}, shop_staging}));
  EXPECT_FALSE(selectsPod(
      egress, {"staging", {{"app", "web"}, {"tier", "edge"}, {"canary", "1"}}, shop_staging}));
  EXPECT_FALSE(selectsPod(egress, {"dev", {{"app", "web"}, {"tier", "edge"}}, {{"team", "shop"}}}));
}

// The message loading `spec` (spec lines of an Egress named web) fails with.
std::string selectorError(const std::string& spec) {
  try {
    parsePolicyDocuments(egressDocument("{name: web, namespace: prod}", spec), "inline.yaml");
  } catch (const PolicyError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no PolicyError thrown for:\n" << spec;
  return "";
}

const std::string kLocation = "inline.yaml: document 1 (metadata.name=web), ";

TEST(PodSelectorLoaderTest, ErrorsNameTheLineAndThePathOfTheSelectorField) {
  EXPECT_EQ(selectorError("  podSelector:\n"
                          "    matchExpressions:\n"
                          "      - {key: app, operator: Equals, values: [web]}\n"),
            kLocation +
                "line 7: spec.podSelector.matchExpressions[0].operator: 'Equals' is not In, "
                "NotIn, Exists or DoesNotExist");
  EXPECT_EQ(selectorError("  podSelector: {}\n"
                          "  namespaceSelector:\n"
                          "    matchExpressions:\n"
                          "      - {key: team, operator: Exists}\n"
                          "      - {key: env, operator: NotIn}\n"),
            kLocation +
                "line 9: spec.namespaceSelector.matchExpressions[1].values: NotIn needs a "
                "non-empty list of values");
  EXPECT_EQ(selectorError("  namespaceSelector:\n"
                          "    matchExpressions:\n"
                          "      - {key: team, operator: DoesNotExist, values: [shop]}\n"),
            kLocation +
                "line 7: spec.namespaceSelector.matchExpressions[0].values: DoesNotExist takes "
                "no values");
  EXPECT_EQ(selectorError("  namespaceSelector: {matchLabels: {team: [shop]}}\n"),
            kLocation + "line 5: spec.namespaceSelector.matchLabels.team: must be a string");
  EXPECT_EQ(selectorError("  podSelector: {matchLabels: {app: web}, tier: front}\n"),
            kLocation +
                "line 5: spec.podSelector.tier: unknown field 'tier' (expected one of: "
                "matchLabels, matchExpressions)");
  EXPECT_EQ(selectorError("  namespaceSelector: shop\n"),
            kLocation + "line 5: spec.namespaceSelector: must be a map");
  EXPECT_EQ(
      selectorError("  podSelector:\n    matchExpressions: {key: app}\n"),
      kLocation + "line 6: spec.podSelector.matchExpressions: must be a list of requirements");
  EXPECT_EQ(selectorError("  podSelector:\n    matchLabels: {app: web}\n    matchExpresions: []\n"),
            kLocation +
                "line 7: spec.podSelector.matchExpresions: unknown field 'matchExpresions'; did "
                "you mean 'matchExpressions'? (expected one of: matchLabels, matchExpressions)");
}

TEST(PodSelectorLoaderTest, ATypoOfASelectorIsCaughtWithASuggestion) {
  EXPECT_EQ(selectorError("  podSelecter: {app: web}\n"),
            kLocation +
                "line 5: spec.podSelecter: unknown field 'podSelecter'; did you mean "
                "'podSelector'? (expected one of: nodeSelector, podSelector, namespaceSelector, "
                "mode, denyResponse, queries, tls, rules)");
}

}  // namespace
}  // namespace skouter::policy
