#include "resolver/answer_handler.h"

#include <ldns/ldns.h>
#include <netinet/in.h>

#include <algorithm>
#include <memory>
#include <set>

#include "common/datapath_clock.h"
#include "common/internet_checksum.h"
#include "resolver/dns_question.h"

namespace skouter::resolver {
namespace {

constexpr std::size_t kIpv4HeaderMin = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kUdpHeader = 8;
constexpr std::uint32_t kMaxTtl = 0x7fffffff;

struct PacketDeleter {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
};
using LdnsPacket = std::unique_ptr<ldns_pkt, PacketDeleter>;

// The name of an ldns dname in skouter's canonical form (see dns_question.h).
std::string nameOf(const ldns_rdf* dname) {
  return canonicalName({ldns_rdf_data(dname), ldns_rdf_size(dname)}).value_or("");
}

std::optional<LearnedAddress> addressOf(const ldns_rr* record, std::uint64_t now_ns,
                                        const TtlSettings& settings) {
  const ldns_rdf* rdata = ldns_rr_rdf(record, 0);
  if (!rdata) return std::nullopt;
  LearnedAddress learned;
  if (ldns_rr_get_type(record) == LDNS_RR_TYPE_A && ldns_rdf_size(rdata) == 4) {
    learned.ip = IpAddress::fromV4(ldns_rdf_data(rdata));
  } else if (ldns_rr_get_type(record) == LDNS_RR_TYPE_AAAA && ldns_rdf_size(rdata) == 16) {
    learned.ip = IpAddress::fromV6(ldns_rdf_data(rdata));
  } else {
    return std::nullopt;
  }
  // RFC 2181 section 8: a TTL with the most significant bit set is read as zero.
  const std::uint32_t ttl = ldns_rr_ttl(record);
  learned.ttl_s = ttl > kMaxTtl ? 0 : ttl;
  learned.expiry_ns = expiryFor(now_ns, learned.ttl_s, settings);
  return learned;
}

// The names an answer vouches for: the question's, then each CNAME target reachable
// from it. Records for other owners in the same answer are ignored.
std::set<std::string> chainFrom(const std::string& question, const ldns_rr_list* answers) {
  std::set<std::string> chain{question};
  const std::size_t count = ldns_rr_list_rr_count(answers);
  // A chain can be listed in any order; each pass adds at least one link or stops.
  for (std::size_t pass = 0; pass < count; ++pass) {
    bool grew = false;
    for (std::size_t i = 0; i < count; ++i) {
      const ldns_rr* record = ldns_rr_list_rr(answers, i);
      if (ldns_rr_get_type(record) != LDNS_RR_TYPE_CNAME || ldns_rr_rd_count(record) < 1) continue;
      if (!chain.contains(nameOf(ldns_rr_owner(record)))) continue;
      grew |= chain.insert(nameOf(ldns_rr_rdf(record, 0))).second;
    }
    if (!grew) break;
  }
  return chain;
}

std::size_t read16(std::span<const std::uint8_t> bytes, std::size_t at) {
  return (static_cast<std::size_t>(bytes[at]) << 8) | bytes[at + 1];
}

// Past the (possibly compressed) name at `at`; false if it leaves the message or uses
// a label type other than a length or a pointer.
bool skipName(std::span<const std::uint8_t> dns, std::size_t& at) {
  while (at < dns.size()) {
    const std::uint8_t length = dns[at];
    if ((length & 0xc0) == 0xc0) {
      at += 2;
      return at <= dns.size();
    }
    if (length & 0xc0) return false;
    at += 1 + length;
    if (length == 0) return true;
  }
  return false;
}

// ldns reads the RDATA fields of a record's type and carries on where they end, even
// when RDLENGTH says the RDATA is longer (a CNAME whose 2-byte compressed target sits
// in a 9-byte RDATA). A client skips RDLENGTH bytes, and so does the rewriter's TTL
// cap: from there on they see other records than ldns does, so we would learn
// addresses the client never gets and miss those it does, and the rewriter would
// write TTLs into them. True when ldns reads every record after the question exactly
// up to the end of its RDATA.
bool recordsEndAtRdlength(std::span<const std::uint8_t> dns) {
  if (dns.size() < kDnsHeaderSize) return false;
  std::size_t at = kDnsHeaderSize;
  for (std::size_t i = 0; i < read16(dns, 4); ++i) {
    if (!skipName(dns, at) || at + 4 > dns.size()) return false;
    at += 4;  // type, class
  }
  const std::size_t records = read16(dns, 6) + read16(dns, 8) + read16(dns, 10);
  for (std::size_t i = 0; i < records; ++i) {
    std::size_t ldns_end = at;
    if (!skipName(dns, at) || at + 10 > dns.size()) return false;
    const std::size_t end = at + 10 + read16(dns, at + 8);  // type, class, TTL, RDLENGTH
    if (end > dns.size()) return false;
    ldns_rr* record = nullptr;
    const ldns_status status =
        ldns_wire2rr(&record, dns.data(), dns.size(), &ldns_end, LDNS_SECTION_ANSWER);
    if (status == LDNS_STATUS_OK) ldns_rr_free(record);
    if (status != LDNS_STATUS_OK || ldns_end != end) return false;
    at = end;
  }
  return true;
}

}  // namespace

UdpChecksum completeUdpChecksum(HeldPacket& held) {
  auto& packet = held.ip_packet;
  const std::size_t udp_length = held.dns_length + kUdpHeader;
  const auto udp = std::span<std::uint8_t>(packet).subspan(held.udp_offset, udp_length);
  const bool ipv4 = held.client.family == IpFamily::kV4;
  std::uint32_t pseudo = ipv4 ? sumWords({&packet[12], 8}, 0) : sumWords({&packet[8], 32}, 0);
  pseudo += IPPROTO_UDP + static_cast<std::uint32_t>(udp_length);

  const std::uint16_t stored = static_cast<std::uint16_t>((udp[6] << 8) | udp[7]);
  if (ipv4 && stored == 0) return UdpChecksum::kValid;
  if (foldSum(sumWords(udp, pseudo)) == 0xffff) return UdpChecksum::kValid;
  if (stored != foldSum(pseudo)) return UdpChecksum::kCorrupt;

  udp[6] = udp[7] = 0;
  std::uint16_t checksum = static_cast<std::uint16_t>(~foldSum(sumWords(udp, pseudo)));
  if (checksum == 0) checksum = 0xffff;  // zero means "no checksum" in UDP
  udp[6] = static_cast<std::uint8_t>(checksum >> 8);
  udp[7] = static_cast<std::uint8_t>(checksum & 0xff);
  return UdpChecksum::kCompleted;
}

std::uint64_t expiryFor(std::uint64_t now_ns, std::uint32_t ttl_s, const TtlSettings& settings) {
  const std::uint32_t capped = settings.max_ttl_s ? std::min(ttl_s, *settings.max_ttl_s) : ttl_s;
  const std::uint64_t seconds =
      static_cast<std::uint64_t>(std::max(capped, settings.min_ttl_s)) + settings.grace_s;
  return now_ns + seconds * kNanosPerSecond;
}

const char* toString(AnswerVerdict verdict) {
  switch (verdict) {
    case AnswerVerdict::kAllowed:
      return "allowed";
    case AnswerVerdict::kDenied:
      return "denied";
    case AnswerVerdict::kMalformed:
      return "malformed";
  }
  return "unknown";
}

AnswerDecision decideAnswer(std::span<const std::uint8_t> dns, const policy::NameMatcher& names,
                            std::uint64_t now_ns, const TtlSettings& settings) {
  AnswerDecision decision;
  ldns_pkt* raw = nullptr;
  if (!namesAreSound(dns)) {
    decision.error = "unparseable DNS message";
    return decision;
  }
  if (!tsigIsLastIfPresent(dns)) {
    decision.error = "a TSIG record that is not the message's last record";
    return decision;
  }
  if (ldns_wire2pkt(&raw, dns.data(), dns.size()) != LDNS_STATUS_OK || !raw) {
    decision.error = "unparseable DNS message";
    return decision;
  }
  LdnsPacket packet(raw);
  if (!recordsEndAtRdlength(dns)) {
    decision.error = "a record's data does not end where its RDLENGTH says";
    return decision;
  }
  if (!ldns_pkt_qr(packet.get())) {
    decision.error = "a query, not an answer";
    return decision;
  }
  if (ldns_pkt_get_opcode(packet.get()) != LDNS_PACKET_QUERY) {
    // NOTIFY, UPDATE and the like carry no answer to a lookup.
    decision.error = "opcode " + std::to_string(ldns_pkt_get_opcode(packet.get())) + ", not QUERY";
    return decision;
  }
  const ldns_rr_list* questions = ldns_pkt_question(packet.get());
  if (ldns_rr_list_rr_count(questions) != 1) {
    decision.error = "answer with " + std::to_string(ldns_rr_list_rr_count(questions)) +
                     " questions; exactly one is accepted";
    return decision;
  }
  const ldns_rr* question = ldns_rr_list_rr(questions, 0);
  decision.question = nameOf(ldns_rr_owner(question));
  decision.question_type = static_cast<std::uint16_t>(ldns_rr_get_type(question));
  decision.rule = names.match(decision.question);
  decision.verdict = decision.rule ? AnswerVerdict::kAllowed : AnswerVerdict::kDenied;

  const ldns_rr_list* answers = ldns_pkt_answer(packet.get());
  const auto chain = chainFrom(decision.question, answers);
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(answers); ++i) {
    const ldns_rr* record = ldns_rr_list_rr(answers, i);
    if (ldns_rr_get_class(record) != LDNS_RR_CLASS_IN) continue;
    if (!chain.contains(nameOf(ldns_rr_owner(record)))) continue;
    const auto learned = addressOf(record, now_ns, settings);
    if (!learned) continue;
    if (decision.rule) {
      decision.addresses.push_back(*learned);
    } else {
      decision.denied_addresses.push_back(learned->ip);
    }
  }
  return decision;
}

std::optional<HeldPacket> extractHeldPacket(std::span<const std::uint8_t> frame,
                                            std::uint32_t l3_offset, std::uint32_t l4_offset,
                                            std::string& error) {
  if (l3_offset >= frame.size() || l4_offset < l3_offset || l4_offset >= frame.size()) {
    error = "header offsets outside the frame";
    return std::nullopt;
  }
  const auto ip = frame.subspan(l3_offset);
  const unsigned version = ip[0] >> 4;
  std::size_t ip_length = 0;
  std::size_t header_length = 0;
  HeldPacket held;
  if (version == 4 && ip.size() >= kIpv4HeaderMin) {
    header_length = static_cast<std::size_t>(ip[0] & 0x0f) * 4;
    ip_length = (static_cast<std::size_t>(ip[2]) << 8) | ip[3];
    held.client = IpAddress::fromV4(&ip[16]);
  } else if (version == 6 && ip.size() >= kIpv6Header) {
    header_length = kIpv6Header;
    ip_length = kIpv6Header + ((static_cast<std::size_t>(ip[4]) << 8) | ip[5]);
    held.client = IpAddress::fromV6(&ip[24]);
  } else {
    error = "not an IPv4 or IPv6 packet";
    return std::nullopt;
  }
  const std::size_t udp_offset = l4_offset - l3_offset;
  // completeUdpChecksum reads the addresses from the fixed header: the UDP header
  // must follow a whole IP header.
  if (header_length < kIpv4HeaderMin || udp_offset < header_length) {
    error = "UDP header at offset " + std::to_string(udp_offset) + " of a " +
            std::to_string(header_length) + "-byte IP header";
    return std::nullopt;
  }
  if (ip_length > ip.size() || udp_offset + kUdpHeader > ip_length) {
    error = "IP length " + std::to_string(ip_length) + " does not fit the frame";
    return std::nullopt;
  }
  const auto udp = ip.subspan(udp_offset);
  const std::size_t udp_length = (static_cast<std::size_t>(udp[4]) << 8) | udp[5];
  if (udp_length < kUdpHeader || udp_offset + udp_length > ip_length) {
    error = "UDP length " + std::to_string(udp_length) + " does not fit the IP packet";
    return std::nullopt;
  }
  held.ip_packet.assign(ip.begin(), ip.begin() + static_cast<std::ptrdiff_t>(ip_length));
  held.udp_offset = udp_offset;
  held.dns_offset = udp_offset + kUdpHeader;
  held.dns_length = udp_length - kUdpHeader;
  return held;
}

}  // namespace skouter::resolver
