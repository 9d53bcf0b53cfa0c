#include "daemon/query_verdict.h"

#include "resolver/dns_question.h"

namespace skouter::daemon {

namespace {

constexpr std::size_t kDnsHeader = 12;
constexpr std::uint8_t kFlagResponse = 0x80;
constexpr std::uint8_t kOpcodeMask = 0x78;
constexpr std::uint8_t kFlagRecursionDesired = 0x01;
constexpr std::uint8_t kFlagRecursionAvailable = 0x80;
constexpr std::uint8_t kRcodeNxdomain = 3;
constexpr std::uint8_t kRcodeRefused = 5;

// `name` and `suffix` as resolver/dns_question.h writes names: a dot inside a label is
// escaped (data\.cluster.local is two labels, the first "data.cluster", and lies
// below local, not below cluster.local).
bool atOrBelow(std::string_view name, std::string_view suffix) {
  if (name == suffix) return true;
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return false;
  const std::size_t dot = name.size() - suffix.size() - 1;
  if (name[dot] != '.') return false;
  // An odd number of backslashes before the dot escapes it.
  std::size_t backslashes = 0;
  while (backslashes < dot && name[dot - 1 - backslashes] == '\\') ++backslashes;
  return backslashes % 2 == 0;
}

}  // namespace

const char* toString(QueryReason reason) {
  switch (reason) {
    case QueryReason::kAllowedName:
      return "allowed_name";
    case QueryReason::kQueryableName:
      return "queryable_name";
    case QueryReason::kNotPoliced:
      return "not_policed";
    case QueryReason::kNameNotAllowed:
      return "name_not_allowed";
    case QueryReason::kEncryptedDnsResolver:
      return "encrypted_dns_resolver";
    case QueryReason::kUnreadable:
      return "unreadable";
  }
  return "unknown";
}

QueryJudgement judgeQuery(const policy::CompiledPolicy* policy, std::string_view name) {
  if (!policy || !policy->queryable_suffixes) {
    return {.verdict = FlowVerdict::kAllowed, .reason = QueryReason::kNotPoliced};
  }
  if (const auto rule = policy->names.match(name)) {
    return {.verdict = FlowVerdict::kAllowed, .reason = QueryReason::kAllowedName, .rule = rule};
  }
  for (const std::string& suffix : *policy->queryable_suffixes) {
    if (atOrBelow(name, suffix)) {
      return {.verdict = FlowVerdict::kAllowed, .reason = QueryReason::kQueryableName};
    }
  }
  return {.verdict = FlowVerdict::kDenied,
          .reason = policy->names.withholds(name) ? QueryReason::kEncryptedDnsResolver
                                                  : QueryReason::kNameNotAllowed};
}

std::optional<std::vector<std::uint8_t>> refusalOf(std::span<const std::uint8_t> query,
                                                   policy::DenyResponse response) {
  if (query.size() < kDnsHeader || (query[2] & (kFlagResponse | kOpcodeMask)) != 0 ||
      query[4] != 0 || query[5] != 1) {
    return std::nullopt;
  }
  const auto question = resolver::questionBytes(query.subspan(kDnsHeader));
  if (!question) return std::nullopt;
  std::vector<std::uint8_t> answer(kDnsHeader);
  answer[0] = query[0];
  answer[1] = query[1];
  answer[2] = kFlagResponse | (query[2] & kFlagRecursionDesired);
  answer[3] = kFlagRecursionAvailable |
              (response == policy::DenyResponse::kRefused ? kRcodeRefused : kRcodeNxdomain);
  answer[5] = 1;  // one question, no records
  answer.insert(answer.end(), question->begin(), question->end());
  return answer;
}

}  // namespace skouter::daemon
