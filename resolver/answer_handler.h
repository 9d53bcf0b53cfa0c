// The decision on one DNS answer held by the datapath: a pure function of the message,
// the policy, the clock and the TTL settings. No I/O, so it is unit-tested on real
// captured answers and fuzzed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/ip_address.h"
#include "policy/compiled_policy.h"
#include "resolver/dns_message.h"

namespace skouter::resolver {

struct TtlSettings {
  std::uint32_t min_ttl_s = 0;  // --min-ttl: a shorter TTL is raised to this
  std::uint32_t grace_s = 5;    // --ttl-grace: added to every expiry
  // --max-ttl: a longer TTL is lowered to this (the answer's TTLs are capped alike by
  // the rewriter, so the client forgets the address no later than the datapath does).
  std::optional<std::uint32_t> max_ttl_s = std::nullopt;
};

// Nanoseconds of CLOCK_BOOTTIME (the datapath clock, common/datapath_clock.h) at which an address
// learned from a record with `ttl_s` stops opening new connections:
// now + (max(min(ttl, max_ttl), min_ttl) + grace) seconds. With a grace, the expiry is
// rounded down to a whole second of that clock, which takes less than a second from
// the grace and never shortens the TTL.
std::uint64_t expiryFor(std::uint64_t now_ns, std::uint32_t ttl_s, const TtlSettings& settings);

struct LearnedAddress {
  IpAddress ip;
  std::uint32_t ttl_s = 0;  // as received (0 for a TTL with the high bit set)
  std::uint64_t expiry_ns = 0;
  // Seconds from the answer to expiry_ns (the TTL after --min-ttl, --max-ttl, the rule's
  // minTTL and --ttl-grace): how long a client may hold the address after its lookup.
  std::uint32_t open_for_s = 0;
};

enum class AnswerVerdict {
  kAllowed,    // the question is allowed: install `addresses`, then deliver
  kDenied,     // not allowed: deliver unchanged, install nothing
  kMalformed,  // not a DNS answer we can read: deliver unchanged, install nothing
};

const char* toString(AnswerVerdict verdict);

struct AnswerDecision {
  AnswerVerdict verdict = AnswerVerdict::kMalformed;
  std::string question;  // lower case, without the trailing dot
  std::uint16_t question_type = 0;
  std::optional<policy::RuleId> rule;
  // A and AAAA records of the question's name and of every name its CNAME chain in
  // the same answer leads to. Empty unless the verdict is kAllowed.
  std::vector<LearnedAddress> addresses;
  // kDenied: the addresses the same records gave the denied name. Never installed;
  // they let audit mode name the destination of a flow it reports.
  std::vector<IpAddress> denied_addresses;
  std::string error;  // why the answer is kMalformed
};

// The minTTL of each rule that sets one (CompiledPolicy::rule_min_ttls): the floor of
// the addresses a name of that rule learns is the larger of it and --min-ttl.
using RuleMinTtls = std::map<policy::RuleId, std::uint32_t>;

// The decision on `message` (the UDP payload, or a message reassembled from TCP, as
// DnsMessage::read made it): an unreadable message, a query, another opcode or other
// than one question is kMalformed.
AnswerDecision decideAnswer(const DnsMessage& message, const policy::NameMatcher& names,
                            std::uint64_t now_ns, const TtlSettings& settings,
                            const RuleMinTtls& rule_min_ttls = {});
// The same, for a message read for this decision alone.
AnswerDecision decideAnswer(std::span<const std::uint8_t> dns, const policy::NameMatcher& names,
                            std::uint64_t now_ns, const TtlSettings& settings,
                            const RuleMinTtls& rule_min_ttls = {});

}  // namespace skouter::resolver
