// skouterd as a Kubernetes DaemonSet would run it, against the API server double: pods
// on veths behind the lab node (masqueraded, DNS through a DNATed service address),
// Egress objects, Namespaces, the Node and the kube-dns Service from the API.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "firewall_test_fixture.h"
#include "kube_api_double.h"
#include "kubernetes_fixture.h"

namespace skouter::e2e {
namespace {

TEST_F(KubernetesTest, SelectedPodReachesItsNamesOnlyAndAnUnselectedPodReachesEverything) {
  EXPECT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  EXPECT_EQ(pod("a", httpGet("http://example.com/", "-6")).out, "hello from example.com\n");
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(pod("a", httpGet("http://github.com/", "-6")).exit_code, kCurlTimedOut);

  EXPECT_EQ(pod("b", httpGet("http://example.com/")).out, "hello from example.com\n");
  EXPECT_EQ(pod("b", httpGet("http://github.com/")).out, "hello from github.com\n");

  const auto web = policedPod("shop/web-0");
  ASSERT_FALSE(web.is_null()) << daemon_->status().dump(2);
  EXPECT_EQ(web["interface"], lab_->podInterface("a"));
  EXPECT_TRUE(web["problem"].is_null()) << web.dump();
  EXPECT_TRUE(policedPod("other/tool-0").is_null());

  // Pod A's learned addresses are its own, not the node's.
  bool pod_entry = false;
  for (const auto& entry : daemon_->entries()) {
    if (entry["workload"] == "shop/web-0" && entry["ip"] == "203.0.113.10") pod_entry = true;
    EXPECT_FALSE(entry["workload"] == "host" && entry["ip"] == "203.0.113.10") << entry.dump();
  }
  EXPECT_TRUE(pod_entry);
}

TEST_F(KubernetesTest, TheHostIsJudgedByItsNodeSelectorPolicyNotByAPodsAndViceVersa) {
  EXPECT_EQ(node(httpGet("http://github.com/")).out, "hello from github.com\n");
  EXPECT_EQ(node(httpGet("http://example.com/")).exit_code, kCurlTimedOut);
  // Pod A leaves through the same uplink, masqueraded to the node's address, and is
  // still judged by its own policy.
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  // The node's lookups never held or changed pod A's.
  EXPECT_EQ(node(httpGet("http://github.com/")).out, "hello from github.com\n");
  // Whatever the node's policy says, the node reaches its API server, on its port only.
  EXPECT_EQ(node(httpGet("http://203.0.113.99:443/")).out, "hello from 203.0.113.99:443\n");
  EXPECT_EQ(node(httpGet("http://203.0.113.99/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(pod("a", httpGet("http://203.0.113.99:443/")).exit_code, kCurlTimedOut);

  const auto explained = nlohmann::json::parse(
      ctl({"explain", "--src", kPodA, "--dst", "203.0.113.10", "--port", "80", "-o", "json"}).out);
  EXPECT_EQ(explained["identity"], "shop/web-0");
  EXPECT_EQ(explained["verdict"], "allowed") << explained.dump();
  EXPECT_EQ(explained["rule"], "shop/web/rules[0]");
}

TEST_F(KubernetesTest, ThePodsDnsServiceAndItsEndpointsAreTrustedResolvers) {
  const auto trusted = daemon_->status()["trusted_resolvers"];
  for (const char* address : {"192.0.2.53:53", "[2001:db8:2::53]:53", "198.51.100.53:53"}) {
    EXPECT_NE(std::find(trusted.begin(), trusted.end(), address), trusted.end())
        << address << " in " << trusted.dump();
  }
  // Answers to pod A come from the service address and are held until installed.
  EXPECT_EQ(pod("a", "dig +short +time=2 +tries=1 example.com A").out, "203.0.113.10\n");
  EXPECT_EQ(pod("a", "dig +short +time=2 +tries=1 @2001:db8:2::53 example.com AAAA").out,
            "2001:db8:100::10\n");
}

TEST_F(KubernetesTest, APodCreatedAfterTheDaemonStartedIsEnforcedOnceItIsSeen) {
  lab_->addPod("c", kPodC, kPodCV6);
  const auto written = std::chrono::steady_clock::now();
  api_->write("pod-c.yaml", podYaml("shop", "web-1", "{app: web}", kPodC, kPodCV6));
  ASSERT_TRUE(eventually(
      [&] {
        const auto c = policedPod("shop/web-1");
        return !c.is_null() && c["interface"] == lab_->podInterface("c");
      },
      std::chrono::seconds(10)))
      << daemon_->status().dump(2) << daemon_->log();
  const auto enforced_after = std::chrono::steady_clock::now() - written;
  // A figure, not an assertion: it includes the double's 100 ms polling of its files.
  std::cout << "pod enforced "
            << std::chrono::duration_cast<std::chrono::milliseconds>(enforced_after).count()
            << " ms after its object was written\n";
  RecordProperty(
      "pod_enforced_after_ms",
      std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(enforced_after).count()));

  EXPECT_EQ(pod("c", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(pod("c", httpGet("http://example.com/")).out, "hello from example.com\n");
}

// While an Egress selects pods, every pod interface is guarded: a pod the API no
// longer shows (deleted, its network not yet torn down) has no identity, and its
// packets are dropped. Once no Egress selects pods at all, no interface carries the
// pod programs.
TEST_F(KubernetesTest, DeletingAPodRemovesItsIdentityAndEntriesAndItsInterfaceStaysGuarded) {
  ASSERT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  const auto identity = policedPod("shop/web-0")["identity"].get<std::uint32_t>();
  const auto filters = [&](const std::string& pod_name) {
    return tcPrograms(lab_->podInterface(pod_name));
  };
  EXPECT_NE(filters("a").find("pod_ingress"), std::string::npos) << filters("a");
  EXPECT_NE(filters("a").find("pod_egress"), std::string::npos) << filters("a");

  api_->write("pods.yaml", podYaml("other", "tool-0", "{app: tool}", kPodB, kPodBV6));
  ASSERT_TRUE(eventually([&] { return policedPod("shop/web-0").is_null(); }))
      << daemon_->status().dump(2);
  for (const auto& entry : daemon_->entries()) {
    EXPECT_NE(entry["identity"].get<std::uint32_t>(), identity) << entry.dump();
  }
  const auto identities = node("bpftool map dump pinned " + daemon_->pinDir() + "/identities");
  EXPECT_EQ(identities.out.find("192, 0, 2, 10"), std::string::npos) << identities.out;
  EXPECT_NE(filters("a").find("pod_ingress"), std::string::npos) << filters("a");
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut);

  // No Egress selects pods any more: nothing to guard.
  api_->remove("web-egress.yaml");
  ASSERT_TRUE(eventually([&] {
    return filters("a").find("pod_ingress") == std::string::npos &&
           filters("b").find("pod_ingress") == std::string::npos;
  })) << filters("a")
      << filters("b");
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).out, "hello from github.com\n");
  lab_->deletePod("a");
}

TEST_F(KubernetesTest, ChangingTheEgressObjectChangesEnforcementWithoutARestart) {
  ASSERT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  api_->write("web-egress.yaml", webEgressYaml("github.com"));
  ASSERT_TRUE(eventually([&] {
    return pod("a", httpGet("http://github.com/", "--max-time 1")).out == "hello from github.com\n";
  })) << daemon_->log();
  EXPECT_EQ(pod("a", httpGet("http://example.com/")).exit_code, kCurlTimedOut);

  // A namespaceSelector widens an Egress of the operators' namespace to pod B's.
  api_->write("tools-egress.yaml",
              "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: tools\n"
              "  namespace: skouter-system\nspec:\n  namespaceSelector: {}\n  podSelector: "
              "{matchLabels: {app: tool}}\n  rules:\n    - domains: [httpbin.org]\n");
  ASSERT_TRUE(eventually([&] { return !policedPod("other/tool-0").is_null(); }))
      << daemon_->status().dump(2);
  EXPECT_EQ(pod("b", httpGet("http://httpbin.org/")).out, "hello from httpbin.org\n");
  EXPECT_EQ(pod("b", httpGet("http://example.com/")).exit_code, kCurlTimedOut);
}

TEST_F(KubernetesTest, AClosedOrExpiredWatchIsResumedOrRelistedWithoutLosingAChange) {
  const auto lists = reflectorStat("egresses", "lists");
  const auto watches = reflectorStat("egresses", "watches");
  EXPECT_GE(api_->post("/_double/close-watches")["closed"].get<int>(), 6);
  // A change made while the watches reconnect still arrives.
  api_->write("web-egress.yaml", webEgressYaml("github.com"));
  ASSERT_TRUE(eventually([&] {
    return pod("a", httpGet("http://github.com/", "--max-time 1")).out == "hello from github.com\n";
  })) << daemon_->log();
  EXPECT_GT(reflectorStat("egresses", "watches"), watches);
  EXPECT_EQ(reflectorStat("egresses", "lists"), lists);

  api_->post("/_double/expire");
  api_->write("web-egress.yaml", webEgressYaml("example.com"));
  ASSERT_TRUE(eventually([&] {
    return pod("a", httpGet("http://example.com/", "--max-time 1")).out ==
           "hello from example.com\n";
  })) << daemon_->log();
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  EXPECT_GE(reflectorStat("egresses", "expired"), 1u);
  EXPECT_GT(reflectorStat("egresses", "lists"), lists);
  EXPECT_TRUE(daemon_->status()["ready"].get<bool>());
}

TEST_F(KubernetesTest, ARestartedDaemonKeepsItsPodsAndTheirLookupsWaitForTheCluster) {
  api_->write("web-egress.yaml", webEgressYaml("example.com, '*.wikipedia.org'"));
  ASSERT_TRUE(eventually([&] {
    return pod("a", httpGet("http://n1.wikipedia.org/", "--max-time 1")).ok();
  })) << daemon_->log();
  const auto identity = policedPod("shop/web-0")["identity"];
  ASSERT_EQ(node(httpGet("http://github.com/")).out, "hello from github.com\n");

  daemon_->kill(SIGTERM);
  // Without a daemon, what was installed is still enforced (by address: lookups stay
  // held until the fail-safe timeout).
  EXPECT_EQ(pod("a", httpGet("http://" + freshAddress(1) + "/")).out,
            "hello from " + freshAddress(1) + "\n");
  EXPECT_EQ(pod("a", httpGet("http://203.0.113.20/")).exit_code, kCurlTimedOut);

  // The new daemon comes up while the API server is away: it knows pod A's identity
  // from the pins but not its policy, so pod A's answers wait for the cluster.
  api_->stop();
  daemon_ = std::make_unique<Skouterd>(
      *lab_, "",
      std::vector<std::string>{"--kubernetes", "--kubeconfig", api_->kubeconfigPath(),
                               "--node-name", kNodeName, "--failsafe-timeout", "30"});
  daemon_->start();
  EXPECT_FALSE(ctl({"ready"}).ok());
  // Nothing the cluster's policy installed is undone before the cluster is listed (the
  // DNS service stays trusted too: the lookup below would be dropped otherwise).
  EXPECT_TRUE(learnedAddresses("github.com").contains("203.0.113.20"));
  const auto lookup =
      lab_->startBackground("a", httpGet("http://n2.wikipedia.org/", "--max-time 20"));
  ASSERT_TRUE(eventually([&] { return counter("answers", "deferred") > 0; })) << daemon_->log();
  api_->start();
  ASSERT_TRUE(eventually([&] { return !lookup->running(); }, std::chrono::seconds(25)));
  EXPECT_EQ(lookup->output(), "hello from n2.wikipedia.org\n") << daemon_->log();
  EXPECT_TRUE(ctl({"ready"}).ok());
  EXPECT_TRUE(daemon_->status()["takeover"]["took_over"].get<bool>());
  EXPECT_EQ(policedPod("shop/web-0")["identity"], identity);
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
}

TEST_F(KubernetesTest, AnInvalidEgressIsReportedAsAnEventAndTheOthersStayEnforced) {
  api_->write("broken-egress.yaml",
              "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: broken\n"
              "  namespace: shop\nspec:\n  mode: enforcing\n  podSelector: {}\n");
  nlohmann::json events;
  ASSERT_TRUE(eventually([&] {
    events = api_->get("/api/v1/namespaces/shop/events")["items"];
    return !events.empty();
  })) << daemon_->log();
  EXPECT_EQ(events[0]["involvedObject"]["kind"], "Egress");
  EXPECT_EQ(events[0]["involvedObject"]["name"], "broken");
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_NE(events[0]["message"].get<std::string>().find("spec.mode"), std::string::npos)
      << events.dump();
  EXPECT_NE(daemon_->status()["last_policy_error"].get<std::string>().find("broken"),
            std::string::npos);
  EXPECT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(pod("b", httpGet("http://github.com/")).out, "hello from github.com\n");
}

// An Egress a tenant writes in its own namespace `other`: `spec` is its spec, indented
// by two.
std::string tenantEgressYaml(const std::string& name, const std::string& spec) {
  return "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: " + name +
         "\n  namespace: other\nspec:\n" + spec;
}

// Whether `egresses` (`skouterctl policies`) lists one named `name`.
bool listsEgress(const nlohmann::json& egresses, const std::string& name) {
  return std::any_of(egresses.begin(), egresses.end(),
                     [&](const nlohmann::json& egress) { return egress["name"] == name; });
}

// THREATS "What must hold" 5: a tenant's Egress changes the policy of its own namespace
// only. A tenant of namespace `other` selects every namespace's pods with an Egress that
// allows nothing, to cut off pods of namespace shop.
TEST_F(KubernetesTest, ATenantsEgressSelectingOtherNamespacesIsRefusedAsAWhole) {
  // Pod C, shop/db-0, is selected by no Egress: it reaches everything.
  lab_->addPod("c", kPodC, kPodCV6);
  api_->write("pod-c.yaml", podYaml("shop", "db-0", "{app: db}", kPodC, kPodCV6));
  ASSERT_TRUE(eventually([&] {
    return pod("c", httpGet("http://github.com/", "--max-time 1")).out == "hello from github.com\n";
  })) << daemon_->log();

  api_->write("everyone-egress.yaml", tenantEgressYaml("everyone", "  namespaceSelector: {}\n"));
  EXPECT_TRUE(eventually([&] { return !eventsOn("other", "everyone").empty(); }))
      << "no Event on the tenant's Egress\n"
      << daemon_->log();

  EXPECT_EQ(pod("c", httpGet("http://github.com/")).out, "hello from github.com\n")
      << "the tenant's Egress cut off shop/db-0";
  EXPECT_TRUE(policedPod("shop/db-0").is_null()) << policedPod("shop/db-0").dump();
  // Refused as a whole: not even the tenant's own pod is selected by it.
  EXPECT_EQ(pod("b", httpGet("http://github.com/")).out, "hello from github.com\n");
  EXPECT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  const auto egresses = daemon_->ctlJson("policies");
  EXPECT_FALSE(listsEgress(egresses, "everyone")) << egresses.dump(2);

  const auto events = eventsOn("other", "everyone");
  ASSERT_EQ(events.size(), 1u) << events.dump(2);
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["reason"], "SelectorNotAllowed");
  EXPECT_EQ(events[0]["message"],
            "Egress other/everyone (Kubernetes API): spec.namespaceSelector: an Egress in "
            "namespace other may select pods of its own namespace only (podSelector); "
            "selecting pods of other namespaces is for the admin namespaces (skouterd "
            "--admin-namespaces: skouter-system), so this Egress is not enforced");
  const auto error = daemon_->status()["last_policy_error"];
  ASSERT_TRUE(error.is_string()) << daemon_->status().dump(2);
  EXPECT_NE(error.get<std::string>().find("Egress other/everyone"), std::string::npos) << error;
}

// THREATS "What must hold" 5. A tenant selects the node with an Egress that allows
// nothing, to cut the node off.
TEST_F(KubernetesTest, ATenantsEgressSelectingTheNodeIsRefused) {
  // Without the operators' node Egress, the node reaches everything.
  api_->remove("node-egress.yaml");
  ASSERT_TRUE(eventually([&] {
    return node(httpGet("http://example.com/", "--max-time 1")).out == "hello from example.com\n";
  })) << daemon_->log();

  api_->write("node-egress-of-a-tenant.yaml",
              tenantEgressYaml("node-wide", "  nodeSelector: {}\n"));
  EXPECT_TRUE(eventually([&] { return !eventsOn("other", "node-wide").empty(); }))
      << "no Event on the tenant's Egress\n"
      << daemon_->log();

  EXPECT_EQ(node(httpGet("http://example.com/")).out, "hello from example.com\n")
      << "the tenant's Egress cut the node off";
  EXPECT_FALSE(daemon_->status()["host_policed"].get<bool>()) << daemon_->status().dump(2);
  const auto events = eventsOn("other", "node-wide");
  ASSERT_EQ(events.size(), 1u) << events.dump(2);
  EXPECT_EQ(events[0]["reason"], "SelectorNotAllowed");
  const std::string message = events[0]["message"];
  EXPECT_NE(message.find("spec.nodeSelector: an Egress in namespace other may select pods of "
                         "its own namespace only (podSelector); selecting nodes is for the "
                         "admin namespaces (skouterd --admin-namespaces: skouter-system)"),
            std::string::npos)
      << message;
  const auto error = daemon_->status()["last_policy_error"];
  ASSERT_TRUE(error.is_string()) << daemon_->status().dump(2);
  EXPECT_NE(error.get<std::string>().find("Egress other/node-wide"), std::string::npos) << error;
}

// THREATS "What must hold" 5. A tenant's Egress in mode audit that selects every
// namespace would put every pod it selects in audit: nothing dropped.
TEST_F(KubernetesTest, ATenantsAuditEgressDoesNotSwitchAnotherNamespaceToAudit) {
  api_->write("audit-egress.yaml",
              tenantEgressYaml("audit-everyone", "  mode: audit\n  namespaceSelector: {}\n"));
  EXPECT_TRUE(eventually([&] { return !eventsOn("other", "audit-everyone").empty(); }))
      << "no Event on the tenant's Egress\n"
      << daemon_->log();

  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut)
      << "the tenant's Egress put shop/web-0 in audit";
  EXPECT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  const auto web = policedPod("shop/web-0");
  ASSERT_FALSE(web.is_null());
  EXPECT_FALSE(web["audit"].get<bool>()) << web.dump();
  const auto events = eventsOn("other", "audit-everyone");
  ASSERT_EQ(events.size(), 1u) << events.dump(2);
  EXPECT_EQ(events[0]["reason"], "SelectorNotAllowed");
  const auto error = daemon_->status()["last_policy_error"];
  ASSERT_TRUE(error.is_string()) << daemon_->status().dump(2);
  EXPECT_NE(error.get<std::string>().find("Egress other/audit-everyone"), std::string::npos)
      << error;
}

// THREATS "What must hold" 5. Two Egresses of `other` whose rule ids collide (the names
// were found by a birthday search on the 32-bit hash) cannot be compiled together: that
// failed the whole policy, so skouterd kept the previous one in force for everyone and
// policed no new pod. The later one is left out of the pods both select; the rest
// applies.
TEST_F(KubernetesTest, AnEgressThatCannotBeUnitedIsLeftOutAloneAndNewPodsArePoliced) {
  const std::string tools = "  podSelector: {matchLabels: {app: tool}}\n";
  api_->write("tool-egresses.yaml",
              tenantEgressYaml("tool-3vja", tools + "  rules:\n    - domains: [example.com]\n") +
                  "---\n" +
                  tenantEgressYaml("tool-kpfs", tools + "  rules:\n    - domains: [github.com]\n"));
  EXPECT_TRUE(eventually([&] { return !eventsOn("other", "tool-kpfs").empty(); }))
      << "no Event on the Egress left out\n"
      << daemon_->log();

  EXPECT_FALSE(policedPod("other/tool-0").is_null()) << daemon_->status().dump(2);
  EXPECT_EQ(pod("b", httpGet("http://example.com/")).out, "hello from example.com\n");
  EXPECT_EQ(pod("b", httpGet("http://github.com/")).exit_code, kCurlTimedOut);

  lab_->addPod("c", kPodC, kPodCV6);
  api_->write("pod-c.yaml", podYaml("shop", "web-1", "{app: web}", kPodC, kPodCV6));
  EXPECT_TRUE(eventually([&] { return !policedPod("shop/web-1").is_null(); }))
      << "a new pod is not policed\n"
      << daemon_->status().dump(2);
  EXPECT_EQ(pod("c", httpGet("http://example.com/")).out, "hello from example.com\n");
  EXPECT_EQ(pod("c", httpGet("http://github.com/")).exit_code, kCurlTimedOut);

  const auto events = eventsOn("other", "tool-kpfs");
  ASSERT_EQ(events.size(), 1u) << events.dump(2);
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["reason"], "EgressLeftOut");
  EXPECT_EQ(events[0]["message"],
            "not enforced on the workloads it selects together with Egresses that take "
            "precedence: other/tool-kpfs/rules[0] (Egress other/tool-kpfs (Kubernetes API): "
            "document 1): its rule id collides with other/tool-3vja/rules[0]; rename one of "
            "the two Egress resources");
  EXPECT_TRUE(eventsOn("other", "tool-3vja").empty());
  const auto error = daemon_->status()["last_policy_error"];
  ASSERT_TRUE(error.is_string()) << daemon_->status().dump(2);
  EXPECT_NE(error.get<std::string>().find(
                "Egress other/tool-kpfs is left out of the policy of pod other/tool-0: "),
            std::string::npos)
      << error;
}

}  // namespace
}  // namespace skouter::e2e
