// The DNS answer path end to end: DNS over TCP, truncation, forged answers,
// rewriting, the fail-safe, pre-warming and per-name limits, with real unbound,
// dig, kdig and curl in the lab.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <set>
#include <sstream>
#include <thread>

#include "firewall_test_fixture.h"

namespace skouter::e2e {
namespace {

using std::chrono::seconds;

using DnsPipelineTest = FirewallTest;

TEST_F(DnsPipelineTest, LookupsOverTcpConnectAtOnce) {
  startDaemon();
  struct Lookup {
    std::string client;
    std::string name;
    std::string address;
  };
  const std::vector<Lookup> lookups = {
      {"dig +tcp +short", "de.wikipedia.org A", "203.0.113.12"},
      {std::string("dig +tcp +short @") + kResolverV6, "de.wikipedia.org AAAA",
       "[2001:db8:100::12]"},
      {"kdig +tcp +short", "en.wikipedia.org A", "203.0.113.14"},
      {std::string("kdig +tcp +short @") + kResolverV6, "httpbin.org AAAA", "[2001:db8:100::11]"},
  };
  for (const auto& lookup : lookups) {
    // The connection follows the lookup at once: the address must already be in.
    const auto result = node(lookup.client + " " + lookup.name + " && " +
                             httpGet("http://" + lookup.address + "/", "-g"));
    EXPECT_TRUE(result.ok()) << lookup.client << " " << lookup.name << ": " << result.describe();
    EXPECT_NE(result.out.find("hello from"), std::string::npos) << result.out;
  }
  EXPECT_GE(counter("datapath", "dns_tcp_segment_held"), 4u);
  EXPECT_GE(counter("answers", "tcp_messages"), 4u);
  // A denied name over TCP still resolves, and still cannot be reached.
  const auto denied = node("dig +tcp +short github.com A");
  EXPECT_EQ(denied.out, "203.0.113.20\n") << denied.describe();
  EXPECT_EQ(node(httpGet("http://203.0.113.20/")).exit_code, kCurlTimedOut);
}

TEST_F(DnsPipelineTest, TruncatedNameWorksThroughTcpFallbackForEveryAddress) {
  startDaemon();
  // Without EDNS the 120 records do not fit: the UDP answer comes back truncated
  // and dig retries over TCP, as any stub resolver does.
  const auto lookup = node("dig +noedns +short big.wikipedia.org A | wc -l");
  ASSERT_TRUE(lookup.ok()) << lookup.describe();
  EXPECT_EQ(lookup.out, "120\n");
  const auto reached = node(
      "ok=0; for k in $(seq 1 120); do curl -s -o /dev/null --max-time 2 "
      "http://198.18.10.$k/ && ok=$((ok+1)); done; echo $ok",
      seconds(120));
  EXPECT_EQ(reached.out, "120\n") << reached.describe();
  EXPECT_GE(counter("answers", "truncated_resolved"), 1u);
  EXPECT_EQ(learnedAddresses("big.wikipedia.org").size(), 120u);
  // --verify-answers confirmed the partial answer with a lookup of its own that did not
  // fit in UDP either and was completed over TCP; that answer went to the daemon
  // unjudged. Judged, it would have waited on a confirmation of its own, and that one
  // on another, up to --max-pending-lookups (256). A handful: the two of this name,
  // and those of the pre-warming of the policy's literal names.
  EXPECT_GE(counter("answers", "own_lookups"), 2u) << daemon_->status()["counters"].dump(2);
  EXPECT_LE(counter("verify", "lookups"), 10u) << daemon_->status()["counters"].dump(2);
}

// Answers nobody asked for: from another address, or from the resolver's address
// with an id or port no query used. None may install anything.
TEST_F(DnsPipelineTest, ForgedAnswersInstallNothing) {
  startDaemon();
  const auto unsolicited_before = counter("datapath", "dns_answer_unsolicited");
  // A raw socket in the world crafts answers "example.com A 203.0.113.99".
  const std::string forge = R"(
import socket, struct, sys
def answer(dns_id):
    header = struct.pack("!HHHHHH", dns_id, 0x8180, 1, 1, 0, 0)
    question = b"\x07example\x03com\x00" + struct.pack("!HH", 1, 1)
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton("203.0.113.99")
    return header + question + record
def send(source, sport, dport, dns_id):
    payload = answer(dns_id)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(source), socket.inet_aton("198.51.100.2"))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.sendto(ip + udp, ("198.51.100.2", 0))
for dns_id in range(1, 21):
    send("198.51.100.53", 53, 40000 + dns_id, dns_id)   # trusted source, no such query
    send("198.51.100.1", 53, 40000 + dns_id, dns_id)    # untrusted source
print("sent")
)";
  const auto sent = lab_->run("world", "python3 -c '" + forge + "'", seconds(10));
  ASSERT_TRUE(sent.ok()) << sent.describe();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  EXPECT_FALSE(learnedAddresses().contains("203.0.113.99"));
  EXPECT_EQ(node(httpGet("http://203.0.113.99/")).exit_code, kCurlTimedOut);
  EXPECT_GE(counter("datapath", "dns_answer_unsolicited") - unsolicited_before, 20u);
  // Real lookups still work.
  EXPECT_TRUE(node(httpGet("http://example.com/")).ok());
}

TEST_F(DnsPipelineTest, DenyResponseNxdomainFailsFast) {
  startDaemon({"--deny-response", "nxdomain"});
  const auto lookup = node("dig +tries=1 +timeout=2 github.com A");
  EXPECT_NE(lookup.out.find("status: NXDOMAIN"), std::string::npos) << lookup.describe();
  // Fast: curl gives up on the name itself instead of timing out on a dropped SYN.
  const auto result = node(httpGet("http://github.com/"));
  EXPECT_EQ(result.exit_code, kCurlCouldNotResolve) << result.describe();
  // Allowed names are answered as usual.
  EXPECT_TRUE(node(httpGet("http://example.com/")).ok());

  startDaemon({"--deny-response", "refused"});
  EXPECT_NE(node("dig +tries=1 +timeout=2 github.com A").out.find("status: REFUSED"),
            std::string::npos);
}

TEST_F(DnsPipelineTest, MaxTtlCapsWhatTheClientSeesAndWhatIsInstalled) {
  startDaemon({"--max-ttl", "5", "--ttl-grace", "0"});
  for (const std::string client : {"dig", "dig +tcp"}) {
    const auto lookup = node(client + " +noall +answer de.wikipedia.org A");
    ASSERT_TRUE(lookup.ok()) << lookup.describe();
    std::istringstream fields(lookup.out);
    std::string name;
    int ttl = -1;
    fields >> name >> ttl;
    EXPECT_GE(ttl, 0) << client << ": " << lookup.out;
    EXPECT_LE(ttl, 5) << client << ": " << lookup.out;
  }
  for (const auto& entry : daemon_->entries()) {
    if (entry["ip"] == "203.0.113.12") {
      EXPECT_LE(entry["expires_in_s"].get<double>(), 5.0);
    }
  }
}

TEST_F(DnsPipelineTest, PrivateAddressesAreRemovedFromAnswers) {
  startDaemon({"--block-private-answers"});
  const auto lookup = node("dig +short rebind.wikipedia.org A");
  EXPECT_EQ(lookup.out, "203.0.113.60\n") << lookup.describe();
  EXPECT_EQ(learnedAddresses("rebind.wikipedia.org"), std::set<std::string>{"203.0.113.60"});
}

TEST_F(DnsPipelineTest, StoppedDaemonLeavesDnsAnsweringAfterTheFailsafeTimeout) {
  startDaemon();
  ASSERT_TRUE(node(httpGet("http://example.com/")).ok());
  daemon_->kill(SIGSTOP);
  // dig's retries outlast the 2 s fail-safe timeout.
  const auto lookup = node("dig +short +tries=4 +timeout=1 github.com A | grep -x 203.0.113.20");
  EXPECT_TRUE(lookup.ok()) << lookup.describe();
  // Enforcement goes on: installed names still work, others do not.
  EXPECT_TRUE(node(httpGet("http://203.0.113.10/")).ok());
  EXPECT_EQ(node(httpGet("http://203.0.113.20/")).exit_code, kCurlTimedOut);
  daemon_->kill(SIGCONT);
  EXPECT_GE(counter("datapath", "dns_answer_failsafe"), 1u);
}

TEST_F(DnsPipelineTest, FailOpenStopsEnforcementWhileTheDaemonIsSilent) {
  startDaemon({"--fail-open"});
  EXPECT_EQ(node(httpGet("http://203.0.113.20/")).exit_code, kCurlTimedOut);
  daemon_->kill(SIGSTOP);
  std::this_thread::sleep_for(seconds(3));
  EXPECT_TRUE(node(httpGet("http://203.0.113.20/")).ok());
  daemon_->kill(SIGCONT);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(node(httpGet("http://203.0.113.21/")).exit_code, kCurlTimedOut);
}

TEST_F(DnsPipelineTest, LiteralNamesArePrewarmedAtStart) {
  startDaemon();
  // No client has looked anything up: the daemon did, as it started.
  const auto deadline = std::chrono::steady_clock::now() + seconds(5);
  while (!learnedAddresses("httpbin.org").contains("203.0.113.11") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(learnedAddresses("example.com").contains("203.0.113.10"));
  EXPECT_TRUE(learnedAddresses("example.com").contains("2001:db8:100::10"));
  EXPECT_TRUE(learnedAddresses("httpbin.org").contains("203.0.113.11"));
  // Their answers went to the daemon's own lookups unjudged: judged as the host's
  // answers, they would each have been confirmed by one more lookup (and a pod's names
  // would count as denied for the host, or install for it).
  EXPECT_GE(counter("answers", "own_lookups"), 4u) << daemon_->status()["counters"].dump(2);
  EXPECT_EQ(counter("verify", "lookups"), 0u) << daemon_->status()["counters"].dump(2);
  EXPECT_EQ(counter("answers", "denied"), 0u) << daemon_->status()["counters"].dump(2);
  // An application holding an address from before connects without a lookup.
  EXPECT_TRUE(node(httpGet("http://203.0.113.11/")).ok());
}

TEST_F(DnsPipelineTest, MaxIpsPerNameKeepsTheMostRecentAddresses) {
  startDaemon({"--max-ips-per-name", "2"});
  const auto lookup = node("dig +short multi.wikipedia.org A | wc -l");
  EXPECT_EQ(lookup.out, "4\n") << lookup.describe();
  EXPECT_EQ(learnedAddresses("multi.wikipedia.org").size(), 2u);
  EXPECT_GE(counter("answers", "addresses_evicted"), 2u);
}

}  // namespace
}  // namespace skouter::e2e
