// The host firewall end to end: skouterd on the lab node's uplink with the seed
// example policy (plus the lab's static rules), real unbound, real curl and dig.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>

#include "firewall_test_fixture.h"

namespace skouter::e2e {
namespace {

using std::chrono::seconds;

using HostFirewallTest = FirewallTest;

TEST_F(HostFirewallTest, AllowedNamesConnectOverIpv4AndIpv6) {
  startDaemon();
  for (const std::string family : {"-4", "-6"}) {
    for (const std::string name : {"example.com", "de.wikipedia.org", "httpbin.org"}) {
      const auto result = node(httpGet("http://" + name + "/", family));
      EXPECT_TRUE(result.ok()) << name << " " << family << ": " << result.describe();
      EXPECT_EQ(result.out, "hello from " + name + "\n");
    }
  }
}

// The same through the resolver's IPv6 address: the answer arrives over IPv6 and is
// held and re-injected over IPv6.
TEST_F(HostFirewallTest, AnswersOverIpv6TransportAreHeldAndInstalled) {
  startDaemon();
  const auto lookup =
      node(std::string("dig +short +tries=1 +timeout=2 @") + kResolverV6 + " en.wikipedia.org A");
  ASSERT_TRUE(lookup.ok()) << lookup.describe();
  EXPECT_EQ(lookup.out, "203.0.113.14\n");
  EXPECT_TRUE(node(httpGet("http://203.0.113.14/")).ok());
  EXPECT_TRUE(learnedAddresses().contains("203.0.113.14"));

  const auto denied =
      node(std::string("dig +short +tries=1 +timeout=2 @") + kResolverV6 + " github.com AAAA");
  EXPECT_EQ(denied.out, "2001:db8:100::20\n") << denied.describe();
  EXPECT_EQ(node(httpGet("http://[2001:db8:100::20]/")).exit_code, kCurlTimedOut);
}

TEST_F(HostFirewallTest, NamesOutsideThePolicyTimeOut) {
  startDaemon();
  for (const std::string name : {"github.com", "blocked.test", "wikipedia.org.attacker.test"}) {
    // The answer itself is delivered unchanged: only the connection is refused.
    const auto lookup = node("dig +short +timeout=2 +tries=1 " + name + " A");
    EXPECT_TRUE(lookup.ok()) << lookup.describe();
    EXPECT_FALSE(lookup.out.empty()) << name << " should still resolve";

    const auto result = node(httpGet("http://" + name + "/"));
    EXPECT_EQ(result.exit_code, kCurlTimedOut) << name << ": " << result.describe();
  }
  const auto status = daemon_->status();
  EXPECT_GE(status["counters"]["datapath"]["egress_denied"].get<int>(), 3);
  EXPECT_GE(status["counters"]["answers"]["denied"].get<int>(), 3);
}

TEST_F(HostFirewallTest, StaticIpAndCidrRulesAllowTheirRangesOnly) {
  startDaemon();
  for (const std::string address :
       {"203.0.113.200", "198.19.0.77", "[2001:db8:100::200]", "[2001:db8:100:0:1::7]"}) {
    const auto result = node(httpGet("http://" + address + "/"));
    EXPECT_TRUE(result.ok()) << address << ": " << result.describe();
  }
  for (const std::string address : {"203.0.113.201", "198.19.1.1", "[2001:db8:100::201]"}) {
    const auto result = node(httpGet("http://" + address + "/"));
    EXPECT_EQ(result.exit_code, kCurlTimedOut) << address << ": " << result.describe();
  }
}

TEST_F(HostFirewallTest, CnameChainTargetsAreInstalled) {
  startDaemon();
  const auto result = node(httpGet("http://alias.wikipedia.org/"));
  EXPECT_TRUE(result.ok()) << result.describe();
  const auto learned = learnedAddresses();
  EXPECT_TRUE(learned.contains("203.0.113.40"));
}

TEST_F(HostFirewallTest, EntriesShowNamesExpiryAndRule) {
  startDaemon();
  ASSERT_TRUE(node(httpGet("http://example.com/")).ok());
  bool found_learned = false;
  bool found_static = false;
  for (const auto& entry : daemon_->entries()) {
    if (entry["ip"] == "203.0.113.10") {
      found_learned = true;
      EXPECT_EQ(entry["identity"], 1);
      EXPECT_EQ(entry["names"], nlohmann::json::array({"example.com"}));
      EXPECT_GT(entry["expires_in_s"].get<double>(), 200.0);
      EXPECT_LE(entry["expires_in_s"].get<double>(), 305.0);
      EXPECT_EQ(entry["rule"], "example/rules[0]");
    }
    if (entry["ip"] == "198.19.0.0/24") {
      found_static = true;
      EXPECT_TRUE(entry["expires_in_s"].is_null());
      EXPECT_EQ(entry["rule"], "lab-static/rules[1]");
    }
  }
  EXPECT_TRUE(found_learned);
  EXPECT_TRUE(found_static);

  const auto table =
      runCommand({skouterctlPath(), "--socket", daemon_->socketPath(), "entries"}, seconds(5));
  EXPECT_TRUE(table.ok()) << table.describe();
  EXPECT_NE(table.out.find("example.com"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("EXPIRES IN"), std::string::npos) << table.out;
}

// The point of holding answers: a connection made the instant the answer arrives
// finds its address installed. A dropped first SYN would show as a retransmission.
TEST_F(HostFirewallTest, FirstConnectionAfterEachOf300LookupsIsNeverDropped) {
  startDaemon();
  const auto retransmitted_before = lab_->readNstat("node", "TcpExtTCPSynRetrans");
  std::ostringstream script;
  script << "ok=0; for k in $(seq 1 " << kFreshNameCount << "); do "
         << "curl -s -o /dev/null --max-time 5 -w '%{time_connect}\\n' "
            "http://n$k.wikipedia.org/ && ok=$((ok+1)); done; "
            "echo ok=$ok";
  const auto result = node(script.str(), seconds(240));
  ASSERT_FALSE(result.timed_out) << result.describe();
  const auto retransmitted = lab_->readNstat("node", "TcpExtTCPSynRetrans") - retransmitted_before;

  std::vector<double> connect_times;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("ok=")) {
      EXPECT_EQ(line, "ok=" + std::to_string(kFreshNameCount));
    } else {
      connect_times.push_back(std::stod(line));
    }
  }
  std::sort(connect_times.begin(), connect_times.end());
  ASSERT_EQ(connect_times.size(), static_cast<std::size_t>(kFreshNameCount));
  std::printf(
      "first connections: %d; SYNs retransmitted: %llu; connect time p50 %.2f ms, "
      "p99 %.2f ms, max %.2f ms\n",
      kFreshNameCount, static_cast<unsigned long long>(retransmitted),
      connect_times[connect_times.size() / 2] * 1000,
      connect_times[connect_times.size() * 99 / 100] * 1000, connect_times.back() * 1000);
  EXPECT_EQ(retransmitted, 0u);
  EXPECT_EQ(learnedAddresses().size() >= static_cast<std::size_t>(kFreshNameCount), true);
}

// The name's TTL expires: new connections are refused, one opened before goes on.
TEST_F(HostFirewallTest, ExpiredNameDeniesNewConnectionsButKeepsOpenOnes) {
  startDaemon({"--ttl-grace", "0"});
  // One keep-alive connection, used before and after the expiry; then a new one.
  const std::string probe = R"(
import http.client, socket, sys, time
address = socket.getaddrinfo("short.wikipedia.org", 80, socket.AF_INET)[0][4][0]
kept = http.client.HTTPConnection(address, 80, timeout=3)
kept.request("GET", "/"); kept.getresponse().read()
time.sleep(4.5)
kept.request("GET", "/"); print("kept:", kept.getresponse().read().decode().strip())
try:
    fresh = http.client.HTTPConnection(address, 80, timeout=3)
    fresh.request("GET", "/"); fresh.getresponse().read(); print("new: connected")
except OSError as error:
    print("new: refused", type(error).__name__)
)";
  const auto result = node("python3 -c '" + probe + "'", seconds(20));
  EXPECT_TRUE(result.ok()) << result.describe();
  EXPECT_NE(result.out.find("kept: hello from 203.0.113.30"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("new: refused"), std::string::npos) << result.out;
  EXPECT_GE(counter("datapath", "egress_denied"), 1);

  // A fresh lookup opens the name again.
  EXPECT_TRUE(node(httpGet("http://short.wikipedia.org/")).ok());
}

TEST_F(HostFirewallTest, ConnectionsOpenedFromTheWorldGetTheirReplies) {
  startDaemon();
  for (const std::string address : {"198.51.100.2", "[2001:db8:1::2]"}) {
    const auto result =
        lab_->run("world", "curl -sS --max-time 3 http://" + address + ":8080/", seconds(10));
    EXPECT_TRUE(result.ok()) << address << ": " << result.describe();
    EXPECT_EQ(result.out, "hello from " + address + ":8080\n");
  }
  // The node itself may still not open a connection to the world's address.
  const auto outbound = node(httpGet("http://198.51.100.1/"));
  EXPECT_EQ(outbound.exit_code, kCurlTimedOut) << outbound.describe();
}

// Each held answer reaches the client once: no duplicate, no loop.
TEST_F(HostFirewallTest, EachAnswerIsDeliveredExactlyOnce) {
  startDaemon();
  const auto received = [&] {
    const auto counters = lab_->readSnmpCounters("node");
    return counters.at("UdpInDatagrams") + counters.at("UdpNoPorts") + counters.at("UdpInErrors") +
           counters.at("Udp6InDatagrams") + counters.at("Udp6NoPorts") +
           counters.at("Udp6InErrors");
  };
  const auto before = received();
  constexpr int kLookups = 20;
  // Half of the lookups go to the resolver's IPv6 address.
  const auto result = node("for i in $(seq " + std::to_string(kLookups / 2) +
                           "); do dig +short +tries=1 +timeout=2 example.com A >/dev/null && "
                           "dig +short +tries=1 +timeout=2 @" +
                           kResolverV6 + " example.com AAAA >/dev/null || exit 1; done");
  ASSERT_TRUE(result.ok()) << result.describe();
  EXPECT_EQ(received() - before, static_cast<std::uint64_t>(kLookups));
}

TEST_F(HostFirewallTest, KilledDaemonLosesNoEntryAndDnsKeepsAnswering) {
  startDaemon();
  for (int k = 1; k <= 20; ++k) ASSERT_TRUE(node(httpGet("http://" + freshName(k) + "/")).ok());
  const auto before = learnedAddresses();
  ASSERT_GE(before.size(), 20u);

  // Lookups keep running while the daemon is killed and away.
  auto lookups = lab_->startBackground(
      "node",
      "ok=0; fail=0; for i in $(seq 1 40); do "
      "if dig +short +tries=4 +timeout=1 example.com A | grep -q 203.0.113.10; "
      "then ok=$((ok+1)); else fail=$((fail+1)); fi; sleep 0.1; done; "
      "echo lookups ok=$ok fail=$fail");
  std::this_thread::sleep_for(seconds(1));
  daemon_->kill(SIGKILL);

  // Down: DNS answers once the fail-safe timeout (2 s) has passed, installed
  // entries still open, nothing else does.
  const auto lookup_while_down =
      node("dig +short +tries=5 +timeout=1 github.com A | grep -x 203.0.113.20");
  EXPECT_TRUE(lookup_while_down.ok()) << lookup_while_down.describe();
  EXPECT_TRUE(node(httpGet("http://" + freshAddress(1) + "/")).ok());
  EXPECT_EQ(node(httpGet("http://203.0.113.20/")).exit_code, kCurlTimedOut);

  daemon_->start();
  EXPECT_TRUE(daemon_->status()["takeover"]["took_over"].get<bool>());
  const auto after = learnedAddresses();
  for (const auto& address : before) EXPECT_TRUE(after.contains(address)) << address << " lost";

  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (lookups->running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto summary = lookups->output();
  EXPECT_NE(summary.find("fail=0"), std::string::npos) << summary;
  EXPECT_NE(summary.find("ok=40"), std::string::npos) << summary;
}

// On clsact (--attach-mode tc); on tcx, and beside other agents' tcx programs:
// coexistence_test.cc.
TEST_F(HostFirewallTest, AttachesBesideOtherFiltersAndDetachRemovesOnlySkouter) {
  const auto uplink = lab_->uplink();
  // Someone else's filter: a classic BPF program that matches nothing (the kernel
  // here has cls_bpf but no other classifier or action modules).
  const std::string other_filter = "bytecode '1,6 0 0 0'";
  const auto added = node("tc qdisc add dev " + uplink + " clsact && tc filter add dev " + uplink +
                          " egress prio 7 protocol all bpf " + other_filter);
  ASSERT_TRUE(added.ok()) << added.describe();
  startDaemon({"--attach-mode", "tc"});
  const auto filters = node("tc filter show dev " + uplink + " egress").out;
  EXPECT_NE(filters.find(other_filter), std::string::npos) << filters;
  EXPECT_NE(filters.find("uplink_egress"), std::string::npos) << filters;
  EXPECT_EQ(node(httpGet("http://github.com/")).exit_code, kCurlTimedOut);

  daemon_->kill(SIGTERM);
  // Stopping the daemon does not open the firewall.
  EXPECT_EQ(node(httpGet("http://203.0.113.20/")).exit_code, kCurlTimedOut);

  const auto detach = daemon_->runOnce({"--detach"});
  EXPECT_TRUE(detach.ok()) << detach.describe();
  const auto remaining = node("tc filter show dev " + uplink + " egress").out;
  EXPECT_NE(remaining.find(other_filter), std::string::npos) << remaining;
  EXPECT_EQ(remaining.find("uplink_egress"), std::string::npos) << remaining;
  EXPECT_EQ(node("tc filter show dev " + uplink + " ingress").out.find("uplink_ingress"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(daemon_->pinDir()));
  EXPECT_TRUE(node(httpGet("http://github.com/")).ok());
}

TEST_F(HostFirewallTest, SecondDaemonAndDetachAreRefusedWhileOneRuns) {
  startDaemon();
  const auto second = daemon_->runOnce({});
  EXPECT_EQ(second.exit_code, 1) << second.describe();
  EXPECT_NE((second.out + second.err).find("another skouterd is running"), std::string::npos)
      << second.describe();
  const auto detach = daemon_->runOnce({"--detach"});
  EXPECT_NE(detach.exit_code, 0) << detach.describe();
  // The running daemon is untouched.
  EXPECT_TRUE(node(httpGet("http://example.com/")).ok());
  EXPECT_EQ(node(httpGet("http://github.com/")).exit_code, kCurlTimedOut);
}

TEST_F(HostFirewallTest, BrokenPolicyIsRefusedWithFileAndField) {
  policies_.write("broken.yaml", R"(apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata:
  name: broken
spec:
  nodeSelector: {}
  rules:
    - cidrs: [10.0.0.0/33]
)");
  Skouterd daemon(*lab_, policies_.path());
  const auto result = daemon.runOnce({});
  EXPECT_EQ(result.exit_code, 1) << result.describe();
  const auto message = result.out + result.err;
  EXPECT_NE(message.find("broken.yaml"), std::string::npos) << message;
  EXPECT_NE(message.find("spec.rules[0].cidrs[0]"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(daemon.pinDir())) << "nothing may be attached";
}

}  // namespace
}  // namespace skouter::e2e
