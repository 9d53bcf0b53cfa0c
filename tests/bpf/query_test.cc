// Policed queries (bpf/lib/query.h), at uplink_egress for the host and at pod_ingress
// for a pod: a query to a trusted resolver goes out at once when its name is in the
// workload's learnable_names (an exact name, a `*.` suffix, or a name only made
// queryable, rule 0); any other is held for the daemon in the answers ring and dropped,
// unless the daemon released that very query or is away. What is not one standard
// query of one question never goes out. Over TCP a segment goes out only when it is
// whole queries for listed names. Port 853 (DNS over TLS and QUIC) opens only by a
// rule that lists it.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "bpf/maps/bpf_address.h"
#include "bpf/maps/learnable_name_table.h"
#include "bpf/maps/port_set_table.h"
#include "bpf/maps/released_query_table.h"
#include "policy/compiled_policy.h"
#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint32_t kPod = 100;
constexpr std::uint32_t kOtherPod = 101;
constexpr std::uint16_t kClientPort = 40000;
constexpr std::uint16_t kDnsId = 0x2b1d;
constexpr std::uint64_t kSeed = 0x0a11ce5eedull;
constexpr std::uint32_t kRuleId = 9;
constexpr std::uint32_t kBudget = 1000;
constexpr std::uint16_t kEncryptedDns = 853;
constexpr std::uint32_t kDotPorts = 0x853;  // port set: 853/TCP and 853/UDP

enum class Workload { kHost, kPod };

// What one packet came to: the program's verdict, the counters it moved (of every
// hook), and the records it put in the answers ring.
struct Outcome {
  Verdict verdict;
  HookCounters moved;
  std::vector<PuntedAnswer> held;
};

void store16(Bytes& out, std::size_t offset, std::uint16_t value) {
  out.at(offset) = static_cast<std::uint8_t>(value >> 8);
  out.at(offset + 1) = static_cast<std::uint8_t>(value);
}

Bytes operator+(Bytes left, const Bytes& right) {
  left.insert(left.end(), right.begin(), right.end());
  return left;
}

using Param = std::tuple<const TestNetwork*, Workload>;

class QueryTest : public DatapathFixture, public ::testing::WithParamInterface<Param> {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    if (HasFatalFailure()) return;
    trustResolver(n().resolver, kDnsPort);
    skouter_learning_settings learning{};
    learning.seed = kSeed;
    learning.max_ttl_s = 0xffffffff;
    learning.budget = kBudget;
    ASSERT_EQ(datapath().learning().update(0, learning), 0);
    police(SKOUTER_IDENTITY_QUERIES_POLICED);
  }

  const TestNetwork& n() const { return *std::get<0>(GetParam()); }
  Workload workload() const { return std::get<1>(GetParam()); }
  bool v4() const { return n().host.family == IpFamily::kV4; }
  std::uint32_t identity() const {
    return workload() == Workload::kPod ? kPod : SKOUTER_HOST_IDENTITY;
  }
  IpAddress client() const {
    if (workload() == Workload::kHost) return n().host;
    return *IpAddress::parse(v4() ? "192.0.2.70" : "2001:db8::70");
  }
  std::string hook() const {
    return workload() == Workload::kPod ? "pod_ingress" : "uplink_egress";
  }
  std::uint32_t heldDestination() const {
    return workload() == Workload::kPod ? SKOUTER_QUERY_FROM_POD : SKOUTER_QUERY_FROM_HOST;
  }

  // The workload as the daemon marks it: `flags` of its identity for a pod (with
  // SKOUTER_IDENTITY_QUERIES_POLICED, SKOUTER_IDENTITY_AUDIT), the matching config
  // flags for the host.
  void police(std::uint32_t flags) {
    if (workload() == Workload::kPod) {
      addIdentity(client(), kPod, flags);
      return;
    }
    std::uint32_t config_flags = SKOUTER_CFG_HOST_POLICED;
    if (flags & SKOUTER_IDENTITY_QUERIES_POLICED) config_flags |= SKOUTER_CFG_HOST_QUERIES_POLICED;
    if (flags & SKOUTER_IDENTITY_AUDIT) config_flags |= SKOUTER_CFG_HOST_AUDIT;
    setFlags(config_flags);
  }

  void learnable(const std::string& name, skouter_learnable_kind kind,
                 std::uint32_t rule_id = kRuleId, std::uint32_t identity = 0) {
    const skouter_learnable_name_key key{.identity = identity != 0 ? identity : this->identity(),
                                         .kind = static_cast<std::uint32_t>(kind),
                                         .hash = maps::learnableNameHash(kSeed, name)};
    ASSERT_EQ(datapath().learnableNames().update(
                  key, skouter_learnable_name_value{.rule_id = rule_id, .port_set = 0}),
              0);
  }

  Bytes message(const std::string& name, std::uint16_t id = kDnsId) const {
    return dnsQuery(id, name, n().host.family);
  }
  Packet udp(const Bytes& dns, std::uint16_t port = kClientPort) const {
    return PacketBuilder(client(), n().resolver).udp(port, kDnsPort, dns).build();
  }
  Packet query(const std::string& name, std::uint16_t id = kDnsId) const {
    return udp(message(name, id));
  }
  Packet tcp(const Bytes& payload, std::uint8_t flags = kTcpPsh | kTcpAck) const {
    return PacketBuilder(client(), n().resolver).tcp(kClientPort, kDnsPort, flags, payload).build();
  }

  Outcome send(const Packet& packet) {
    const HookCounters before = counters();
    const Verdict verdict =
        workload() == Workload::kPod ? runPodIngress(packet) : runUplinkEgress(packet);
    return {verdict, countersMoved(before, counters()), drainAnswers()};
  }
  // `counted` under the workload's hook, nothing under another.
  HookCounters at(Counters counted) const {
    if (counted.empty()) return {};
    return {{hook(), std::move(counted)}};
  }
  // A UDP query recorded, and then `outcome` ("dns_query_allowed", ...); one that goes
  // out (not held, not denied) counts as allowed traffic to a resolver.
  HookCounters udpQuery(const std::string& outcome) const {
    Counters counted{{"dns_query_recorded", 1}};
    if (!outcome.empty()) counted[outcome] = 1;
    if (outcome != "dns_query_held" && outcome != "dns_query_denied" &&
        outcome != "dns_query_hold_failed") {
      counted["egress_allowed_resolver"] = 1;
    }
    return at(counted);
  }

  // `outcome` passed `packet` on as it was, unheld.
  void expectPassed(const Outcome& outcome, const HookCounters& moved) const {
    EXPECT_EQ(outcome.verdict, Verdict::kPass);
    EXPECT_EQ(outcome.moved, moved);
    EXPECT_TRUE(outcome.held.empty());
  }
  // `held` is `packet` alone, held for the daemon as a query of the workload asking
  // `dns`'s question.
  void expectHeld(const std::vector<PuntedAnswer>& held, const Packet& packet,
                  const Bytes& dns) const {
    ASSERT_EQ(held.size(), 1u);
    const skouter_answer_header& header = held[0].header;
    EXPECT_EQ(header.destination, heldDestination());
    EXPECT_EQ(header.identity, identity());
    EXPECT_EQ(header.ifindex, kLoopbackIfindex);
    EXPECT_EQ(header.protocol, IPPROTO_UDP);
    EXPECT_EQ(header.l3_offset, packet.l3_offset);
    EXPECT_EQ(header.l4_offset, packet.l4_offset);
    EXPECT_EQ(header.frame_len, packet.frame.size());
    EXPECT_EQ(held[0].frame, packet.frame);
    const Bytes question = afterDnsHeader(dns);
    ASSERT_EQ(header.question_len, question.size());
    EXPECT_EQ(Bytes(header.question, header.question + header.question_len), question);
    expectStampedDuringTest(header.received_ns);
  }
  void expectHeldAndDropped(const Outcome& outcome, const Packet& packet, const Bytes& dns) const {
    EXPECT_EQ(outcome.verdict, Verdict::kDrop);
    EXPECT_EQ(outcome.moved, udpQuery("dns_query_held"));
    expectHeld(outcome.held, packet, dns);
  }
  // Dropped as no query one may send, nothing held.
  void expectDenied(const Outcome& outcome, const HookCounters& moved) const {
    EXPECT_EQ(outcome.verdict, Verdict::kDrop);
    EXPECT_EQ(outcome.moved, moved);
    EXPECT_TRUE(outcome.held.empty());
  }

  // The daemon's release of the query `dns` from the workload's kClientPort, written
  // as the daemon writes it.
  void release(const Bytes& dns) {
    maps::ReleasedQueryTable table(datapath().releasedQueries());
    const std::uint16_t id = static_cast<std::uint16_t>(dns[0] << 8 | dns[1]);
    ASSERT_TRUE(table.release(maps::udpQueryKey(client(), htons(kClientPort), htons(id)),
                              afterDnsHeader(dns), datapathNowNs()));
  }
  std::size_t releasedCount() {
    std::size_t count = 0;
    datapath().releasedQueries().forEach(
        [&](const skouter_dns_query_key&, const skouter_released_query&) { ++count; });
    return count;
  }

  // `address` allowed to the workload, as learned from an answer (for an hour) or by a
  // static rule, on `port_set` (0: every port).
  void allowLearned(const IpAddress& address, std::uint32_t port_set) {
    const skouter_allowed_ip_key key{.identity = identity(), .ip = maps::toBpfAddr(address)};
    skouter_allowed_ip_value value{};
    value.expiry_ns = datapathNowNs() + 3600 * kNanosPerSecond;
    value.rule_id = kRuleId;
    value.port_set = port_set;
    ASSERT_EQ(datapath().allowedIps().update(key, value), 0);
  }
  void allowStatic(const std::string& prefix, std::uint32_t port_set) {
    const IpPrefix parsed = IpPrefix::parse(prefix).value();
    skouter_cidr_key key{};
    key.prefixlen = SKOUTER_CIDR_FIXED_BITS + parsed.length;
    key.identity = identity();
    maps::putBpfAddr(key, parsed.address);
    ASSERT_EQ(datapath().allowedCidrs().update(key, {.rule_id = kRuleId, .port_set = port_set}), 0);
  }
};

TEST_P(QueryTest, AQueryForAnExactNameGoesOutAndIsRecorded) {
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  // Names compare without case, as resolvers take them.
  for (const std::string name : {"api.example.com", "API.Example.COM"}) {
    SCOPED_TRACE(name);
    const Bytes dns = message(name);
    const Outcome outcome = send(udp(dns));
    expectPassed(outcome, udpQuery("dns_query_allowed"));
    // Recorded as any query is: its answer is then awaited.
    const auto recorded = queries();
    ASSERT_EQ(recorded.size(), 1u);
    const skouter_dns_query_key key = queryKey(client(), kClientPort, kDnsId);
    EXPECT_EQ(std::memcmp(&recorded[0].first, &key, sizeof(key)), 0);
    EXPECT_EQ(recorded[0].second.identity, identity());
    EXPECT_EQ(Bytes(recorded[0].second.question,
                    recorded[0].second.question + recorded[0].second.question_len),
              afterDnsHeader(dns));
  }
}

TEST_P(QueryTest, AQueryForANameBelowAListedSuffixGoesOutButNotForTheSuffixItself) {
  learnable("cdn.example.net", SKOUTER_LEARNABLE_BELOW);
  for (const std::string name : {"edge1.cdn.example.net", "a.b.cdn.example.net"}) {
    SCOPED_TRACE(name);
    expectPassed(send(query(name)), udpQuery("dns_query_allowed"));
  }
  // `*.cdn.example.net` never allows cdn.example.net itself.
  const Packet apex = query("cdn.example.net");
  expectHeldAndDropped(send(apex), apex, message("cdn.example.net"));
}

// The cluster's names (--allow-query-suffix): rule 0 entries, at and below the suffix.
TEST_P(QueryTest, AQueryForANameOnlyMadeQueryableGoesOut) {
  learnable("cluster.local", SKOUTER_LEARNABLE_EXACT, 0);
  learnable("cluster.local", SKOUTER_LEARNABLE_BELOW, 0);
  for (const std::string name : {"cluster.local", "web.shop.svc.cluster.local"}) {
    SCOPED_TRACE(name);
    expectPassed(send(query(name)), udpQuery("dns_query_allowed"));
  }
}

TEST_P(QueryTest, AQueryForAnUnlistedNameIsHeldForTheDaemonAndDropped) {
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  // Another workload's name lists nothing for this one.
  learnable("other.example.com", SKOUTER_LEARNABLE_EXACT, kRuleId, kOtherPod);
  for (const std::string name :
       {"c2VjcmV0.tunnel.example.org", "other.example.com", "www.api.example.com"}) {
    SCOPED_TRACE(name);
    const Bytes dns = message(name);
    const Packet packet = udp(dns);
    expectHeldAndDropped(send(packet), packet, dns);
  }
}

// On the way out of the host a drop is an error the sending socket sees; a held query
// goes to the sink that discards it. A pod's is held on its way in from the pod.
TEST_P(QueryTest, TheHostsHeldQueryGoesToTheSinkAPodsIsDropped) {
  setHeldSink(42);
  const Bytes dns = message("unlisted.example.org");
  const Packet packet = udp(dns);
  const Outcome outcome = send(packet);
  EXPECT_EQ(outcome.verdict, workload() == Workload::kPod ? Verdict::kDrop : Verdict::kRedirect);
  EXPECT_EQ(outcome.moved, udpQuery("dns_query_held"));
  expectHeld(outcome.held, packet, dns);
}

TEST_P(QueryTest, AReleasedQueryGoesOutOnceThenIsHeldAgain) {
  const Bytes dns = message("matched-by-regex.example.org");
  const Packet packet = udp(dns);
  ASSERT_NO_FATAL_FAILURE(release(dns));

  expectPassed(send(packet), udpQuery("dns_query_released"));
  EXPECT_EQ(releasedCount(), 0u);
  // The release is used up: the same query again is the daemon's to judge again.
  expectHeldAndDropped(send(packet), packet, dns);
}

// The attack: the daemon released an allowed query; before it comes back, the
// workload sends a query for another name under the same id and port. The release
// lets only the question it was given through.
TEST_P(QueryTest, AReleaseDoesNotCarryAQueryForAnotherNameUnderTheSameIdAndPort) {
  const Bytes allowed = message("allowed.example.org");
  ASSERT_NO_FATAL_FAILURE(release(allowed));

  for (const std::string name : {"exfiltrated-data.evil.example", "allowed.example.orh",
                                 "allowed.example.org.evil.example"}) {
    SCOPED_TRACE(name);
    const Bytes other = message(name);
    const Packet packet = udp(other);
    expectHeldAndDropped(send(packet), packet, other);
  }
  // The same name of another type is another question too.
  Bytes txt = allowed;
  store16(txt, txt.size() - 4, 16);
  const Packet txt_packet = udp(txt);
  expectHeldAndDropped(send(txt_packet), txt_packet, txt);

  // Nothing used it up: the query it was for still goes out.
  EXPECT_EQ(releasedCount(), 1u);
  expectPassed(send(udp(allowed)), udpQuery("dns_query_released"));
}

// The daemon keys released_queries as the programs key dns_queries.
TEST_P(QueryTest, TheDaemonKeysAReleaseAsTheProgramsKeyTheQuery) {
  const skouter_dns_query_key daemon =
      maps::udpQueryKey(client(), htons(kClientPort), htons(kDnsId));
  const skouter_dns_query_key programs = queryKey(client(), kClientPort, kDnsId);
  EXPECT_EQ(std::memcmp(&daemon, &programs, sizeof(daemon)), 0);
}

// DNS must not go dark while nobody would judge the held queries.
TEST_P(QueryTest, WhileTheDaemonIsAwayAnUnlistedQueryGoesOutUnchecked) {
  beatStale();
  expectPassed(send(query("unlisted.example.org")), udpQuery("dns_query_unchecked"));
}

TEST_P(QueryTest, AnAuditedWorkloadsQueriesGoOutUnheld) {
  police(SKOUTER_IDENTITY_QUERIES_POLICED | SKOUTER_IDENTITY_AUDIT);
  expectPassed(send(query("unlisted.example.org")), udpQuery(""));
  // Not even what no resolver takes is dropped.
  expectPassed(send(udp(dnsAnswer(kDnsId, "unlisted.example.org", n().learned))),
               at({{"egress_allowed_resolver", 1}}));
}

TEST_P(QueryTest, AWorkloadWhoseQueriesAreNotPolicedSendsAnyQuery) {
  police(0);
  expectPassed(send(query("unlisted.example.org")), udpQuery(""));
  expectPassed(send(udp(dnsAnswer(kDnsId, "unlisted.example.org", n().learned))),
               at({{"egress_allowed_resolver", 1}}));
  // A connection recorded, to hold what the resolver sends back on it; its data passes.
  expectPassed(send(tcp(Bytes{0xde, 0xad, 0xbe, 0xef})),
               at({{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}}));
}

// What is not one standard query of one question names nothing the programs or the
// daemon can judge: a resolver gets none of it, listed name or not.
TEST_P(QueryTest, WhatIsNotOneStandardQueryIsDropped) {
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  const HookCounters denied_unrecorded = at({{"dns_query_denied", 1}});
  const HookCounters denied_recorded = udpQuery("dns_query_denied");

  expectDenied(send(udp(dnsAnswer(kDnsId, "api.example.com", n().learned))), denied_unrecorded);

  Bytes two_questions = message("api.example.com");
  store16(two_questions, 4, 2);
  expectDenied(send(udp(two_questions)), denied_recorded);

  Bytes update = message("api.example.com");
  update[2] = static_cast<std::uint8_t>(update[2] | 5 << 3);  // opcode UPDATE
  expectDenied(send(udp(update)), denied_recorded);

  // Shorter than a DNS header.
  expectDenied(send(udp(Bytes{0x2b, 0x1d, 0x01})), denied_unrecorded);

  // A datagram with a bad checksum, which no resolver's kernel would take.
  Packet corrupt = query("api.example.com");
  corrupt.frame.back() ^= 0x01;
  expectDenied(send(corrupt), denied_unrecorded);

  // The first fragment of a datagram: what follows it could say anything.
  const Packet fragment = PacketBuilder(client(), n().resolver)
                              .fragment(0, true)
                              .udp(kClientPort, kDnsPort, message("api.example.com"))
                              .build();
  const Outcome fragmented = send(fragment);
  EXPECT_EQ(fragmented.verdict, Verdict::kDrop);
  EXPECT_EQ(fragmented.moved.at(hook()).at("dns_query_denied"), 1u);
  EXPECT_FALSE(fragmented.moved.at(hook()).contains("dns_query_allowed"));
  EXPECT_TRUE(fragmented.held.empty());

  // Where they all start from goes out.
  expectPassed(send(query("api.example.com")), udpQuery("dns_query_allowed"));
}

TEST_P(QueryTest, ATcpSegmentGoesOutOnlyWhenItIsWholeQueriesForListedNames) {
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  learnable("cdn.example.net", SKOUTER_LEARNABLE_BELOW);
  const Bytes listed = tcpFramed(message("api.example.com"));
  const Bytes also_listed = tcpFramed(message("e1.cdn.example.net", kDnsId + 1));
  const Bytes unlisted = tcpFramed(message("c2VjcmV0.tunnel.example.org", kDnsId + 2));

  // The handshake carries no query: it passes.
  expectPassed(send(tcp({}, kTcpSyn)),
               at({{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}}));

  const Outcome one = send(tcp(listed));
  EXPECT_EQ(one.verdict, Verdict::kPass);
  EXPECT_EQ(one.moved.at(hook()).at("dns_query_allowed"), 1u);
  EXPECT_FALSE(one.moved.at(hook()).contains("dns_query_denied"));
  EXPECT_TRUE(one.held.empty());

  const Outcome two = send(tcp(listed + also_listed));
  EXPECT_EQ(two.verdict, Verdict::kPass);
  EXPECT_FALSE(two.moved.at(hook()).contains("dns_query_denied"));

  struct Case {
    std::string description;
    Bytes payload;
  };
  const std::vector<Case> dropped = {
      {"an unlisted name", unlisted},
      {"a listed query, then an unlisted one", listed + unlisted},
      {"a listed query, then bytes that are no query", listed + Bytes{0xde, 0xad, 0xbe, 0xef}},
      {"a listed query cut short", Bytes(listed.begin(), listed.end() - 3)},
      {"bytes that are no query", Bytes(40, 0x41)},
      {"a response", tcpFramed(dnsAnswer(kDnsId, "api.example.com", n().learned))},
      {"five listed queries, one more than a segment is read for",
       listed + listed + listed + listed + listed},
  };
  for (const Case& c : dropped) {
    SCOPED_TRACE(c.description);
    const Outcome outcome = send(tcp(c.payload));
    EXPECT_EQ(outcome.verdict, Verdict::kDrop);
    ASSERT_TRUE(outcome.moved.contains(hook()));
    EXPECT_EQ(outcome.moved.at(hook()).at("dns_query_denied"), 1u);
    EXPECT_FALSE(outcome.moved.at(hook()).contains("dns_query_allowed"));
    // Nothing is held over TCP.
    EXPECT_TRUE(outcome.held.empty());
  }
}

// An address allowed on every port would carry DNS over TLS or QUIC, or plain DNS to a
// resolver that is not a trusted one, past the query check: ports 853 and 53 open only
// by a rule that lists its ports.
TEST_P(QueryTest, Port853OpensOnlyByARuleThatListsIt) {
  ASSERT_NO_FATAL_FAILURE(allowLearned(n().learned, 0));
  ASSERT_NO_FATAL_FAILURE(allowStatic(n().cidr, 0));
  const HookCounters refused = at({{"egress_dns_port", 1}, {"egress_denied", 1}});
  for (const IpAddress& to : {n().learned, n().in_cidr}) {
    for (const std::uint16_t port : {kEncryptedDns, kDnsPort}) {
      SCOPED_TRACE(to.toString() + " port " + std::to_string(port));
      expectDenied(send(PacketBuilder(client(), to).tcp(kClientPort, port, kTcpSyn).build()),
                   refused);
      expectDenied(send(PacketBuilder(client(), to).udp(kClientPort, port, Bytes(1200, 0)).build()),
                   refused);
    }
  }
  EXPECT_EQ(flowDescriptions(), Descriptions{});
  // Other ports of the same addresses stay open.
  expectPassed(send(PacketBuilder(client(), n().learned).tcp(kClientPort, 443, kTcpSyn).build()),
               at({{"egress_allowed_learned", 1}}));

  putPortSet(kDotPorts, {portRange(IPPROTO_TCP, kEncryptedDns, kEncryptedDns),
                         portRange(IPPROTO_UDP, kEncryptedDns, kEncryptedDns)});
  ASSERT_NO_FATAL_FAILURE(allowLearned(n().learned, kDotPorts));
  ASSERT_NO_FATAL_FAILURE(allowStatic(n().cidr, kDotPorts));
  expectPassed(
      send(PacketBuilder(client(), n().learned).tcp(kClientPort, kEncryptedDns, kTcpSyn).build()),
      at({{"egress_allowed_learned", 1}}));
  expectPassed(send(PacketBuilder(client(), n().in_cidr)
                        .udp(kClientPort + 1, kEncryptedDns, Bytes(1200, 0))
                        .build()),
               at({{"egress_allowed_static", 1}}));
}

TEST_P(QueryTest, Port853StaysOpenToAWorkloadWhoseQueriesAreNotPoliced) {
  police(0);
  ASSERT_NO_FATAL_FAILURE(allowLearned(n().learned, 0));
  expectPassed(
      send(PacketBuilder(client(), n().learned).tcp(kClientPort, kEncryptedDns, kTcpSyn).build()),
      at({{"egress_allowed_learned", 1}}));
}

// A name only made queryable (rule 0) is allowed by no rule: an answer to it installs
// nothing while the daemon is away, though a rule's name does.
TEST_P(QueryTest, AnAnswerToANameOnlyMadeQueryableIsNotLearned) {
  beatStale();
  learnable("cluster.local", SKOUTER_LEARNABLE_EXACT, 0);
  learnable("cluster.local", SKOUTER_LEARNABLE_BELOW, 0);
  learnable("api.example.com", SKOUTER_LEARNABLE_EXACT);
  const std::string answered_hook = workload() == Workload::kPod ? "pod_egress" : "uplink_ingress";
  const auto answer = [&](const std::string& name) {
    const Outcome asked = send(query(name));
    EXPECT_EQ(asked.verdict, Verdict::kPass);
    const Packet packet = PacketBuilder(n().resolver, client())
                              .udp(kDnsPort, kClientPort, dnsAnswer(kDnsId, name, n().denied))
                              .build();
    const HookCounters before_answer = counters();
    const Verdict verdict =
        workload() == Workload::kPod ? runPodEgress(packet) : runUplinkIngress(packet);
    EXPECT_EQ(verdict, Verdict::kPass);
    return countersMoved(before_answer, counters());
  };
  EXPECT_EQ(
      answer("web.shop.svc.cluster.local"),
      (HookCounters{{answered_hook, {{"dns_answer_failsafe", 1}, {"dns_answer_not_learned", 1}}}}));
  EXPECT_EQ(
      answer("cluster.local"),
      (HookCounters{{answered_hook, {{"dns_answer_failsafe", 1}, {"dns_answer_not_learned", 1}}}}));
  std::size_t learned = 0;
  datapath().allowedIps().forEach(
      [&](const skouter_allowed_ip_key&, const skouter_allowed_ip_value&) { ++learned; });
  EXPECT_EQ(learned, 0u);

  EXPECT_EQ(
      answer("api.example.com"),
      (HookCounters{{answered_hook, {{"dns_answer_failsafe", 1}, {"dns_answer_learned", 1}}}}));
  learned = 0;
  datapath().allowedIps().forEach(
      [&](const skouter_allowed_ip_key& key, const skouter_allowed_ip_value& value) {
        ++learned;
        EXPECT_EQ(key.identity, identity());
        EXPECT_EQ(value.rule_id, kRuleId);
      });
  EXPECT_EQ(learned, 1u);
}

// What the daemon writes for a policy whose queries are policed (LearnableNameTable,
// with the seed it draws) is what the programs read: its rules' names and the
// cluster's go out at once; a name under a wildcard that covers a withheld resolver
// name, that name itself, and a name of no rule are the daemon's to judge.
TEST_P(QueryTest, TheDaemonsLearnableNamesListWhatThePolicyLetsGoOutAtOnce) {
  policy::CompiledPolicy policy;
  policy.polices = true;
  policy.names.addExact("api.example.com", kRuleId);
  policy.names.addWildcard("example.net", kRuleId + 1);
  policy.names.addWildcard("google", kRuleId + 2);
  policy.names.compile();
  policy::policeQueries(policy, {.deny_by_default = true,
                                 .queryable_suffixes = {"cluster.local"},
                                 .encrypted_dns_names = {"dns.google"}});
  ASSERT_TRUE(policy.queryable_suffixes.has_value());
  maps::PortSetTable port_sets(datapath().portSets());
  maps::LearnableNameTable table(datapath().learnableNames(), datapath().learning(),
                                 datapath().learningBudgetUsed(), port_sets);
  ASSERT_TRUE(table.configure({.ttl = {}, .budget = kBudget}));
  const auto synced = table.sync(identity(), &policy);
  EXPECT_EQ(synced.failed, 0u);

  for (const std::string name :
       {"api.example.com", "www.example.net", "cluster.local", "db.prod.svc.cluster.local"}) {
    SCOPED_TRACE(name);
    expectPassed(send(query(name)), udpQuery("dns_query_allowed"));
  }
  for (const std::string name : {"www.google", "dns.google", "tunnel.example.org"}) {
    SCOPED_TRACE(name);
    const Bytes dns = message(name);
    const Packet packet = udp(dns);
    expectHeldAndDropped(send(packet), packet, dns);
  }
}

std::string paramName(const ::testing::TestParamInfo<Param>& info) {
  return std::get<0>(info.param)->name +
         (std::get<1>(info.param) == Workload::kPod ? "Pod" : "Host");
}

INSTANTIATE_TEST_SUITE_P(Workloads, QueryTest,
                         ::testing::Combine(::testing::Values(&ipv4Network(), &ipv6Network()),
                                            ::testing::Values(Workload::kHost, Workload::kPod)),
                         paramName);

}  // namespace
}  // namespace skouter::bpftest
