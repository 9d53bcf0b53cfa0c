// Attacks on the datapath (issue 12, "close every way around the datapath"): each test
// does what a hostile workload would, in the real lab, and checks on the world side of
// the uplink that not one byte of the attack got out (tcpdump, a marker in the
// payload; see world_capture.h). Positive controls in the same capture show that the
// capture sees what the policy lets through, so an attack that stayed inside is not
// just a capture that saw nothing. Each test quotes the row of ../shared/THREATS.md it
// covers ("[...]": parts of the row left out).
//
// The packets come from lab/attack.py (raw sockets, IP_HDRINCL, AF_PACKET) and busy
// connections from lab/pingpong.py.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "firewall_test_fixture.h"
#include "kubernetes_fixture.h"
#include "lab.h"
#include "skouterd_process.h"
#include "world_capture.h"

namespace skouter::e2e {
namespace {

using std::chrono::seconds;

// Addresses no rule of the lab's policies allows (the world answers on them all).
constexpr const char* kNoRuleV4 = "203.0.113.99";
constexpr const char* kNoRuleV6 = "2001:db8:100::99";
constexpr const char* kOutsiderV4 = "203.0.113.77";
constexpr const char* kOutsiderV6 = "2001:db8:100::77";
// github.com, which the host's policy denies (and pod A's, which allows example.com).
constexpr const char* kDeniedV4 = "203.0.113.20";
constexpr const char* kDeniedV6 = "2001:db8:100::20";
// The lab's static rules allow these to the host (tests/e2e/policies/lab-static.yaml).
constexpr const char* kStaticV4 = "203.0.113.200";
constexpr const char* kStaticV6 = "2001:db8:100::200";
constexpr const char* kExampleV4 = "203.0.113.10";

std::string attackCommand(const std::string& arguments) {
  return "/usr/bin/python3 " + sourcePath("tests/e2e/lab/attack.py") + " " + arguments;
}

std::string pingpongCommand(const std::string& arguments) {
  return "/usr/bin/python3 " + sourcePath("tests/e2e/lab/pingpong.py") + " " + arguments;
}

// Sends with attack.py from `role`. The tool must work (a send the local stack refuses
// is not a failure of the tool; whether anything arrived is the capture's to say).
void sendAttack(const Lab& lab, const std::string& role, const std::string& arguments) {
  const auto result = lab.run(role, attackCommand(arguments));
  EXPECT_TRUE(result.ok()) << "attack.py " << arguments << " in " << role << ": "
                           << result.describe();
}

::testing::AssertionResult stayedInside(WorldCapture& capture, const std::string& marker) {
  if (!capture.saw(marker)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "it reached the world: " << capture.packetsWith(marker);
}

::testing::AssertionResult reachedTheWorld(WorldCapture& capture, const std::string& marker) {
  if (capture.saw(marker)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "positive control: nothing carrying " << marker << " reached the world";
}

std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// The MAC address of `interface` in `role`'s namespace, for hand-made frames.
std::string macOf(const Lab& lab, const std::string& role, const std::string& interface) {
  return firstLine(lab.run(role, "cat /sys/class/net/" + interface + "/address").out);
}

bool listening(const Lab& lab, const std::string& role, int port) {
  return !lab.run(role, "ss -Hltn 'sport = :" + std::to_string(port) + "'").out.empty();
}

bool listeningUdp(const Lab& lab, const std::string& role, int port) {
  return !lab.run(role, "ss -Hlun 'sport = :" + std::to_string(port) + "'").out.empty();
}

// A UDP datagram to DST:9 (discard) carrying `marker`, from an ephemeral port.
std::string udpTo(const std::string& destination, const std::string& marker,
                  const std::string& more = "") {
  return "udp --dst " + destination + " --dport 9 --payload " + marker + " " + more;
}

// ---------------------------------------------------------------------------------
// The host (skouterd on the node's uplink, seed policy plus the lab's static rules).

class AttackTest : public FirewallTest {
 protected:
  void send(const std::string& role, const std::string& arguments) {
    sendAttack(*lab_, role, arguments);
  }
  // The inbound-flow attacks (a)-(c) below, in one address family.
  void inboundPacketsOpenNoHole(const std::string& node_address, const std::string& outsider,
                                const std::string& family_flags, int echo_request_type);
};

// THREATS.md, known paths:
//   - "Always allowed" traffic used as a tunnel: DHCP ports, ICMP errors, IGMP, ND/MLD.
// DHCP, ICMP errors, neighbour discovery and IGMP pass without a policy lookup; what
// keeps them from being a tunnel is where they may go: a DHCP or ND message to an
// address on the Internet, an ICMP error nobody asked for, IGMP to a unicast address or
// beyond the link (TTL > 1) is nothing the network needs and must be judged (here:
// denied) like any other packet.
TEST_F(AttackTest, AlwaysAllowedControlTrafficCarriesNothingToOtherAddresses) {
  startDaemon();
  const std::string uplink = lab_->uplink();
  WorldCapture capture(*lab_);

  const auto dhcp4 = attackMarker("dhcp4");
  send("node", "udp --sport 68 --dst " + std::string(kNoRuleV4) + " --dport 67 --payload " + dhcp4);
  const auto dhcp6 = attackMarker("dhcp6");
  send("node",
       "udp --sport 546 --dst " + std::string(kNoRuleV6) + " --dport 547 --payload " + dhcp6);
  const auto icmp_error = attackMarker("icmp-unreachable");
  send("node",
       "icmp --dst " + std::string(kNoRuleV4) + " --type 3 --code 3 --payload " + icmp_error);
  const auto icmpv6_error = attackMarker("icmpv6-unreachable");
  send("node", "icmp --dst " + std::string(kNoRuleV6) + " --type 1 --payload " + icmpv6_error);
  const auto solicitation = attackMarker("neighbour-solicitation");
  send("node", "ns --dst " + std::string(kNoRuleV6) + " --payload " + solicitation);
  const auto igmp_unicast = attackMarker("igmp-unicast");
  send("node", "igmp --dst " + std::string(kNoRuleV4) + " --ttl 64 --payload " + igmp_unicast);
  const auto igmp_routed = attackMarker("igmp-ttl5");
  send("node", "igmp --dst 224.0.0.22 --ttl 5 --device " + uplink + " --payload " + igmp_routed);

  // What a host really sends: DHCP discovery by broadcast, DHCPv6 to the link's
  // All_DHCP_Relay_Agents_and_Servers, IGMPv3 reports to 224.0.0.22 with TTL 1.
  const auto dhcp4_broadcast = attackMarker("control-dhcp4-broadcast");
  send("node", "udp --sport 68 --dst 255.255.255.255 --dport 67 --broadcast --device " + uplink +
                   " --payload " + dhcp4_broadcast);
  const auto dhcp6_multicast = attackMarker("control-dhcp6-multicast");
  send("node", "udp --sport 546 --dst ff02::1:2 --dport 547 --ttl 1 --device " + uplink +
                   " --payload " + dhcp6_multicast);
  const auto igmp_link = attackMarker("control-igmp-ttl1");
  send("node", "igmp --dst 224.0.0.22 --ttl 1 --device " + uplink + " --payload " + igmp_link);

  EXPECT_TRUE(reachedTheWorld(capture, dhcp4_broadcast)) << "UDP 68 -> 255.255.255.255:67";
  EXPECT_TRUE(reachedTheWorld(capture, dhcp6_multicast)) << "UDP 546 -> [ff02::1:2]:547";
  EXPECT_TRUE(reachedTheWorld(capture, igmp_link)) << "IGMP -> 224.0.0.22, TTL 1";

  EXPECT_TRUE(stayedInside(capture, dhcp4)) << "UDP 68 -> " << kNoRuleV4 << ":67";
  EXPECT_TRUE(stayedInside(capture, dhcp6)) << "UDP 546 -> [" << kNoRuleV6 << "]:547";
  EXPECT_TRUE(stayedInside(capture, icmp_error)) << "ICMP type 3 code 3 -> " << kNoRuleV4;
  EXPECT_TRUE(stayedInside(capture, icmpv6_error)) << "ICMPv6 type 1 -> " << kNoRuleV6;
  EXPECT_TRUE(stayedInside(capture, solicitation))
      << "ICMPv6 neighbour solicitation, hop limit 255 -> " << kNoRuleV6;
  EXPECT_TRUE(stayedInside(capture, igmp_unicast)) << "IGMP -> " << kNoRuleV4;
  EXPECT_TRUE(stayedInside(capture, igmp_routed)) << "IGMP -> 224.0.0.22, TTL 5";
}

// An accomplice outside sends one packet to the node on the 5-tuple the workload is
// about to use (a bare SYN, a datagram, an echo request). The node's answer to it (a
// RST, a port unreachable, an echo reply) is a reply; a new connection, datagram or
// echo request the workload then sends on that 5-tuple is not, and must be judged (here:
// denied, as the outsider's address is in no rule).
void AttackTest::inboundPacketsOpenNoHole(const std::string& node_address,
                                          const std::string& outsider,
                                          const std::string& family_flags, int echo_request_type) {
  startDaemon();
  WorldCapture capture(*lab_);
  const std::string outsider_host =
      outsider.find(':') == std::string::npos ? outsider : "[" + outsider + "]";
  const std::string echo_type = " --type " + std::to_string(echo_request_type);

  // (a) A SYN from outsider:80 to node:5555 (nothing listens there: the node resets it);
  // then the node connects from port 5555 to outsider:80, where the world's HTTP server
  // answers.
  send("world",
       "tcp-syn --src " + outsider + " --sport 80 --dst " + node_address + " --dport 5555");
  const auto tcp =
      node(httpGet("http://" + outsider_host + "/", "--local-port 5555 -g " + family_flags));
  EXPECT_EQ(tcp.exit_code, kCurlTimedOut)
      << "a connection from port 5555 to " << outsider_host
      << ":80 after the outsider's SYN on that 5-tuple: " << tcp.describe();

  // (b) A datagram from outsider:7777 to node:5555, then one back on the same 5-tuple.
  send("world", "udp --src " + outsider + " --sport 7777 --dst " + node_address +
                    " --dport 5555 --payload inbound-datagram");
  const auto udp = attackMarker("udp-after-inbound");
  send("node", "udp --sport 5555 --dst " + outsider + " --dport 7777 --payload " + udp);

  // (c) An echo request with identifier 4242 from the outsider (the node's echo reply
  // is a reply), then an echo request of the node's with the same identifier.
  send("world", "icmp --src " + outsider + " --dst " + node_address + echo_type +
                    " --id 4242 --payload inbound-echo");
  const auto echo = attackMarker("echo-after-inbound");
  send("node", "icmp --dst " + outsider + echo_type + " --id 4242 --seq 7 --payload " + echo);

  EXPECT_TRUE(stayedInside(capture, udp))
      << "UDP 5555 -> " << outsider_host << ":7777 after the outsider's datagram";
  EXPECT_TRUE(stayedInside(capture, echo))
      << "echo request id 4242 -> " << outsider << " after the outsider's echo request";

  // Real replies to what the world opens pass: an HTTP connection, a ping.
  const std::string node_host =
      node_address.find(':') == std::string::npos ? node_address : "[" + node_address + "]";
  EXPECT_EQ(lab_->run("world", httpGet("http://" + node_host + ":8080/", "-g")).out,
            "hello from " + node_host + ":8080\n");
  const auto ping = lab_->run("world", attackCommand("ping --dst " + node_address));
  EXPECT_TRUE(ping.ok()) << "the world's ping of the node: " << ping.describe();
}

// THREATS.md, known paths:
//   - Replies that are not replies: packets on a 5-tuple that an outside packet created.
TEST_F(AttackTest, InboundPacketsOpenNoOutboundHoleIpv4) {
  inboundPacketsOpenNoHole(kNodeV4, kOutsiderV4, "", 8);
}

// THREATS.md, known paths:
//   - Replies that are not replies: packets on a 5-tuple that an outside packet created.
TEST_F(AttackTest, InboundPacketsOpenNoOutboundHoleIpv6) {
  inboundPacketsOpenNoHole(kNodeV6, kOutsiderV6, "-6", 128);
}

// THREATS.md, known paths:
//   - Replies that are not replies: packets on a 5-tuple that an outside packet created.
// The other side of that row: a server on the node answers its clients from outside,
// over UDP as over TCP (a local socket receives their datagrams).
TEST_F(AttackTest, AUdpServerOnTheNodeAnswersItsClientsFromOutside) {
  startDaemon();
  const auto server = lab_->startBackground("node", pingpongCommand("udp-server --port 7100"));
  ASSERT_TRUE(eventually([&] { return listeningUdp(*lab_, "node", 7100); })) << server->output();
  for (const std::string address : {kNodeV4, kNodeV6}) {
    const auto echo =
        lab_->run("world", pingpongCommand("udp-client --host " + address + " --port 7100"));
    EXPECT_TRUE(echo.ok()) << address << ": " << echo.describe();
  }
}

// THREATS.md, known paths:
//   - Replies that are not replies: packets on a 5-tuple that an outside packet created.
// The other side of that row: flows that ARE a connection's packets, outbound or opened
// from outside, keep passing for as long as they are busy, whatever the expiry sweep
// does meanwhile (README: "A connection, once allowed, survives the expiry of the name
// that allowed it until it is idle for --flow-idle-timeout").
// short.wikipedia.org has TTL 2, and the grace is cut to 1 s: its address expires from
// the allowed table 3 s into the test, and for the rest of it (several sweeps, one every
// 2 s) only the flow entry carries the connection.
TEST_F(AttackTest, ABusyOutboundConnectionOutlivesItsNameAcrossExpirySweeps) {
  startDaemon({"--ttl-grace", "1"});
  const auto server = lab_->startBackground("world", pingpongCommand("server --port 7000"));
  ASSERT_TRUE(eventually([&] { return listening(*lab_, "world", 7000); })) << server->output();
  ASSERT_EQ(node("dig +short +time=2 +tries=1 short.wikipedia.org A").out, "203.0.113.30\n");
  const auto client =
      node(pingpongCommand("client --host 203.0.113.30 --port 7000 --seconds 15"), seconds(40));
  std::cout << "outbound ping-pong: " << client.out;
  EXPECT_TRUE(client.ok()) << client.describe()
                           << "; gc: " << daemon_->status()["counters"]["gc"].dump();
}

// THREATS.md, known paths:
//   - Replies that are not replies: packets on a 5-tuple that an outside packet created.
// The other side of that row, as above: the replies of a busy connection opened from
// outside pass for as long as it is busy.
TEST_F(AttackTest, ABusyInboundConnectionKeepsItsRepliesAcrossExpirySweeps) {
  startDaemon();
  const auto server = lab_->startBackground("node", pingpongCommand("server --port 7001"));
  ASSERT_TRUE(eventually([&] { return listening(*lab_, "node", 7001); })) << server->output();
  const auto client = lab_->run(
      "world",
      pingpongCommand("client --host " + std::string(kNodeV4) + " --port 7001 --seconds 15"),
      seconds(40));
  std::cout << "inbound ping-pong: " << client.out;
  EXPECT_TRUE(client.ok()) << client.describe()
                           << "; gc: " << daemon_->status()["counters"]["gc"].dump();
}

// THREATS.md, what must hold:
//   4. Nothing a workload or a resolver sends can crash the daemon, grow its memory
//      without bound, or stall its event loop [...]
// One lookup of a name whose label is the byte 0xff, with a monitor attached: the
// event, the entry and the audit record all carry it.
TEST_F(AttackTest, ANameThatIsNotUtf8NeitherStopsTheDaemonNorBreaksItsApi) {
  startDaemon();
  auto monitor = lab_->startBackground(
      "node", skouterctlPath() + " --socket " + daemon_->socketPath() + " monitor -o json");
  ASSERT_TRUE(eventually([&] { return daemon_->status()["events"]["subscribers"] == 1; }))
      << monitor->output();
  const auto lookup = node("dig +short +time=2 +tries=1 '\\255.wikipedia.org' A");
  EXPECT_EQ(lookup.out, "203.0.113.82\n") << lookup.describe();
  // A denied name of the same kind, for the audit table.
  node("dig +short +time=2 +tries=1 '\\255.attacker.test' A");
  ASSERT_TRUE(eventually([&] {
    return monitor->output().find("\\\\255.wikipedia.org") != std::string::npos;
  })) << monitor->output()
      << daemon_->log();

  EXPECT_TRUE(ctl({"health"}).ok()) << daemon_->log();
  const auto entries = ctl({"entries", "-o", "json"});
  ASSERT_TRUE(entries.ok()) << entries.describe();
  EXPECT_NE(entries.out.find("\\\\255.wikipedia.org"), std::string::npos) << entries.out;
  const auto table = ctl({"entries"});
  EXPECT_NE(table.out.find("\\255.wikipedia.org"), std::string::npos) << table.describe();
  EXPECT_TRUE(ctl({"audit", "-o", "json"}).ok());
  EXPECT_TRUE(ctl({"status", "-o", "json"}).ok());
  const auto metrics = lab_->run(
      "node", "curl -sS --unix-socket " + daemon_->socketPath() + " http://skouterd/metrics");
  EXPECT_TRUE(metrics.ok()) << metrics.describe();
  EXPECT_EQ(daemon_->status()["counters"]["daemon"]["handler_failures"], 0);
}

// THREATS.md, known paths: forged answers from an accomplice who knows the query's id
// and port because the workload told it. What must hold: 2. Only answers that the
// trusted resolver really sent, to a query the workload really made, open the
// firewall. The node writes a query whole, with a UDP checksum the resolver's kernel
// drops it for, and tells its accomplice the id and port; the accomplice, spoofing the
// resolver, answers it with an address of its choice at leisure: no real answer races
// it.
TEST_F(AttackTest, AQueryWithABadChecksumIsNoQueryAForgedAnswerCanMatch) {
  startDaemon();
  const struct {
    const char* node;
    const char* resolver;
    const char* qtype;
    const char* forged;
    const char* url;
  } families[] = {
      {"198.51.100.2", kResolverV4, "A", "203.0.113.97", "http://203.0.113.97/"},
      {"2001:db8:1::2", kResolverV6, "AAAA", "2001:db8:100::97", "http://[2001:db8:100::97]/"},
  };
  for (const auto& family : families) {
    SCOPED_TRACE(family.node);
    const auto unsolicited = counter("datapath", "dns_answer_unsolicited");
    send("node", std::string("dns-query --bad-checksum --src ") + family.node +
                     " --sport 40053 --dst " + family.resolver +
                     " --id 4242 --name example.com --qtype " + family.qtype);
    send("world", std::string("dns-answer --src ") + family.resolver + " --dst " + family.node +
                      " --dport 40053 --id 4242 --name example.com --qtype " + family.qtype +
                      " --address " + family.forged);
    EXPECT_TRUE(eventually([&] {
      return counter("datapath", "dns_answer_unsolicited") > unsolicited;
    })) << "the forged answer was not dropped as unsolicited\n"
        << daemon_->status().dump(2);
    EXPECT_EQ(learnedAddresses().count(family.forged), 0u) << daemon_->entries().dump(2);
    EXPECT_EQ(node(httpGet(family.url)).exit_code, kCurlTimedOut);
  }
}

// THREATS.md, known paths: answers that echo a different question or case (0x20). The
// workload asks a trusted resolver (here one the accomplice plays, at an address of the
// world) for eXaMpLe.com; answers with the right id and port but another question, the
// question in other case, or another class are spoofed: each is dropped, and none
// costs the workload the real answer, which comes last.
TEST_F(AttackTest, AnswersToAnotherQuestionAreDroppedAndLeaveTheQueryToTheRealAnswer) {
  startDaemon({"--trusted-dns", "198.18.0.53", "--trusted-dns", "[2001:db8:100::53]"});
  const struct {
    const char* node;
    const char* resolver;
    const char* qtype;
    const char* address;
  } families[] = {
      {"198.51.100.2", "198.18.0.53", "A", "203.0.113.10"},
      {"2001:db8:1::2", "2001:db8:100::53", "AAAA", "2001:db8:100::10"},
  };
  for (const auto& family : families) {
    SCOPED_TRACE(family.node);
    const auto mismatches = counter("answers", "question_mismatch");
    auto client = lab_->startBackground(
        "node", attackCommand(std::string("dns-query --src ") + family.node +
                              " --sport 40054 --dst " + family.resolver +
                              " --id 777 --name eXaMpLe.com --wait 8 --qtype " + family.qtype));
    ASSERT_TRUE(eventually([&] { return client->output().find("sent") != std::string::npos; }))
        << client->output();
    const std::string answer = std::string("dns-answer --src ") + family.resolver + " --dst " +
                               family.node + " --dport 40054 --id 777 --qtype " + family.qtype +
                               " --address " + family.address;
    send("world", answer + " --name github.com");
    send("world", answer + " --name example.com");
    send("world", answer + " --name eXaMpLe.com --qclass CH");
    ASSERT_TRUE(eventually([&] {
      return counter("answers", "question_mismatch") == mismatches + 3;
    })) << daemon_->status()["counters"].dump(2);
    send("world", answer + " --name eXaMpLe.com");
    EXPECT_TRUE(eventually([&] { return client->output().find("answer") != std::string::npos; },
                           std::chrono::seconds(10)));
    EXPECT_NE(client->output().find(std::string("answer id=777 rcode=0 ") + family.address),
              std::string::npos)
        << client->output();
    EXPECT_EQ(learnedAddresses("example.com").count(family.address), 1u)
        << daemon_->entries().dump(2);
  }
}

std::string udpResolverCommand(const std::string& arguments) {
  return "/usr/bin/python3 " + sourcePath("tests/e2e/lab/udp_resolver.py") + " " + arguments;
}

// THREATS.md, known paths: forged answers; what must hold: 2. The workload sends a
// well-formed query to a trusted resolver (here a lab resolver at an address of the
// world that answers the workload's port late) and tells its accomplice the id, port
// and question; the accomplice, spoofing the resolver's address, answers first with an
// address of its choosing. With --verify-answers off that answer is believed (the
// positive control: the attack is real). With it on, skouterd asks the resolver itself,
// which does not give that address: it is removed from the answer and never installed,
// and the real answer, coming later, is dropped as unsolicited.
TEST_F(AttackTest, AForgedAnswerThatWinsTheRaceInstallsOnlyWhatTheResolverConfirms) {
  const struct {
    const char* node;
    const char* resolver;
    const char* qtype;
    const char* real;
    const char* believed;  // forged, without --verify-answers
    const char* forged;    // forged, with it
  } families[] = {
      {"198.51.100.2", "198.18.0.53", "A", "203.0.113.10", "203.0.113.96", "203.0.113.97"},
      {"2001:db8:1::2", "2001:db8:100::53", "AAAA", "2001:db8:100::10", "2001:db8:100::96",
       "2001:db8:100::97"},
  };
  auto resolver = lab_->startBackground(
      "world", udpResolverCommand("--address 198.18.0.53 --address 2001:db8:100::53 "
                                  "--answer 203.0.113.10 --answer 2001:db8:100::10 "
                                  "--slow-port 40056 --delay 2"));
  ASSERT_TRUE(eventually([&] { return resolver->output().find("listening") != std::string::npos; }))
      << resolver->output();
  const std::vector<std::string> trusted{"--trusted-dns", "198.18.0.53", "--trusted-dns",
                                         "[2001:db8:100::53]"};
  // The workload's query and the accomplice's answer; what the workload was told.
  const auto attack = [&](const auto& family, int id, const std::string& forged) {
    auto client = lab_->startBackground(
        "node",
        attackCommand(std::string("dns-query --src ") + family.node + " --sport 40056 --dst " +
                      family.resolver + " --id " + std::to_string(id) +
                      " --name example.com --wait 8 --qtype " + family.qtype));
    EXPECT_TRUE(eventually([&] { return client->output().find("sent") != std::string::npos; }))
        << client->output();
    send("world", std::string("dns-answer --src ") + family.resolver + " --dst " + family.node +
                      " --dport 40056 --id " + std::to_string(id) + " --qtype " + family.qtype +
                      " --name example.com --address " + forged);
    EXPECT_TRUE(eventually([&] { return client->output().find("answer") != std::string::npos; },
                           seconds(10)))
        << client->output();
    return client->output();
  };
  const auto url = [](const std::string& address) {
    return address.find(':') == std::string::npos ? "http://" + address + "/"
                                                  : "http://[" + address + "]/";
  };

  auto unverified = trusted;
  unverified.insert(unverified.end(), {"--verify-answers", "off"});
  startDaemon(unverified);
  for (const auto& family : families) {
    SCOPED_TRACE(std::string(family.node) + ", with --verify-answers off");
    EXPECT_NE(attack(family, 4301, family.believed).find(family.believed), std::string::npos);
    EXPECT_EQ(learnedAddresses("example.com").count(family.believed), 1u)
        << daemon_->entries().dump(2);
  }

  daemon_->kill(SIGTERM);
  daemon_ = nullptr;
  startDaemon(trusted);  // --verify-answers on, the default
  for (const auto& family : families) {
    SCOPED_TRACE(std::string(family.node) + ", with --verify-answers on");
    const auto unsolicited = counter("datapath", "dns_answer_unsolicited");
    const auto told = attack(family, 4302, family.forged);
    EXPECT_EQ(told.find(family.forged), std::string::npos) << told;
    EXPECT_EQ(learnedAddresses().count(family.forged), 0u) << daemon_->entries().dump(2);
    EXPECT_GE(counter("verify", "unconfirmed"), 1u) << daemon_->status()["counters"].dump(2);
    EXPECT_EQ(node(httpGet(url(family.forged))).exit_code, kCurlTimedOut);
    // The real answer came late, to a query answered (and forgotten) already.
    EXPECT_TRUE(eventually(
        [&] { return counter("datapath", "dns_answer_unsolicited") > unsolicited; }, seconds(10)))
        << daemon_->status()["counters"].dump(2);
    // What the resolver does give is confirmed and works.
    const auto real = node(std::string("dig +short +tries=1 +timeout=5 @") + family.resolver +
                           " example.com " + family.qtype);
    EXPECT_EQ(real.out, std::string(family.real) + "\n") << real.describe();
    EXPECT_EQ(node(httpGet(url(family.real))).exit_code, 0);
  }
  // The confirmations' answers went to the daemon unjudged.
  EXPECT_GE(counter("answers", "own_lookups"), 2u) << daemon_->status()["counters"].dump(2);
}

// --verify-answers against a resolver that hands out a rotating window of a larger
// address set: the daemon's confirmation may see another window than the client did.
// Whatever the client is told must work; nothing unconfirmed is in its answer.
TEST_F(AttackTest, AResolverThatRotatesAddressSubsetsFailsNoConfirmedConnection) {
  auto resolver = lab_->startBackground(
      "world", udpResolverCommand("--address 198.18.0.53 --answer 203.0.113.11 --answer "
                                  "203.0.113.12 --answer 203.0.113.13 --answer 203.0.113.14 "
                                  "--per-answer 2"));
  ASSERT_TRUE(eventually([&] { return resolver->output().find("listening") != std::string::npos; }))
      << resolver->output();
  startDaemon({"--trusted-dns", "198.18.0.53"});
  std::set<std::string> seen;
  for (int lookup = 0; lookup < 4; ++lookup) {
    SCOPED_TRACE("lookup " + std::to_string(lookup));
    const auto told = node("dig +short +tries=1 +timeout=5 @198.18.0.53 example.com A");
    std::istringstream lines(told.out);
    std::vector<std::string> addresses;
    for (std::string line; std::getline(lines, line);) addresses.push_back(line);
    EXPECT_FALSE(addresses.empty()) << told.describe();
    for (const auto& address : addresses) {
      seen.insert(address);
      EXPECT_EQ(node(httpGet("http://" + address + "/")).exit_code, 0) << address;
      EXPECT_EQ(learnedAddresses("example.com").count(address), 1u) << daemon_->entries().dump(2);
    }
  }
  EXPECT_GE(seen.size(), 3u) << "the resolver's windows moved on";
  EXPECT_GE(counter("verify", "lookups"), 2u) << daemon_->status()["counters"].dump(2);
}

std::string tcpResolverCommand(const std::string& arguments) {
  return "/usr/bin/python3 " + sourcePath("tests/e2e/lab/tcp_resolver.py") + " " + arguments;
}

// THREATS.md, known paths: DNS stream tricks: TCP streams picked up mid-message. What
// must hold: 2. The resolver (here one the accomplice plays, at an address of the
// world) answers a TXT question in two parts; the second starts inside the TXT data,
// with bytes that on their own read as a whole answer for example.com. skouterd
// restarts between the two: the stream it then sees starts in the middle of a message,
// and must not be read from there.
TEST_F(AttackTest, ATcpStreamPickedUpMidMessageInstallsNothing) {
  startDaemon({"--trusted-dns", "198.18.0.53"});
  auto resolver = lab_->startBackground(
      "world", tcpResolverCommand("--address 198.18.0.53 --mode split --name example.com "
                                  "--address-answered 203.0.113.98 --pause 5"));
  ASSERT_TRUE(eventually([&] { return resolver->output().find("listening") != std::string::npos; }))
      << resolver->output();
  auto client = lab_->startBackground(
      "node", "kdig +tcp +timeout=12 +retry=0 @198.18.0.53 bait.attacker.test TXT");
  // The first part is held and delivered by this daemon; the next one starts anew.
  ASSERT_TRUE(eventually([&] { return counter("answers", "tcp_segments") > 0; }))
      << daemon_->status()["counters"].dump(2);
  daemon_->kill(SIGTERM);
  daemon_->start();
  ASSERT_TRUE(eventually([&] { return !client->running(); }, std::chrono::seconds(15)))
      << client->output();
  EXPECT_NE(client->output().find("TXT"), std::string::npos) << client->output();
  EXPECT_EQ(learnedAddresses().count("203.0.113.98"), 0u) << daemon_->entries().dump(2);
  EXPECT_GE(counter("answers", "tcp_picked_up"), 1u) << daemon_->status()["counters"].dump(2);
  EXPECT_EQ(node(httpGet("http://203.0.113.98/")).exit_code, kCurlTimedOut);
}

// THREATS.md, known paths: forged answers; what must hold: 2. An answer over TCP must
// answer a query sent on its connection: one with another id, which nothing asked,
// installs nothing.
TEST_F(AttackTest, ATcpAnswerToNoQueryOfItsConnectionInstallsNothing) {
  startDaemon({"--trusted-dns", "198.18.0.53"});
  auto resolver = lab_->startBackground(
      "world", tcpResolverCommand("--address 198.18.0.53 --mode unmatched --name example.com "
                                  "--address-answered 203.0.113.98"));
  ASSERT_TRUE(eventually([&] { return resolver->output().find("listening") != std::string::npos; }))
      << resolver->output();
  node("kdig +tcp +timeout=2 +retry=0 @198.18.0.53 example.com A");
  EXPECT_TRUE(eventually([&] { return counter("answers", "tcp_unmatched") >= 1; }))
      << daemon_->status()["counters"].dump(2);
  EXPECT_EQ(learnedAddresses().count("203.0.113.98"), 0u) << daemon_->entries().dump(2);
  EXPECT_EQ(node(httpGet("http://203.0.113.98/")).exit_code, kCurlTimedOut);
  // The real resolver's answers over TCP still install.
  const auto real = node("kdig +tcp +short +timeout=3 @198.51.100.53 example.com A");
  EXPECT_EQ(real.out, "203.0.113.10\n") << real.describe();
  EXPECT_EQ(learnedAddresses("example.com").count("203.0.113.10"), 1u)
      << daemon_->entries().dump(2);
}

// THREATS.md, what must hold:
//   4. Nothing a workload or a resolver sends can crash the daemon, grow its memory
//      without bound, or stall its event loop [...]
// The metrics address is reachable from the node's workloads. Clients that connect and
// never finish a request are cut off after a while; while as many are open as the
// server takes, a new one is closed at once instead of piling up descriptors.
TEST_F(AttackTest, StalledClientsOfTheMetricsEndpointAreCutOffAndBounded) {
  startDaemon({"--metrics-address", "127.0.0.1:9464"});
  // 40 connections that send half a request and then nothing; what each one saw.
  const std::string script = R"(
import socket, time
held = []
for i in range(40):
    s = socket.create_connection(("127.0.0.1", 9464))
    s.sendall(b"GET /metrics HTTP/1.1" + bytes([13, 10]))
    s.settimeout(0.05)
    held.append(s)
time.sleep(0.5)
def closed(s):
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True
at_once = sum(closed(s) for s in held)
time.sleep(11)
later = sum(closed(s) for s in held)
print(at_once, later)
)";
  const auto stalled = node("python3 -c '" + script + "'", seconds(40));
  ASSERT_TRUE(stalled.ok()) << stalled.describe();
  std::istringstream counts(stalled.out);
  int closed_at_once = 0, closed_later = 0;
  counts >> closed_at_once >> closed_later;
  EXPECT_EQ(closed_at_once, 40 - 16) << "the server takes 16 at once and closes the rest";
  EXPECT_EQ(closed_later, 40) << "the stalled ones are cut off too";
  EXPECT_EQ(daemon_->status()["counters"]["daemon"]["metrics_connections_refused"], 24);
  const auto scrape = node("curl -sS --max-time 5 http://127.0.0.1:9464/metrics");
  EXPECT_TRUE(scrape.ok()) << scrape.describe();
}

// THREATS.md, known paths:
//   - Source routing: [...] Frames the parser gives up on (VLAN stacks, long header
//     chains) are dropped, not passed.
TEST_F(AttackTest, AFrameWithStackedVlanTagsFromTheHostIsDropped) {
  startDaemon();
  const std::string frame = "frame --device " + lab_->uplink() + " --dst-mac " +
                            macOf(*lab_, "world", lab_->worldLink()) + " --src " + kNodeV4 +
                            " --dport 9";
  WorldCapture capture(*lab_);
  const auto stacked = attackMarker("vlan-stack");
  send("node", frame + " --tags 3 --dst " + kDeniedV4 + " --payload " + stacked);
  // The same frame without tags is parsed and judged: denied to github.com's address,
  // allowed to a static rule's.
  const auto untagged_denied = attackMarker("untagged-denied");
  send("node", frame + " --tags 0 --dst " + kDeniedV4 + " --payload " + untagged_denied);
  const auto untagged_allowed = attackMarker("control-untagged-static");
  send("node", frame + " --tags 0 --dst " + kStaticV4 + " --payload " + untagged_allowed);

  EXPECT_TRUE(reachedTheWorld(capture, untagged_allowed)) << "an untagged frame to " << kStaticV4;
  EXPECT_TRUE(stayedInside(capture, untagged_denied)) << "an untagged frame to " << kDeniedV4;
  EXPECT_TRUE(stayedInside(capture, stacked))
      << "a frame with three 802.1Q tags (VLAN 0) around IPv4 UDP to " << kDeniedV4;
}

// THREATS.md, known paths:
//   - Source address spoofing between pods on one node; forwarded traffic (containers,
//     VMs) that is neither host nor pod.
// Containers behind a bridge (Docker's default network) or a VM's tap are forwarded by
// the host and masqueraded: with no pods to tell them apart, they are the host's
// workloads and get the host's policy.
TEST_F(AttackTest, AGuestBehindABridgeIsPolicedAsTheHost) {
  startDaemon();
  lab_->addGuest();
  const auto github = lab_->run(kGuestRole, httpGet("http://github.com/"));
  EXPECT_EQ(github.exit_code, kCurlTimedOut)
      << "the guest's curl of github.com: " << github.describe();
  EXPECT_EQ(lab_->run(kGuestRole, httpGet("http://example.com/")).out, "hello from example.com\n");

  WorldCapture capture(*lab_);
  const auto marker = attackMarker("guest-udp");
  send(kGuestRole, udpTo(kDeniedV4, marker));
  EXPECT_TRUE(stayedInside(capture, marker)) << "the guest's UDP to " << kDeniedV4 << ":9";
}

// THREATS.md, known paths:
//   - Source address spoofing between pods on one node; forwarded traffic (containers,
//     VMs) that is neither host nor pod.
// Here the host's own traffic leaves through an uplink skouterd must find itself: the
// IPv6 default route is on a second link.
TEST_F(AttackTest, TheIpv6DefaultRouteOnAnotherInterfaceIsPoliced) {
  lab_->addIpv6Uplink();
  daemon_ = std::make_unique<Skouterd>(*lab_, policies_.path(), std::vector<std::string>{},
                                       Skouterd::Uplinks::kDiscovered);
  daemon_->start();
  WorldCapture capture(*lab_, lab_->ipv6UplinkWorldLink());
  const auto denied = attackMarker("ipv6-uplink-denied");
  send("node", udpTo(kDeniedV6, denied));
  const auto allowed = attackMarker("control-ipv6-uplink-static");
  send("node", udpTo(kStaticV6, allowed));

  EXPECT_TRUE(reachedTheWorld(capture, allowed))
      << "UDP to " << kStaticV6 << " on " << lab_->ipv6Uplink();
  EXPECT_TRUE(stayedInside(capture, denied))
      << "UDP to github.com's " << kDeniedV6 << " on " << lab_->ipv6Uplink()
      << "; interfaces: " << daemon_->status()["interfaces"].dump();
  const auto github = node(httpGet("http://[" + std::string(kDeniedV6) + "]/", "-6 -g"));
  EXPECT_EQ(github.exit_code, kCurlTimedOut) << github.describe();
  EXPECT_EQ(node(httpGet("http://example.com/", "-6")).out, "hello from example.com\n");
}

// THREATS.md, known paths:
//   - Source address spoofing between pods on one node; forwarded traffic (containers,
//     VMs) that is neither host nor pod.
// A macvlan guest leaves through the uplink's own transmit path, never forwarded by the
// host.
TEST_F(AttackTest, AMacvlanGuestOnTheUplinkIsDenied) {
  startDaemon();
  lab_->addMacvlanGuest();
  // By name and by address: a guest whose DNS answers do not come back fails by name
  // whatever the datapath does with its connections.
  const auto github = lab_->run(kMacvlanGuestRole, httpGet("http://github.com/"));
  EXPECT_FALSE(github.ok() || github.out == "hello from github.com\n")
      << "the macvlan guest's curl of github.com: " << github.describe();
  const auto by_address =
      lab_->run(kMacvlanGuestRole, httpGet("http://" + std::string(kDeniedV4) + "/"));
  EXPECT_EQ(by_address.exit_code, kCurlTimedOut)
      << "the macvlan guest's curl of " << kDeniedV4 << ": " << by_address.describe();

  WorldCapture capture(*lab_);
  const auto marker = attackMarker("macvlan-udp");
  send(kMacvlanGuestRole, udpTo(kDeniedV4, marker));
  // DNS to the trusted resolver passes for every workload: the guest's packets reach
  // the world at all (the marker is the query name).
  const auto control = attackMarker("macvlan-dns");
  lab_->run(kMacvlanGuestRole,
            "dig +time=1 +tries=1 @" + std::string(kResolverV4) + " " + control + ".test");
  EXPECT_TRUE(reachedTheWorld(capture, control)) << "the macvlan guest's DNS query";
  EXPECT_TRUE(stayedInside(capture, marker)) << "the macvlan guest's UDP to " << kDeniedV4 << ":9";
}

// ---------------------------------------------------------------------------------
// Pods (the lab node as a Kubernetes node; see kubernetes_fixture.h): pod A
// (shop/web-0) may reach example.com only, pod B (other/tool-0) is not policed.

class KubernetesAttackTest : public KubernetesTest {
 protected:
  void send(const std::string& role, const std::string& arguments) {
    sendAttack(*lab_, role, arguments);
  }

  // Waits until the daemon polices `pod` ("namespace/name") on `role`'s interface.
  ::testing::AssertionResult policedOn(const std::string& pod, const std::string& role) {
    if (eventually(
            [&] {
              const auto entry = policedPod(pod);
              return !entry.is_null() && entry["interface"] == lab_->podInterface(role);
            },
            seconds(10))) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << pod << " is not policed on " << lab_->podInterface(role)
                                         << ": " << daemon_->status()["pods"].dump();
  }
};

// THREATS.md, known paths:
//   - "Always allowed" traffic used as a tunnel: DHCP ports, ICMP errors, IGMP, ND/MLD.
// From a policed pod, as root in its container (NET_RAW).
TEST_F(KubernetesAttackTest, APolicedPodsControlTrafficCarriesNothingToOtherAddresses) {
  WorldCapture capture(*lab_);
  const auto dhcp4 = attackMarker("pod-dhcp4");
  send("a", "udp --sport 68 --dst " + std::string(kNoRuleV4) + " --dport 67 --payload " + dhcp4);
  const auto icmp_error = attackMarker("pod-icmp-unreachable");
  send("a", "icmp --dst " + std::string(kNoRuleV4) + " --type 3 --code 3 --payload " + icmp_error);
  const auto solicitation = attackMarker("pod-neighbour-solicitation");
  send("a", "ns --dst " + std::string(kNoRuleV6) + " --payload " + solicitation);
  const auto igmp = attackMarker("pod-igmp-unicast");
  send("a", "igmp --dst " + std::string(kNoRuleV4) + " --ttl 64 --payload " + igmp);
  // The unpoliced pod B's datagram gets out: the capture sees pod traffic.
  const auto control = attackMarker("control-unpoliced-pod-dhcp4");
  send("b", "udp --sport 68 --dst " + std::string(kNoRuleV4) + " --dport 67 --payload " + control);

  EXPECT_TRUE(reachedTheWorld(capture, control)) << "pod B's UDP 68 -> " << kNoRuleV4 << ":67";
  EXPECT_TRUE(stayedInside(capture, dhcp4)) << "pod A's UDP 68 -> " << kNoRuleV4 << ":67";
  EXPECT_TRUE(stayedInside(capture, icmp_error)) << "pod A's ICMP type 3 -> " << kNoRuleV4;
  EXPECT_TRUE(stayedInside(capture, solicitation))
      << "pod A's neighbour solicitation, hop limit 255 -> " << kNoRuleV6;
  EXPECT_TRUE(stayedInside(capture, igmp)) << "pod A's IGMP -> " << kNoRuleV4;
}

// THREATS.md, known paths:
//   - Source address spoofing between pods on one node; forwarded traffic (containers,
//     VMs) that is neither host nor pod.
// Pod A forges the source address of pod B, which no Egress selects.
TEST_F(KubernetesAttackTest, APolicedPodCannotSendAsAnUnpolicedOne) {
  // As in a pod that has run for a while, duplicate address detection of its link-local
  // address is over: until then the pod cannot resolve its gateway for a packet whose
  // source is not its own, and holds the forged IPv6 packet past the capture.
  ASSERT_TRUE(eventually([&] {
    return pod("a", "ip -6 addr show dev eth0 tentative").out.empty();
  })) << pod("a", "ip -6 addr").out;
  WorldCapture capture(*lab_);
  const auto spoofed4 = attackMarker("spoofed-pod-b");
  send("a", "spoof-udp --src " + std::string(kPodB) + " --dst " + kDeniedV4 +
                " --dport 9 --payload " + spoofed4);
  const auto spoofed6 = attackMarker("spoofed-pod-b-v6");
  send("a", "spoof-udp --src " + std::string(kPodBV6) + " --dst " + kDeniedV6 +
                " --dport 9 --payload " + spoofed6);
  // Pod B itself sends the very same packets.
  const auto own4 = attackMarker("control-pod-b");
  send("b", "spoof-udp --src " + std::string(kPodB) + " --dst " + kDeniedV4 +
                " --dport 9 --payload " + own4);
  const auto own6 = attackMarker("control-pod-b-v6");
  send("b", "spoof-udp --src " + std::string(kPodBV6) + " --dst " + kDeniedV6 +
                " --dport 9 --payload " + own6);

  EXPECT_TRUE(reachedTheWorld(capture, own4)) << "pod B's own UDP to " << kDeniedV4;
  EXPECT_TRUE(reachedTheWorld(capture, own6)) << "pod B's own UDP to " << kDeniedV6;
  EXPECT_TRUE(stayedInside(capture, spoofed4))
      << "pod A's UDP with pod B's source " << kPodB << " to " << kDeniedV4;
  EXPECT_TRUE(stayedInside(capture, spoofed6))
      << "pod A's UDP with pod B's source " << kPodBV6 << " to " << kDeniedV6;
}

// THREATS.md, what must hold:
//   1. No packet of a policed workload reaches an address its policy does not allow, on
//      any protocol [...], from the workload's first packet on [...]
// and known paths:
//   - Source address spoofing between pods on one node; forwarded traffic (containers,
//     VMs) that is neither host nor pod.
// The kubelet publishes a pod's IP after the pod runs; until then it is traffic the
// daemon cannot name, and must not be unpoliced.
TEST_F(KubernetesAttackTest, APodIsPolicedBeforeTheApiShowsItsAddress) {
  api_->write("pod-c.yaml", podYamlWithoutIp("shop", "web-1", "{app: web}"));
  ASSERT_TRUE(eventually([&] { return reflectorStat("pods", "objects") == 3; }))
      << daemon_->status()["kubernetes"].dump();
  lab_->addPod("c", kPodC, kPodCV6);

  WorldCapture capture(*lab_);
  const auto marker = attackMarker("pod-without-ip");
  send("c", udpTo(kDeniedV4, marker, "--count 10 --interval 0.2"));
  const auto github = pod("c", httpGet("http://" + std::string(kDeniedV4) + "/"));
  EXPECT_FALSE(github.ok()) << "pod c's curl of " << kDeniedV4
                            << " before its IP is published: " << github.describe();
  EXPECT_TRUE(stayedInside(capture, marker))
      << "pod c's UDP to " << kDeniedV4 << ":9 before its IP is published";

  // Once the IP is published, the pod gets its own policy.
  api_->write("pod-c.yaml", podYaml("shop", "web-1", "{app: web}", kPodC, kPodCV6));
  ASSERT_TRUE(policedOn("shop/web-1", "c"));
  EXPECT_TRUE(eventually(
      [&] {
        return pod("c", httpGet("http://example.com/", "--max-time 1")).out ==
               "hello from example.com\n";
      },
      seconds(5)));
  EXPECT_EQ(pod("c", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
}

// THREATS.md, what must hold:
//   1. No packet of a policed workload reaches an address its policy does not allow, on
//      any protocol [...], from the workload's first packet on, including while the
//      daemon restarts or is down [...]
// A pod born while skouterd is down, whose IP the API does not show yet when skouterd
// comes back.
TEST_F(KubernetesAttackTest, APodBornWhileTheDaemonIsDownIsPolicedWhenItStarts) {
  daemon_->kill(SIGTERM);
  api_->write("pod-c.yaml", podYamlWithoutIp("shop", "web-1", "{app: web}"));
  lab_->addPod("c", kPodC, kPodCV6);
  daemon_ = std::make_unique<Skouterd>(*lab_, "", daemonFlags());
  daemon_->start();
  ASSERT_TRUE(eventually([&] { return ctl({"ready"}).ok(); }, seconds(10))) << daemon_->log();

  WorldCapture capture(*lab_);
  const auto marker = attackMarker("pod-born-while-down");
  send("c", udpTo(kDeniedV4, marker, "--count 5"));
  const auto control = attackMarker("control-unpoliced-pod");
  send("b", udpTo(kDeniedV4, control));
  EXPECT_TRUE(reachedTheWorld(capture, control)) << "pod B's UDP to " << kDeniedV4 << ":9";
  EXPECT_TRUE(stayedInside(capture, marker))
      << "pod c's UDP to " << kDeniedV4 << ":9 (its object has no IP yet)";
}

// THREATS.md, known paths:
//   - Replies that are not replies: packets on a 5-tuple that an outside packet created.
// The other side of that row, for a policed pod: its servers answer clients from
// outside (the socket lookup for a datagram is made in the pod's own namespace).
TEST_F(KubernetesAttackTest, APolicedPodsServersAnswerClientsFromOutside) {
  // The world routes the pods' range to the node, as a cluster's network would.
  ASSERT_TRUE(lab_->run("world", "ip route add 192.0.2.0/24 via " + std::string(kNodeV4) +
                                     " && ip -6 route add 2001:db8:2::/64 via " + kNodeV6)
                  .ok());
  const auto udp = lab_->startBackground("a", pingpongCommand("udp-server --port 7100"));
  const auto tcp = lab_->startBackground("a", pingpongCommand("server --port 7101"));
  ASSERT_TRUE(eventually([&] {
    return listeningUdp(*lab_, "a", 7100) && listening(*lab_, "a", 7101);
  })) << udp->output()
      << tcp->output();
  for (const std::string address : {kPodA, kPodAV6}) {
    const auto echo =
        lab_->run("world", pingpongCommand("udp-client --host " + address + " --port 7100"));
    EXPECT_TRUE(echo.ok()) << address << ": " << echo.describe();
    const auto connection = lab_->run(
        "world", pingpongCommand("client --host " + address + " --port 7101 --seconds 1"));
    EXPECT_TRUE(connection.ok()) << address << ": " << connection.describe();
  }
}

// THREATS.md, what must hold:
//   1. [...] including while the daemon restarts or is down (fail-closed unless the
//      operator chose `--fail-open`).
// A daemon restarted while the API server is away knows its pods' identities (pinned)
// but not their policies. Once its answers stop waiting for the cluster
// (--failsafe-timeout), they are judged by no policy: that must not deny every name
// (with --deny-response nxdomain, every lookup of every pod failed); they pass as they
// came, install nothing, and what was installed stays enforced.
TEST_F(KubernetesAttackTest, ARestartWhileTheApiServerIsAwayDeniesNoPodItsNames) {
  ASSERT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  daemon_->kill(SIGTERM);
  api_->stop();
  auto flags = daemonFlags();
  flags.insert(flags.end(), {"--deny-response", "nxdomain", "--failsafe-timeout", "1"});
  daemon_ = std::make_unique<Skouterd>(*lab_, "", flags);
  daemon_->start();
  EXPECT_FALSE(ctl({"ready"}).ok());
  for (const std::string name : {"example.com", "github.com"}) {
    const auto lookup = pod("a", "dig +short +time=4 +tries=1 " + name + " A");
    EXPECT_TRUE(lookup.ok()) << name << ": " << lookup.describe();
    EXPECT_FALSE(lookup.out.empty()) << name << " got NXDOMAIN: " << daemon_->log();
  }
  // What the pod's policy installed before the restart is still all it reaches.
  EXPECT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
}

// THREATS.md, what must hold:
//   4. [...] every bounded table says when it is full (counter + log line) and degrades
//      fail-closed.
// A large cluster's DNS service (or a rollout with old and new endpoints at once) has
// more endpoints than the old trusted_resolvers map held: adding them must neither
// stop the daemon nor push out the resolvers it trusts already.
TEST_F(KubernetesAttackTest, MoreDnsEndpointsThanTheMapHoldsNeitherStopTheDaemonNorUntrustOthers) {
  std::string endpoints;
  for (int i = 0; i < 1200; ++i) {
    endpoints += "  - addresses: [198.18." + std::to_string(100 + i / 250) + "." +
                 std::to_string(1 + i % 250) + "]\n    conditions: {ready: true}\n";
  }
  api_->write("dns-endpoints.yaml",
              "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
              "  name: kube-dns-many\n  namespace: kube-system\n"
              "  labels: {kubernetes.io/service-name: kube-dns}\naddressType: IPv4\n"
              "endpoints:\n" +
                  endpoints + "ports:\n  - {name: dns, port: 53, protocol: UDP}\n");
  ASSERT_TRUE(eventually(
      [&] {
        return ctl({"health"}).ok() &&
               daemon_->status()["counters"]["daemon"]["trusted_resolvers_refused"] > 0;
      },
      seconds(15)))
      << daemon_->log();
  EXPECT_TRUE(ctl({"ready"}).ok());
  EXPECT_EQ(pod("a", httpGet("http://example.com/")).out, "hello from example.com\n");
  EXPECT_EQ(pod("a", httpGet("http://github.com/")).exit_code, kCurlTimedOut);
  EXPECT_NE(daemon_->log().find("the trusted_resolvers map is full"), std::string::npos);
}

// THREATS.md, what must hold:
//   1. No packet of a policed workload reaches an address its policy does not allow [...]
//      from the workload's first packet on [...]
// A watch whose connection died without a word (the API server gone, a partition, a
// load balancer that forgot the connection) must be noticed, or pods created meanwhile
// stay unknown until the watch times out, minutes later. Here the double's packets to
// the daemon's open connections are dropped; new connections work.
TEST_F(KubernetesAttackTest, ADeadApiConnectionIsNoticedAndANewPodIsStillPoliced) {
  daemon_->kill(SIGTERM);
  auto flags = daemonFlags();
  flags.insert(flags.end(), {"--api-connection-timeout", "6"});
  daemon_ = std::make_unique<Skouterd>(*lab_, "", flags);
  daemon_->start();
  ASSERT_TRUE(eventually([&] { return ctl({"ready"}).ok(); }, seconds(10))) << daemon_->log();

  // The client ports of the daemon's connections to the API server, as they are now.
  const auto ports = lab_->run("node",
                               "ss -Htn state established '( dport = :6443 )' | "
                               "awk '{split($3, a, \":\"); print a[2]}' | paste -sd, -");
  ASSERT_TRUE(ports.ok() && !ports.out.empty()) << ports.describe();
  std::string port_list = ports.out;
  port_list.erase(port_list.find_last_not_of('\n') + 1);
  const auto blackhole =
      lab_->run("node",
                "nft add table inet api_blackhole && nft add chain inet api_blackhole out "
                "'{ type filter hook output priority 0; }' && nft add rule inet "
                "api_blackhole out tcp sport 6443 tcp dport '{ " +
                    port_list + " }' drop");
  ASSERT_TRUE(blackhole.ok()) << blackhole.describe();

  api_->write("pod-c.yaml", podYaml("shop", "web-1", "{app: web}", kPodC, kPodCV6));
  lab_->addPod("c", kPodC, kPodCV6);
  // Keepalive declares the connections dead within the timeout; the watches are made
  // anew on new connections and bring the pod.
  EXPECT_TRUE(policedOn("shop/web-1", "c"));
  EXPECT_GE(reflectorStat("pods", "errors"), 1u) << daemon_->status()["kubernetes"].dump();
  WorldCapture capture(*lab_);
  const auto marker = attackMarker("pod-after-dead-watch");
  send("c", udpTo(kDeniedV4, marker, "--count 3"));
  EXPECT_TRUE(stayedInside(capture, marker)) << "pod c's UDP to " << kDeniedV4 << ":9";
}

// THREATS.md, known paths:
//   - Source routing: [...] Frames the parser gives up on (VLAN stacks, long header
//     chains) are dropped, not passed.
// From a policed pod's eth0.
// The pod's frame enters the node through the veth's receive path, which moves the
// outermost tag into the packet's metadata before tc sees it: the program finds one
// tag fewer in the frame than the pod wrote, hence three and four tags.
TEST_F(KubernetesAttackTest, AFrameWithStackedVlanTagsFromAPodIsDropped) {
  const auto frame = [&](const std::string& role, const std::string& source) {
    return "frame --device eth0 --dst-mac " + macOf(*lab_, "node", lab_->podInterface(role)) +
           " --src " + source + " --dst " + kDeniedV4 + " --dport 9";
  };
  WorldCapture capture(*lab_);
  const auto three_tags = attackMarker("pod-vlan-stack-3");
  send("a", frame("a", kPodA) + " --tags 3 --payload " + three_tags);
  const auto four_tags = attackMarker("pod-vlan-stack-4");
  send("a", frame("a", kPodA) + " --tags 4 --payload " + four_tags);
  const auto untagged = attackMarker("pod-untagged-denied");
  send("a", frame("a", kPodA) + " --tags 0 --payload " + untagged);
  const auto control = attackMarker("control-unpoliced-pod-frame");
  send("b", frame("b", kPodB) + " --tags 0 --payload " + control);

  EXPECT_TRUE(reachedTheWorld(capture, control)) << "pod B's untagged frame to " << kDeniedV4;
  EXPECT_TRUE(stayedInside(capture, untagged)) << "pod A's untagged frame to " << kDeniedV4;
  EXPECT_TRUE(stayedInside(capture, three_tags))
      << "pod A's frame with three 802.1Q tags (VLAN 0) to " << kDeniedV4;
  EXPECT_TRUE(stayedInside(capture, four_tags))
      << "pod A's frame with four 802.1Q tags (VLAN 0) to " << kDeniedV4;
}

// THREATS.md, known paths:
//   - Source address spoofing between pods on one node; forwarded traffic (containers,
//     VMs) that is neither host nor pod.
// A frame that enters the node on an interface that is no pod's and no uplink (here
// `lo`, written with AF_PACKET by a process with NET_RAW in the node's namespace, such
// as a host-network pod) and is forwarded, masqueraded as pod traffic is.
// It is judged as the node's own traffic: the node's Egress allows github.com only, so
// the frame goes to an address that no rule allows.
TEST_F(KubernetesAttackTest, AFrameForwardedFromLoopbackIsNotUnpoliced) {
  WorldCapture capture(*lab_);
  const auto marker = attackMarker("forwarded-from-lo");
  send("node", "frame --device lo --dst-mac 00:00:00:00:00:00 --tags 0 --src 192.0.2.77 --dst " +
                   std::string(kNoRuleV4) + " --dport 9 --payload " + marker);
  const auto control = attackMarker("control-unpoliced-pod");
  send("b", udpTo(kNoRuleV4, control));
  EXPECT_TRUE(reachedTheWorld(capture, control)) << "pod B's UDP to " << kNoRuleV4 << ":9";
  EXPECT_TRUE(stayedInside(capture, marker))
      << "a frame from 192.0.2.77 to " << kNoRuleV4 << ":9 injected on the node's lo";
}

// THREATS.md, what must hold:
//   3. A workload cannot make the firewall act for another workload: it cannot pose as
//      another pod, open holes in another's policy, [...]
// and known paths:
//   - Replies that are not replies: packets on a 5-tuple that an outside packet created.
// (here the packet that made the 5-tuple came from a pod that is gone).
// Pod A's allowed flow 192.0.2.10:6000 -> 203.0.113.10:9 must not carry the packets of
// the next pod that gets 192.0.2.10, whose policy does not allow example.com.
TEST_F(KubernetesAttackTest, AFlowDoesNotOutliveThePodThatOpenedIt) {
  WorldCapture capture(*lab_);
  ASSERT_EQ(pod("a", "dig +short +time=2 +tries=1 example.com A").out,
            std::string(kExampleV4) + "\n");
  const auto first = attackMarker("control-pod-a-allowed");
  send("a", "udp --sport 6000 --dst " + std::string(kExampleV4) + " --dport 9 --payload " + first);

  // Pod A goes; shop/other-0, which may reach github.com only, gets its addresses.
  api_->write("pods.yaml", podYaml("other", "tool-0", "{app: tool}", kPodB, kPodBV6));
  ASSERT_TRUE(eventually([&] { return policedPod("shop/web-0").is_null(); }))
      << daemon_->status()["pods"].dump();
  lab_->deletePod("a");
  api_->write("other-egress.yaml",
              "apiVersion: egress.skouter/v1alpha1\nkind: Egress\nmetadata:\n  name: other\n"
              "  namespace: shop\nspec:\n  podSelector: {matchLabels: {app: other}}\n  rules:\n"
              "    - domains: [github.com]\n");
  lab_->addPod("d", kPodA, kPodAV6);
  api_->write("pod-d.yaml", podYaml("shop", "other-0", "{app: other}", kPodA, kPodAV6));
  ASSERT_TRUE(policedOn("shop/other-0", "d"));

  const auto reused = attackMarker("flow-of-a-deleted-pod");
  send("d", "udp --sport 6000 --dst " + std::string(kExampleV4) + " --dport 9 --payload " + reused);
  EXPECT_TRUE(reachedTheWorld(capture, first)) << "pod A's UDP 6000 -> " << kExampleV4 << ":9";
  EXPECT_TRUE(stayedInside(capture, reused))
      << "the new pod's UDP 6000 -> " << kExampleV4 << ":9 on the deleted pod's flow";
  EXPECT_EQ(pod("d", httpGet("http://github.com/")).out, "hello from github.com\n");
}

}  // namespace
}  // namespace skouter::e2e
