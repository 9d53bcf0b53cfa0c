#include "resolver/answer_rewriter.h"

#include "resolver/dns_question.h"

#include <ldns/ldns.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/internet_checksum.h"

namespace skouter::resolver {
namespace {

constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kMaxIpLength = 0xffff;
constexpr std::uint32_t kMaxTtl = 0x7fffffff;

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeAaaa = 28;
constexpr std::uint16_t kTypeOpt = 41;

// Header flag bits copied into a deny response: opcode, RD, RA and CD (RFC 4035
// section 3.2.2: CD is copied from the query, as RD is).
constexpr std::uint16_t kFlagQr = 0x8000;
constexpr std::uint16_t kCopiedFlags = 0x7800 | 0x0100 | 0x0080 | 0x0010;
constexpr std::uint16_t kRcodeNxdomain = 3;
constexpr std::uint16_t kRcodeRefused = 5;
// The DO bit in the flags half of the OPT record's TTL field (RFC 3225).
constexpr std::uint32_t kEdnsDo = 0x8000;

struct PacketDeleter {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
};
using LdnsPacket = std::unique_ptr<ldns_pkt, PacketDeleter>;

LdnsPacket parse(std::span<const std::uint8_t> dns) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, dns.data(), dns.size()) != LDNS_STATUS_OK) {
    ldns_pkt_free(raw);
    return nullptr;
  }
  return LdnsPacket(raw);
}

std::uint16_t read16(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

std::uint32_t read32(std::span<const std::uint8_t> bytes, std::size_t at) {
  return (static_cast<std::uint32_t>(read16(bytes, at)) << 16) | read16(bytes, at + 2);
}

void write16(std::vector<std::uint8_t>& bytes, std::size_t at, std::uint16_t value) {
  bytes[at] = static_cast<std::uint8_t>(value >> 8);
  bytes[at + 1] = static_cast<std::uint8_t>(value & 0xff);
}

void write32(std::vector<std::uint8_t>& bytes, std::size_t at, std::uint32_t value) {
  write16(bytes, at, static_cast<std::uint16_t>(value >> 16));
  write16(bytes, at + 2, static_cast<std::uint16_t>(value & 0xffff));
}

void append16(std::vector<std::uint8_t>& bytes, std::uint16_t value) {
  bytes.push_back(static_cast<std::uint8_t>(value >> 8));
  bytes.push_back(static_cast<std::uint8_t>(value & 0xff));
}

// --- A minimal walk over the wire format: where each record's TTL is ---------------

enum class Section { kAnswer, kAuthority, kAdditional };

struct WireRecord {
  Section section = Section::kAnswer;
  std::uint16_t type = 0;
  std::uint16_t rr_class = 0;
  std::size_t ttl_offset = 0;  // the class precedes it, the RDLENGTH follows it
};

// Past the (possibly compressed) name at `at`; false if it leaves the message or uses
// a label type other than a length or a pointer.
bool skipName(std::span<const std::uint8_t> dns, std::size_t& at) {
  while (at < dns.size()) {
    const std::uint8_t length = dns[at];
    if ((length & 0xc0) == 0xc0) {
      if (at + 2 > dns.size()) return false;
      at += 2;
      return true;
    }
    if (length & 0xc0) return false;
    at += 1 + length;
    if (length == 0) return true;
  }
  return false;
}

// The records of every section after the question, or nullopt if the counts of the
// header do not describe the message. Bytes after the last record are ignored.
std::optional<std::vector<WireRecord>> walkRecords(std::span<const std::uint8_t> dns) {
  if (dns.size() < kDnsHeaderSize) return std::nullopt;
  std::size_t at = kDnsHeaderSize;
  for (std::uint16_t i = 0; i < read16(dns, 4); ++i) {
    if (!skipName(dns, at) || at + 4 > dns.size()) return std::nullopt;
    at += 4;
  }
  std::vector<WireRecord> records;
  const std::pair<Section, std::uint16_t> sections[] = {
      {Section::kAnswer, read16(dns, 6)},
      {Section::kAuthority, read16(dns, 8)},
      {Section::kAdditional, read16(dns, 10)},
  };
  for (const auto& [section, count] : sections) {
    for (std::uint16_t i = 0; i < count; ++i) {
      if (!skipName(dns, at) || at + 10 > dns.size()) return std::nullopt;
      WireRecord record{.section = section,
                        .type = read16(dns, at),
                        .rr_class = read16(dns, at + 2),
                        .ttl_offset = at + 4};
      const std::size_t rdlength = read16(dns, at + 8);
      at += 10 + rdlength;
      if (at > dns.size()) return std::nullopt;
      records.push_back(record);
    }
  }
  return records;
}

// Lowers every TTL above `max_ttl_s` in place; the OPT record is skipped.
std::uint32_t cappedTtl(std::uint32_t ttl, std::uint32_t max_ttl_s) {
  return std::min(ttl > kMaxTtl ? 0 : ttl, max_ttl_s);  // RFC 2181 section 8
}

// Whether the name at `at`, followed through its compression pointers, reads any
// byte marked in `ttl_byte`.
bool nameReadsTtl(std::span<const std::uint8_t> dns, std::size_t at,
                  const std::vector<bool>& ttl_byte) {
  for (int hops = 0; at < dns.size() && hops < 64;) {
    if (ttl_byte[at]) return true;
    const std::uint8_t length = dns[at];
    if ((length & 0xc0) == 0xc0) {
      if (at + 1 >= dns.size()) return false;
      if (ttl_byte[at + 1]) return true;
      at = (static_cast<std::size_t>(length & 0x3f) << 8) | dns[at + 1];
      ++hops;
      continue;
    }
    if ((length & 0xc0) != 0 || length == 0) return false;
    for (std::size_t i = 1; i <= length && at + i < dns.size(); ++i) {
      if (ttl_byte[at + i]) return true;
    }
    at += 1 + length;
  }
  return false;
}

// Lowers every TTL above `max_ttl_s`, in place (the size stays, which DNS over TCP
// needs). A message where a compression pointer leads into a TTL field (no real
// server writes one) is left as it is: the edit would change a name. Every byte pair
// that looks like a pointer counts, so the check errs on the side of leaving alone.
void capTtls(std::vector<std::uint8_t>& dns, std::uint32_t max_ttl_s) {
  const auto records = walkRecords(dns);
  if (!records) return;
  std::vector<bool> ttl_byte(dns.size(), false);
  for (const WireRecord& record : *records) {
    std::fill_n(ttl_byte.begin() + static_cast<std::ptrdiff_t>(record.ttl_offset), 4, true);
  }
  for (std::size_t i = 0; i + 1 < dns.size(); ++i) {
    if ((dns[i] & 0xc0) != 0xc0) continue;
    const std::size_t target = (static_cast<std::size_t>(dns[i] & 0x3f) << 8) | dns[i + 1];
    if (nameReadsTtl(dns, target, ttl_byte)) return;
  }
  for (const WireRecord& record : *records) {
    if (record.type == kTypeOpt) continue;
    const std::uint32_t ttl = read32(dns, record.ttl_offset);
    if (cappedTtl(ttl, max_ttl_s) != ttl)
      write32(dns, record.ttl_offset, cappedTtl(ttl, max_ttl_s));
  }
}

// --- Deny responses ------------------------------------------------------------------

std::vector<std::uint8_t> denyResponse(std::span<const std::uint8_t> dns, const ldns_pkt& packet,
                                       DenyResponse response) {
  std::vector<std::uint8_t> out;
  const auto records = walkRecords(dns);
  std::optional<WireRecord> opt;
  if (records) {
    for (const WireRecord& record : *records) {
      if (record.section == Section::kAdditional && record.type == kTypeOpt) opt = record;
    }
  }
  const std::uint16_t rcode = response == DenyResponse::kNxdomain ? kRcodeNxdomain : kRcodeRefused;
  append16(out, read16(dns, 0));  // id
  append16(out, static_cast<std::uint16_t>(kFlagQr | (read16(dns, 2) & kCopiedFlags) | rcode));
  append16(out, 1);  // QDCOUNT
  append16(out, 0);  // ANCOUNT
  append16(out, 0);  // NSCOUNT
  append16(out, opt ? 1 : 0);

  // The question as ldns read it: uncompressed, in its original case (DNS 0x20).
  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(&packet), 0);
  const ldns_rdf* owner = ldns_rr_owner(question);
  const std::uint8_t* name = ldns_rdf_data(owner);
  out.insert(out.end(), name, name + ldns_rdf_size(owner));
  append16(out, static_cast<std::uint16_t>(ldns_rr_get_type(question)));
  append16(out, static_cast<std::uint16_t>(ldns_rr_get_class(question)));

  if (opt) {
    // Root owner, type OPT, the original's UDP size in the class field; extended
    // RCODE 0, the original's version and DO bit; no options.
    const std::uint32_t ttl = read32(dns, opt->ttl_offset);
    out.push_back(0);
    append16(out, kTypeOpt);
    append16(out, opt->rr_class);
    out.push_back(0);
    out.push_back(static_cast<std::uint8_t>((ttl >> 16) & 0xff));
    append16(out, static_cast<std::uint16_t>(ttl & kEdnsDo));
    append16(out, 0);
  }
  return out;
}

// --- Private answers -------------------------------------------------------------------

bool inV4(const std::uint8_t* v4, std::uint8_t a, std::uint8_t b, unsigned length) {
  const std::uint32_t address = (static_cast<std::uint32_t>(v4[0]) << 24) |
                                (static_cast<std::uint32_t>(v4[1]) << 16) |
                                (static_cast<std::uint32_t>(v4[2]) << 8) | v4[3];
  const std::uint32_t network = (static_cast<std::uint32_t>(a) << 24) | (b << 16);
  const std::uint32_t mask = length == 0 ? 0 : ~std::uint32_t{0} << (32 - length);
  return (address & mask) == network;
}

bool isPrivateV4(const std::uint8_t* v4) {
  return inV4(v4, 10, 0, 8) || inV4(v4, 172, 16, 12) || inV4(v4, 192, 168, 16) ||
         inV4(v4, 127, 0, 8) || inV4(v4, 169, 254, 16) || inV4(v4, 100, 64, 10) ||
         inV4(v4, 0, 0, 8);
}

// The IPv4 address of an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else nullptr.
const std::uint8_t* mappedV4(const IpAddress& address) {
  if (address.family != IpFamily::kV6) return nullptr;
  const auto& b = address.bytes;
  if (!std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t byte) { return byte == 0; })) {
    return nullptr;
  }
  return b[10] == 0xff && b[11] == 0xff ? &b[12] : nullptr;
}

bool allowedByStaticEntry(const IpAddress& address,
                          const std::vector<policy::StaticEntry>& static_entries) {
  std::optional<IpAddress> as_v4;
  if (const std::uint8_t* v4 = mappedV4(address)) as_v4 = IpAddress::fromV4(v4);
  return std::any_of(static_entries.begin(), static_entries.end(), [&](const auto& entry) {
    return entry.prefix.contains(address) || (as_v4 && entry.prefix.contains(*as_v4));
  });
}

std::optional<IpAddress> addressOf(const ldns_rr* record) {
  if (ldns_rr_get_class(record) != LDNS_RR_CLASS_IN || ldns_rr_rd_count(record) < 1) {
    return std::nullopt;
  }
  const ldns_rdf* rdata = ldns_rr_rdf(record, 0);
  const auto type = static_cast<std::uint16_t>(ldns_rr_get_type(record));
  if (type == kTypeA && ldns_rdf_size(rdata) == 4) return IpAddress::fromV4(ldns_rdf_data(rdata));
  if (type == kTypeAaaa && ldns_rdf_size(rdata) == 16) {
    return IpAddress::fromV6(ldns_rdf_data(rdata));
  }
  return std::nullopt;
}

// Removes the A/AAAA records of the answer section whose address `remove` picks from
// `packet`; returns the distinct addresses removed.
template <typename Predicate>
std::vector<IpAddress> removeAnswers(ldns_pkt& packet, Predicate remove) {
  std::vector<IpAddress> removed;
  ldns_rr_list* answers = ldns_pkt_answer(&packet);
  const std::size_t count = ldns_rr_list_rr_count(answers);
  std::vector<bool> drop(count, false);
  for (std::size_t i = 0; i < count; ++i) {
    const auto address = addressOf(ldns_rr_list_rr(answers, i));
    if (!address || !remove(*address)) continue;
    drop[i] = true;
    if (std::find(removed.begin(), removed.end(), *address) == removed.end()) {
      removed.push_back(*address);
    }
  }
  if (removed.empty()) return removed;

  ldns_rr_list* kept = ldns_rr_list_new();
  if (!kept) throw std::bad_alloc();
  for (std::size_t i = 0; i < count; ++i) {
    ldns_rr* record = ldns_rr_list_rr(answers, i);
    if (drop[i]) {
      ldns_rr_free(record);
    } else if (!ldns_rr_list_push_rr(kept, record)) {
      throw std::bad_alloc();
    }
  }
  ldns_rr_list_free(answers);  // the list only: its records were moved or freed
  ldns_pkt_set_answer(&packet, kept);
  ldns_pkt_set_ancount(&packet, static_cast<std::uint16_t>(ldns_rr_list_rr_count(kept)));
  return removed;
}

std::vector<std::uint8_t> toWire(const ldns_pkt& packet) {
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, &packet, &size) != LDNS_STATUS_OK || !wire) {
    std::free(wire);
    throw std::runtime_error("ldns could not write the rewritten answer");
  }
  std::vector<std::uint8_t> bytes(wire, wire + size);
  std::free(wire);
  return bytes;
}

}  // namespace

bool isPrivateAnswerAddress(const IpAddress& address) {
  if (address.family == IpFamily::kV4) return isPrivateV4(address.bytes.data());
  if (const std::uint8_t* v4 = mappedV4(address)) return isPrivateV4(v4);
  const auto& b = address.bytes;
  const bool zero_prefix = std::all_of(b.begin(), b.begin() + 15, [](auto x) { return x == 0; });
  if (zero_prefix && (b[15] == 0 || b[15] == 1)) return true;  // :: and ::1
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;      // fe80::/10
  return (b[0] & 0xfe) == 0xfc;                                // fc00::/7
}

RewrittenAnswer rewriteAnswer(std::span<const std::uint8_t> dns, AnswerDecision& decision,
                              const RewriteSettings& settings,
                              const std::vector<policy::StaticEntry>& static_entries,
                              const std::vector<IpAddress>& unconfirmed) {
  RewrittenAnswer result;
  result.dns.assign(dns.begin(), dns.end());
  if (decision.verdict == AnswerVerdict::kMalformed) return result;
  const LdnsPacket packet = parse(dns);
  // decideAnswer read the same bytes; a parse failure here means a mismatched
  // decision: deliver the answer as it is.
  if (!packet || ldns_rr_list_rr_count(ldns_pkt_question(packet.get())) != 1) return result;

  if (decision.verdict == AnswerVerdict::kDenied &&
      settings.deny_response != DenyResponse::kPassthrough) {
    result.dns = denyResponse(dns, *packet, settings.deny_response);
  } else {
    const auto drop = [&](const std::vector<IpAddress>& removed) {
      if (removed.empty()) return;
      result.dns = toWire(*packet);
      std::erase_if(decision.addresses, [&](const LearnedAddress& learned) {
        return std::find(removed.begin(), removed.end(), learned.ip) != removed.end();
      });
    };
    if (decision.verdict == AnswerVerdict::kAllowed && settings.block_private_answers) {
      result.removed_private = removeAnswers(*packet, [&](const IpAddress& address) {
        return isPrivateAnswerAddress(address) && !allowedByStaticEntry(address, static_entries);
      });
      drop(result.removed_private);
    }
    if (decision.verdict == AnswerVerdict::kAllowed && !unconfirmed.empty()) {
      drop(removeAnswers(*packet, [&](const IpAddress& address) {
        return std::find(unconfirmed.begin(), unconfirmed.end(), address) != unconfirmed.end();
      }));
    }
    if (settings.max_ttl_s) capTtls(result.dns, *settings.max_ttl_s);
  }
  result.changed = !std::equal(result.dns.begin(), result.dns.end(), dns.begin(), dns.end());
  return result;
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

  if (ipv4) {
    const std::size_t header_length = static_cast<std::size_t>(packet[0] & 0x0f) * 4;
    if (header_length < 20 || header_length > held.udp_offset) {
      throw std::invalid_argument("held packet has a bad IPv4 header length");
    }
    write16(packet, 2, static_cast<std::uint16_t>(total));
    write16(packet, 10, 0);
    write16(packet, 10,
            static_cast<std::uint16_t>(
                ~foldSum(sumWords(std::span<const std::uint8_t>(packet).first(header_length), 0))));
  } else {
    if ((packet[0] >> 4) != 6 || held.udp_offset < kIpv6Header) {
      throw std::invalid_argument("held packet is neither IPv4 nor IPv6");
    }
    write16(packet, 4, static_cast<std::uint16_t>(total - kIpv6Header));
  }

  const std::size_t udp_length = total - held.udp_offset;
  write16(packet, held.udp_offset + 4, static_cast<std::uint16_t>(udp_length));
  write16(packet, held.udp_offset + 6, 0);
  // Pseudo-header: addresses from the fixed IP header, protocol, UDP length.
  std::uint32_t sum = ipv4 ? sumWords(std::span<const std::uint8_t>(packet).subspan(12, 8), 0)
                           : sumWords(std::span<const std::uint8_t>(packet).subspan(8, 32), 0);
  sum += IPPROTO_UDP + static_cast<std::uint32_t>(udp_length);
  sum = sumWords(std::span<const std::uint8_t>(packet).subspan(held.udp_offset), sum);
  std::uint16_t checksum = static_cast<std::uint16_t>(~foldSum(sum));
  if (checksum == 0) checksum = 0xffff;  // zero means "no checksum" in UDP
  write16(packet, held.udp_offset + 6, checksum);
  return packet;
}

}  // namespace skouter::resolver
