// The verdict on a query of a workload whose queries are policed, and the answer a
// denied one gets (daemon/query_gate.h sends it). Pure functions of their inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "daemon/flow_verdict.h"
#include "policy/compiled_policy.h"

namespace skouter::daemon {

// Why a query was judged as it was, named alike in events, /v1/audit and metrics.
enum class QueryReason {
  kAllowedName,     // a rule allows the name
  kQueryableName,   // the name is at or below a queryable suffix (the cluster's)
  kNotPoliced,      // the workload's queries are not policed (any more, or no policy)
  kNameNotAllowed,  // no rule allows the name
  // A public DNS-over-HTTPS resolver only a wildcard or regex allows
  // (--encrypted-dns-names): only an exact name does.
  kEncryptedDnsResolver,
  kUnreadable,  // no question the daemon can read (or not one standard query)
};
const char* toString(QueryReason reason);

struct QueryJudgement {
  FlowVerdict verdict = FlowVerdict::kDenied;
  QueryReason reason = QueryReason::kUnreadable;
  std::optional<policy::RuleId> rule;  // the rule allowing the name
};

// The verdict on a query for `name` (as resolver/dns_question.h writes names) of a
// workload with `policy` (null: none known yet, which denies nothing).
QueryJudgement judgeQuery(const policy::CompiledPolicy* policy, std::string_view name);

// The answer to the DNS `query` that a denied query gets: its id, question and
// recursion-desired flag, no records, and the rcode of `response` (NXDOMAIN for
// kPassthrough, which has no real answer to pass). nullopt when `query` is not a
// standard query with one question.
std::optional<std::vector<std::uint8_t>> refusalOf(std::span<const std::uint8_t> query,
                                                   policy::DenyResponse response);

}  // namespace skouter::daemon
