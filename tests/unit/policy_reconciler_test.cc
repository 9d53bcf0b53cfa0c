// The policy of every workload on the node, from the files and a cluster snapshot: what
// PolicyReconciler plans for the daemon to apply.
#include "daemon/policy_reconciler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/loader.h"

namespace skouter::daemon {
namespace {

// An Egress named `name` in `namespace_name` (none when empty) with `selectors` (spec
// lines) and one rule allowing NAME.example.com.
policy::Egress egressIn(const std::string& namespace_name, const std::string& name,
                        const std::string& selectors) {
  const std::string metadata = namespace_name.empty()
                                   ? "{name: " + name + "}"
                                   : "{name: " + name + ", namespace: " + namespace_name + "}";
  auto egresses = policy::parsePolicyDocuments(
      "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata: " + metadata + "\nspec:\n" +
          selectors + "  rules:\n    - domains: [" + name + ".example.com]\n",
      "inline.yaml");
  return egresses.at(0);
}

PodObject podIn(const std::string& namespace_name, const std::string& name, const char* address,
                policy::Labels labels = {}) {
  PodObject pod;
  pod.uid = namespace_name + "/" + name;
  pod.namespace_name = namespace_name;
  pod.name = name;
  pod.labels = std::move(labels);
  pod.addresses = {*IpAddress::parse(address)};
  return pod;
}

ClusterSnapshot clusterWith(std::vector<policy::Egress> egresses, std::vector<PodObject> pods) {
  ClusterSnapshot cluster;
  cluster.egresses = std::move(egresses);
  cluster.pods = std::move(pods);
  cluster.node_labels = policy::Labels{{"kubernetes.io/hostname", "node-a"}};
  for (const char* name : {"prod", "tools"}) {
    cluster.namespace_labels[name] = {{"kubernetes.io/metadata.name", name}};
  }
  return cluster;
}

TEST(PolicyReconcilerTest, ThePodsAnEgressSelectsArePolicedAndTheOthersListedAsUnpoliced) {
  PolicyReconciler policies(false, {});
  policies.setCluster(
      clusterWith({egressIn("prod", "web", "  podSelector: {}\n")},
                  {podIn("prod", "a", "198.51.100.10"), podIn("tools", "b", "198.51.100.11")}));
  const PolicyPlan plan = policies.reconcile();
  ASSERT_EQ(plan.policed.size(), 1u);
  EXPECT_EQ(plan.policed[0].pod.qualifiedName(), "prod/a");
  EXPECT_EQ(plan.policed[0].policy->names.match("web.example.com"),
            policy::ruleIdOf("prod/web/rules[0]"));
  ASSERT_EQ(plan.unpoliced.size(), 1u);
  EXPECT_EQ(plan.unpoliced[0].qualifiedName(), "tools/b");
  EXPECT_TRUE(plan.guard_pods);
  EXPECT_FALSE(policies.hostPolicy().polices);
}

TEST(PolicyReconcilerTest, PodsSelectedByTheSameEgressesShareOneCompiledPolicy) {
  PolicyReconciler policies(false, {});
  policies.setCluster(
      clusterWith({egressIn("prod", "web", "  podSelector: {}\n")},
                  {podIn("prod", "a", "198.51.100.10"), podIn("prod", "b", "198.51.100.11")}));
  const PolicyPlan plan = policies.reconcile();
  ASSERT_EQ(plan.policed.size(), 2u);
  EXPECT_EQ(plan.policed[0].policy, plan.policed[1].policy);
}

TEST(PolicyReconcilerTest, AnEgressInTheFilesAndTheClusterIsRefusedOnceAndTheFilesOneEnforced) {
  PolicyReconciler policies(false, {});
  policies.setFileEgresses({egressIn("prod", "web", "  podSelector: {}\n")});
  policies.setCluster(clusterWith({egressIn("prod", "web", "  podSelector: {}\n")}, {}));
  const PolicyPlan plan = policies.reconcile();
  ASSERT_EQ(plan.refused.size(), 1u);
  EXPECT_EQ(plan.refused[0],
            "Egress prod/web is defined both in the policy files and in the cluster; the "
            "files' one is enforced");
  EXPECT_EQ(policies.egresses().size(), 1u);
}

TEST(PolicyReconcilerTest, ANodePolicyAlwaysAllowsTheApiServer) {
  PolicyReconciler policies(false, {});
  auto cluster = clusterWith({egressIn("", "node", "  nodeSelector: {}\n")}, {});
  cluster.api_server_endpoints = {{*IpAddress::parse("192.0.2.1"), 6443}};
  policies.setCluster(cluster);
  policies.reconcile();
  const auto& host = policies.hostPolicy();
  ASSERT_TRUE(host.polices);
  ASSERT_EQ(host.static_entries.size(), 1u);
  EXPECT_EQ(host.static_entries[0].prefix.address.toString(), "192.0.2.1");
  EXPECT_EQ(policy::describePorts(host.static_entries[0].ports), "6443/TCP");

  // Without a node policy the node is not policed, and nothing is added for it.
  PolicyReconciler unpoliced(false, {});
  cluster.egresses = {egressIn("prod", "web", "  podSelector: {}\n")};
  unpoliced.setCluster(cluster);
  unpoliced.reconcile();
  EXPECT_FALSE(unpoliced.hostPolicy().polices);
  EXPECT_EQ(unpoliced.egresses().size(), 1u);
}

TEST(PolicyReconcilerTest, NodeLabelFlagsOverrideTheNodeObjectsLabels) {
  PolicyReconciler policies(false, {{"role", "edge"}});
  policies.setCluster(
      clusterWith({egressIn("", "edge", "  nodeSelector: {matchLabels: {role: edge}}\n")}, {}));
  policies.reconcile();
  EXPECT_TRUE(policies.hostPolicy().polices);
  EXPECT_EQ(policies.hostPolicy().names.match("edge.example.com"),
            policy::ruleIdOf("edge/rules[0]"));
}

TEST(PolicyReconcilerTest, TellsWhatChangedSinceThePreviousPlan) {
  PolicyReconciler policies(false, {});
  policies.setFileEgresses({egressIn("", "node", "  nodeSelector: {}\n")});
  policies.adoptFilePolicy();
  PolicyPlan plan = policies.reconcile();
  EXPECT_TRUE(plan.egresses_changed);
  EXPECT_FALSE(plan.host_names_changed) << "the files' policy was adopted at start";
  plan = policies.reconcile();
  EXPECT_FALSE(plan.egresses_changed);
  EXPECT_FALSE(plan.host_names_changed);

  policies.setFileEgresses({egressIn("", "other", "  nodeSelector: {}\n")});
  plan = policies.reconcile();
  EXPECT_TRUE(plan.egresses_changed);
  EXPECT_TRUE(plan.host_names_changed);
  EXPECT_EQ(policies.hostPolicy().names.match("other.example.com"),
            policy::ruleIdOf("other/rules[0]"));
}

TEST(PolicyReconcilerTest, AnEgressLeftOutIsOneProblemForAllItsWorkloadsAndReportedToTheCluster) {
  PolicyReconciler policies(false, {});
  const auto web = egressIn("prod", "web", "  podSelector: {}\n");
  auto cluster = clusterWith(
      {web, web}, {podIn("prod", "a", "198.51.100.10"), podIn("prod", "b", "198.51.100.11")});
  policies.setCluster(cluster);
  const PolicyPlan plan = policies.reconcile();
  ASSERT_EQ(plan.left_out.size(), 1u);
  EXPECT_EQ(plan.left_out[0],
            "Egress prod/web is left out of the policy of pod prod/a and 1 other workload(s): "
            "prod/web/rules[0] (inline.yaml: document 1): Egress prod/web is defined more than "
            "once");
  ASSERT_EQ(plan.cluster_egresses_left_out.size(), 1u);
  EXPECT_EQ(plan.cluster_egresses_left_out[0].first, "prod/web");
  // Both pods stay policed by the Egress that was kept.
  ASSERT_EQ(plan.policed.size(), 2u);
  EXPECT_EQ(plan.policed[1].policy->names.match("web.example.com"),
            policy::ruleIdOf("prod/web/rules[0]"));
}

TEST(PolicyReconcilerTest, AFilePolicyThatLeavesAnEgressOutRefusesToStart) {
  PolicyReconciler policies(false, {});
  const auto node = egressIn("", "node", "  nodeSelector: {}\n");
  policies.setFileEgresses({node, node});
  EXPECT_THROW(policies.adoptFilePolicy(), policy::PolicyError);
}

TEST(PolicyReconcilerTest, AuditFlagAuditsEveryWorkload) {
  PolicyReconciler policies(true, {});
  policies.setCluster(clusterWith({egressIn("prod", "web", "  podSelector: {}\n")},
                                  {podIn("prod", "a", "198.51.100.10")}));
  const PolicyPlan plan = policies.reconcile();
  ASSERT_EQ(plan.policed.size(), 1u);
  EXPECT_TRUE(plan.policed[0].policy->audit_everything);
}

}  // namespace
}  // namespace skouter::daemon
