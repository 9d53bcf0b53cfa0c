// Tests of resolver/ip_frame.h: IP headers read once, checksums completed and
// recomputed as a from-scratch computation (tests/unit/answer_test_util.h, written
// independently) finds them, TCP segments cut to an MTU.
#include "resolver/ip_frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/answer_test_util.h"

namespace skouter::resolver {
namespace {

using testing::Bytes;
using testing::ChecksumField;
using testing::get16;
using testing::ip;
using testing::onesComplementSum;
using testing::put16;

constexpr std::uint8_t kProtoTcp = 6;

TEST(IpFrameTest, ReadsAnIpv4Header) {
  const auto frame = testing::buildFrame({.source = ip("198.51.100.53"),
                                          .client = ip("198.51.100.2"),
                                          .dns = Bytes(20, 7),
                                          .ipv4_option_words = 2});
  const auto header = readIpHeader(std::span(frame.bytes).subspan(frame.l3_offset));
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->family, IpFamily::kV4);
  EXPECT_EQ(header->header_length, 28u);
  EXPECT_EQ(header->total_length, frame.ip_length);
  EXPECT_EQ(header->source, ip("198.51.100.53"));
  EXPECT_EQ(header->destination, ip("198.51.100.2"));
}

TEST(IpFrameTest, ReadsAnIpv6Header) {
  const auto frame = testing::buildFrame(
      {.source = ip("2001:db8::53"), .client = ip("2001:db8::2"), .dns = Bytes(20, 7)});
  const auto header = readIpHeader(std::span(frame.bytes).subspan(frame.l3_offset));
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->family, IpFamily::kV6);
  EXPECT_EQ(header->header_length, 40u);
  EXPECT_EQ(header->total_length, frame.ip_length);
  EXPECT_EQ(header->source, ip("2001:db8::53"));
  EXPECT_EQ(header->destination, ip("2001:db8::2"));
}

TEST(IpFrameTest, RefusesShortHeadersAndOtherVersions) {
  EXPECT_FALSE(readIpHeader({}).has_value());
  EXPECT_FALSE(readIpHeader(Bytes(19, 0x45)).has_value());
  Bytes v6(39, 0);
  v6[0] = 0x60;
  EXPECT_FALSE(readIpHeader(v6).has_value());
  Bytes v5(60, 0);
  v5[0] = 0x55;
  EXPECT_FALSE(readIpHeader(v5).has_value());
}

TEST(IpFrameTest, CompletedUdpChecksumIsTheOneComputedFromScratch) {
  for (const char* source : {"198.51.100.53", "2001:db8::53"}) {
    const bool v6 = std::string(source).find(':') != std::string::npos;
    for (const std::size_t length : {0, 1, 33, 512}) {
      const auto frame = testing::buildFrame({.source = ip(source),
                                              .client = ip(v6 ? "2001:db8::2" : "198.51.100.2"),
                                              .dns = Bytes(length, 0xa5),
                                              .checksum = ChecksumField::kPartial});
      std::string error;
      auto held = extractHeldPacket(frame.bytes, frame.l3_offset, frame.l4_offset, error);
      ASSERT_TRUE(held.has_value()) << error;
      EXPECT_EQ(held->server, ip(source));
      ASSERT_EQ(completeUdpChecksum(*held), UdpChecksum::kCompleted) << source << " " << length;
      EXPECT_EQ(get16(held->ip_packet, held->udp_offset + 6),
                testing::correctUdpChecksum(held->ip_packet, held->udp_offset));
      EXPECT_TRUE(testing::udpChecksumVerifies(held->ip_packet, held->udp_offset));
    }
  }
}

// An IP packet carrying a TCP segment from the resolver with `payload`, its checksum
// field holding the folded pseudo-header sum (as offload leaves it).
Bytes tcpPacket(const IpAddress& server, const IpAddress& client, const Bytes& payload,
                std::uint8_t flags = 0x18) {
  const bool v6 = server.family == IpFamily::kV6;
  Bytes tcp(20, 0);
  put16(tcp, 0, 53);
  put16(tcp, 2, 41000);
  put16(tcp, 4, 0x0102);
  put16(tcp, 6, 0x0304);  // sequence number
  tcp[12] = 0x50;         // data offset: five words
  tcp[13] = flags;
  put16(tcp, 14, 65535);
  tcp.insert(tcp.end(), payload.begin(), payload.end());
  Bytes header(v6 ? 40 : 20, 0);
  if (v6) {
    header[0] = 0x60;
    put16(header, 4, static_cast<std::uint16_t>(tcp.size()));
    header[6] = kProtoTcp;
    header[7] = 64;
    std::copy_n(server.bytes.begin(), 16, header.begin() + 8);
    std::copy_n(client.bytes.begin(), 16, header.begin() + 24);
  } else {
    header[0] = 0x45;
    put16(header, 2, static_cast<std::uint16_t>(20 + tcp.size()));
    put16(header, 4, 0x2000);
    header[8] = 64;
    header[9] = kProtoTcp;
    std::copy_n(server.bytes.begin(), 4, header.begin() + 12);
    std::copy_n(client.bytes.begin(), 4, header.begin() + 16);
    put16(header, 10, static_cast<std::uint16_t>(~onesComplementSum(header)));
  }
  Bytes packet = header;
  packet.insert(packet.end(), tcp.begin(), tcp.end());
  return packet;
}

// The TCP pseudo-header (RFC 793, RFC 8200) and segment of `packet`, summed.
Bytes pseudoAndSegment(const Bytes& packet) {
  const bool v6 = (packet[0] >> 4) == 6;
  const std::size_t header = v6 ? 40 : 20;
  const std::size_t length = packet.size() - header;
  Bytes all;
  if (v6) {
    all.assign(packet.begin() + 8, packet.begin() + 40);
    all.insert(all.end(), {0, 0, static_cast<std::uint8_t>(length >> 8),
                           static_cast<std::uint8_t>(length & 0xff), 0, 0, 0, kProtoTcp});
  } else {
    all.assign(packet.begin() + 12, packet.begin() + 20);
    all.insert(all.end(), {0, kProtoTcp, static_cast<std::uint8_t>(length >> 8),
                           static_cast<std::uint8_t>(length & 0xff)});
  }
  all.insert(all.end(), packet.begin() + static_cast<long>(header), packet.end());
  return all;
}

bool tcpChecksumVerifies(const Bytes& packet) {
  return onesComplementSum(pseudoAndSegment(packet)) == 0xffff;
}

HeldSegment heldSegment(const Bytes& packet, bool partial) {
  Bytes copy = packet;
  const std::size_t tcp = (copy[0] >> 4) == 6 ? 40 : 20;
  Bytes pseudo = pseudoAndSegment(copy);
  pseudo.resize(pseudo.size() - (copy.size() - tcp));  // the pseudo-header alone
  const std::uint16_t partial_sum = onesComplementSum(pseudo);
  put16(copy, tcp + 16, 0);
  put16(copy, tcp + 16,
        partial ? partial_sum
                : static_cast<std::uint16_t>(~onesComplementSum(pseudoAndSegment(copy))));
  std::string error;
  auto segment = extractHeldSegment(copy, 0, static_cast<std::uint32_t>(tcp), error);
  EXPECT_TRUE(segment.has_value()) << error;
  return segment.value_or(HeldSegment{});
}

TEST(IpFrameTest, CompletedTcpChecksumIsTheOneComputedFromScratch) {
  for (const auto& [server, client] :
       {std::pair{ip("192.0.2.53"), ip("192.0.2.10")}, {ip("2001:db8::53"), ip("2001:db8::10")}}) {
    for (const std::size_t length : {0, 1, 77}) {
      const Bytes packet = tcpPacket(server, client, Bytes(length, 0x5a));
      HeldSegment segment = heldSegment(packet, true);
      EXPECT_FALSE(tcpChecksumVerifies(segment.ip_packet));
      ASSERT_EQ(completeTcpChecksum(segment), TcpChecksum::kCompleted);
      EXPECT_TRUE(tcpChecksumVerifies(segment.ip_packet));
      EXPECT_EQ(segment.ip_packet, heldSegment(packet, false).ip_packet);
      EXPECT_EQ(completeTcpChecksum(segment), TcpChecksum::kValid);
      segment.ip_packet[segment.tcp_offset + 5] ^= 1;  // damaged on the way
      EXPECT_EQ(completeTcpChecksum(segment), TcpChecksum::kCorrupt);
    }
  }
}

TEST(IpFrameTest, RecomputedTcpChecksumVerifiesAfterAnEdit) {
  HeldSegment segment =
      heldSegment(tcpPacket(ip("192.0.2.53"), ip("192.0.2.10"), Bytes(40, 1)), false);
  segment.ip_packet[segment.payload_offset + 3] = 0x99;
  EXPECT_FALSE(tcpChecksumVerifies(segment.ip_packet));
  recomputeTcpChecksum(segment);
  EXPECT_TRUE(tcpChecksumVerifies(segment.ip_packet));
}

TEST(IpFrameTest, SplitSegmentPiecesAreEachAValidPacket) {
  for (const auto& [server, client] :
       {std::pair{ip("192.0.2.53"), ip("192.0.2.10")}, {ip("2001:db8::53"), ip("2001:db8::10")}}) {
    Bytes payload(3000);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i);
    const HeldSegment segment =
        heldSegment(tcpPacket(server, client, payload, 0x19), false);  // FIN, PSH, ACK
    const auto pieces = splitTcpSegment(segment, 1500);
    ASSERT_EQ(pieces.size(), 3u);
    Bytes joined;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      const Bytes& piece = pieces[i];
      EXPECT_LE(piece.size(), 1500u);
      const auto header = readIpHeader(piece);
      ASSERT_TRUE(header.has_value());
      EXPECT_EQ(header->total_length, piece.size());
      if (header->family == IpFamily::kV4) {
        EXPECT_EQ(onesComplementSum(Bytes(piece.begin(), piece.begin() + 20)), 0xffff);
        EXPECT_EQ(get16(piece, 4), 0x2000 + i);
      }
      EXPECT_TRUE(tcpChecksumVerifies(piece)) << i;
      const std::size_t tcp = segment.tcp_offset;
      const std::uint32_t sequence =
          (std::uint32_t{get16(piece, tcp + 4)} << 16) | get16(piece, tcp + 6);
      EXPECT_EQ(sequence, segment.sequence + joined.size());
      EXPECT_EQ(piece[tcp + 13] & (kTcpFin | kTcpPsh), i + 1 == pieces.size() ? 0x09 : 0);
      joined.insert(joined.end(), piece.begin() + static_cast<long>(tcp + 20), piece.end());
    }
    EXPECT_EQ(joined, payload);
  }
}

// The answer the daemon gives a denied query itself: from the resolver the query was
// for, back to the workload's port, every length and checksum as a receiver checks
// them.
TEST(IpFrameTest, AReplyGoesBackTheWayTheHeldQueryCame) {
  struct Case {
    const char* workload;
    const char* resolver;
    std::size_t ipv4_option_words;
  };
  const Case cases[] = {
      {"10.0.0.7", "10.96.0.10", 0},
      {"10.0.0.7", "10.96.0.10", 2},  // the UDP header further in
      {"fd00::7", "fd00:96::a", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.workload);
    SCOPED_TRACE(c.ipv4_option_words);
    const Bytes query(41, 0x3c);
    const auto frame = testing::buildFrame({.source = ip(c.workload),
                                            .client = ip(c.resolver),
                                            .dns = query,
                                            .source_port = 41000,
                                            .client_port = 53,
                                            .ipv4_option_words = c.ipv4_option_words});
    std::string error;
    const auto held = extractHeldPacket(frame.bytes, frame.l3_offset, frame.l4_offset, error);
    ASSERT_TRUE(held.has_value()) << error;
    // Shorter than the query, as a refusal without the query's OPT record is.
    const Bytes answer(29, 0xa7);
    const Bytes reply = replyUdpPacket(*held, answer);

    const auto header = readIpHeader(reply);
    ASSERT_TRUE(header.has_value());
    EXPECT_EQ(header->source, ip(c.resolver));
    EXPECT_EQ(header->destination, ip(c.workload));
    EXPECT_EQ(header->total_length, reply.size());
    const std::size_t udp = held->udp_offset;
    ASSERT_EQ(reply.size(), udp + 8 + answer.size());
    if (header->family == IpFamily::kV4) {
      EXPECT_EQ(header->header_length, 20 + 4 * c.ipv4_option_words);
      EXPECT_EQ(onesComplementSum(Bytes(reply.begin(), reply.begin() + header->header_length)),
                0xffff);
    }
    EXPECT_EQ(get16(reply, udp), 53);
    EXPECT_EQ(get16(reply, udp + 2), 41000);
    EXPECT_EQ(get16(reply, udp + 4), 8 + answer.size());
    EXPECT_TRUE(testing::udpChecksumVerifies(reply, udp));
    EXPECT_EQ(Bytes(reply.begin() + static_cast<long>(udp + 8), reply.end()), answer);
    // The held query is left as it was.
    EXPECT_EQ(held->client, ip(c.resolver));
    EXPECT_EQ(held->server, ip(c.workload));
  }
}

}  // namespace
}  // namespace skouter::resolver
