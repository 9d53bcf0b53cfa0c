#include "resolver/answer_handler.h"

#include <algorithm>

#include "common/datapath_clock.h"
#include "resolver/dns_question.h"

namespace skouter::resolver {
namespace {

constexpr std::uint32_t kMaxTtl = 0x7fffffff;
constexpr unsigned kOpcodeQuery = 0;

// The names an answer vouches for (their offsets): the question's, then each CNAME
// target reachable from it. Records for other owners in the same answer are ignored.
std::vector<std::size_t> chainFrom(const DnsMessage& message) {
  std::vector<std::size_t> chain{message.question()->name};
  const auto inChain = [&](std::size_t name) {
    return std::ranges::any_of(chain,
                               [&](std::size_t link) { return message.sameName(link, name); });
  };
  // A chain can be listed in any order; each pass adds at least one link or stops.
  for (std::size_t pass = 0; pass < message.records().size(); ++pass) {
    bool grew = false;
    for (const DnsRecord& record : message.records()) {
      if (record.section != DnsSection::kAnswer || record.type != kDnsTypeCname ||
          record.rdata_names == 0 || !inChain(record.owner)) {
        continue;
      }
      const std::size_t target = message.rdataNamesOf(record).front();
      if (inChain(target)) continue;
      chain.push_back(target);
      grew = true;
    }
    if (!grew) break;
  }
  return chain;
}

const char* describe(DnsMessageFault fault) {
  switch (fault) {
    case DnsMessageFault::kTsigNotLast:
      return "a TSIG record that is not the message's last record";
    case DnsMessageFault::kRdataNotAtRdlength:
      return "a record's data does not end where its RDLENGTH says";
    case DnsMessageFault::kNone:
    case DnsMessageFault::kUnreadable:
      break;
  }
  return "unparseable DNS message";
}

// `settings` for addresses learned by `rule`: min_ttl_s raised to the rule's minTTL.
TtlSettings ttlSettingsForRule(const TtlSettings& settings, const RuleMinTtls& rule_min_ttls,
                               policy::RuleId rule) {
  TtlSettings for_rule = settings;
  if (const auto found = rule_min_ttls.find(rule); found != rule_min_ttls.end()) {
    for_rule.min_ttl_s = std::max(settings.min_ttl_s, found->second);
  }
  return for_rule;
}

}  // namespace

std::uint64_t expiryFor(std::uint64_t now_ns, std::uint32_t ttl_s, const TtlSettings& settings) {
  const std::uint32_t capped = settings.max_ttl_s ? std::min(ttl_s, *settings.max_ttl_s) : ttl_s;
  const std::uint64_t ttl_ns =
      static_cast<std::uint64_t>(std::max(capped, settings.min_ttl_s)) * kNanosPerSecond;
  const std::uint64_t exact = now_ns + ttl_ns + settings.grace_s * kNanosPerSecond;
  if (settings.grace_s == 0) return exact;
  // Whole seconds, the fraction taken out of the grace (the TTL itself is kept): the
  // answers a resolver serves from its cache count their TTL down a second at a time,
  // so they then carry the same expiry, and the table writes the map about once per
  // second per address instead of once per answer.
  return exact / kNanosPerSecond * kNanosPerSecond;
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

AnswerDecision decideAnswer(const DnsMessage& message, const policy::NameMatcher& names,
                            std::uint64_t now_ns, const TtlSettings& settings,
                            const RuleMinTtls& rule_min_ttls) {
  AnswerDecision decision;
  if (!message.valid()) {
    decision.error = describe(message.fault());
    return decision;
  }
  if (!message.isResponse()) {
    decision.error = "a query, not an answer";
    return decision;
  }
  if (message.opcode() != kOpcodeQuery) {
    // NOTIFY, UPDATE and the like carry no answer to a lookup.
    decision.error = "opcode " + std::to_string(message.opcode()) + ", not QUERY";
    return decision;
  }
  if (message.questionCount() != 1) {
    decision.error = "answer with " + std::to_string(message.questionCount()) +
                     " questions; exactly one is accepted";
    return decision;
  }
  const auto& question = *message.question();
  decision.question = canonicalName(message.name(question.name).wire()).value_or("");
  decision.question_type = question.type;
  decision.rule = names.match(decision.question);
  decision.verdict = decision.rule ? AnswerVerdict::kAllowed : AnswerVerdict::kDenied;
  const TtlSettings rule_settings =
      decision.rule ? ttlSettingsForRule(settings, rule_min_ttls, *decision.rule) : settings;

  const auto chain = chainFrom(message);
  for (const DnsRecord& record : message.records()) {
    if (record.section != DnsSection::kAnswer) continue;
    const auto ip = message.addressOf(record);
    if (!ip || std::ranges::none_of(
                   chain, [&](std::size_t name) { return message.sameName(name, record.owner); })) {
      continue;
    }
    if (!decision.rule) {
      decision.denied_addresses.push_back(*ip);
      continue;
    }
    // RFC 2181 section 8: a TTL with the most significant bit set is read as zero.
    const std::uint32_t ttl = read32(message.bytes(), record.ttl_offset);
    LearnedAddress learned{.ip = *ip, .ttl_s = ttl > kMaxTtl ? 0 : ttl};
    learned.expiry_ns = expiryFor(now_ns, learned.ttl_s, rule_settings);
    learned.open_for_s = static_cast<std::uint32_t>((learned.expiry_ns - now_ns) / kNanosPerSecond);
    decision.addresses.push_back(learned);
  }
  return decision;
}

AnswerDecision decideAnswer(std::span<const std::uint8_t> dns, const policy::NameMatcher& names,
                            std::uint64_t now_ns, const TtlSettings& settings,
                            const RuleMinTtls& rule_min_ttls) {
  return decideAnswer(DnsMessage::read(dns), names, now_ns, settings, rule_min_ttls);
}

}  // namespace skouter::resolver
