// The port-set helpers every layer shares: the loader normalizes a rule's ports with
// them, compileForNode unites the ports of nested prefixes, the datapath's port sets
// and `skouterctl explain` are built from their results.
#include <gtest/gtest.h>

#include <string>

#include "policy/egress.h"

namespace skouter::policy {
namespace {

PortRange tcp(std::uint16_t first, std::uint16_t last = 0) {
  return {PortProtocol::kTcp, first, last ? last : first};
}

PortRange udp(std::uint16_t first, std::uint16_t last = 0) {
  return {PortProtocol::kUdp, first, last ? last : first};
}

PortRange sctp(std::uint16_t first, std::uint16_t last = 0) {
  return {PortProtocol::kSctp, first, last ? last : first};
}

// "TCP 80-81, UDP 53-53", written independently of describePorts.
std::string text(const PortSet& ports) {
  std::string written;
  for (const PortRange& range : ports) {
    if (!written.empty()) written += ", ";
    switch (range.protocol) {
      case PortProtocol::kTcp:
        written += "TCP";
        break;
      case PortProtocol::kUdp:
        written += "UDP";
        break;
      case PortProtocol::kSctp:
        written += "SCTP";
        break;
    }
    written += " " + std::to_string(range.first) + "-" + std::to_string(range.last);
  }
  return written;
}

TEST(NormalizePortsTest, SortsByProtocolThenPort) {
  EXPECT_EQ(text(normalizePorts({sctp(9), udp(53), tcp(8080), tcp(443)})),
            "TCP 443-443, TCP 8080-8080, UDP 53-53, SCTP 9-9");
}

TEST(NormalizePortsTest, MergesOverlappingAndAdjacentRangesOfOneProtocol) {
  EXPECT_EQ(text(normalizePorts({tcp(80), tcp(81)})), "TCP 80-81");  // adjacent
  EXPECT_EQ(text(normalizePorts({tcp(8000, 8080), tcp(8080, 9000)})), "TCP 8000-9000");
  EXPECT_EQ(text(normalizePorts({tcp(8000, 9000), tcp(8443)})), "TCP 8000-9000");  // inside
  EXPECT_EQ(text(normalizePorts({tcp(443), tcp(443)})), "TCP 443-443");            // twice
  EXPECT_EQ(text(normalizePorts({tcp(90, 100), tcp(1, 10), tcp(11, 20), tcp(50, 95)})),
            "TCP 1-20, TCP 50-100");
  EXPECT_EQ(text(normalizePorts({tcp(1, 65535), tcp(443)})), "TCP 1-65535");
  EXPECT_EQ(text(normalizePorts({tcp(65535), tcp(65534)})), "TCP 65534-65535");
}

TEST(NormalizePortsTest, KeepsAGapOfOnePortApart) {
  EXPECT_EQ(text(normalizePorts({tcp(80), tcp(82)})), "TCP 80-80, TCP 82-82");
}

TEST(NormalizePortsTest, NeverMergesAcrossProtocols) {
  EXPECT_EQ(text(normalizePorts({tcp(53), udp(53), udp(54), sctp(53), tcp(54)})),
            "TCP 53-54, UDP 53-54, SCTP 53-53");
  EXPECT_EQ(text(normalizePorts({tcp(1, 65535), udp(53)})), "TCP 1-65535, UDP 53-53");
}

TEST(NormalizePortsTest, EmptyStaysEmpty) { EXPECT_TRUE(normalizePorts({}).empty()); }

TEST(UnitePortsTest, UnitesAndNormalizes) {
  EXPECT_EQ(text(unitePorts({tcp(443)}, {tcp(444), udp(53)})), "TCP 443-444, UDP 53-53");
  EXPECT_EQ(text(unitePorts({tcp(80)}, {tcp(80)})), "TCP 80-80");
  EXPECT_EQ(text(unitePorts({udp(53)}, {tcp(8000, 8080)})), "TCP 8000-8080, UDP 53-53");
}

TEST(UnitePortsTest, EmptyMeansEveryPortAndWins) {
  EXPECT_TRUE(unitePorts({}, {tcp(443)}).empty());
  EXPECT_TRUE(unitePorts({tcp(443)}, {}).empty());
  EXPECT_TRUE(unitePorts({}, {}).empty());
}

TEST(PortSetAllowsTest, EmptyAllowsEveryPortOfEveryProtocol) {
  EXPECT_TRUE(portSetAllows({}, PortProtocol::kTcp, 1));
  EXPECT_TRUE(portSetAllows({}, PortProtocol::kUdp, 65535));
  EXPECT_TRUE(portSetAllows({}, PortProtocol::kSctp, 9));
}

TEST(PortSetAllowsTest, AllowsOnlyTheListedPortsOfTheirProtocol) {
  const PortSet ports = normalizePorts({tcp(443), tcp(8000, 8080), udp(53)});
  EXPECT_TRUE(portSetAllows(ports, PortProtocol::kTcp, 443));
  EXPECT_FALSE(portSetAllows(ports, PortProtocol::kTcp, 442));
  EXPECT_FALSE(portSetAllows(ports, PortProtocol::kTcp, 444));
  EXPECT_TRUE(portSetAllows(ports, PortProtocol::kTcp, 8000));  // both ends are inside
  EXPECT_TRUE(portSetAllows(ports, PortProtocol::kTcp, 8042));
  EXPECT_TRUE(portSetAllows(ports, PortProtocol::kTcp, 8080));
  EXPECT_FALSE(portSetAllows(ports, PortProtocol::kTcp, 8081));
  EXPECT_FALSE(portSetAllows(ports, PortProtocol::kTcp, 53));  // 53 is UDP only
  EXPECT_TRUE(portSetAllows(ports, PortProtocol::kUdp, 53));
  EXPECT_FALSE(portSetAllows(ports, PortProtocol::kUdp, 443));  // 443 is TCP only
  EXPECT_FALSE(portSetAllows(ports, PortProtocol::kSctp, 443));
  EXPECT_FALSE(portSetAllows(ports, PortProtocol::kTcp, 0));
}

TEST(PortSetAllowsTest, AWholeProtocolAllowsAllItsPorts) {
  const PortSet ports = {udp(1, 65535)};
  EXPECT_TRUE(portSetAllows(ports, PortProtocol::kUdp, 1));
  EXPECT_TRUE(portSetAllows(ports, PortProtocol::kUdp, 65535));
  EXPECT_FALSE(portSetAllows(ports, PortProtocol::kTcp, 80));
}

TEST(DescribePortsTest, WritesPortsAndRangesWithTheirProtocol) {
  EXPECT_EQ(describePorts({}), "any port");
  EXPECT_EQ(describePorts({tcp(443)}), "443/TCP");
  EXPECT_EQ(describePorts(normalizePorts({tcp(8000, 8080), tcp(443), udp(53), sctp(1, 65535)})),
            "443/TCP, 8000-8080/TCP, 53/UDP, 1-65535/SCTP");
}

TEST(PortProtocolTest, NamesAndNumbersAreKubernetesAndIanas) {
  EXPECT_STREQ(toString(PortProtocol::kTcp), "TCP");
  EXPECT_STREQ(toString(PortProtocol::kUdp), "UDP");
  EXPECT_STREQ(toString(PortProtocol::kSctp), "SCTP");
  EXPECT_EQ(static_cast<int>(PortProtocol::kTcp), 6);
  EXPECT_EQ(static_cast<int>(PortProtocol::kUdp), 17);
  EXPECT_EQ(static_cast<int>(PortProtocol::kSctp), 132);
}

TEST(DenyResponseTest, ParsesAndWritesTheThreeResponses) {
  for (const DenyResponse response :
       {DenyResponse::kPassthrough, DenyResponse::kNxdomain, DenyResponse::kRefused}) {
    EXPECT_EQ(parseDenyResponse(toString(response)), response) << toString(response);
  }
  EXPECT_STREQ(toString(DenyResponse::kNxdomain), "nxdomain");
  EXPECT_EQ(parseDenyResponse("drop"), std::nullopt);
  EXPECT_EQ(parseDenyResponse(""), std::nullopt);
  EXPECT_EQ(parseDenyResponse("Refused"), std::nullopt);
}

}  // namespace
}  // namespace skouter::policy
