#include "tests/bpf/packet_builder.h"

#include <algorithm>
#include <stdexcept>

namespace skouter::bpftest {
namespace {

constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr std::uint16_t kEtherTypeArp = 0x0806;
constexpr std::uint16_t kEtherTypeVlan = 0x8100;
constexpr std::uint16_t kEtherTypeMplsUnicast = 0x8847;
constexpr std::uint16_t kEtherTypeMplsMulticast = 0x8848;

constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoIgmp = 2;
constexpr std::uint8_t kIgmpV2Report = 0x16;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoIcmpv6 = 58;
constexpr std::uint8_t kProtoSctp = 132;
constexpr std::uint8_t kSctpChunkInit = 1;
constexpr std::uint8_t kNextHeaderHopByHop = 0;
constexpr std::uint8_t kNextHeaderRouting = 43;
constexpr std::uint8_t kNextHeaderFragment = 44;
constexpr std::uint8_t kNextHeaderAuthentication = 51;
constexpr std::uint8_t kNextHeaderDestinationOptions = 60;

constexpr std::uint8_t kIcmpEchoReply = 0;
constexpr std::uint8_t kIcmpDestinationUnreachable = 3;
constexpr std::uint8_t kIcmpEchoRequest = 8;
constexpr std::uint8_t kIcmpv6DestinationUnreachable = 1;
constexpr std::uint8_t kIcmpv6EchoRequest = 128;
constexpr std::uint8_t kIcmpv6EchoReply = 129;
constexpr std::uint8_t kIcmpv6NeighbourSolicitation = 135;

constexpr std::uint8_t kHostMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr std::uint8_t kGatewayMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr std::uint8_t kBroadcastMac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void put16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void put32(Bytes& out, std::uint32_t value) {
  put16(out, static_cast<std::uint16_t>(value >> 16));
  put16(out, static_cast<std::uint16_t>(value));
}

void store16(Bytes& out, std::size_t offset, std::uint16_t value) {
  out[offset] = static_cast<std::uint8_t>(value >> 8);
  out[offset + 1] = static_cast<std::uint8_t>(value);
}

void putAddress(Bytes& out, const IpAddress& address) {
  out.insert(out.end(), address.bytes.begin(), address.bytes.begin() + address.size());
}

void putEthernet(Bytes& out, const std::uint8_t* destination_mac, std::uint16_t ether_type) {
  out.insert(out.end(), destination_mac, destination_mac + 6);
  out.insert(out.end(), kHostMac, kHostMac + 6);
  put16(out, ether_type);
}

// The ones' complement sum of RFC 1071, folded but not yet complemented.
std::uint32_t sum16(const std::uint8_t* data, std::size_t length, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < length; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (length % 2 != 0) sum += data[length - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

// CRC32c (Castagnoli), as SCTP checksums a packet (RFC 9260, appendix A).
std::uint32_t crc32c(const Bytes& data) {
  std::uint32_t crc = 0xffffffffu;
  for (const std::uint8_t byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::uint16_t checksum(const Bytes& data) {
  return static_cast<std::uint16_t>(~sum16(data.data(), data.size()));
}

// The upper-layer checksum of TCP, UDP and ICMPv6, which covers a pseudo-header.
std::uint16_t pseudoHeaderChecksum(const IpAddress& source, const IpAddress& destination,
                                   std::uint8_t protocol, const Bytes& segment) {
  Bytes pseudo;
  putAddress(pseudo, source);
  putAddress(pseudo, destination);
  if (source.family == IpFamily::kV4) {
    pseudo.push_back(0);
    pseudo.push_back(protocol);
    put16(pseudo, static_cast<std::uint16_t>(segment.size()));
  } else {
    put32(pseudo, static_cast<std::uint32_t>(segment.size()));
    pseudo.insert(pseudo.end(), {0, 0, 0, protocol});
  }
  const std::uint32_t sum = sum16(pseudo.data(), pseudo.size());
  return static_cast<std::uint16_t>(~sum16(segment.data(), segment.size(), sum));
}

void putDnsName(Bytes& out, const std::string& name) {
  std::size_t start = 0;
  while (start < name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  out.push_back(0);
}

std::uint16_t dnsType(IpFamily family) { return family == IpFamily::kV4 ? 1 : 28; }

Bytes dnsMessage(std::uint16_t id, std::uint16_t flags, const std::string& name, IpFamily family,
                 std::uint16_t answers) {
  Bytes out;
  put16(out, id);
  put16(out, flags);
  put16(out, 1);  // questions
  put16(out, answers);
  put16(out, 0);  // authority records
  put16(out, 0);  // additional records
  putDnsName(out, name);
  put16(out, dnsType(family));
  put16(out, 1);  // class IN
  return out;
}

}  // namespace

PacketBuilder::PacketBuilder(const IpAddress& source, const IpAddress& destination)
    : source_(source), destination_(destination) {
  if (source.family != destination.family) {
    throw std::invalid_argument("PacketBuilder: source and destination of different families");
  }
}

PacketBuilder& PacketBuilder::vlan(std::uint16_t vlan_id) {
  vlan_ids_.push_back(vlan_id);
  return *this;
}

PacketBuilder& PacketBuilder::mpls(std::uint32_t label, bool multicast) {
  mpls_labels_.push_back(label);
  mpls_multicast_ = multicast;
  return *this;
}

PacketBuilder& PacketBuilder::hopLimit(std::uint8_t hops) {
  hop_limit_ = hops;
  return *this;
}

PacketBuilder& PacketBuilder::ipv4Options(Bytes options) {
  ipv4_options_ = std::move(options);
  while (ipv4_options_.size() % 4 != 0) ipv4_options_.push_back(0);  // End of Options
  return *this;
}

PacketBuilder& PacketBuilder::ipv4HeaderWords(std::uint8_t words) {
  ipv4_header_words_ = words;
  return *this;
}

PacketBuilder& PacketBuilder::hopByHop() {
  extension_headers_.push_back({kNextHeaderHopByHop, 0, false, 0});
  return *this;
}

PacketBuilder& PacketBuilder::destinationOptions() {
  extension_headers_.push_back({kNextHeaderDestinationOptions, 0, false, 0});
  return *this;
}

PacketBuilder& PacketBuilder::routing(std::uint8_t segments_left) {
  extension_headers_.push_back({kNextHeaderRouting, 0, false, segments_left});
  return *this;
}

PacketBuilder& PacketBuilder::authentication() {
  extension_headers_.push_back({kNextHeaderAuthentication, 0, false, 0});
  return *this;
}

PacketBuilder& PacketBuilder::fragment(std::uint16_t offset_bytes, bool more_fragments) {
  if (offset_bytes % 8 != 0) throw std::invalid_argument("fragment offset not a multiple of 8");
  if (isV4()) {
    ipv4_fragment_offset_ = offset_bytes;
    ipv4_more_fragments_ = more_fragments;
  } else {
    extension_headers_.push_back({kNextHeaderFragment, offset_bytes, more_fragments, 0});
  }
  return *this;
}

PacketBuilder& PacketBuilder::upperLayer(std::uint8_t protocol, Bytes segment) {
  protocol_ = protocol;
  segment_ = std::move(segment);
  return *this;
}

std::uint8_t PacketBuilder::icmpProtocol() const { return isV4() ? kProtoIcmp : kProtoIcmpv6; }

PacketBuilder& PacketBuilder::tcp(std::uint16_t source_port, std::uint16_t destination_port,
                                  std::uint8_t flags, Bytes payload, Bytes options) {
  while (options.size() % 4 != 0) options.push_back(0);  // End of Option List
  Bytes segment;
  put16(segment, source_port);
  put16(segment, destination_port);
  put32(segment, 1000);                        // sequence number
  put32(segment, flags & kTcpAck ? 2000 : 0);  // acknowledgement number
  segment.push_back(static_cast<std::uint8_t>((5 + options.size() / 4) << 4));  // data offset
  segment.push_back(flags);
  put16(segment, 65535);  // window
  put16(segment, 0);      // checksum
  put16(segment, 0);      // urgent pointer
  segment.insert(segment.end(), options.begin(), options.end());
  segment.insert(segment.end(), payload.begin(), payload.end());
  segment_has_checksum_ = true;
  checksum_offset_ = 16;
  return upperLayer(kProtoTcp, std::move(segment));
}

PacketBuilder& PacketBuilder::udp(std::uint16_t source_port, std::uint16_t destination_port,
                                  Bytes payload) {
  Bytes segment;
  put16(segment, source_port);
  put16(segment, destination_port);
  put16(segment, static_cast<std::uint16_t>(8 + payload.size()));
  put16(segment, 0);  // checksum
  segment.insert(segment.end(), payload.begin(), payload.end());
  segment_has_checksum_ = true;
  checksum_offset_ = 6;
  return upperLayer(kProtoUdp, std::move(segment));
}

PacketBuilder& PacketBuilder::sctp(std::uint16_t source_port, std::uint16_t destination_port) {
  Bytes segment;
  put16(segment, source_port);
  put16(segment, destination_port);
  put32(segment, 0);  // verification tag: 0 in a packet carrying INIT
  put32(segment, 0);  // checksum, below
  segment.push_back(kSctpChunkInit);
  segment.push_back(0);        // chunk flags
  put16(segment, 20);          // chunk length
  put32(segment, 0x5c0a5c0a);  // initiate tag
  put32(segment, 65536);       // advertised receiver window credit
  put16(segment, 10);          // outbound streams
  put16(segment, 10);          // inbound streams
  put32(segment, 1);           // initial TSN
  // The CRC is stored in little-endian byte order, unlike the other fields.
  const std::uint32_t crc = crc32c(segment);
  for (int i = 0; i < 4; ++i) segment[8 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  segment_has_checksum_ = false;
  return upperLayer(kProtoSctp, std::move(segment));
}

PacketBuilder& PacketBuilder::echoRequest(std::uint16_t identifier) {
  Bytes segment = {isV4() ? kIcmpEchoRequest : kIcmpv6EchoRequest, 0, 0, 0};
  put16(segment, identifier);
  put16(segment, 1);  // sequence number
  segment.insert(segment.end(), 16, 0x5a);
  segment_has_checksum_ = true;
  checksum_offset_ = 2;
  return upperLayer(icmpProtocol(), std::move(segment));
}

PacketBuilder& PacketBuilder::echoReply(std::uint16_t identifier) {
  echoRequest(identifier);
  segment_[0] = isV4() ? kIcmpEchoReply : kIcmpv6EchoReply;
  return *this;
}

PacketBuilder& PacketBuilder::destinationUnreachable(Bytes quoted) {
  Bytes body(4, 0);  // unused
  body.insert(body.end(), quoted.begin(), quoted.end());
  // Code 3 (IPv4) and 4 (IPv6): port unreachable.
  return isV4() ? icmp(kIcmpDestinationUnreachable, 3, std::move(body))
                : icmp(kIcmpv6DestinationUnreachable, 4, std::move(body));
}

PacketBuilder& PacketBuilder::icmp(std::uint8_t type, std::uint8_t code, Bytes body) {
  Bytes segment = {type, code, 0, 0};  // checksum filled in by build()
  segment.insert(segment.end(), body.begin(), body.end());
  segment_has_checksum_ = true;
  checksum_offset_ = 2;
  return upperLayer(icmpProtocol(), std::move(segment));
}

PacketBuilder& PacketBuilder::igmpReport(const IpAddress& group, Bytes trailer) {
  if (!isV4() || group.family != IpFamily::kV4) throw std::invalid_argument("IGMP is IPv4 only");
  Bytes segment = {kIgmpV2Report, 0, 0, 0};  // type, max response time, checksum
  putAddress(segment, group);
  segment.insert(segment.end(), trailer.begin(), trailer.end());
  segment_has_checksum_ = true;
  checksum_offset_ = 2;
  return upperLayer(kProtoIgmp, std::move(segment));
}

PacketBuilder& PacketBuilder::neighbourSolicitation(const IpAddress& target) {
  if (isV4() || target.family != IpFamily::kV6) {
    throw std::invalid_argument("neighbour solicitation is IPv6 only");
  }
  default_hop_limit_ = 255;  // as RFC 4861 has it
  Bytes segment = {kIcmpv6NeighbourSolicitation, 0};
  segment.insert(segment.end(), 6, 0);  // checksum, reserved
  putAddress(segment, target);
  segment.insert(segment.end(), {1, 1});  // option: source link-layer address
  segment.insert(segment.end(), kHostMac, kHostMac + 6);
  segment_has_checksum_ = true;
  checksum_offset_ = 2;
  return upperLayer(kProtoIcmpv6, std::move(segment));
}

PacketBuilder& PacketBuilder::fragmentData(std::uint8_t protocol, Bytes data) {
  segment_has_checksum_ = false;
  return upperLayer(protocol, std::move(data));
}

PacketBuilder& PacketBuilder::truncateUpperLayerTo(std::size_t bytes) {
  truncate_to_ = bytes;
  return *this;
}

PacketBuilder& PacketBuilder::ethernetPadding(std::size_t bytes) {
  ethernet_padding_ = bytes;
  return *this;
}

Packet PacketBuilder::build() const {
  Bytes segment = segment_;
  if (segment_has_checksum_) {
    const std::uint16_t sum = protocol_ == kProtoIcmp
                                  ? checksum(segment)
                                  : pseudoHeaderChecksum(source_, destination_, protocol_, segment);
    store16(segment, checksum_offset_, sum);
  }
  // A truncated header keeps the lengths of the whole packet, as a packet cut short on
  // the way would.
  const std::size_t segment_length = segment.size();
  if (truncate_to_ < segment.size()) segment.resize(truncate_to_);

  Packet packet;
  Bytes& out = packet.frame;
  const std::uint16_t ether_type =
      !mpls_labels_.empty() ? (mpls_multicast_ ? kEtherTypeMplsMulticast : kEtherTypeMplsUnicast)
      : isV4()              ? kEtherTypeIpv4
                            : kEtherTypeIpv6;
  if (vlan_ids_.empty()) {
    putEthernet(out, kGatewayMac, ether_type);
  } else {
    putEthernet(out, kGatewayMac, kEtherTypeVlan);
    for (std::size_t i = 0; i < vlan_ids_.size(); ++i) {
      put16(out, vlan_ids_[i]);  // priority 0, drop eligible 0
      put16(out, i + 1 < vlan_ids_.size() ? kEtherTypeVlan : ether_type);
    }
  }
  for (std::size_t i = 0; i < mpls_labels_.size(); ++i) {
    // Label, traffic class 0, bottom of stack on the last, TTL 64.
    const bool bottom = i + 1 == mpls_labels_.size();
    put32(out, (mpls_labels_[i] << 12) | (bottom ? 0x100u : 0u) | 64u);
  }
  packet.l3_offset = out.size();

  if (isV4()) {
    const std::size_t header_length = 20 + ipv4_options_.size();
    const std::uint8_t words =
        ipv4_header_words_ >= 0 ? ipv4_header_words_ : static_cast<std::uint8_t>(header_length / 4);
    Bytes header;
    header.push_back(0x40 | words);
    header.push_back(0);  // DSCP, ECN
    put16(header, static_cast<std::uint16_t>(header_length + segment_length));
    put16(header, 0x1234);  // identification
    put16(header, static_cast<std::uint16_t>((ipv4_more_fragments_ ? 0x2000 : 0) |
                                             ipv4_fragment_offset_ / 8));
    header.push_back(hop_limit_.value_or(default_hop_limit_));  // TTL
    header.push_back(protocol_);
    put16(header, 0);  // checksum
    putAddress(header, source_);
    putAddress(header, destination_);
    header.insert(header.end(), ipv4_options_.begin(), ipv4_options_.end());
    store16(header, 10, checksum(header));
    out.insert(out.end(), header.begin(), header.end());
  } else {
    Bytes extensions;
    for (std::size_t i = 0; i < extension_headers_.size(); ++i) {
      const ExtensionHeader& extension = extension_headers_[i];
      const std::uint8_t next =
          i + 1 < extension_headers_.size() ? extension_headers_[i + 1].type : protocol_;
      extensions.push_back(next);
      switch (extension.type) {
        case kNextHeaderHopByHop:
          // 8 bytes: Router Alert (as MLD carries it), then a 2-byte PadN.
          extensions.insert(extensions.end(), {0, 5, 2, 0, 0, 1, 0});
          break;
        case kNextHeaderDestinationOptions:
          // 16 bytes, so the length field (in 8-byte units, less one) is not zero: a
          // 14-byte PadN.
          extensions.insert(extensions.end(), {1, 1, 12});
          extensions.insert(extensions.end(), 12, 0);
          break;
        case kNextHeaderRouting:
          // 8 bytes: routing type 253 (RFC 4727, for experiments).
          extensions.insert(extensions.end(), {0, 253, extension.segments_left, 0, 0, 0, 0});
          break;
        case kNextHeaderAuthentication:
          // 24 bytes: a 96-bit ICV. Unlike the others, AH counts its length in 4-byte
          // units, less two.
          extensions.push_back(4);
          put16(extensions, 0);                           // reserved
          put32(extensions, 0x100);                       // security parameters index
          put32(extensions, 1);                           // sequence number
          extensions.insert(extensions.end(), 12, 0x11);  // integrity check value
          break;
        case kNextHeaderFragment:
          extensions.push_back(0);  // reserved
          put16(extensions, static_cast<std::uint16_t>(extension.fragment_offset |
                                                       (extension.more_fragments ? 1 : 0)));
          put32(extensions, 0x1234);  // identification
          break;
      }
    }
    put32(out, 0x60000000);  // version, traffic class, flow label
    put16(out, static_cast<std::uint16_t>(extensions.size() + segment_length));
    out.push_back(extension_headers_.empty() ? protocol_ : extension_headers_.front().type);
    out.push_back(hop_limit_.value_or(default_hop_limit_));
    putAddress(out, source_);
    putAddress(out, destination_);
    out.insert(out.end(), extensions.begin(), extensions.end());
  }
  packet.l4_offset = out.size();
  out.insert(out.end(), segment.begin(), segment.end());
  out.insert(out.end(), ethernet_padding_, 0);
  return packet;
}

Bytes quoteOf(const Packet& packet) {
  const auto start = packet.frame.begin() + static_cast<std::ptrdiff_t>(packet.l3_offset);
  const auto end = std::min(
      packet.frame.end(), packet.frame.begin() + static_cast<std::ptrdiff_t>(packet.l4_offset + 8));
  return Bytes(start, end);
}

Bytes dnsQuery(std::uint16_t id, const std::string& name, IpFamily family) {
  return dnsMessage(id, 0x0100 /* recursion desired */, name, family, 0);
}

Bytes dnsAnswer(std::uint16_t id, const std::string& name, const IpAddress& address) {
  // Response, recursion desired and available, no error.
  Bytes out = dnsMessage(id, 0x8180, name, address.family, 1);
  put16(out, 0xc00c);  // the name: a pointer to the question's
  put16(out, dnsType(address.family));
  put16(out, 1);   // class IN
  put32(out, 60);  // TTL
  put16(out, static_cast<std::uint16_t>(address.size()));
  putAddress(out, address);
  return out;
}

Bytes withEdns(Bytes query) {
  store16(query, 10, 1);  // additional records
  query.push_back(0);     // owner: the root
  put16(query, 41);       // type OPT
  put16(query, 1232);     // class: the UDP payload size
  put32(query, 0);        // extended RCODE, version, flags
  put16(query, 0);        // no options
  return query;
}

Bytes tcpFramed(const Bytes& message) {
  Bytes out;
  put16(out, static_cast<std::uint16_t>(message.size()));
  out.insert(out.end(), message.begin(), message.end());
  return out;
}

Bytes afterDnsHeader(const Bytes& message) { return Bytes(message.begin() + 12, message.end()); }

Bytes tcpTimestampOptions() {
  Bytes out = {1, 1, 8, 10};  // NOP, NOP, timestamp of 10 bytes
  put32(out, 0x01020304);     // value
  put32(out, 0x05060708);     // echo reply
  return out;
}

Bytes arpRequest(const IpAddress& sender, const IpAddress& target) {
  Bytes out;
  putEthernet(out, kBroadcastMac, kEtherTypeArp);
  put16(out, 1);  // hardware: Ethernet
  put16(out, kEtherTypeIpv4);
  out.push_back(6);  // hardware address length
  out.push_back(4);  // protocol address length
  put16(out, 1);     // request
  out.insert(out.end(), kHostMac, kHostMac + 6);
  putAddress(out, sender);
  out.insert(out.end(), 6, 0);
  putAddress(out, target);
  return out;
}

}  // namespace skouter::bpftest
