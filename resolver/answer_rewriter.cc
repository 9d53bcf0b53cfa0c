#include "resolver/answer_rewriter.h"

#include <algorithm>

namespace skouter::resolver {
namespace {

constexpr std::uint32_t kMaxTtl = 0x7fffffff;

// Header flag bits copied into a deny response: opcode, RD, RA and CD (RFC 4035
// section 3.2.2: CD is copied from the query, as RD is).
constexpr std::uint16_t kFlagQr = 0x8000;
constexpr std::uint16_t kCopiedFlags = 0x7800 | 0x0100 | 0x0080 | 0x0010;
constexpr std::uint16_t kRcodeNxdomain = 3;
constexpr std::uint16_t kRcodeRefused = 5;
// The DO bit in the flags half of the OPT record's TTL field (RFC 3225).
constexpr std::uint32_t kEdnsDo = 0x8000;

void append16(std::vector<std::uint8_t>& bytes, std::uint16_t value) {
  bytes.push_back(static_cast<std::uint8_t>(value >> 8));
  bytes.push_back(static_cast<std::uint8_t>(value & 0xff));
}

// --- TTL caps --------------------------------------------------------------------------

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
    if (isCompressionPointer(length)) {
      if (at + 1 >= dns.size()) return false;
      if (ttl_byte[at + 1]) return true;
      at = pointerTarget(dns, at);
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
void capTtls(std::vector<std::uint8_t>& dns, const std::vector<TtlField>& ttls,
             std::uint32_t max_ttl_s) {
  std::vector<bool> ttl_byte(dns.size(), false);
  for (const TtlField& ttl : ttls) {
    std::fill_n(ttl_byte.begin() + static_cast<std::ptrdiff_t>(ttl.offset), 4, true);
  }
  for (std::size_t i = 0; i + 1 < dns.size(); ++i) {
    if (isCompressionPointer(dns[i]) && nameReadsTtl(dns, pointerTarget(dns, i), ttl_byte)) return;
  }
  for (const TtlField& field : ttls) {
    if (field.type == kDnsTypeOpt) continue;  // its TTL field holds EDNS flags
    const std::uint32_t ttl = read32(dns, field.offset);
    if (cappedTtl(ttl, max_ttl_s) != ttl) write32(dns, field.offset, cappedTtl(ttl, max_ttl_s));
  }
}

// --- Deny responses ------------------------------------------------------------------

std::vector<std::uint8_t> denyResponse(const DnsMessage& message, DenyResponse response) {
  const auto dns = message.bytes();
  std::vector<std::uint8_t> out;
  const DnsRecord* opt = nullptr;
  for (const DnsRecord& record : message.records()) {
    if (record.section == DnsSection::kAdditional && record.type == kDnsTypeOpt) opt = &record;
  }
  const std::uint16_t rcode = response == DenyResponse::kNxdomain ? kRcodeNxdomain : kRcodeRefused;
  append16(out, message.id());
  append16(out, static_cast<std::uint16_t>(kFlagQr | (message.flags() & kCopiedFlags) | rcode));
  append16(out, 1);  // QDCOUNT
  append16(out, 0);  // ANCOUNT
  append16(out, 0);  // NSCOUNT
  append16(out, opt ? 1 : 0);

  // The question uncompressed, in its original case (DNS 0x20).
  const auto& question = *message.question();
  const auto name = message.name(question.name);
  out.insert(out.end(), name.wire().begin(), name.wire().end());
  append16(out, question.type);
  append16(out, question.klass);

  if (opt) {
    // Root owner, type OPT, the original's UDP size in the class field; extended
    // RCODE 0, the original's version and DO bit; no options.
    const std::uint32_t ttl = read32(dns, opt->ttl_offset);
    out.push_back(0);
    append16(out, kDnsTypeOpt);
    append16(out, opt->klass);
    out.push_back(0);
    out.push_back(static_cast<std::uint8_t>((ttl >> 16) & 0xff));
    append16(out, static_cast<std::uint16_t>(ttl & kEdnsDo));
    append16(out, 0);
  }
  return out;
}

// --- Private answers -------------------------------------------------------------------

bool inV4(const std::uint8_t* v4, std::uint8_t a, std::uint8_t b, unsigned length) {
  const std::uint32_t address = read32({v4, 4}, 0);
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

// Marks in `drop` the A/AAAA records of the answer section, not marked yet, whose
// address `remove` picks; returns the distinct addresses they held.
template <typename Predicate>
std::vector<IpAddress> pickAnswers(const DnsMessage& message, std::vector<bool>& drop,
                                   Predicate remove) {
  std::vector<IpAddress> removed;
  for (std::size_t i = 0; i < message.records().size(); ++i) {
    if (drop[i]) continue;
    const DnsRecord& record = message.records()[i];
    if (record.section != DnsSection::kAnswer) continue;
    const auto address = message.addressOf(record);
    if (!address || !remove(*address)) continue;
    drop[i] = true;
    if (std::ranges::find(removed, *address) == removed.end()) removed.push_back(*address);
  }
  return removed;
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

RewrittenAnswer rewriteAnswer(const DnsMessage& message, const AnswerDecision& decision,
                              const RewriteSettings& settings,
                              const std::vector<policy::StaticEntry>& static_entries,
                              const std::vector<IpAddress>& unconfirmed) {
  const auto dns = message.bytes();
  RewrittenAnswer result;
  result.dns.assign(dns.begin(), dns.end());
  // A message decideAnswer did not find malformed is valid with one question; anything
  // else means a mismatched decision: deliver the answer as it is.
  if (decision.verdict == AnswerVerdict::kMalformed || !message.valid() ||
      message.questionCount() != 1) {
    return result;
  }

  if (decision.verdict == AnswerVerdict::kDenied &&
      settings.deny_response != DenyResponse::kPassthrough) {
    result.dns = denyResponse(message, settings.deny_response);
  } else {
    std::vector<bool> drop(message.records().size(), false);
    if (decision.verdict == AnswerVerdict::kAllowed && settings.block_private_answers) {
      result.removed_private = pickAnswers(message, drop, [&](const IpAddress& address) {
        return isPrivateAnswerAddress(address) && !allowedByStaticEntry(address, static_entries);
      });
      result.removed = result.removed_private;
    }
    if (decision.verdict == AnswerVerdict::kAllowed && !unconfirmed.empty()) {
      for (const auto& address : pickAnswers(message, drop, [&](const IpAddress& address) {
             return std::ranges::find(unconfirmed, address) != unconfirmed.end();
           })) {
        if (std::ranges::find(result.removed, address) == result.removed.end()) {
          result.removed.push_back(address);
        }
      }
    }
    std::vector<TtlField> ttls;
    if (result.removed.empty()) {
      for (const DnsRecord& record : message.records()) {
        ttls.push_back({record.ttl_offset, record.type});
      }
    } else {
      std::vector<std::size_t> dropped;
      for (std::size_t i = 0; i < drop.size(); ++i) {
        if (drop[i]) dropped.push_back(i);
      }
      auto edited = message.without(dropped);
      result.dns = std::move(edited.bytes);
      ttls = std::move(edited.ttls);
    }
    if (settings.max_ttl_s) capTtls(result.dns, ttls, *settings.max_ttl_s);
  }
  result.changed = !std::equal(result.dns.begin(), result.dns.end(), dns.begin(), dns.end());
  return result;
}

void forgetRemoved(AnswerDecision& decision, const RewrittenAnswer& rewritten) {
  std::erase_if(decision.addresses, [&](const LearnedAddress& learned) {
    return std::ranges::find(rewritten.removed, learned.ip) != rewritten.removed.end();
  });
}

}  // namespace skouter::resolver
