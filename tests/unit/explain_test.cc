// explainFlow: what `skouterctl explain` tells an operator about one flow, from the
// daemon's view of the datapath's maps.
#include "daemon/explain.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/compiled_policy.h"

namespace skouter::daemon {
namespace {

using policy::PortProtocol;
using policy::PortRange;
using policy::PortSet;
using policy::RuleId;
using policy::StaticEntry;
using Strings = std::vector<std::string>;

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;
constexpr std::uint8_t kIcmp = 1;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr std::uint64_t kNow = 3600 * kSecond;

const RuleId kNamesRule = policy::ruleIdOf("web/rules[0]");
const RuleId kNetworkRule = policy::ruleIdOf("web/rules[1]");
const RuleId kHostRule = policy::ruleIdOf("web/rules[2]");

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

IpAddress ip(const std::string& text) {
  const auto parsed = IpAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(IpAddress{});
}

IpPrefix prefix(const std::string& text) { return IpPrefix::parse(text).value(); }

PortRange tcp(std::uint16_t port) { return {PortProtocol::kTcp, port, port}; }

// A policy that polices the host, with the descriptions of the three rules above.
policy::CompiledPolicy policing() {
  policy::CompiledPolicy compiled;
  compiled.polices = true;
  compiled.rule_descriptions = {
      {kNamesRule, "web/rules[0]"}, {kNetworkRule, "web/rules[1]"}, {kHostRule, "web/rules[2]"}};
  compiled.names.compile();
  return compiled;
}

FlowQuery flowTo(const std::string& destination, std::uint16_t port = 443,
                 std::uint8_t protocol = kTcp) {
  return {ip(destination), protocol, port};
}

maps::AllowedIpEntry learned(const std::string& address, std::uint64_t expiry_ns,
                             PortSet ports = {}, Strings names = {"api.example.com"}) {
  maps::AllowedIpEntry entry;
  entry.identity = 1;
  entry.ip = ip(address);
  entry.expiry_ns = expiry_ns;
  entry.rule = kNamesRule;
  entry.ports = std::move(ports);
  entry.names = std::move(names);
  return entry;
}

class ExplainFlowTest : public ::testing::Test {
 protected:
  ExplainFlowTest() { snapshot_.now_ns = kNow; }

  Explanation explain(const FlowQuery& flow) {
    snapshot_.policy = &policy_;
    return explainFlow(flow, snapshot_);
  }

  policy::CompiledPolicy policy_ = policing();
  PolicySnapshot snapshot_;
};

TEST(FlowVerdictTest, Names) {
  EXPECT_STREQ(toString(FlowVerdict::kAllowed), "allowed");
  EXPECT_STREQ(toString(FlowVerdict::kDenied), "denied");
  EXPECT_STREQ(toString(FlowVerdict::kAudited), "audited");
}

TEST(ProtocolNumberTest, NamesTheProtocolsTheDatapathKnows) {
  EXPECT_EQ(protocolNumber("tcp", IpFamily::kV4), 6);
  EXPECT_EQ(protocolNumber("TCP", IpFamily::kV6), 6);
  EXPECT_EQ(protocolNumber("udp", IpFamily::kV4), 17);
  EXPECT_EQ(protocolNumber("UDP", IpFamily::kV4), 17);
  EXPECT_EQ(protocolNumber("sctp", IpFamily::kV4), 132);
  EXPECT_EQ(protocolNumber("icmp", IpFamily::kV4), 1);
  EXPECT_EQ(protocolNumber("icmp", IpFamily::kV6), 58);  // ICMPv6
  EXPECT_EQ(protocolNumber("ICMP", IpFamily::kV6), 58);
  EXPECT_EQ(protocolNumber("gre", IpFamily::kV4), std::nullopt);
  EXPECT_EQ(protocolNumber("", IpFamily::kV4), std::nullopt);
  EXPECT_EQ(protocolNumber("6", IpFamily::kV4), std::nullopt);
}

TEST(ExplainFlowWithoutPolicyTest, AnUnpolicedWorkloadIsAllowed) {
  PolicySnapshot snapshot;
  const Explanation none = explainFlow(flowTo("198.51.100.1"), snapshot);
  EXPECT_EQ(none.verdict, FlowVerdict::kAllowed);
  EXPECT_TRUE(contains(none.reason, "not policed"));
  EXPECT_EQ(none.rule, std::nullopt);

  // A policy that selects nothing on this node: not policed either.
  policy::CompiledPolicy idle;
  idle.names.compile();
  snapshot.policy = &idle;
  EXPECT_EQ(explainFlow(flowTo("198.51.100.1"), snapshot).verdict, FlowVerdict::kAllowed);
}

TEST_F(ExplainFlowTest, DnsToATrustedResolverIsAllowed) {
  snapshot_.trusted_resolvers = {{ip("192.0.2.53"), 53}, {ip("2001:db8::53"), 5353}};
  const Explanation udp = explain(flowTo("192.0.2.53", 53, kUdp));
  EXPECT_EQ(udp.verdict, FlowVerdict::kAllowed);
  EXPECT_TRUE(contains(udp.reason, "trusted resolver")) << udp.reason;
  EXPECT_EQ(explain(flowTo("192.0.2.53", 53, kTcp)).verdict, FlowVerdict::kAllowed);
  EXPECT_EQ(explain(flowTo("2001:db8::53", 5353, kUdp)).verdict, FlowVerdict::kAllowed);
  // Another port, another protocol or another address of the resolver is not DNS to it.
  EXPECT_EQ(explain(flowTo("192.0.2.53", 443, kTcp)).verdict, FlowVerdict::kDenied);
  EXPECT_EQ(explain(flowTo("2001:db8::53", 53, kUdp)).verdict, FlowVerdict::kDenied);
  EXPECT_EQ(explain(flowTo("192.0.2.53", 0, kIcmp)).verdict, FlowVerdict::kDenied);
  EXPECT_EQ(explain(flowTo("192.0.2.54", 53, kUdp)).verdict, FlowVerdict::kDenied);
}

TEST_F(ExplainFlowTest, ALearnedAddressIsAllowedUntilItExpires) {
  snapshot_.learned = learned("198.51.100.7", kNow + 30 * kSecond);
  const Explanation allowed = explain(flowTo("198.51.100.7"));
  EXPECT_EQ(allowed.verdict, FlowVerdict::kAllowed);
  EXPECT_EQ(allowed.rule, kNamesRule);
  EXPECT_EQ(allowed.names, Strings{"api.example.com"});
  ASSERT_TRUE(allowed.expires_in_s.has_value());
  EXPECT_DOUBLE_EQ(*allowed.expires_in_s, 30.0);
  EXPECT_TRUE(contains(allowed.reason, "api.example.com")) << allowed.reason;
  EXPECT_TRUE(contains(allowed.reason, "web/rules[0]")) << allowed.reason;
  EXPECT_TRUE(contains(allowed.reason, "expires in 30 s")) << allowed.reason;

  // Half a second left: still allowed, the fraction kept.
  snapshot_.learned = learned("198.51.100.7", kNow + kSecond / 2);
  const Explanation soon = explain(flowTo("198.51.100.7"));
  EXPECT_EQ(soon.verdict, FlowVerdict::kAllowed);
  EXPECT_DOUBLE_EQ(soon.expires_in_s.value_or(-1), 0.5);
}

TEST_F(ExplainFlowTest, ALearnedAddressWithoutExpiryNeverExpires) {
  snapshot_.learned = learned("198.51.100.7", 0);
  const Explanation allowed = explain(flowTo("198.51.100.7", 22));
  EXPECT_EQ(allowed.verdict, FlowVerdict::kAllowed);
  EXPECT_EQ(allowed.expires_in_s, std::nullopt);
  EXPECT_TRUE(contains(allowed.reason, "never expires")) << allowed.reason;
}

TEST_F(ExplainFlowTest, AnExpiredLearnedAddressIsDenied) {
  snapshot_.learned = learned("198.51.100.7", kNow);  // expired at this very instant
  const Explanation denied = explain(flowTo("198.51.100.7"));
  EXPECT_EQ(denied.verdict, FlowVerdict::kDenied);
  EXPECT_EQ(denied.rule, std::nullopt);
  EXPECT_EQ(denied.expires_in_s, std::nullopt);
  EXPECT_TRUE(contains(denied.reason, "expired")) << denied.reason;
  EXPECT_TRUE(contains(denied.reason, "api.example.com")) << denied.reason;

  // A static entry still lets it through.
  snapshot_.static_entries = {{prefix("198.51.100.0/24"), kNetworkRule, {}}};
  const Explanation static_allowed = explain(flowTo("198.51.100.7"));
  EXPECT_EQ(static_allowed.verdict, FlowVerdict::kAllowed);
  EXPECT_EQ(static_allowed.rule, kNetworkRule);
}

// Removed on expiry, the address is remembered: explain says it was learned for the
// workload and how long ago it expired, not that no answer named it.
TEST_F(ExplainFlowTest, AnAddressExpiredAndRemovedIsALateConnection) {
  snapshot_.observed_names = {"api.example.com"};
  snapshot_.late = LateConnection{
      .names = {"api.example.com"}, .rule = kNamesRule, .expired_ago_s = 42, .open_for_s = 7};
  const Explanation denied = explain(flowTo("2001:db8::7"));
  EXPECT_EQ(denied.verdict, FlowVerdict::kDenied);
  ASSERT_TRUE(denied.late.has_value());
  EXPECT_EQ(denied.late->expired_ago_s, 42u);
  EXPECT_EQ(denied.reason,
            "2001:db8::7 was learned for api.example.com, expired 42 s ago (web/rules[0]): a "
            "late connection; the client must look the name up again, or a minTTL on the rule "
            "keeps such addresses open longer");

  // Learned again since, still open: allowed, and not late.
  snapshot_.learned = learned("2001:db8::7", kNow + 30 * kSecond);
  const Explanation allowed = explain(flowTo("2001:db8::7"));
  EXPECT_EQ(allowed.verdict, FlowVerdict::kAllowed);
  EXPECT_FALSE(allowed.late.has_value());

  // A static entry lets it through: not late either.
  snapshot_.learned.reset();
  snapshot_.static_entries = {{prefix("2001:db8::/64"), kNetworkRule, {}}};
  EXPECT_FALSE(explain(flowTo("2001:db8::7")).late.has_value());
}

TEST_F(ExplainFlowTest, ALearnedAddressOpensOnlyItsPorts) {
  snapshot_.learned = learned("198.51.100.7", kNow + 30 * kSecond, {tcp(443), tcp(8443)});
  EXPECT_EQ(explain(flowTo("198.51.100.7", 443)).verdict, FlowVerdict::kAllowed);
  EXPECT_EQ(explain(flowTo("198.51.100.7", 8443)).verdict, FlowVerdict::kAllowed);

  const Explanation wrong_port = explain(flowTo("198.51.100.7", 80));
  EXPECT_EQ(wrong_port.verdict, FlowVerdict::kDenied);
  EXPECT_EQ(wrong_port.rule, std::nullopt);
  EXPECT_TRUE(contains(wrong_port.reason, "443/TCP, 8443/TCP")) << wrong_port.reason;
  EXPECT_TRUE(contains(wrong_port.reason, "not 80/TCP")) << wrong_port.reason;

  const Explanation wrong_protocol = explain(flowTo("198.51.100.7", 443, kUdp));
  EXPECT_EQ(wrong_protocol.verdict, FlowVerdict::kDenied);
  EXPECT_TRUE(contains(wrong_protocol.reason, "not 443/UDP")) << wrong_protocol.reason;
}

TEST_F(ExplainFlowTest, IcmpPassesOnlyWhereEveryPortIsOpen) {
  snapshot_.learned = learned("198.51.100.7", kNow + 30 * kSecond, {tcp(443)});
  const Explanation restricted = explain(flowTo("198.51.100.7", 0, kIcmp));
  EXPECT_EQ(restricted.verdict, FlowVerdict::kDenied);
  EXPECT_TRUE(contains(restricted.reason, "not ICMP")) << restricted.reason;

  snapshot_.learned = learned("198.51.100.7", kNow + 30 * kSecond);
  EXPECT_EQ(explain(flowTo("198.51.100.7", 0, kIcmp)).verdict, FlowVerdict::kAllowed);

  snapshot_.learned.reset();
  snapshot_.static_entries = {{prefix("203.0.113.0/24"), kNetworkRule, {tcp(443)}}};
  const Explanation static_restricted = explain(flowTo("203.0.113.9", 0, kIcmp));
  EXPECT_EQ(static_restricted.verdict, FlowVerdict::kDenied);
  EXPECT_TRUE(contains(static_restricted.reason, "203.0.113.0/24")) << static_restricted.reason;
}

TEST_F(ExplainFlowTest, TheLongestStaticPrefixDecides) {
  // As the datapath holds them: a /32 opening 443 only inside a /24 opening every port
  // (compileForNode would have widened the /32; a stale or hand-built map need not be).
  for (const bool host_first : {true, false}) {
    SCOPED_TRACE(host_first ? "/32 listed first" : "/24 listed first");
    const StaticEntry network{prefix("203.0.113.0/24"), kNetworkRule, {}};
    const StaticEntry host{prefix("203.0.113.5/32"), kHostRule, {tcp(443)}};
    snapshot_.static_entries = host_first ? std::vector<StaticEntry>{host, network}
                                          : std::vector<StaticEntry>{network, host};

    const Explanation to_host = explain(flowTo("203.0.113.5", 443));
    EXPECT_EQ(to_host.verdict, FlowVerdict::kAllowed);
    EXPECT_EQ(to_host.rule, kHostRule);
    EXPECT_TRUE(contains(to_host.reason, "203.0.113.5/32")) << to_host.reason;
    EXPECT_TRUE(contains(to_host.reason, "web/rules[2]")) << to_host.reason;
    EXPECT_EQ(to_host.expires_in_s, std::nullopt);

    const Explanation other_port = explain(flowTo("203.0.113.5", 80));
    EXPECT_EQ(other_port.verdict, FlowVerdict::kDenied);
    EXPECT_EQ(other_port.rule, std::nullopt);
    EXPECT_TRUE(contains(other_port.reason, "203.0.113.5/32 (web/rules[2])")) << other_port.reason;
    EXPECT_TRUE(contains(other_port.reason, "opens only 443/TCP, not 80/TCP")) << other_port.reason;

    const Explanation neighbour = explain(flowTo("203.0.113.6", 80));
    EXPECT_EQ(neighbour.verdict, FlowVerdict::kAllowed);
    EXPECT_EQ(neighbour.rule, kNetworkRule);
    EXPECT_TRUE(contains(neighbour.reason, "203.0.113.0/24")) << neighbour.reason;

    EXPECT_EQ(explain(flowTo("203.0.114.5", 443)).verdict, FlowVerdict::kDenied);
  }
}

TEST_F(ExplainFlowTest, ARuleThePolicyNoLongerHasIsNamedAsSuch) {
  snapshot_.static_entries = {{prefix("203.0.113.0/24"), policy::ruleIdOf("gone/rules[0]"), {}}};
  const Explanation allowed = explain(flowTo("203.0.113.1"));
  EXPECT_EQ(allowed.verdict, FlowVerdict::kAllowed);
  EXPECT_TRUE(contains(allowed.reason, "a rule of an earlier policy")) << allowed.reason;
}

TEST_F(ExplainFlowTest, ADeniedFlowReportsTheNamesAnswersGaveItsDestination) {
  snapshot_.observed_names = {"blocked.example", "cdn.blocked.example"};
  const Explanation denied = explain(flowTo("198.51.100.9"));
  EXPECT_EQ(denied.verdict, FlowVerdict::kDenied);
  EXPECT_EQ(denied.names, (Strings{"blocked.example", "cdn.blocked.example"}));
  EXPECT_TRUE(contains(denied.reason, "blocked.example, cdn.blocked.example")) << denied.reason;
  EXPECT_TRUE(contains(denied.reason, "no rule allows")) << denied.reason;
}

TEST_F(ExplainFlowTest, ADestinationNoAnswerNamedIsDeniedWithAHint) {
  const Explanation denied = explain(flowTo("198.51.100.9"));
  EXPECT_EQ(denied.verdict, FlowVerdict::kDenied);
  EXPECT_TRUE(denied.names.empty());
  EXPECT_TRUE(contains(denied.reason, "no rule allows 198.51.100.9")) << denied.reason;
  EXPECT_TRUE(contains(denied.reason, "ips or cidrs")) << denied.reason;
}

TEST_F(ExplainFlowTest, InAuditModeADeniedFlowIsAuditedNamingTheEgress) {
  policy_.audit_egresses = {"trial", "prod/shop"};
  const Explanation audited = explain(flowTo("198.51.100.9"));
  EXPECT_EQ(audited.verdict, FlowVerdict::kAudited);
  EXPECT_TRUE(contains(audited.reason, "no rule allows 198.51.100.9")) << audited.reason;
  EXPECT_TRUE(contains(audited.reason, "Egress trial, prod/shop is in mode audit"))
      << audited.reason;

  // What policy allows is allowed, audit or not.
  snapshot_.learned = learned("198.51.100.7", kNow + 30 * kSecond);
  EXPECT_EQ(explain(flowTo("198.51.100.7")).verdict, FlowVerdict::kAllowed);
}

TEST_F(ExplainFlowTest, UnderAuditEverythingADeniedFlowIsAuditedNamingTheFlag) {
  policy_.audit_everything = true;
  snapshot_.learned = learned("198.51.100.7", kNow + 30 * kSecond, {tcp(443)});
  const Explanation audited = explain(flowTo("198.51.100.7", 22));
  EXPECT_EQ(audited.verdict, FlowVerdict::kAudited);
  EXPECT_TRUE(contains(audited.reason, "443/TCP")) << audited.reason;
  EXPECT_TRUE(contains(audited.reason, "--audit")) << audited.reason;
}

}  // namespace
}  // namespace skouter::daemon
