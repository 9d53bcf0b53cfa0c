// Helpers for tests of the DNS answer path: the captured answers in
// tests/unit/data/answers (see capture.sh there), frames built around them, and an
// Internet checksum written independently of resolver/ip_frame.cc.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "common/ip_address.h"
#include "resolver/answer_handler.h"
#include "resolver/ip_frame.h"

namespace skouter::testing {

using Bytes = std::vector<std::uint8_t>;

inline const std::string kAnswers = std::string(SKOUTER_TEST_DATA) + "/answers/";

// The bytes of tests/unit/data/answers/NAME; fails the test when it is missing.
inline Bytes readAnswer(const std::string& name) {
  std::ifstream file(kAnswers + name, std::ios::binary);
  EXPECT_TRUE(file.good()) << "cannot read " << kAnswers << name
                           << " (regenerate with tests/unit/data/answers/capture.sh)";
  return Bytes(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

inline IpAddress ip(const std::string& text) {
  const auto parsed = IpAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(IpAddress{});
}

inline void put16(Bytes& bytes, std::size_t at, std::uint16_t value) {
  bytes[at] = static_cast<std::uint8_t>(value >> 8);
  bytes[at + 1] = static_cast<std::uint8_t>(value & 0xff);
}

inline std::uint16_t get16(const Bytes& bytes, std::size_t at) {
  return static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

// RFC 1071, the plain way: 16-bit big-endian words (an odd byte padded with zero)
// summed in 64 bits, carries folded at the end. Not complemented.
inline std::uint16_t onesComplementSum(const Bytes& bytes) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    sum += static_cast<std::uint64_t>(bytes[i]) << 8;
    if (i + 1 < bytes.size()) sum += bytes[i + 1];
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

// The RFC 768 / RFC 8200 pseudo-header of the UDP datagram at `udp_offset` of the IP
// packet `packet` (source and destination from the fixed IP header).
inline Bytes pseudoHeader(const Bytes& packet, std::size_t udp_offset) {
  const bool v6 = (packet[0] >> 4) == 6;
  const std::uint16_t udp_length = get16(packet, udp_offset + 4);
  Bytes pseudo;
  if (v6) {
    pseudo.assign(packet.begin() + 8, packet.begin() + 40);  // source, destination
    pseudo.insert(pseudo.end(), {0, 0, static_cast<std::uint8_t>(udp_length >> 8),
                                 static_cast<std::uint8_t>(udp_length & 0xff), 0, 0, 0, 17});
  } else {
    pseudo.assign(packet.begin() + 12, packet.begin() + 20);
    pseudo.insert(pseudo.end(), {0, 17, static_cast<std::uint8_t>(udp_length >> 8),
                                 static_cast<std::uint8_t>(udp_length & 0xff)});
  }
  return pseudo;
}

inline Bytes udpDatagram(const Bytes& packet, std::size_t udp_offset) {
  const std::uint16_t udp_length = get16(packet, udp_offset + 4);
  return Bytes(packet.begin() + static_cast<std::ptrdiff_t>(udp_offset),
               packet.begin() + static_cast<std::ptrdiff_t>(udp_offset + udp_length));
}

// The checksum a sender computes: with the checksum field taken as zero, the
// complement of the sum over pseudo-header and datagram; 0 is sent as 0xffff.
inline std::uint16_t correctUdpChecksum(const Bytes& packet, std::size_t udp_offset) {
  Bytes all = pseudoHeader(packet, udp_offset);
  Bytes udp = udpDatagram(packet, udp_offset);
  udp[6] = udp[7] = 0;
  all.insert(all.end(), udp.begin(), udp.end());
  const std::uint16_t checksum = static_cast<std::uint16_t>(~onesComplementSum(all));
  return checksum == 0 ? 0xffff : checksum;
}

// What a receiver checks: pseudo-header plus datagram, checksum field included, sum
// to 0xffff.
inline bool udpChecksumVerifies(const Bytes& packet, std::size_t udp_offset) {
  Bytes all = pseudoHeader(packet, udp_offset);
  const Bytes udp = udpDatagram(packet, udp_offset);
  all.insert(all.end(), udp.begin(), udp.end());
  return onesComplementSum(all) == 0xffff;
}

// What a sender with checksum offload leaves in the field (Linux: CHECKSUM_PARTIAL):
// the folded pseudo-header sum, not complemented.
inline std::uint16_t partialUdpChecksum(const Bytes& packet, std::size_t udp_offset) {
  return onesComplementSum(pseudoHeader(packet, udp_offset));
}

enum class ChecksumField { kCorrect, kZero, kPartial };

struct FrameSpec {
  IpAddress source;  // the resolver
  IpAddress client;  // the destination of the answer
  Bytes dns;
  std::uint16_t source_port = 53;
  std::uint16_t client_port = 41000;
  ChecksumField checksum = ChecksumField::kCorrect;
  bool vlan_tag = false;              // an 802.1Q tag between MACs and EtherType
  std::size_t ipv4_option_words = 0;  // IPv4 options (NOPs), in 4-byte words
  std::size_t padding = 0;            // bytes after the IP datagram (Ethernet padding)
};

struct Frame {
  Bytes bytes;
  std::uint32_t l3_offset = 0;
  std::uint32_t l4_offset = 0;
  std::size_t ip_length = 0;  // of the IP datagram, without padding
};

// An Ethernet frame carrying the DNS message in UDP over IPv4 or IPv6 (after the
// family of `source`), consistent in every length field.
inline Frame buildFrame(const FrameSpec& spec) {
  const bool v6 = spec.source.family == IpFamily::kV6;
  Frame frame;
  Bytes& b = frame.bytes;
  b = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};  // destination, source MAC
  if (spec.vlan_tag) b.insert(b.end(), {0x81, 0x00, 0x00, 0x2a});
  b.insert(b.end(), {static_cast<std::uint8_t>(v6 ? 0x86 : 0x08),
                     static_cast<std::uint8_t>(v6 ? 0xdd : 0x00)});
  frame.l3_offset = static_cast<std::uint32_t>(b.size());

  const std::size_t udp_length = 8 + spec.dns.size();
  Bytes ip_header;
  if (v6) {
    ip_header.assign(40, 0);
    ip_header[0] = 0x60;
    put16(ip_header, 4, static_cast<std::uint16_t>(udp_length));
    ip_header[6] = 17;  // next header: UDP
    ip_header[7] = 64;  // hop limit
    std::copy_n(spec.source.bytes.begin(), 16, ip_header.begin() + 8);
    std::copy_n(spec.client.bytes.begin(), 16, ip_header.begin() + 24);
  } else {
    const std::size_t header_length = 20 + 4 * spec.ipv4_option_words;
    ip_header.assign(header_length, 0x01);  // options: NOP
    std::fill_n(ip_header.begin(), 20, 0);
    ip_header[0] = static_cast<std::uint8_t>(0x40 | (header_length / 4));
    put16(ip_header, 2, static_cast<std::uint16_t>(header_length + udp_length));
    put16(ip_header, 4, 0x1234);  // identification
    ip_header[6] = 0x40;          // DF
    ip_header[8] = 64;            // TTL
    ip_header[9] = 17;            // protocol: UDP
    std::copy_n(spec.source.bytes.begin(), 4, ip_header.begin() + 12);
    std::copy_n(spec.client.bytes.begin(), 4, ip_header.begin() + 16);
    put16(ip_header, 10, static_cast<std::uint16_t>(~onesComplementSum(ip_header)));
  }
  Bytes udp(8, 0);
  put16(udp, 0, spec.source_port);
  put16(udp, 2, spec.client_port);
  put16(udp, 4, static_cast<std::uint16_t>(udp_length));
  udp.insert(udp.end(), spec.dns.begin(), spec.dns.end());

  Bytes packet = ip_header;
  packet.insert(packet.end(), udp.begin(), udp.end());
  const std::size_t udp_offset = ip_header.size();
  switch (spec.checksum) {
    case ChecksumField::kCorrect:
      put16(packet, udp_offset + 6, correctUdpChecksum(packet, udp_offset));
      break;
    case ChecksumField::kZero:
      break;
    case ChecksumField::kPartial:
      put16(packet, udp_offset + 6, partialUdpChecksum(packet, udp_offset));
      break;
  }
  frame.l4_offset = static_cast<std::uint32_t>(frame.l3_offset + udp_offset);
  frame.ip_length = packet.size();
  b.insert(b.end(), packet.begin(), packet.end());
  b.insert(b.end(), spec.padding, 0);
  return frame;
}

}  // namespace skouter::testing

namespace skouter::resolver {
// gtest prints verdicts by name.
inline void PrintTo(AnswerVerdict verdict, std::ostream* out) { *out << toString(verdict); }
inline void PrintTo(UdpChecksum checksum, std::ostream* out) {
  switch (checksum) {
    case UdpChecksum::kValid:
      *out << "kValid";
      return;
    case UdpChecksum::kCompleted:
      *out << "kCompleted";
      return;
    case UdpChecksum::kCorrupt:
      *out << "kCorrupt";
      return;
  }
  *out << "UdpChecksum(" << static_cast<int>(checksum) << ")";
}
}  // namespace skouter::resolver
