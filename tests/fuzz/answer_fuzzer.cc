// libFuzzer target for the DNS answer path (resolver/dns_message.h,
// resolver/answer_handler.h, resolver/answer_rewriter.h and resolver/ip_frame.h). Each
// input is read twice: as a whole Ethernet frame held by the datapath
// (extractHeldPacket at the IPv4 and IPv6 offsets, completeUdpChecksum, then the DNS
// message inside), and as a bare DNS message (in a UDP packet of its own). Every DNS
// message is read once into a DnsMessage and goes through decideAnswer, rewriteAnswer
// (NXDOMAIN for denied names, --max-ttl, private answers blocked) and
// rebuildUdpPacket, as in the daemon. Besides what ASan and UBSan catch, the fuzzer
// aborts when a result breaks an invariant the daemon relies on.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/ip_address.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"
#include "resolver/answer_rewriter.h"
#include "resolver/dns_message.h"
#include "resolver/ip_frame.h"
#include "resolver/tcp_answer_stream.h"

namespace {

using skouter::IpAddress;
using skouter::IpFamily;
using skouter::IpPrefix;
using skouter::policy::NameMatcher;
using skouter::policy::RuleId;
namespace resolver = skouter::resolver;

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
// An hour of uptime on the datapath clock, as in the unit tests.
constexpr std::uint64_t kNow = 3600 * kSecond;
constexpr std::uint32_t kMaxTtl = 0x7fffffff;  // RFC 2181: larger TTLs read as 0
constexpr std::uint32_t kEthernetHeader = 14;
constexpr std::uint32_t kIpv4Header = 20;
constexpr std::uint32_t kIpv6Header = 40;
constexpr std::size_t kUdpHeader = 8;

constexpr std::uint32_t kMaxTtlSetting = 3600;
// --min-ttl 30 --ttl-grace 5 --max-ttl 3600: every TTL adjustment is exercised.
const resolver::TtlSettings kSettings{.min_ttl_s = 30, .grace_s = 5, .max_ttl_s = kMaxTtlSetting};
// --deny-response nxdomain --max-ttl 3600 --block-private-answers.
const resolver::RewriteSettings kRewrite{.deny_response = resolver::DenyResponse::kNxdomain,
                                         .max_ttl_s = kMaxTtlSetting,
                                         .block_private_answers = true};
constexpr std::uint16_t kRcodeNxdomain = 3;

[[noreturn]] void violated(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, condition);
  std::abort();
}
#define FUZZ_CHECK(condition) ((condition) ? (void)0 : violated(#condition, __FILE__, __LINE__))

// The lab policy of the unit tests: three exact names and one regex.
const NameMatcher& labMatcher() {
  static const NameMatcher* const names = [] {
    auto* matcher = new NameMatcher;
    matcher->addExact("example.com", RuleId{0x1001});
    matcher->addExact("httpbin.org", RuleId{0x1002});
    matcher->addExact("github.com", RuleId{0x1003});
    matcher->addRegex(R"(.*\.wikipedia\.org)", RuleId{0x2001});
    matcher->compile();
    return matcher;
  }();
  return *names;
}

// A static entry in a private range: its addresses survive --block-private-answers.
const std::vector<skouter::policy::StaticEntry>& staticEntries() {
  static const auto* const entries = new std::vector<skouter::policy::StaticEntry>{
      {IpPrefix::parse("10.1.0.0/16").value(), RuleId{0x3001}},
      {IpPrefix::parse("fd00:1::/32").value(), RuleId{0x3002}},
  };
  return *entries;
}

bool allowedPrivate(const IpAddress& address) {
  if (!resolver::isPrivateAnswerAddress(address)) return true;
  // The rewriter also keeps ::ffff:a.b.c.d when a static entry allows a.b.c.d.
  std::optional<IpAddress> v4;
  const auto& b = address.bytes;
  if (address.family == IpFamily::kV6 &&
      std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t x) { return x == 0; }) &&
      b[10] == 0xff && b[11] == 0xff) {
    v4 = IpAddress::fromV4(&b[12]);
  }
  return std::any_of(staticEntries().begin(), staticEntries().end(), [&](const auto& entry) {
    return entry.prefix.contains(address) || (v4 && entry.prefix.contains(*v4));
  });
}

using resolver::read16;

void checkDecision(const resolver::AnswerDecision& decision) {
  switch (decision.verdict) {
    case resolver::AnswerVerdict::kAllowed:
      FUZZ_CHECK(decision.rule.has_value());
      FUZZ_CHECK(decision.error.empty());
      break;
    case resolver::AnswerVerdict::kDenied:
      FUZZ_CHECK(!decision.rule.has_value());
      FUZZ_CHECK(decision.addresses.empty());
      FUZZ_CHECK(decision.error.empty());
      break;
    case resolver::AnswerVerdict::kMalformed:
      FUZZ_CHECK(!decision.error.empty());
      FUZZ_CHECK(decision.addresses.empty());
      break;
    default:
      FUZZ_CHECK(!"unknown verdict");
  }
  // Policy matching and the admin API see names in lower case only.
  FUZZ_CHECK(std::none_of(decision.question.begin(), decision.question.end(),
                          [](char c) { return c >= 'A' && c <= 'Z'; }));
  for (const resolver::LearnedAddress& learned : decision.addresses) {
    FUZZ_CHECK(learned.ttl_s <= kMaxTtl);
    FUZZ_CHECK(learned.expiry_ns >= kNow);
    FUZZ_CHECK(learned.expiry_ns == resolver::expiryFor(kNow, learned.ttl_s, kSettings));
    FUZZ_CHECK(learned.ip.family == IpFamily::kV4 || learned.ip.family == IpFamily::kV6);
  }
}

// rebuildUdpPacket's output must read back as the same datagram carrying `dns`.
void checkRebuilt(const resolver::HeldPacket& held, std::span<const std::uint8_t> dns,
                  const std::vector<std::uint8_t>& rebuilt) {
  std::string error;
  auto reread =
      resolver::extractHeldPacket(rebuilt, 0, static_cast<std::uint32_t>(held.udp_offset), error);
  FUZZ_CHECK(reread.has_value());
  FUZZ_CHECK(reread->ip_packet == rebuilt);
  FUZZ_CHECK(reread->client == held.client);
  FUZZ_CHECK(std::equal(dns.begin(), dns.end(), reread->dns().begin(), reread->dns().end()));
  FUZZ_CHECK(resolver::completeUdpChecksum(*reread) == resolver::UdpChecksum::kValid);
  FUZZ_CHECK(read16(rebuilt, held.udp_offset + 6) != 0);  // always computed
  if ((rebuilt[0] >> 4) == 4) {
    const std::size_t header_length = static_cast<std::size_t>(rebuilt[0] & 0x0f) * 4;
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < header_length; i += 2) sum += read16(rebuilt, i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    FUZZ_CHECK(sum == 0xffff);  // the IPv4 header checksum verifies
  }
}

// What the daemon does with the DNS message of a held packet: decide, rewrite,
// rebuild the packet around the rewritten message.
void fuzzDns(std::span<const std::uint8_t> dns, const resolver::HeldPacket& held) {
  const auto message = resolver::DnsMessage::read(dns);
  resolver::AnswerDecision decision =
      resolver::decideAnswer(message, labMatcher(), kNow, kSettings);
  checkDecision(decision);

  const resolver::AnswerDecision before = decision;
  const resolver::RewrittenAnswer rewritten =
      resolver::rewriteAnswer(message, decision, kRewrite, staticEntries());
  // The rewriter reports what it removed and leaves the decision to the caller.
  FUZZ_CHECK(decision.addresses.size() == before.addresses.size());
  for (const IpAddress& removed : rewritten.removed_private) {
    FUZZ_CHECK(std::find(rewritten.removed.begin(), rewritten.removed.end(), removed) !=
               rewritten.removed.end());
  }
  resolver::forgetRemoved(decision, rewritten);
  const std::vector<std::uint8_t>& out = rewritten.dns;
  FUZZ_CHECK(rewritten.changed != std::equal(dns.begin(), dns.end(), out.begin(), out.end()));
  FUZZ_CHECK(decision.verdict == before.verdict);
  FUZZ_CHECK(decision.addresses.size() <= before.addresses.size());
  for (const IpAddress& removed : rewritten.removed_private) {
    FUZZ_CHECK(before.verdict == resolver::AnswerVerdict::kAllowed);
    FUZZ_CHECK(!allowedPrivate(removed));
  }
  for (const resolver::LearnedAddress& learned : decision.addresses) {
    FUZZ_CHECK(allowedPrivate(learned.ip));
  }
  if (before.verdict == resolver::AnswerVerdict::kMalformed) {
    FUZZ_CHECK(!rewritten.changed);
  } else if (rewritten.changed) {
    // The rewritten answer reads back as an answer to the same question, and what it
    // teaches is what the (updated) decision installs, TTLs capped.
    const resolver::AnswerDecision again =
        resolver::decideAnswer(out, labMatcher(), kNow, kSettings);
    FUZZ_CHECK(again.verdict == before.verdict);
    FUZZ_CHECK(again.question == before.question);
    FUZZ_CHECK(again.question_type == before.question_type);
    if (before.verdict == resolver::AnswerVerdict::kDenied) {
      FUZZ_CHECK((out[3] & 0x0f) == kRcodeNxdomain);
      FUZZ_CHECK(read16(out, 6) == 0 && read16(out, 8) == 0);  // no answers, no authority
    }
    FUZZ_CHECK(again.addresses.size() == decision.addresses.size());
    for (std::size_t i = 0; i < again.addresses.size(); ++i) {
      FUZZ_CHECK(again.addresses[i].ip == decision.addresses[i].ip);
      // Capped, or left as it came where a compression pointer leads into a TTL.
      FUZZ_CHECK(again.addresses[i].ttl_s ==
                     std::min(decision.addresses[i].ttl_s, kMaxTtlSetting) ||
                 again.addresses[i].ttl_s == decision.addresses[i].ttl_s);
      FUZZ_CHECK(again.addresses[i].expiry_ns == decision.addresses[i].expiry_ns);
    }
  }

  std::vector<std::uint8_t> rebuilt;
  try {
    rebuilt = resolver::rebuildUdpPacket(held, out);
  } catch (const std::length_error&) {
    FUZZ_CHECK(held.dns_offset + out.size() > 0xffff);
    return;
  }
  checkRebuilt(held, out, rebuilt);
}

// A bare DNS message: in a UDP packet from the lab's resolver to a client, IPv4 or
// IPv6 by the parity of its length, as extractHeldPacket would have returned it.
void fuzzBareDns(std::span<const std::uint8_t> dns) {
  const bool ipv6 = dns.size() % 2;
  const std::size_t ip_header = ipv6 ? kIpv6Header : kIpv4Header;
  const std::size_t udp_length = kUdpHeader + dns.size();
  if (ip_header + udp_length > 0xffff) return;
  resolver::HeldPacket held;
  auto& packet = held.ip_packet;
  packet.assign(ip_header + udp_length, 0);
  const auto put16 = [&packet](std::size_t at, std::size_t value) {
    packet[at] = static_cast<std::uint8_t>(value >> 8);
    packet[at + 1] = static_cast<std::uint8_t>(value & 0xff);
  };
  if (ipv6) {
    static constexpr std::uint8_t kServer[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0,
                                                 0,    0,    0,    0,    0, 0, 0, 0x53};
    static constexpr std::uint8_t kClient[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0,
                                                 0,    0,    0,    0,    0, 0, 0, 0x02};
    packet[0] = 0x60;
    put16(4, udp_length);
    packet[6] = 17;  // UDP
    packet[7] = 64;
    std::copy(std::begin(kServer), std::end(kServer), packet.begin() + 8);
    std::copy(std::begin(kClient), std::end(kClient), packet.begin() + 24);
    held.client = IpAddress::fromV6(kClient);
    held.server = IpAddress::fromV6(kServer);
  } else {
    static constexpr std::uint8_t kServer[4] = {198, 51, 100, 53};
    static constexpr std::uint8_t kClient[4] = {198, 51, 100, 2};
    packet[0] = 0x45;
    put16(2, packet.size());
    packet[8] = 64;
    packet[9] = 17;  // UDP
    std::copy(std::begin(kServer), std::end(kServer), packet.begin() + 12);
    std::copy(std::begin(kClient), std::end(kClient), packet.begin() + 16);
    held.client = IpAddress::fromV4(kClient);
    held.server = IpAddress::fromV4(kServer);
  }
  put16(ip_header, 53);
  put16(ip_header + 2, 40000);
  put16(ip_header + 4, udp_length);
  std::copy(dns.begin(), dns.end(),
            packet.begin() + static_cast<std::ptrdiff_t>(ip_header + kUdpHeader));
  held.udp_offset = ip_header;
  held.dns_offset = ip_header + kUdpHeader;
  held.dns_length = dns.size();
  fuzzDns(held.dns(), held);
}

// The frame as the datapath would hand it over with IP at l3 and UDP at l4.
void fuzzFrame(std::span<const std::uint8_t> frame, std::uint32_t l3, std::uint32_t l4) {
  std::string error;
  std::optional<resolver::HeldPacket> held = resolver::extractHeldPacket(frame, l3, l4, error);
  if (!held) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  const std::vector<std::uint8_t>& packet = held->ip_packet;
  FUZZ_CHECK(packet.size() <= frame.size() - l3);
  FUZZ_CHECK(std::equal(packet.begin(), packet.end(), frame.begin() + l3));
  FUZZ_CHECK(held->udp_offset == l4 - l3);
  FUZZ_CHECK(held->dns_offset == held->udp_offset + kUdpHeader);
  FUZZ_CHECK(held->dns_offset + held->dns_length <= packet.size());
  const unsigned version = packet[0] >> 4;
  FUZZ_CHECK((version == 4 && held->client.family == IpFamily::kV4) ||
             (version == 6 && held->client.family == IpFamily::kV6));

  const std::vector<std::uint8_t> before = packet;
  const resolver::UdpChecksum checksum = resolver::completeUdpChecksum(*held);
  FUZZ_CHECK(packet.size() == before.size());
  if (checksum == resolver::UdpChecksum::kCompleted) {
    // Only the UDP checksum field changed, and the packet now verifies.
    for (std::size_t i = 0; i < packet.size(); ++i) {
      if (i == held->udp_offset + 6 || i == held->udp_offset + 7) continue;
      FUZZ_CHECK(packet[i] == before[i]);
    }
    FUZZ_CHECK(resolver::completeUdpChecksum(*held) == resolver::UdpChecksum::kValid);
  } else {
    FUZZ_CHECK(packet == before);
  }

  fuzzDns(held->dns(), *held);
}

}  // namespace

// The same bytes as a held TCP segment from a resolver: reassembled as the first
// segment of a stream, then again split in two at a point the input chooses, and in
// the wrong order. Whatever the split, the same messages come out.
void fuzzTcpSegment(std::span<const std::uint8_t> frame, std::uint32_t l3, std::uint32_t l4) {
  std::string error;
  auto segment = resolver::extractHeldSegment(frame, l3, l4, error);
  if (!segment) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  resolver::completeTcpChecksum(*segment);
  resolver::TcpAnswerStreams whole;
  const auto expected = whole.accept(*segment, kNow).messages;
  for (const auto& message : expected) {
    resolver::decideAnswer(message.dns, labMatcher(), kNow, kSettings);
  }

  const std::size_t cut = segment->payload_length == 0 ? 0 : frame[0] % segment->payload_length;
  resolver::HeldSegment first = *segment;
  first.payload_length = cut;
  resolver::HeldSegment second = *segment;
  second.payload_offset += cut;
  second.payload_length -= cut;
  second.sequence += static_cast<std::uint32_t>(cut);
  resolver::TcpAnswerStreams split;
  // The later half first (buffered as out of order), after a zero-length opener that
  // fixes where the stream starts.
  resolver::HeldSegment opener = *segment;
  opener.payload_length = 0;
  opener.flags = 0;
  first.flags = 0;
  split.accept(opener, kNow);
  auto got = split.accept(second, kNow).messages;
  FUZZ_CHECK(cut == 0 || got.empty());
  const auto rest = split.accept(first, kNow).messages;
  got.insert(got.end(), rest.begin(), rest.end());
  if (!(segment->flags & 0x05)) {  // FIN or RST ends the stream early in `whole`
    FUZZ_CHECK(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size() && i < expected.size(); ++i) {
      FUZZ_CHECK(got[i].dns == expected[i].dns);
    }
  }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);

  // Ethernet + IPv4 without options, Ethernet + IPv6 without extension headers.
  fuzzFrame(input, kEthernetHeader, kEthernetHeader + kIpv4Header);
  fuzzFrame(input, kEthernetHeader, kEthernetHeader + kIpv6Header);
  // IPv4 with options: UDP where the header length field says.
  if (size > kEthernetHeader && (data[kEthernetHeader] >> 4) == 4) {
    const std::uint32_t header_length = (data[kEthernetHeader] & 0x0fu) * 4;
    if (header_length != kIpv4Header) {
      fuzzFrame(input, kEthernetHeader, kEthernetHeader + header_length);
    }
  }

  fuzzTcpSegment(input, kEthernetHeader, kEthernetHeader + kIpv4Header);
  fuzzTcpSegment(input, kEthernetHeader, kEthernetHeader + kIpv6Header);

  fuzzBareDns(input);
  return 0;
}
