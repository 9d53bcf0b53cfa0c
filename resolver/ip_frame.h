// The IP, UDP and TCP work on the frames the datapath holds: reading a held frame's
// IPv4/IPv6 header and its UDP datagram or TCP segment, completing checksums left to
// offload, recomputing them after an edit, rebuilding a UDP packet around a new DNS
// message, cutting a TCP segment to an MTU. Pure functions of their inputs; the DNS
// files only call them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/ip_address.h"

namespace skouter::resolver {

// The fixed part of an IPv4 or IPv6 header, as read from the start of `ip`.
struct IpHeader {
  IpFamily family = IpFamily::kV4;
  std::size_t header_length = 0;  // IPv4: IHL * 4 (unchecked); IPv6: the fixed 40 bytes
  std::size_t total_length = 0;   // of the datagram, header included
  IpAddress source;
  IpAddress destination;
};

// nullopt when `ip` is neither IPv4 (20 bytes or more) nor IPv6 (40 or more).
std::optional<IpHeader> readIpHeader(std::span<const std::uint8_t> ip);

// The IP packet of a held frame, ready for re-injection: the bytes from the IP header
// to the end of the IP datagram (Ethernet padding dropped), its destination (the
// client), its source (the resolver) and the DNS message inside it.
struct HeldPacket {
  std::vector<std::uint8_t> ip_packet;
  IpAddress client;
  IpAddress server;
  std::size_t udp_offset = 0;
  std::size_t dns_offset = 0;
  std::size_t dns_length = 0;

  std::span<const std::uint8_t> dns() const {
    return std::span<const std::uint8_t>(ip_packet).subspan(dns_offset, dns_length);
  }
};

// Returns nullopt with `error` set when the frame is not a well-formed IPv4/IPv6 UDP
// datagram at the offsets the datapath reported.
std::optional<HeldPacket> extractHeldPacket(std::span<const std::uint8_t> frame,
                                            std::uint32_t l3_offset, std::uint32_t l4_offset,
                                            std::string& error);

enum class UdpChecksum {
  kValid,      // correct, or absent (IPv4 allows that)
  kCompleted,  // was only the pseudo-header sum a sender with checksum offload leaves
               // for the hardware (veth pairs hand such packets over as they are):
               // now computed, as the NIC would have
  kCorrupt,    // wrong: the packet was damaged and must not be trusted
};

// The datapath copies frames before the kernel checks or completes their checksum.
UdpChecksum completeUdpChecksum(HeldPacket& held);

// The held IP packet with `new_dns` as its UDP payload: IPv4 options or IPv6 extension
// headers before the UDP header are kept; the IPv4 total length and header checksum,
// the IPv6 payload length, the UDP length and the UDP checksum (always computed, also
// where the original had none) are rewritten. Bytes after the original UDP datagram
// are dropped. Throws std::length_error when the packet would exceed 65535 bytes.
std::vector<std::uint8_t> rebuildUdpPacket(const HeldPacket& held,
                                           std::span<const std::uint8_t> new_dns);

// A UDP packet going back the way `held` came, carrying `dns`: the held packet with
// its addresses and its ports swapped, rebuilt as rebuildUdpPacket() does (an answer
// the daemon gives a query itself, from the server the query was for).
std::vector<std::uint8_t> replyUdpPacket(const HeldPacket& held, std::span<const std::uint8_t> dns);

// A TCP segment of a held frame, ready for re-injection.
struct HeldSegment {
  std::vector<std::uint8_t> ip_packet;  // IP header to the end of the datagram
  IpAddress client;                     // destination
  IpAddress server;                     // source: the resolver
  std::uint16_t client_port = 0;
  std::uint16_t server_port = 0;
  std::uint32_t sequence = 0;
  std::uint8_t flags = 0;
  std::size_t tcp_offset = 0;
  std::size_t payload_offset = 0;
  std::size_t payload_length = 0;
  // The sequence number of the connection's first byte of data (its initial sequence
  // number plus one), when the datapath saw the resolver's SYN-ACK.
  std::optional<std::uint32_t> stream_start;

  std::span<const std::uint8_t> payload() const {
    return std::span<const std::uint8_t>(ip_packet).subspan(payload_offset, payload_length);
  }
};

inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpCwr = 0x80;

// Returns nullopt with `error` set when the frame is not a well-formed IPv4/IPv6 TCP
// segment at the offsets the datapath reported.
std::optional<HeldSegment> extractHeldSegment(std::span<const std::uint8_t> frame,
                                              std::uint32_t l3_offset, std::uint32_t l4_offset,
                                              std::string& error);

enum class TcpChecksum { kValid, kCompleted, kCorrupt };

// As completeUdpChecksum: a checksum left for offload is completed; a wrong one is
// reported corrupt.
TcpChecksum completeTcpChecksum(HeldSegment& segment);

// Writes the TCP checksum of a segment whose bytes the daemon changed.
void recomputeTcpChecksum(HeldSegment& segment);

// `segment` cut into IP packets of at most `max_ip_packet` bytes, as the kernel's TCP
// segmentation would have sent them: the headers repeated, sequence numbers, lengths,
// IPv4 ids and checksums adjusted, FIN and PSH on the last piece only, CWR on the
// first only. The segment as it is when it fits, or when its headers alone do not.
std::vector<std::vector<std::uint8_t>> splitTcpSegment(const HeldSegment& segment,
                                                       std::size_t max_ip_packet);

}  // namespace skouter::resolver
