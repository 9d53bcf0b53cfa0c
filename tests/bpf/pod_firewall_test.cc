// PodFirewall over the pinned maps of a loaded datapath: the identities it gives the
// policed pods, the entries it keeps for each, what a pod leaves behind when it goes,
// and what a restarted daemon takes over. Each test runs in a network namespace of
// its own, where no pod address has a route unless the test adds one.
#include "daemon/pod_firewall.h"

#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bpf/maps/allowed_ip_table.h"
#include "bpf/maps/bpf_address.h"
#include "bpf/maps/flow_table.h"
#include "bpf/maps/port_set_table.h"
#include "bpf/maps/static_rule_table.h"
#include "policy/compiled_policy.h"
#include "policy/loader.h"
#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

using daemon::kFirstPodIdentity;
using daemon::PodFirewall;
using daemon::PodObject;
using daemon::PodState;
using daemon::PolicedPod;
using Policy = std::shared_ptr<const policy::CompiledPolicy>;

IpAddress ip(const char* text) { return IpAddress::parse(text).value(); }

// Pod addresses; the pods reach the world's addresses below.
const IpAddress kWebV4 = ip("198.18.1.10");
const IpAddress kWebV6 = ip("2001:db8:1::10");
const IpAddress kBatchV4 = ip("198.18.1.11");
const IpAddress kJobV4 = ip("198.18.1.12");
const IpAddress kStaticDestination = ip("203.0.113.10");
const IpAddress kApiAddress = ip("203.0.113.20");
const IpAddress kCdnAddress = ip("203.0.113.21");
const IpAddress kStaticDestinationV6 = ip("2001:db8:f::10");

constexpr std::uint16_t kHttpsPort = 443;

// The policy the Egress documents in `yaml` give a pod they all select.
Policy policyOf(const std::string& yaml) {
  const auto egresses = policy::parsePolicyDocuments(yaml, "test.yaml");
  return std::make_shared<const policy::CompiledPolicy>(
      policy::compileSelected(egresses, [](const policy::Egress&) { return true; }));
}

std::string egress(const std::string& name, const std::string& spec) {
  return "apiVersion: egress.skouter/v1alpha1\nkind: Egress\n"
         "metadata: {name: " +
         name + ", namespace: shop}\nspec:\n  podSelector: {}\n" + spec;
}

// api.example.com and cdn.example.com by name, 203.0.113.10 and 2001:db8:f::10 on 443.
const std::string kWebEgress = egress("web",
                                      "  rules:\n"
                                      "    - domains: [api.example.com, cdn.example.com]\n"
                                      "    - ips: [203.0.113.10, 2001:db8:f::10]\n"
                                      "      ports: [{port: 443}]\n");

std::vector<std::string> sorted(std::vector<std::string> lines) {
  std::sort(lines.begin(), lines.end());
  return lines;
}

PodObject pod(const std::string& name, const std::string& uid, std::vector<IpAddress> addresses) {
  PodObject object;
  object.uid = uid;
  object.namespace_name = "shop";
  object.name = name;
  object.labels = {{"app", name}};
  object.addresses = std::move(addresses);
  return object;
}

// Runs `command` (ip ...) in the test's namespace; fails the test when it fails.
void shell(const std::string& command) { ASSERT_EQ(std::system(command.c_str()), 0) << command; }

class PodFirewallTest : public DatapathFixture {
 protected:
  // The firewall attaches pods: link pins and what the Datapath learned of tcx outlive a
  // test, so a load of its own.
  PodFirewallTest() : DatapathFixture(DatapathLoad::kPerTest) {}

  void SetUp() override {
    DatapathFixture::SetUp();
    usePrivateNetworkNamespace();
    restartDaemon();
  }

  void TearDown() override {
    firewall_.reset();
    entries_.reset();
    flow_table_.reset();
    allowed_ips_.reset();
    learnable_names_.reset();
    static_rules_.reset();
    port_sets_.reset();
    DatapathFixture::TearDown();
  }

  // New tables and a new firewall over the same pinned maps, as a restarted daemon
  // builds them.
  void restartDaemon(std::set<int> uplinks = {}) {
    firewall_.reset();
    entries_.reset();
    flow_table_.reset();
    allowed_ips_.reset();
    static_rules_.reset();
    port_sets_ = std::make_unique<maps::PortSetTable>(datapath().portSets());
    static_rules_ = std::make_unique<maps::StaticRuleTable>(datapath().allowedCidrs(), *port_sets_);
    allowed_ips_ = std::make_unique<maps::AllowedIpTable>(datapath().allowedIps(),
                                                          datapath().learnedNames(), *port_sets_);
    flow_table_ = std::make_unique<maps::FlowTable>(datapath());
    learnable_names_ = std::make_unique<maps::LearnableNameTable>(
        datapath().learnableNames(), datapath().learning(), datapath().learningBudgetUsed(),
        *port_sets_);
    server_name_rules_ =
        std::make_unique<maps::ServerNameRuleTable>(datapath().serverNameRules(), *port_sets_);
    entries_ = std::make_unique<daemon::WorkloadEntries>(
        *static_rules_, *allowed_ips_, *learnable_names_, *server_name_rules_, *port_sets_);
    firewall_ = std::make_unique<PodFirewall>(datapath(), *entries_, *flow_table_,
                                              std::move(uplinks), false);
  }

  PodFirewall::SyncResult sync(const std::vector<PolicedPod>& policed,
                               const std::vector<PodObject>& unpoliced = {}) {
    return firewall_->sync(policed, unpoliced, false);
  }

  // A veth NAME-host (the node's side) and NAME-pod, with a route to each of
  // `addresses` through NAME-host, as a routing CNI sets a pod up: the pod's packets
  // come in by NAME-host.
  void plugIn(const std::string& name, const std::vector<IpAddress>& addresses) {
    shell("ip link add " + name + "-host type veth peer name " + name + "-pod");
    shell("ip link set " + name + "-host up && ip link set " + name + "-pod up");
    const auto ifindex = if_nametoindex((name + "-host").c_str());
    ASSERT_NE(ifindex, 0u);
    for (const IpAddress& address : addresses) {
      shell("ip route add " + address.toString() + " dev " + name + "-host");
      interface_of_[address] = ifindex;
    }
  }

  std::uint32_t identityOf(const IpAddress& address) const {
    const PodState* state = firewall_->byAddress(address);
    return state ? state->identity : 0;
  }

  // The identities map as "ADDRESS identity N[ audit]", sorted.
  std::vector<std::string> identities() {
    std::vector<std::string> result;
    datapath().identities().forEach(
        [&](const skouter_addr& key, const skouter_identity_value& value) {
          result.push_back(maps::fromBpfAddr(key).toString() + " identity " +
                           std::to_string(value.identity) +
                           ((value.flags & SKOUTER_IDENTITY_AUDIT) ? " audit" : ""));
        });
    std::sort(result.begin(), result.end());
    return result;
  }

  static std::string identityLine(const IpAddress& address, std::uint32_t identity,
                                  bool audit = false) {
    return address.toString() + " identity " + std::to_string(identity) + (audit ? " audit" : "");
  }

  // The static entries of `identity`, as "PREFIX PORTS", sorted.
  std::vector<std::string> staticEntriesOf(std::uint32_t identity) const {
    std::vector<std::string> result;
    for (const auto& entry : static_rules_->entries()) {
      if (entry.identity != identity) continue;
      result.push_back(entry.entry.prefix.toString() + " " +
                       policy::describePorts(entry.entry.ports));
    }
    std::sort(result.begin(), result.end());
    return result;
  }

  // The learned entries of `identity`, as "ADDRESS NAME...", sorted.
  std::vector<std::string> learnedEntriesOf(std::uint32_t identity) const {
    std::vector<std::string> result;
    for (const auto& entry : allowed_ips_->entries()) {
      if (entry.identity != identity) continue;
      std::string line = entry.ip.toString();
      for (const auto& name : entry.names) line += " " + name;
      result.push_back(line);
    }
    std::sort(result.begin(), result.end());
    return result;
  }

  // The identities any table still holds entries for.
  std::set<std::uint32_t> identitiesWithEntries() const {
    std::set<std::uint32_t> result;
    for (const auto& entry : static_rules_->entries()) result.insert(entry.identity);
    for (const auto& entry : allowed_ips_->entries()) result.insert(entry.identity);
    return result;
  }

  // What an answer for `name` leaves behind for `identity`, as the answer path
  // installs it: allowed for an hour, under the rule `policy` gives the name.
  void learn(std::uint32_t identity, const policy::CompiledPolicy& policy, const std::string& name,
             const IpAddress& address) {
    const auto rule = policy.names.match(name);
    ASSERT_TRUE(rule.has_value()) << name;
    const resolver::LearnedAddress learned{
        .ip = address, .ttl_s = 3600, .expiry_ns = datapathNowNs() + 3600 * kNanosPerSecond};
    ASSERT_EQ(allowed_ips_->install(identity, {learned}, name, *rule, policy.portsOf(*rule)).failed,
              0u);
  }

  // What pod_ingress makes of a new connection from `source` (a pod's address), on
  // the interface plugIn() gave that address.
  Verdict connect(const IpAddress& source, const IpAddress& destination,
                  std::uint16_t port = kHttpsPort) {
    const auto interface = interface_of_.find(source);
    return runPodIngress(
        PacketBuilder(source, destination).tcp(next_port_++, port, kTcpSyn).build(),
        {.ifindex = interface == interface_of_.end() ? 0 : interface->second});
  }

  std::unique_ptr<maps::PortSetTable> port_sets_;
  std::unique_ptr<maps::StaticRuleTable> static_rules_;
  std::unique_ptr<maps::AllowedIpTable> allowed_ips_;
  std::unique_ptr<maps::LearnableNameTable> learnable_names_;
  std::unique_ptr<maps::ServerNameRuleTable> server_name_rules_;
  std::unique_ptr<maps::FlowTable> flow_table_;
  std::unique_ptr<daemon::WorkloadEntries> entries_;
  std::unique_ptr<PodFirewall> firewall_;
  std::map<IpAddress, std::uint32_t> interface_of_;
  std::uint16_t next_port_ = 40000;
};

TEST_F(PodFirewallTest, PolicedPodsGetIdentitiesOfTheirOwnInTheIdentitiesMap) {
  const Policy web_policy = policyOf(kWebEgress);
  const Policy audited_policy = policyOf(egress("batch", "  mode: audit\n"));
  const PodObject web = pod("web", "u-web", {kWebV4, kWebV6});
  const PodObject batch = pod("batch", "u-batch", {kBatchV4});

  const auto result = sync({{web, web_policy}, {batch, audited_policy}});

  const std::uint32_t web_identity = identityOf(kWebV4);
  const std::uint32_t batch_identity = identityOf(kBatchV4);
  EXPECT_GE(web_identity, kFirstPodIdentity);
  EXPECT_GE(batch_identity, kFirstPodIdentity);
  EXPECT_NE(web_identity, batch_identity);
  EXPECT_EQ(identityOf(kWebV6), web_identity);
  // Every address of a pod, the audited one flagged so pod_ingress passes what it denies.
  EXPECT_EQ(identities(), sorted({
                              identityLine(kBatchV4, batch_identity, true),
                              identityLine(kWebV4, web_identity),
                              identityLine(kWebV6, web_identity),
                          }));
  EXPECT_EQ(std::set<std::uint32_t>(result.newly_policed.begin(), result.newly_policed.end()),
            (std::set<std::uint32_t>{web_identity, batch_identity}));

  ASSERT_NE(firewall_->byIdentity(web_identity), nullptr);
  EXPECT_EQ(firewall_->byIdentity(web_identity)->pod.uid, "u-web");
  EXPECT_EQ(firewall_->byIdentity(web_identity)->policy, web_policy);
  EXPECT_EQ(firewall_->byIdentity(kFirstPodIdentity - 1), nullptr);
  EXPECT_EQ(firewall_->byAddress(kJobV4), nullptr);
  EXPECT_EQ(firewall_->pods().size(), 2u);
  // What the status shows as the fill of the identities map.
  EXPECT_EQ(firewall_->identityCount(), 3u);
}

TEST_F(PodFirewallTest, APodWithoutARouteToItsInterfaceIsNotAttachedAndSaysSo) {
  const auto result = sync({{pod("web", "u-web", {kWebV4, kWebV6}), policyOf(kWebEgress)}});
  EXPECT_FALSE(result.complete);
  const PodState* state = firewall_->byAddress(kWebV4);
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->interface, std::nullopt);
  EXPECT_EQ(state->problem, "no route to 198.18.1.10 yet");
  // It is policed all the same: once its interface appears, its packets meet its policy.
  EXPECT_EQ(identities().size(), 2u);
}

TEST_F(PodFirewallTest, StaticEntriesOfThePodsPolicyAreInstalledForItsIdentity) {
  plugIn("web", {kWebV4, kWebV6});
  plugIn("batch", {kBatchV4});
  const Policy web_policy = policyOf(kWebEgress);
  const Policy batch_policy = policyOf(egress("batch",
                                              "  rules:\n"
                                              "    - cidrs: [203.0.113.0/24]\n"));
  sync({{pod("web", "u-web", {kWebV4, kWebV6}), web_policy},
        {pod("batch", "u-batch", {kBatchV4}), batch_policy}});
  const std::uint32_t web = identityOf(kWebV4);
  const std::uint32_t batch = identityOf(kBatchV4);

  EXPECT_EQ(staticEntriesOf(web),
            (std::vector<std::string>{"2001:db8:f::10/128 443/TCP", "203.0.113.10/32 443/TCP"}));
  EXPECT_EQ(staticEntriesOf(batch), std::vector<std::string>{"203.0.113.0/24 any port"});
  EXPECT_TRUE(staticEntriesOf(SKOUTER_HOST_IDENTITY).empty());

  // What pod_ingress makes of it: each pod by its own entries.
  EXPECT_EQ(connect(kWebV4, kStaticDestination), Verdict::kPass);
  EXPECT_EQ(connect(kWebV6, kStaticDestinationV6), Verdict::kPass);
  EXPECT_EQ(connect(kWebV4, kStaticDestination, 80), Verdict::kDrop);
  EXPECT_EQ(connect(kWebV4, kApiAddress), Verdict::kDrop);  // no answer named it yet
  EXPECT_EQ(connect(kBatchV4, kApiAddress, 80), Verdict::kPass);
}

TEST_F(PodFirewallTest, APodWhosePolicyNoLongerAllowsANameLosesItsEntries) {
  plugIn("web", {kWebV4});
  const Policy both_names = policyOf(kWebEgress);
  const PodObject web = pod("web", "u-web", {kWebV4});
  sync({{web, both_names}});
  const std::uint32_t identity = identityOf(kWebV4);
  learn(identity, *both_names, "api.example.com", kApiAddress);
  learn(identity, *both_names, "cdn.example.com", kCdnAddress);
  ASSERT_EQ(connect(kWebV4, kCdnAddress), Verdict::kPass);

  // The same policy again (the same compiled object) changes nothing.
  sync({{web, both_names}});
  EXPECT_EQ(learnedEntriesOf(identity), (std::vector<std::string>{
                                            "203.0.113.20 api.example.com",
                                            "203.0.113.21 cdn.example.com",
                                        }));

  const Policy api_only = policyOf(egress("web",
                                          "  rules:\n"
                                          "    - domains: [api.example.com]\n"
                                          "    - ips: [203.0.113.10]\n"));
  sync({{web, api_only}});
  EXPECT_EQ(identityOf(kWebV4), identity);
  EXPECT_EQ(learnedEntriesOf(identity), std::vector<std::string>{"203.0.113.20 api.example.com"});
  // The static entry lost its port restriction, and the IPv6 one is gone.
  EXPECT_EQ(staticEntriesOf(identity), std::vector<std::string>{"203.0.113.10/32 any port"});
  EXPECT_EQ(connect(kWebV4, kCdnAddress), Verdict::kDrop);
  EXPECT_EQ(connect(kWebV4, kApiAddress), Verdict::kPass);
  EXPECT_EQ(connect(kWebV4, kStaticDestination, 80), Verdict::kPass);
}

TEST_F(PodFirewallTest, APodThatGoesAwayLosesItsIdentityAndAllItsEntries) {
  plugIn("web", {kWebV4, kWebV6});
  plugIn("batch", {kBatchV4});
  const Policy web_policy = policyOf(kWebEgress);
  const PodObject web = pod("web", "u-web", {kWebV4, kWebV6});
  const PodObject batch = pod("batch", "u-batch", {kBatchV4});
  sync({{web, web_policy}, {batch, web_policy}});
  const std::uint32_t web_identity = identityOf(kWebV4);
  const std::uint32_t batch_identity = identityOf(kBatchV4);
  learn(web_identity, *web_policy, "api.example.com", kApiAddress);
  learn(batch_identity, *web_policy, "api.example.com", kApiAddress);

  const auto result = sync({{batch, web_policy}});
  EXPECT_TRUE(result.newly_policed.empty());
  EXPECT_EQ(firewall_->byIdentity(web_identity), nullptr);
  EXPECT_EQ(firewall_->byAddress(kWebV6), nullptr);
  EXPECT_EQ(identities(), std::vector<std::string>{identityLine(kBatchV4, batch_identity)});
  EXPECT_TRUE(staticEntriesOf(web_identity).empty());
  EXPECT_TRUE(learnedEntriesOf(web_identity).empty());
  EXPECT_EQ(identitiesWithEntries(), std::set<std::uint32_t>{batch_identity});
  // Its address is nobody's now: a packet from it is a spoofed one.
  const HookCounters before = counters();
  EXPECT_EQ(connect(kWebV4, kApiAddress), Verdict::kDrop);
  EXPECT_EQ(countersMoved(before, counters()),
            (HookCounters{{"pod_ingress", {{"pod_unknown_source", 1}}}}));
  // The pod that stays keeps everything.
  EXPECT_EQ(learnedEntriesOf(batch_identity),
            std::vector<std::string>{"203.0.113.20 api.example.com"});
  EXPECT_EQ(connect(kBatchV4, kApiAddress), Verdict::kPass);

  // And the last one going leaves nothing at all.
  sync({});
  EXPECT_TRUE(identities().empty());
  EXPECT_EQ(firewall_->identityCount(), 0u);
  EXPECT_TRUE(identitiesWithEntries().empty());
  EXPECT_TRUE(firewall_->pods().empty());
}

TEST_F(PodFirewallTest, APodKeepsItsIdentityAcrossSyncs) {
  const Policy web_policy = policyOf(kWebEgress);
  PodObject web = pod("web", "u-web", {kWebV4});
  sync({{web, web_policy}});
  const std::uint32_t identity = identityOf(kWebV4);
  learn(identity, *web_policy, "api.example.com", kApiAddress);

  // Other pods before it in the list, a new policy, new labels: the same identity.
  const auto result = sync({{pod("batch", "u-batch", {kBatchV4}), web_policy},
                            {web, policyOf(kWebEgress + "  mode: audit\n")}});
  EXPECT_EQ(identityOf(kWebV4), identity);
  EXPECT_EQ(result.newly_policed, std::vector<std::uint32_t>{identityOf(kBatchV4)});
  web.labels["version"] = "2";
  sync({{web, web_policy}});
  EXPECT_EQ(identityOf(kWebV4), identity);
  EXPECT_EQ(firewall_->byIdentity(identity)->pod.labels.at("version"), "2");
  EXPECT_EQ(learnedEntriesOf(identity), std::vector<std::string>{"203.0.113.20 api.example.com"});

  // Its addresses change (an IPv6 address is added, then the IPv4 one goes): the
  // identity follows the pod, and the address it gave up is no longer its.
  web.addresses = {kWebV4, kWebV6};
  sync({{web, web_policy}});
  web.addresses = {kWebV6};
  sync({{web, web_policy}});
  EXPECT_EQ(identityOf(kWebV6), identity);
  EXPECT_EQ(identities(), std::vector<std::string>{identityLine(kWebV6, identity)});
  EXPECT_EQ(learnedEntriesOf(identity), std::vector<std::string>{"203.0.113.20 api.example.com"});
}

TEST_F(PodFirewallTest, ARestartedDaemonGivesPodsBackTheIdentityOfTheirAddress) {
  plugIn("web", {kWebV4, kWebV6});
  plugIn("job", {kJobV4});
  const Policy web_policy = policyOf(kWebEgress);
  const PodObject web = pod("web", "u-web", {kWebV4, kWebV6});
  const PodObject batch = pod("batch", "u-batch", {kBatchV4});
  const PodObject job = pod("job", "u-job", {kJobV4});
  sync({{web, web_policy}, {batch, web_policy}, {job, web_policy}});
  const std::uint32_t web_identity = identityOf(kWebV4);
  const std::uint32_t batch_identity = identityOf(kBatchV4);
  const std::uint32_t job_identity = identityOf(kJobV4);
  learn(web_identity, *web_policy, "api.example.com", kApiAddress);
  learn(job_identity, *web_policy, "cdn.example.com", kCdnAddress);

  // The job finishes while no daemon runs; a new pod starts. The new daemon lists the
  // pods in another order.
  restartDaemon();
  const PodObject fresh = pod("fresh", "u-fresh", {ip("198.18.1.13")});
  const auto result = sync({{fresh, web_policy}, {batch, web_policy}, {web, web_policy}});

  EXPECT_EQ(identityOf(kWebV4), web_identity);
  EXPECT_EQ(identityOf(kBatchV4), batch_identity);
  const std::uint32_t fresh_identity = identityOf(ip("198.18.1.13"));
  EXPECT_GE(fresh_identity, kFirstPodIdentity);
  // The new pod inherits nothing of the pod that went away.
  EXPECT_EQ(
      std::set<std::uint32_t>({web_identity, batch_identity, job_identity}).count(fresh_identity),
      0u);
  EXPECT_TRUE(learnedEntriesOf(fresh_identity).empty());
  // What the job's identity held is gone, everywhere.
  EXPECT_EQ(firewall_->byAddress(kJobV4), nullptr);
  EXPECT_TRUE(staticEntriesOf(job_identity).empty());
  EXPECT_TRUE(learnedEntriesOf(job_identity).empty());
  EXPECT_EQ(identities(), sorted({
                              identityLine(kWebV4, web_identity),
                              identityLine(kWebV6, web_identity),
                              identityLine(kBatchV4, batch_identity),
                              identityLine(ip("198.18.1.13"), fresh_identity),
                          }));
  EXPECT_EQ(identitiesWithEntries(),
            (std::set<std::uint32_t>{web_identity, batch_identity, fresh_identity}));
  // The learned entries of the pods that stayed are still valid, and enforced.
  EXPECT_EQ(learnedEntriesOf(web_identity),
            std::vector<std::string>{"203.0.113.20 api.example.com"});
  EXPECT_EQ(connect(kWebV4, kApiAddress), Verdict::kPass);
  EXPECT_EQ(connect(kJobV4, kCdnAddress), Verdict::kDrop);
  // To the new daemon, every pod is new: it looks their names up again.
  EXPECT_EQ(std::set<std::uint32_t>(result.newly_policed.begin(), result.newly_policed.end()),
            (std::set<std::uint32_t>{web_identity, batch_identity, fresh_identity}));

  // Later syncs keep all of it.
  sync({{fresh, web_policy}, {batch, web_policy}, {web, web_policy}});
  EXPECT_EQ(identityOf(kWebV4), web_identity);
  EXPECT_EQ(identityOf(ip("198.18.1.13")), fresh_identity);
}

TEST_F(PodFirewallTest, ARestartedDaemonWithNoPodsLeftClearsEveryPodIdentity) {
  const Policy web_policy = policyOf(kWebEgress);
  sync({{pod("web", "u-web", {kWebV4, kWebV6}), web_policy}});
  learn(identityOf(kWebV4), *web_policy, "api.example.com", kApiAddress);
  ASSERT_FALSE(identitiesWithEntries().empty());

  restartDaemon();
  sync({});
  EXPECT_TRUE(identities().empty());
  EXPECT_EQ(firewall_->identityCount(), 0u);
  EXPECT_TRUE(identitiesWithEntries().empty());
}

TEST_F(PodFirewallTest, TwoPodsNeverShareAnIdentity) {
  const Policy web_policy = policyOf(kWebEgress);
  // Pods come and go over several syncs; every live pod has an identity of its own.
  std::vector<PodObject> pods;
  for (int index = 0; index < 12; ++index) {
    const std::string name = "pod-" + std::to_string(index);
    pods.push_back(pod(name, "u-" + name,
                       {ip(("198.18.2." + std::to_string(index + 1)).c_str()),
                        ip(("2001:db8:2::" + std::to_string(index + 1)).c_str())}));
  }
  const auto expectDistinct = [&](const std::vector<std::size_t>& live) {
    std::set<std::uint32_t> seen;
    for (const std::size_t index : live) {
      const std::uint32_t identity = identityOf(pods[index].addresses[0]);
      EXPECT_GE(identity, kFirstPodIdentity) << pods[index].name;
      EXPECT_EQ(identityOf(pods[index].addresses[1]), identity) << pods[index].name;
      EXPECT_TRUE(seen.insert(identity).second) << pods[index].name << " shares " << identity;
    }
    EXPECT_EQ(identities().size(), 2 * live.size());
  };
  const auto syncPods = [&](const std::vector<std::size_t>& live) {
    std::vector<PolicedPod> policed;
    for (const std::size_t index : live) policed.push_back({pods[index], web_policy});
    sync(policed);
    expectDistinct(live);
  };
  syncPods({0, 1, 2, 3});
  syncPods({2, 3, 4, 5});
  syncPods({5, 6, 0, 1});  // 0 and 1 come back as new pods
  restartDaemon();
  syncPods({6, 7, 5, 8});
  syncPods({9, 10, 11, 6});

  // After a restart, two new pods whose addresses one pod had before: at most one of
  // them gets that pod's identity.
  sync({{pods[0], web_policy}});
  restartDaemon();
  PodObject first = pod("first", "u-first", {pods[0].addresses[0]});
  PodObject second = pod("second", "u-second", {pods[0].addresses[1]});
  sync({{first, web_policy}, {second, web_policy}});
  EXPECT_NE(identityOf(first.addresses[0]), identityOf(second.addresses[0]));
  EXPECT_GE(identityOf(second.addresses[0]), kFirstPodIdentity);
  EXPECT_EQ(identities().size(), 2u);
}

// With a route to the pod through an interface of its own (as a CNI sets one up), the
// pod programs go on that interface, and come off when the pod goes.
TEST_F(PodFirewallTest, APodIsAttachedToTheInterfaceItsRouteLeadsToAndDetachedWhenItGoes) {
  shell("ip link add web-host type veth peer name web-pod");
  shell("ip link set web-host up && ip link set web-pod up");
  const PodObject web = pod("web", "u-web", {kWebV4});
  const Policy web_policy = policyOf(kWebEgress);

  // The CNI adds the route after the pod has its address: the next sync attaches.
  EXPECT_FALSE(sync({{web, web_policy}}).complete);
  EXPECT_TRUE(Datapath::podAttachments(pinDir()).empty());
  shell("ip route add 198.18.1.10/32 dev web-host");
  EXPECT_TRUE(sync({{web, web_policy}}).complete);
  const PodState* state = firewall_->byAddress(kWebV4);
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->problem, "");
  ASSERT_TRUE(state->interface.has_value());
  EXPECT_EQ(state->interface->name, "web-host");
  const int ifindex = static_cast<int>(if_nametoindex("web-host"));
  EXPECT_EQ(state->interface->ifindex, ifindex);
  EXPECT_EQ(Datapath::podAttachments(pinDir()), std::vector<int>{ifindex});

  sync({});
  EXPECT_TRUE(Datapath::podAttachments(pinDir()).empty());
}

// An Egress deleted while no daemon ran: the pod lives on, unselected. Left attached
// without an identity, pod_ingress would drop all its traffic as an unknown source.
TEST_F(PodFirewallTest, ARestartedDaemonDetachesInterfacesNoPolicedPodUses) {
  shell("ip link add web-host type veth peer name web-pod");
  shell("ip link add batch-host type veth peer name batch-pod");
  shell("ip link set web-host up && ip link set web-pod up");
  shell("ip link set batch-host up && ip link set batch-pod up");
  shell("ip route add 198.18.1.10/32 dev web-host");
  shell("ip route add 198.18.1.11/32 dev batch-host");
  const Policy web_policy = policyOf(kWebEgress);
  const PodObject web = pod("web", "u-web", {kWebV4});
  const PodObject batch = pod("batch", "u-batch", {kBatchV4});
  ASSERT_TRUE(sync({{web, web_policy}, {batch, web_policy}}).complete);
  ASSERT_EQ(Datapath::podAttachments(pinDir()).size(), 2u);

  restartDaemon();
  EXPECT_TRUE(sync({{web, web_policy}}).complete);
  EXPECT_EQ(Datapath::podAttachments(pinDir()),
            std::vector<int>{static_cast<int>(if_nametoindex("web-host"))});
}

// Behind a shared bridge, pod_ingress sees the pods nobody polices too: they are listed
// with the unpoliced identity and pass, until an Egress selects them.
TEST_F(PodFirewallTest, UnpolicedPodsAreListedSoThatTheyPassBesidePolicedOnes) {
  plugIn("web", {kWebV4});
  plugIn("batch", {kBatchV4});
  const Policy web_policy = policyOf(kWebEgress);
  const PodObject web = pod("web", "u-web", {kWebV4});
  const PodObject batch = pod("batch", "u-batch", {kBatchV4});
  sync({{web, web_policy}}, {batch});
  const std::uint32_t web_identity = firewall_->byAddress(kWebV4)->identity;
  EXPECT_EQ(identities(), sorted({identityLine(kWebV4, web_identity),
                                  identityLine(kBatchV4, SKOUTER_UNPOLICED_IDENTITY)}));
  EXPECT_EQ(connect(kBatchV4, kCdnAddress), Verdict::kPass);
  EXPECT_EQ(connect(kWebV4, kCdnAddress), Verdict::kDrop);

  // Selected now: its own identity, and judged.
  sync({{web, web_policy}, {batch, web_policy}}, {});
  const std::uint32_t batch_identity = firewall_->byAddress(kBatchV4)->identity;
  EXPECT_GE(batch_identity, kFirstPodIdentity);
  EXPECT_EQ(connect(kBatchV4, kCdnAddress), Verdict::kDrop);

  // Unselected again, then gone.
  sync({{web, web_policy}}, {batch});
  EXPECT_EQ(identities(), sorted({identityLine(kWebV4, web_identity),
                                  identityLine(kBatchV4, SKOUTER_UNPOLICED_IDENTITY)}));
  EXPECT_FALSE(identitiesWithEntries().contains(batch_identity));
  sync({{web, web_policy}}, {});
  EXPECT_EQ(identities(), std::vector<std::string>{identityLine(kWebV4, web_identity)});

  // A restarted daemon never hands the unpoliced identity to a policed pod.
  sync({{web, web_policy}}, {batch});
  restartDaemon();
  sync({{web, web_policy}, {batch, web_policy}}, {});
  EXPECT_GE(firewall_->byAddress(kBatchV4)->identity, kFirstPodIdentity);
  EXPECT_EQ(firewall_->byAddress(kWebV4)->identity, web_identity);
}

// While no daemon ran, a policed pod went away and the IPAM gave its address to a new
// pod that nothing selects: the address is the new pod's, unpoliced.
TEST_F(PodFirewallTest, AnAddressReusedByAnUnpolicedPodDuringARestartIsUnpoliced) {
  plugIn("job", {kJobV4});
  const Policy web_policy = policyOf(kWebEgress);
  sync({{pod("job", "u-job", {kJobV4}), web_policy}});
  const std::uint32_t job_identity = identityOf(kJobV4);
  learn(job_identity, *web_policy, "api.example.com", kApiAddress);

  restartDaemon();
  sync({}, {pod("reused", "u-reused", {kJobV4})});
  EXPECT_EQ(identities(),
            std::vector<std::string>{identityLine(kJobV4, SKOUTER_UNPOLICED_IDENTITY)});
  EXPECT_TRUE(identitiesWithEntries().empty());
  EXPECT_EQ(connect(kJobV4, kCdnAddress), Verdict::kPass);
}

TEST_F(PodFirewallTest, ARouteThroughAnUplinkIsNoPodInterface) {
  shell("ip link add uplink0 type veth peer name uplink0-peer");
  shell("ip link set uplink0 up && ip link set uplink0-peer up");
  shell("ip route add 198.18.1.0/24 dev uplink0");
  restartDaemon({static_cast<int>(if_nametoindex("uplink0"))});

  EXPECT_FALSE(sync({{pod("web", "u-web", {kWebV4}), policyOf(kWebEgress)}}).complete);
  const PodState* state = firewall_->byAddress(kWebV4);
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->interface, std::nullopt);
  EXPECT_EQ(state->problem, "the route to 198.18.1.10 leads to uplink0, not to a pod interface");
  EXPECT_TRUE(Datapath::podAttachments(pinDir()).empty());
}

}  // namespace
}  // namespace skouter::bpftest
