// Crafts the Ethernet frames the BPF tests feed to BPF_PROG_TEST_RUN: IPv4 and IPv6,
// with the IPv4 options, IPv6 extension headers, VLAN tags and fragmentation that move
// the headers the datapath parses, and DNS payloads for the answer path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip_address.h"

namespace skouter::bpftest {

using Bytes = std::vector<std::uint8_t>;

// A built frame and where its headers start, as the datapath reports them in the
// header of a punted answer.
struct Packet {
  Bytes frame;
  std::size_t l3_offset = 0;
  std::size_t l4_offset = 0;
};

// TCP flag bits, as in the flags byte of the header.
inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;

// The TCP options of a Linux segment after the handshake: two No-Operations and a
// timestamp (12 bytes, so the header is 32 bytes long).
Bytes tcpTimestampOptions();

// One IP packet in an Ethernet frame. The family follows the addresses. Headers are
// laid out in the order of the calls that add them; build() fills in lengths and
// checksums.
class PacketBuilder {
 public:
  PacketBuilder(const IpAddress& source, const IpAddress& destination);

  // An 802.1Q tag between the Ethernet header and the IP header.
  PacketBuilder& vlan(std::uint16_t vlan_id);
  // An MPLS label stack entry after the VLAN tags, before the IP header (EtherType
  // 0x8847, or 0x8848 for a multicast label); the last one added ends the stack.
  PacketBuilder& mpls(std::uint32_t label, bool multicast = false);

  // IPv4 TTL or IPv6 hop limit; 64 unless set (255 for neighbour discovery).
  PacketBuilder& hopLimit(std::uint8_t hops);

  // IPv4: options after the fixed header, padded with End-of-Options to whole words.
  PacketBuilder& ipv4Options(Bytes options);
  // IPv4: overrides the header length field (in 32-bit words), for malformed headers.
  PacketBuilder& ipv4HeaderWords(std::uint8_t words);

  // IPv6 extension headers, chained in the order they are added.
  PacketBuilder& hopByHop();
  PacketBuilder& destinationOptions();
  // A routing header with `segments_left` addresses still to visit (a source route
  // when not 0).
  PacketBuilder& routing(std::uint8_t segments_left = 0);
  PacketBuilder& authentication();
  // IPv4: the flags and offset fields. IPv6: a fragment extension header.
  // `offset_bytes` must be a multiple of 8.
  PacketBuilder& fragment(std::uint16_t offset_bytes, bool more_fragments);

  // The upper layer; exactly one of these.
  // TCP `options` are padded with End-of-Options to whole words; `payload` follows.
  PacketBuilder& tcp(std::uint16_t source_port, std::uint16_t destination_port, std::uint8_t flags,
                     Bytes payload = {}, Bytes options = {});
  PacketBuilder& udp(std::uint16_t source_port, std::uint16_t destination_port, Bytes payload = {});
  // An SCTP packet opening an association: the common header (ports, verification
  // tag 0, CRC32c checksum) and one INIT chunk.
  PacketBuilder& sctp(std::uint16_t source_port, std::uint16_t destination_port);
  // ICMP for IPv4, ICMPv6 for IPv6.
  PacketBuilder& echoRequest(std::uint16_t identifier);
  PacketBuilder& echoReply(std::uint16_t identifier);
  // Port unreachable, quoting `quoted` (the IP datagram it reports on, as quoteOf()
  // cuts it), or nothing.
  PacketBuilder& destinationUnreachable(Bytes quoted = {});
  // With hop limit 255 unless hopLimit() says otherwise.
  PacketBuilder& neighbourSolicitation(const IpAddress& target);
  // Any ICMP (IPv4) or ICMPv6 message: type, code, checksum, then `body`.
  PacketBuilder& icmp(std::uint8_t type, std::uint8_t code, Bytes body);
  // An IGMPv2 membership report for `group`, and whatever follows it.
  PacketBuilder& igmpReport(const IpAddress& group, Bytes trailer = {});
  // Bytes of `protocol` with no header of their own: the data of a later fragment.
  PacketBuilder& fragmentData(std::uint8_t protocol, Bytes data);

  // Keeps only the first `bytes` of the upper layer: a header cut off.
  PacketBuilder& truncateUpperLayerTo(std::size_t bytes);

  // Zero bytes after the IP datagram, as Ethernet pads a frame to its minimum size:
  // the frame is longer than the IP length fields say.
  PacketBuilder& ethernetPadding(std::size_t bytes);

  Packet build() const;

 private:
  struct ExtensionHeader {
    std::uint8_t type;
    std::uint16_t fragment_offset;
    bool more_fragments;
    std::uint8_t segments_left = 0;  // a routing header's
  };

  PacketBuilder& upperLayer(std::uint8_t protocol, Bytes segment);
  bool isV4() const { return source_.family == IpFamily::kV4; }
  std::uint8_t icmpProtocol() const;

  IpAddress source_;
  IpAddress destination_;
  std::optional<std::uint8_t> hop_limit_;
  std::uint8_t default_hop_limit_ = 64;
  std::vector<std::uint16_t> vlan_ids_;
  std::vector<std::uint32_t> mpls_labels_;
  bool mpls_multicast_ = false;
  Bytes ipv4_options_;
  int ipv4_header_words_ = -1;  // -1: computed from the options
  std::vector<ExtensionHeader> extension_headers_;
  std::uint16_t ipv4_fragment_offset_ = 0;
  bool ipv4_more_fragments_ = false;
  std::uint8_t protocol_ = 0;
  Bytes segment_;
  bool segment_has_checksum_ = false;
  std::size_t checksum_offset_ = 0;
  std::size_t truncate_to_ = SIZE_MAX;
  std::size_t ethernet_padding_ = 0;
};

// A DNS message with one question (A for an IPv4 `address`, AAAA for IPv6).
Bytes dnsQuery(std::uint16_t id, const std::string& name, IpFamily family);
// The response to it, with one answer record holding `address`.
Bytes dnsAnswer(std::uint16_t id, const std::string& name, const IpAddress& address);
// `query` with an EDNS OPT record (RFC 6891) appended, as most resolvers send them:
// the bytes after the header are then more than the question.
Bytes withEdns(Bytes query);
// A DNS message as DNS over TCP carries it: a two-byte length, then the message.
Bytes tcpFramed(const Bytes& message);
// What follows the 12-byte header of a DNS message: the question section onwards.
Bytes afterDnsHeader(const Bytes& message);

// What an ICMP error quotes of `packet`: its IP header and the first 8 bytes after.
Bytes quoteOf(const Packet& packet);

// A broadcast ARP request frame: the kind of non-IP traffic every host sends.
Bytes arpRequest(const IpAddress& sender, const IpAddress& target);

}  // namespace skouter::bpftest
