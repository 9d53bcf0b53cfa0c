// Clients that cache an answer past its TTL (the JVM, .NET) connect to an address that
// has expired: a late connection. It is dropped like any denied flow, and every place an
// operator looks says why (explain, monitor, audit, the log, the metric); a rule's
// minTTL keeps its names' addresses open longer without raising --min-ttl for all.
// cached.example.net has a TTL of 2 s (tests/e2e/lab/lab.zone.in), in both families.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "firewall_test_fixture.h"

namespace skouter::e2e {
namespace {

using std::chrono::seconds;

constexpr const char* kAddressV4 = "203.0.113.31";
constexpr const char* kAddressV6 = "2001:db8:100::31";

std::string lateEgress(const std::string& cached_rule_extra) {
  return R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: late
spec:
  nodeSelector: {}
  rules:
    - domains: [cached.example.net]
)" + cached_rule_extra +
         R"(    - domains: [short.wikipedia.org]
)";
}

class LateConnectionTest : public FirewallTest {
 protected:
  // skouterd with `policy`, no grace: an address expires exactly at its TTL.
  void startWith(const std::string& policy) {
    policies_late_.write("late.yaml", policy);
    daemon_ = std::make_unique<Skouterd>(*lab_, policies_late_.path(),
                                         std::vector<std::string>{"--ttl-grace", "0"});
    daemon_->start();
  }

  // A connection by address, with no lookup: what a client holding the address does.
  CommandResult connectTo(const std::string& address) {
    const bool v6 = address.find(':') != std::string::npos;
    return node("curl -sS -g --max-time 2 http://" + (v6 ? "[" + address + "]" : address) + "/",
                seconds(10));
  }

  std::string metrics() {
    return node("curl -sS --max-time 3 --unix-socket " + daemon_->socketPath() +
                " http://skouterd/metrics")
        .out;
  }

  PolicyDirectory policies_late_{PolicyDirectory::Contents::kEmpty};
};

TEST_F(LateConnectionTest, ALateConnectionIsExplainedInExplainMonitorAuditAndTheMetric) {
  startWith(lateEgress(""));
  auto monitor = lab_->startBackground(
      "node", skouterctlPath() + " --socket " + daemon_->socketPath() + " monitor --type flow");
  ASSERT_TRUE(eventually([&] { return daemon_->status()["events"]["subscribers"] == 1; }))
      << monitor->output();

  ASSERT_TRUE(node(httpGet("http://cached.example.net/", "-4")).ok());
  ASSERT_TRUE(node(httpGet("http://cached.example.net/", "-6")).ok());
  // The client keeps the addresses; skouterd removes them once their 2 s are over.
  ASSERT_TRUE(
      eventually([&] { return learnedAddresses("cached.example.net").empty(); }, seconds(10)))
      << daemon_->entries().dump();
  EXPECT_EQ(connectTo(kAddressV4).exit_code, kCurlTimedOut);
  EXPECT_EQ(connectTo(kAddressV6).exit_code, kCurlTimedOut);

  // explain, in words and in JSON.
  const auto explained = ctl({"explain", "--dst", kAddressV4, "--port", "80"});
  EXPECT_TRUE(explained.ok()) << explained.describe();
  EXPECT_TRUE(std::regex_search(
      explained.out,
      std::regex("^denied: 203\\.0\\.113\\.31 was learned for cached\\.example\\.net, expired "
                 "[0-9]+ s ago \\(late/rules\\[0\\]\\): a late connection")))
      << explained.out;
  const auto explained_v6 = nlohmann::json::parse(
      ctl({"explain", "--dst", kAddressV6, "--port", "80", "-o", "json"}).out);
  EXPECT_EQ(explained_v6["verdict"], "denied");
  EXPECT_EQ(explained_v6["late"]["names"], nlohmann::json::array({"cached.example.net"}));
  EXPECT_EQ(explained_v6["late"]["rule"], "late/rules[0]");
  EXPECT_GE(explained_v6["late"]["expired_ago_s"].get<int>(), 0);
  // An address never learned is no late connection.
  EXPECT_TRUE(
      nlohmann::json::parse(
          ctl({"explain", "--dst", "203.0.113.21", "--port", "80", "-o", "json"}).out)["late"]
          .is_null());

  // monitor, one line per dropped SYN.
  const std::regex monitor_line(
      "DENIED +host  \\S+ -> 203\\.0\\.113\\.31:80/tcp  \\(cached\\.example\\.net\\)  late "
      "connection: learned for cached\\.example\\.net, expired [0-9]+ s ago");
  EXPECT_TRUE(eventually([&] { return std::regex_search(monitor->output(), monitor_line); }))
      << monitor->output();
  EXPECT_NE(monitor->output().find("-> [2001:db8:100::31]:80/tcp  (cached.example.net)  late "
                                   "connection: learned for cached.example.net, expired "),
            std::string::npos)
      << monitor->output();

  // The metric counts them for the workload (a retransmitted SYN counts again), and
  // status too.
  const std::regex sample("skouter_late_connections_total\\{workload=\"host\"\\} ([0-9]+)");
  std::smatch count;
  const std::string scraped = metrics();
  ASSERT_TRUE(std::regex_search(scraped, count, sample)) << scraped;
  EXPECT_GE(std::stoi(count[1]), 2);
  EXPECT_GE(daemon_->status()["late_connections"]["by_workload"]["host"].get<int>(), 2);

  // audit and the log, once per destination.
  const auto audit = ctl({"audit"});
  EXPECT_NE(audit.out.find("late: learned for cached.example.net, expired"), std::string::npos)
      << audit.out;
  EXPECT_NE(daemon_->log().find("203.0.113.31 80/TCP (cached.example.net); late connection: "
                                "learned for cached.example.net, expired"),
            std::string::npos)
      << daemon_->log();

  // audit suggest proposes a minTTL for the name's rule, with its evidence.
  const auto suggested = ctl({"audit", "suggest"});
  EXPECT_TRUE(suggested.ok()) << suggested.describe();
  EXPECT_TRUE(std::regex_search(
      suggested.out,
      std::regex("- cached\\.example\\.net\n      ports:\n        - \\{port: 80, protocol: "
                 "TCP\\}\n      minTTL: [0-9]+  # [0-9]+ late connections?, up to [0-9]+ s after "
                 "the address expired\n")))
      << suggested.out;
}

TEST_F(LateConnectionTest, ARulesMinTtlKeepsItsAddressesOpenPastTheirTtl) {
  startWith(lateEgress("      minTTL: 30\n"));
  ASSERT_TRUE(node(httpGet("http://cached.example.net/", "-4")).ok());
  ASSERT_TRUE(node(httpGet("http://cached.example.net/", "-6")).ok());
  ASSERT_TRUE(node(httpGet("http://short.wikipedia.org/", "-4")).ok());

  // entries shows the rule's floor for its name, the TTL for the other rule's.
  std::size_t listed = 0;
  for (const auto& entry : daemon_->entries()) {
    if (entry["expires_in_s"].is_null()) continue;
    const std::string name = entry["names"].at(0);
    if (name == "cached.example.net") {
      ++listed;
      EXPECT_GT(entry["expires_in_s"].get<double>(), 20.0) << entry.dump();
    } else if (name == "short.wikipedia.org") {
      EXPECT_LE(entry["expires_in_s"].get<double>(), 2.0) << entry.dump();
    }
  }
  EXPECT_EQ(listed, 2u) << daemon_->entries().dump();
  EXPECT_NE(daemon_->ctlJson("policies").dump().find("\"min_ttl_s\":30"), std::string::npos);

  // Past the DNS TTL, by address without a lookup, the connection still opens.
  std::this_thread::sleep_for(seconds(4));
  EXPECT_TRUE(connectTo(kAddressV4).ok());
  EXPECT_TRUE(connectTo(kAddressV6).ok());
  EXPECT_EQ(connectTo("203.0.113.30").exit_code, kCurlTimedOut) << "short.wikipedia.org expired";

  // A minTTL the loader refuses leaves the policy in force, and says where.
  policies_late_.write("late.yaml", lateEgress("      minTTL: 30s\n"));
  EXPECT_TRUE(eventually([&] {
    return daemon_->status()["last_policy_error"].dump().find(
               "spec.rules[0].minTTL: '30s' is not a whole number of seconds from 0 to 604800") !=
           std::string::npos;
  })) << daemon_->status()["last_policy_error"].dump();
  EXPECT_TRUE(connectTo(kAddressV4).ok());
}

// While skouterd is stopped the datapath learns with --min-ttl only; the daemon, back,
// gives what it takes in the floor of the rule that allowed it. A wildcard, so that no
// pre-warming lookup at start installed the name before.
TEST_F(LateConnectionTest, ARulesMinTtlReachesWhatTheDatapathLearnedWhileTheDaemonWasAway) {
  startWith(R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: late
spec:
  nodeSelector: {}
  rules:
    - domains: ['*.example.net']
      minTTL: 30
)");
  daemon_->kill(SIGSTOP);  // waits 5 s, past the 2 s --failsafe-timeout
  ASSERT_TRUE(node(httpGet("http://cached.example.net/", "-4")).ok());
  ASSERT_TRUE(node(httpGet("http://cached.example.net/", "-6")).ok());
  daemon_->kill(SIGCONT);

  EXPECT_TRUE(eventually([&] {
    std::size_t floored = 0;
    for (const auto& entry : daemon_->entries()) {
      if (entry["names"] == nlohmann::json::array({"cached.example.net"}) &&
          entry["expires_in_s"].is_number() && entry["expires_in_s"].get<double>() > 15.0) {
        ++floored;
      }
    }
    return floored == 2;
  })) << daemon_->entries().dump();
  EXPECT_GE(daemon_->status()["absences"]["pairs_adopted"].get<int>(), 2);
  std::this_thread::sleep_for(seconds(3));  // past the DNS TTL
  EXPECT_TRUE(connectTo(kAddressV4).ok());
  EXPECT_TRUE(connectTo(kAddressV6).ok());
}

}  // namespace
}  // namespace skouter::e2e
