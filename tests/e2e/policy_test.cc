// Policy language end to end: what a rule written by an operator lets through.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "firewall_test_fixture.h"

namespace skouter::e2e {
namespace {

using PolicyTest = FirewallTest;

TEST_F(PolicyTest, WildcardAllowsNamesBelowTheDomainButNotTheDomainItself) {
  PolicyDirectory policies(PolicyDirectory::Contents::kEmpty);
  policies.write("wildcard.yaml", R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: wildcard
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.example.com']
)");
  daemon_ = std::make_unique<Skouterd>(*lab_, policies.path());
  daemon_->start();
  for (const std::string name : {"www.example.com", "a.b.example.com"}) {
    const auto result = node(httpGet("http://" + name + "/"));
    EXPECT_TRUE(result.ok()) << name << ": " << result.describe();
    EXPECT_EQ(result.out, "hello from " + name + "\n");
  }
  EXPECT_EQ(node(httpGet("http://example.com/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(node(httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  EXPECT_EQ(learnedAddresses("a.b.example.com"), std::set<std::string>{"203.0.113.15"});
}

TEST_F(PolicyTest, PoliciesListsTheLoadedDocumentsAndWhatTheySelect) {
  startDaemon();
  const auto policies = daemon_->ctlJson("policies");
  ASSERT_EQ(policies.size(), 2u) << policies.dump();
  EXPECT_EQ(policies[0]["name"], "example");
  EXPECT_NE(policies[0]["source"].get<std::string>().find("egress-example.yaml"),
            std::string::npos);
  EXPECT_EQ(policies[0]["identities"], nlohmann::json::array({"host"}));
  EXPECT_EQ(policies[0]["rules"].size(), 4u);
  EXPECT_EQ(policies[0]["rules"][0]["domains"],
            nlohmann::json::array({"example.com", "httpbin.org"}));
  EXPECT_EQ(policies[0]["rules"][2]["addresses"],
            nlohmann::json::array({"127.0.0.0/8", "10.0.10.0/24"}));
  const auto table = runCommand({skouterctlPath(), "--socket", daemon_->socketPath(), "policies"},
                                std::chrono::seconds(5));
  EXPECT_TRUE(table.ok()) << table.describe();
  EXPECT_NE(table.out.find("lab-static"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("SELECTS"), std::string::npos) << table.out;
}

constexpr const char* kGithubPolicy = R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: github
spec:
  nodeSelector: {}
  rules:
    - domains: [github.com]
)";

TEST_F(PolicyTest, EditingThePolicyChangesEnforcementWithoutARestart) {
  startDaemon();
  EXPECT_EQ(node(httpGet("http://github.com/")).exit_code, kCurlTimedOut);

  policies_.write("github.yaml", kGithubPolicy);
  EXPECT_TRUE(eventually([&] { return daemon_->status()["policy_reloads"]["applied"] == 1; }));
  EXPECT_TRUE(node(httpGet("http://github.com/")).ok());
  EXPECT_TRUE(learnedAddresses("github.com").contains("203.0.113.20"))
      << daemon_->status()["counters"]["verify"].dump() << daemon_->log();

  // Taking the rule away removes what it let in: a new connection is refused.
  std::filesystem::remove(std::filesystem::path(policies_.path()) / "github.yaml");
  EXPECT_TRUE(eventually([&] { return daemon_->status()["policy_reloads"]["applied"] == 2; }));
  EXPECT_TRUE(learnedAddresses("github.com").empty());
  EXPECT_EQ(node(httpGet("http://203.0.113.20/")).exit_code, kCurlTimedOut);
  // SIGHUP reloads too.
  daemon_->kill(SIGHUP);
  EXPECT_TRUE(eventually([&] { return daemon_->status()["policy_reloads"]["applied"] == 3; }));
}

TEST_F(PolicyTest, BrokenPolicyKeepsThePreviousOneAndShowsTheError) {
  startDaemon();
  policies_.write("broken.yaml", R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: broken
spec:
  nodeSelector: {}
  rules:
    - cidrs: [10.0.0.0/33]
)");
  EXPECT_TRUE(eventually([&] { return daemon_->status()["policy_reloads"]["failed"] >= 1; }));
  const auto error = daemon_->status()["last_policy_error"];
  ASSERT_TRUE(error.is_string());
  EXPECT_NE(error.get<std::string>().find("broken.yaml"), std::string::npos) << error;
  EXPECT_NE(error.get<std::string>().find("spec.rules[0].cidrs[0]"), std::string::npos) << error;
  EXPECT_TRUE(node(httpGet("http://example.com/")).ok());
  EXPECT_TRUE(node(httpGet("http://198.19.0.77/")).ok());
  EXPECT_EQ(node(httpGet("http://github.com/")).exit_code, kCurlTimedOut);
}

// A reload whose static addresses do not all fit is applied as far as they do, and
// says so where the operator looks (the start does the same).
TEST_F(PolicyTest, AReloadThatOverfillsTheStaticRuleTableShowsItAsThePolicyError) {
  startDaemon();
  // Every other address of 198.18.0.0/15: 65,536 prefixes, the table's capacity,
  // beside the lab's static rules.
  std::string addresses;
  for (int second = 18; second <= 19; ++second) {
    for (int third = 0; third < 256; ++third) {
      for (int fourth = 0; fourth < 256; fourth += 2) {
        addresses += "        - 198." + std::to_string(second) + "." + std::to_string(third) + "." +
                     std::to_string(fourth) + "\n";
      }
    }
  }
  policies_.write("many.yaml", R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: many
spec:
  nodeSelector: {}
  rules:
    - ips:
)" + addresses);
  ASSERT_TRUE(eventually([&] { return daemon_->status()["policy_reloads"]["applied"] == 1; },
                         std::chrono::seconds(20)))
      << daemon_->log();
  const auto error = daemon_->status()["last_policy_error"];
  ASSERT_TRUE(error.is_string()) << error;
  EXPECT_NE(error.get<std::string>().find("the static rule table is full"), std::string::npos)
      << error;
  // What fitted is in force, and the names still work.
  EXPECT_TRUE(node(httpGet("http://example.com/")).ok());
}

TEST_F(PolicyTest, ReloadNeitherInterruptsADownloadNorKeepsOldRules) {
  startDaemon();
  // About 3 s of download from a static address while the static rules change.
  auto download = lab_->startBackground("node",
                                        "curl -sS --max-time 20 -o /dev/null -w '%{size_download}' "
                                        "'http://203.0.113.200/bytes?n=300000&rate=100000'");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  policies_.write("lab-static.yaml", R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: lab-static
spec:
  nodeSelector: {}
  rules:
    - ips: [203.0.113.200, 203.0.113.201]
)");
  EXPECT_TRUE(eventually([&] { return daemon_->status()["policy_reloads"]["applied"] >= 1; }));
  EXPECT_TRUE(eventually([&] { return !download->running(); }, std::chrono::seconds(15)));
  EXPECT_EQ(download->output(), "300000");
  // The new rule is in force and the dropped CIDR is gone.
  EXPECT_TRUE(node(httpGet("http://203.0.113.201/")).ok());
  EXPECT_EQ(node(httpGet("http://198.19.0.77/")).exit_code, kCurlTimedOut);
}

TEST_F(PolicyTest, PortsRuleAllowsItsPortAndDeniesAnotherToTheSameName) {
  PolicyDirectory policies(PolicyDirectory::Contents::kEmpty);
  policies.write("ports.yaml", R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: ports
spec:
  nodeSelector: {}
  rules:
    - domains: [github.com]
      ports: [{port: 443, protocol: TCP}]
    - ips: [203.0.113.200, 2001:db8:100::200]
      ports: [{port: 440, endPort: 450}]
)");
  daemon_ = std::make_unique<Skouterd>(*lab_, policies.path());
  daemon_->start();
  // The world serves plain HTTP on 443 as well as on 80.
  for (const std::string flags : {"-4", "-6"}) {
    const auto https_port = node(httpGet("http://github.com:443/", flags));
    EXPECT_TRUE(https_port.ok()) << flags << ": " << https_port.describe();
    EXPECT_EQ(node(httpGet("http://github.com/", flags)).exit_code, kCurlTimedOut) << flags;
  }
  EXPECT_TRUE(node(httpGet("http://203.0.113.200:443/")).ok());
  EXPECT_TRUE(node(httpGet("http://[2001:db8:100::200]:443/")).ok());
  EXPECT_EQ(node(httpGet("http://203.0.113.200/")).exit_code, kCurlTimedOut);
  EXPECT_GE(counter("datapath", "egress_port_denied"), 3u);

  std::map<std::string, std::string> ports_of;
  for (const auto& entry : daemon_->entries()) ports_of[entry["ip"]] = entry["ports"];
  EXPECT_EQ(ports_of["203.0.113.20"], "443/TCP");
  EXPECT_EQ(ports_of["203.0.113.200"], "440-450/TCP");
  const auto policies_listed = daemon_->ctlJson("policies");
  EXPECT_EQ(policies_listed[0]["rules"][0]["ports"], "443/TCP") << policies_listed;
}

TEST_F(PolicyTest, DenyResponseOfAnEgressOverridesTheFlag) {
  PolicyDirectory policies(PolicyDirectory::Contents::kEmpty);
  policies.write("strict.yaml", R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: strict
spec:
  nodeSelector: {}
  denyResponse: nxdomain
  rules:
    - domains: [example.com]
)");
  daemon_ = std::make_unique<Skouterd>(*lab_, policies.path(),
                                       std::vector<std::string>{"--deny-response", "refused"});
  daemon_->start();
  const auto denied = node("dig +tries=1 +timeout=2 github.com A");
  EXPECT_NE(denied.out.find("status: NXDOMAIN"), std::string::npos) << denied.describe();
  const auto allowed = node("dig +tries=1 +timeout=2 example.com A");
  EXPECT_NE(allowed.out.find("status: NOERROR"), std::string::npos) << allowed.describe();
  EXPECT_EQ(daemon_->ctlJson("policies")[0]["deny_response"], "nxdomain");
}

}  // namespace
}  // namespace skouter::e2e
