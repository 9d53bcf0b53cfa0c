// What the daemon changes in a held DNS answer before it re-injects it: a denied
// question answered with NXDOMAIN or REFUSED instead of the real answer, private
// addresses dropped from an allowed answer (DNS rebinding), TTLs capped to --max-ttl.
// Pure functions of the answer's DnsMessage view, the decision and the settings, like
// answer_handler. (The UDP packet around a rewritten answer: ip_frame.h.)
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/ip_address.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"
#include "resolver/dns_message.h"

namespace skouter::resolver {

using policy::DenyResponse;
using policy::parseDenyResponse;
using policy::toString;

struct RewriteSettings {
  DenyResponse deny_response = DenyResponse::kPassthrough;
  // Every TTL of the answer, authority and additional sections is lowered to this
  // (the OPT pseudo-record's TTL field holds EDNS flags and is left alone). A TTL with
  // the high bit set, which RFC 2181 reads as zero, is written as zero.
  std::optional<std::uint32_t> max_ttl_s = std::nullopt;
  // Drop A/AAAA records of the answer section that point into private, loopback,
  // link-local, unique-local, unspecified or CGNAT ranges (isPrivateAnswerAddress),
  // unless a static entry of the policy allows the address.
  bool block_private_answers = false;
};

// 10/8, 172.16/12, 192.168/16, 127/8, 169.254/16, 100.64/10, 0/8, ::1, ::, fe80::/10,
// fc00::/7, and ::ffff:0:0/96 mapping any of those IPv4 ranges. The documentation
// ranges the lab uses (192.0.2/24, 198.51.100/24, 203.0.113/24, 198.18/15,
// 2001:db8::/32) are not private.
bool isPrivateAnswerAddress(const IpAddress& address);

struct RewrittenAnswer {
  // The DNS message to deliver: the input bytes, unchanged, when `changed` is false.
  std::vector<std::uint8_t> dns;
  bool changed = false;
  // The distinct private addresses removed from the answer section, in order.
  std::vector<IpAddress> removed_private;
  // Every distinct address removed from the answer section: the private ones, then
  // the unconfirmed ones. What is installed must leave them out (forgetRemoved).
  std::vector<IpAddress> removed;
};

// `message` is what `decision` was made on (decideAnswer). A kMalformed answer is
// never rewritten. A kDenied answer is replaced by an empty NXDOMAIN or REFUSED
// response (same id, question, opcode, RD, RA and CD; an OPT record with the
// original's UDP size, version and DO bit when the original had one) unless
// deny_response is kPassthrough. An allowed answer loses its private addresses when
// block_private_answers is set (an address allowed by a static entry is kept; so is
// an IPv4-mapped IPv6 address whose IPv4 address a static entry allows), and the
// records of `unconfirmed` (--verify-answers: addresses the resolver did not
// confirm). max_ttl_s applies to allowed and passed-through denied answers. The
// decision is left as it is: the result says what was removed, so installing and
// rewriting may happen in either order.
RewrittenAnswer rewriteAnswer(const DnsMessage& message, const AnswerDecision& decision,
                              const RewriteSettings& settings,
                              const std::vector<policy::StaticEntry>& static_entries,
                              const std::vector<IpAddress>& unconfirmed = {});

// Takes the addresses `rewritten` removed out of `decision`: what is installed is
// what the delivered answer holds.
void forgetRemoved(AnswerDecision& decision, const RewrittenAnswer& rewritten);

}  // namespace skouter::resolver
