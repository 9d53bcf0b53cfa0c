#include "resolver/ip_frame.h"

#include <netinet/in.h>

#include <algorithm>
#include <stdexcept>

#include "common/internet_checksum.h"
#include "resolver/dns_message.h"

namespace skouter::resolver {
namespace {

constexpr std::size_t kIpv4HeaderMin = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kTcpHeaderMin = 20;
constexpr std::size_t kMaxIpLength = 0xffff;
constexpr std::size_t kUdpChecksumField = 6;
constexpr std::size_t kTcpChecksumField = 16;

// Writes the checksum of `segment` (UDP or TCP, its field at `field`) over
// `pseudo`. UDP sends a computed zero as 0xffff, zero meaning "no checksum" there.
void writeChecksum(std::span<std::uint8_t> segment, std::uint32_t pseudo, std::size_t field,
                   bool zero_means_none) {
  write16(segment, field, 0);
  auto checksum = static_cast<std::uint16_t>(~foldSum(sumWords(segment, pseudo)));
  if (zero_means_none && checksum == 0) checksum = 0xffff;
  write16(segment, field, checksum);
}

// Valid when the segment verifies; completed when its field held only the
// pseudo-header sum, as a sender with checksum offload leaves it; else corrupt.
// `Outcome`: UdpChecksum or TcpChecksum.
template <typename Outcome>
Outcome completeChecksum(std::span<std::uint8_t> segment, std::uint32_t pseudo, std::size_t field,
                         bool zero_means_none) {
  if (foldSum(sumWords(segment, pseudo)) == 0xffff) return Outcome::kValid;
  if (read16(segment, field) != foldSum(pseudo)) return Outcome::kCorrupt;
  writeChecksum(segment, pseudo, field, zero_means_none);
  return Outcome::kCompleted;
}

// The UDP pseudo-header sum of `packet` (RFC 768, RFC 8200 section 8.1): its
// addresses as they stand in its fixed header, which the receiver checks, whatever
// they were read as.
std::uint32_t udpPseudoHeaderSum(std::span<const std::uint8_t> packet, bool ipv4,
                                 std::size_t udp_length) {
  const std::uint32_t addresses =
      ipv4 ? sumWords(packet.subspan(12, 8)) : sumWords(packet.subspan(8, 32));
  return addresses + IPPROTO_UDP + static_cast<std::uint32_t>(udp_length);
}

// The IPv4 total length and header checksum, or the IPv6 payload length, of `packet`
// for its new size.
void writeIpLengths(std::span<std::uint8_t> packet, bool ipv4, std::size_t ipv4_header_length) {
  if (ipv4) {
    write16(packet, 2, static_cast<std::uint16_t>(packet.size()));
    write16(packet, 10, 0);
    write16(packet, 10,
            static_cast<std::uint16_t>(~foldSum(sumWords(packet.first(ipv4_header_length)))));
  } else {
    write16(packet, 4, static_cast<std::uint16_t>(packet.size() - kIpv6Header));
  }
}

}  // namespace

std::optional<IpHeader> readIpHeader(std::span<const std::uint8_t> ip) {
  if (ip.empty()) return std::nullopt;
  IpHeader header;
  const unsigned version = ip[0] >> 4;
  if (version == 4 && ip.size() >= kIpv4HeaderMin) {
    header.family = IpFamily::kV4;
    header.header_length = std::size_t{ip[0] & 0x0fu} * 4;
    header.total_length = read16(ip, 2);
    header.source = IpAddress::fromV4(&ip[12]);
    header.destination = IpAddress::fromV4(&ip[16]);
    return header;
  }
  if (version == 6 && ip.size() >= kIpv6Header) {
    header.family = IpFamily::kV6;
    header.header_length = kIpv6Header;
    header.total_length = kIpv6Header + read16(ip, 4);
    header.source = IpAddress::fromV6(&ip[8]);
    header.destination = IpAddress::fromV6(&ip[24]);
    return header;
  }
  return std::nullopt;
}

namespace {

// The IP packet of a held frame (from its IP header to the frame's end) and its header,
// when the offsets the datapath reported lie inside the frame.
struct HeldIp {
  std::span<const std::uint8_t> bytes;
  IpHeader header;
};

std::optional<HeldIp> heldIpOf(std::span<const std::uint8_t> frame, std::uint32_t l3_offset,
                               std::uint32_t l4_offset, std::string& error) {
  if (l3_offset >= frame.size() || l4_offset < l3_offset || l4_offset >= frame.size()) {
    error = "header offsets outside the frame";
    return std::nullopt;
  }
  const auto ip = frame.subspan(l3_offset);
  const auto header = readIpHeader(ip);
  if (!header) {
    error = "not an IPv4 or IPv6 packet";
    return std::nullopt;
  }
  return HeldIp{ip, *header};
}

}  // namespace

std::optional<HeldPacket> extractHeldPacket(std::span<const std::uint8_t> frame,
                                            std::uint32_t l3_offset, std::uint32_t l4_offset,
                                            std::string& error) {
  const auto held_ip = heldIpOf(frame, l3_offset, l4_offset, error);
  if (!held_ip) return std::nullopt;
  const auto& [ip, header] = *held_ip;
  const std::size_t udp_offset = l4_offset - l3_offset;
  // The checksums are computed over the fixed header's addresses: the UDP header must
  // follow a whole IP header.
  if (header.header_length < kIpv4HeaderMin || udp_offset < header.header_length) {
    error = "UDP header at offset " + std::to_string(udp_offset) + " of a " +
            std::to_string(header.header_length) + "-byte IP header";
    return std::nullopt;
  }
  const std::size_t ip_length = header.total_length;
  if (ip_length > ip.size() || udp_offset + kUdpHeader > ip_length) {
    error = "IP length " + std::to_string(ip_length) + " does not fit the frame";
    return std::nullopt;
  }
  const std::size_t udp_length = read16(ip, udp_offset + 4);
  if (udp_length < kUdpHeader || udp_offset + udp_length > ip_length) {
    error = "UDP length " + std::to_string(udp_length) + " does not fit the IP packet";
    return std::nullopt;
  }
  HeldPacket held;
  held.ip_packet.assign(ip.begin(), ip.begin() + static_cast<std::ptrdiff_t>(ip_length));
  held.client = header.destination;
  held.server = header.source;
  held.udp_offset = udp_offset;
  held.dns_offset = udp_offset + kUdpHeader;
  held.dns_length = udp_length - kUdpHeader;
  return held;
}

UdpChecksum completeUdpChecksum(HeldPacket& held) {
  const std::size_t udp_length = held.dns_length + kUdpHeader;
  const auto udp = std::span<std::uint8_t>(held.ip_packet).subspan(held.udp_offset, udp_length);
  if (held.client.family == IpFamily::kV4 && read16(udp, kUdpChecksumField) == 0) {
    return UdpChecksum::kValid;  // IPv4 lets a sender leave it out
  }
  const std::uint32_t pseudo =
      udpPseudoHeaderSum(held.ip_packet, held.client.family == IpFamily::kV4, udp_length);
  return completeChecksum<UdpChecksum>(udp, pseudo, kUdpChecksumField, true);
}

std::vector<std::uint8_t> rebuildUdpPacket(const HeldPacket& held,
                                           std::span<const std::uint8_t> new_dns) {
  const auto& original = held.ip_packet;
  if (held.dns_offset != held.udp_offset + kUdpHeader || held.dns_offset > original.size() ||
      original.empty()) {
    throw std::invalid_argument("held packet offsets do not describe a UDP datagram");
  }
  const bool ipv4 = (original[0] >> 4) == 4;
  const std::size_t total = held.dns_offset + new_dns.size();
  if (total > (ipv4 ? kMaxIpLength : kIpv6Header + kMaxIpLength)) {
    throw std::length_error("a " + std::to_string(new_dns.size()) +
                            "-byte DNS message does not fit an IP packet");
  }
  std::vector<std::uint8_t> packet(original.begin(),
                                   original.begin() + static_cast<std::ptrdiff_t>(held.dns_offset));
  packet.insert(packet.end(), new_dns.begin(), new_dns.end());
  const std::size_t ipv4_header_length = std::size_t{packet[0] & 0x0fu} * 4;
  if (ipv4 && (ipv4_header_length < kIpv4HeaderMin || ipv4_header_length > held.udp_offset)) {
    throw std::invalid_argument("held packet has a bad IPv4 header length");
  }
  if (!ipv4 && ((packet[0] >> 4) != 6 || held.udp_offset < kIpv6Header)) {
    throw std::invalid_argument("held packet is neither IPv4 nor IPv6");
  }
  writeIpLengths(packet, ipv4, ipv4_header_length);

  const auto udp = std::span<std::uint8_t>(packet).subspan(held.udp_offset);
  write16(udp, 4, static_cast<std::uint16_t>(udp.size()));
  writeChecksum(udp, udpPseudoHeaderSum(packet, ipv4, udp.size()), kUdpChecksumField, true);
  return packet;
}

std::vector<std::uint8_t> replyUdpPacket(const HeldPacket& held,
                                         std::span<const std::uint8_t> dns) {
  HeldPacket reply = held;
  auto& packet = reply.ip_packet;
  if (packet.empty() || held.udp_offset + kUdpHeader > packet.size()) {
    throw std::invalid_argument("held packet offsets do not describe a UDP datagram");
  }
  const bool ipv4 = (packet[0] >> 4) == 4;
  const std::size_t source = ipv4 ? 12 : 8;
  const std::size_t address_length = ipv4 ? 4 : 16;
  if (source + 2 * address_length > held.udp_offset) {
    throw std::invalid_argument("held packet is neither IPv4 nor IPv6");
  }
  std::swap_ranges(packet.begin() + static_cast<std::ptrdiff_t>(source),
                   packet.begin() + static_cast<std::ptrdiff_t>(source + address_length),
                   packet.begin() + static_cast<std::ptrdiff_t>(source + address_length));
  std::swap_ranges(packet.begin() + static_cast<std::ptrdiff_t>(held.udp_offset),
                   packet.begin() + static_cast<std::ptrdiff_t>(held.udp_offset + 2),
                   packet.begin() + static_cast<std::ptrdiff_t>(held.udp_offset + 2));
  std::swap(reply.client, reply.server);
  return rebuildUdpPacket(reply, dns);
}

std::optional<HeldSegment> extractHeldSegment(std::span<const std::uint8_t> frame,
                                              std::uint32_t l3_offset, std::uint32_t l4_offset,
                                              std::string& error) {
  const auto held_ip = heldIpOf(frame, l3_offset, l4_offset, error);
  if (!held_ip) return std::nullopt;
  const auto& [ip, header] = *held_ip;
  const std::size_t ip_length = header.total_length;
  const std::size_t tcp_offset = l4_offset - l3_offset;
  if (header.header_length < kIpv4HeaderMin || tcp_offset < header.header_length ||
      ip_length > ip.size() || tcp_offset + kTcpHeaderMin > ip_length) {
    error = "TCP header does not fit the IP packet";
    return std::nullopt;
  }
  const auto tcp = ip.subspan(tcp_offset);
  const std::size_t tcp_header_length = static_cast<std::size_t>(tcp[12] >> 4) * 4;
  if (tcp_header_length < kTcpHeaderMin || tcp_offset + tcp_header_length > ip_length) {
    error = "TCP data offset " + std::to_string(tcp_header_length) + " does not fit";
    return std::nullopt;
  }
  HeldSegment segment;
  segment.server = header.source;
  segment.client = header.destination;
  segment.server_port = read16(tcp, 0);
  segment.client_port = read16(tcp, 2);
  segment.sequence = read32(tcp, 4);
  segment.flags = tcp[13];
  segment.tcp_offset = tcp_offset;
  segment.payload_offset = tcp_offset + tcp_header_length;
  segment.payload_length = ip_length - segment.payload_offset;
  segment.ip_packet.assign(ip.begin(), ip.begin() + static_cast<std::ptrdiff_t>(ip_length));
  return segment;
}

TcpChecksum completeTcpChecksum(HeldSegment& segment) {
  const auto tcp = std::span<std::uint8_t>(segment.ip_packet).subspan(segment.tcp_offset);
  const std::uint32_t pseudo =
      pseudoHeaderSum(segment.server, segment.client, IPPROTO_TCP, tcp.size());
  return completeChecksum<TcpChecksum>(tcp, pseudo, kTcpChecksumField, false);
}

void recomputeTcpChecksum(HeldSegment& segment) {
  const auto tcp = std::span<std::uint8_t>(segment.ip_packet).subspan(segment.tcp_offset);
  writeChecksum(tcp, pseudoHeaderSum(segment.server, segment.client, IPPROTO_TCP, tcp.size()),
                kTcpChecksumField, false);
}

std::vector<std::vector<std::uint8_t>> splitTcpSegment(const HeldSegment& segment,
                                                       std::size_t max_ip_packet) {
  const std::size_t headers = segment.payload_offset;
  if (segment.ip_packet.size() <= max_ip_packet || max_ip_packet <= headers) {
    return {segment.ip_packet};
  }
  const bool v4 = segment.client.family == IpFamily::kV4;
  const std::size_t ipv4_header_length = std::size_t{segment.ip_packet[0] & 0x0fu} * 4;
  const std::uint16_t first_id = v4 ? read16(segment.ip_packet, 4) : 0;
  const std::size_t chunk = max_ip_packet - headers;
  const auto payload = segment.payload();
  std::vector<std::vector<std::uint8_t>> pieces;
  for (std::size_t offset = 0; offset < payload.size(); offset += chunk) {
    const auto data = payload.subspan(offset, std::min(chunk, payload.size() - offset));
    const bool first = offset == 0;
    const bool last = offset + data.size() == payload.size();
    HeldSegment piece;
    piece.client = segment.client;
    piece.server = segment.server;
    piece.tcp_offset = segment.tcp_offset;
    piece.ip_packet.assign(segment.ip_packet.begin(),
                           segment.ip_packet.begin() + static_cast<std::ptrdiff_t>(headers));
    piece.ip_packet.insert(piece.ip_packet.end(), data.begin(), data.end());
    const auto ip = std::span<std::uint8_t>(piece.ip_packet);
    if (v4) write16(ip, 4, static_cast<std::uint16_t>(first_id + pieces.size()));
    writeIpLengths(ip, v4, ipv4_header_length);
    const auto tcp = ip.subspan(segment.tcp_offset);
    write32(tcp, 4, segment.sequence + static_cast<std::uint32_t>(offset));
    if (!last) tcp[13] &= static_cast<std::uint8_t>(~(kTcpFin | kTcpPsh));
    if (!first) tcp[13] &= static_cast<std::uint8_t>(~kTcpCwr);
    recomputeTcpChecksum(piece);
    pieces.push_back(std::move(piece.ip_packet));
  }
  return pieces;
}

}  // namespace skouter::resolver
