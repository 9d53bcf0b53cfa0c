#include "daemon/explain.h"

#include <algorithm>

#include "common/datapath_clock.h"

namespace skouter::daemon {
namespace {

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;
constexpr std::uint8_t kSctp = 132;
constexpr std::uint8_t kIcmp = 1;
constexpr std::uint8_t kIcmpV6 = 58;

std::string describeFlow(const FlowQuery& flow) {
  const std::string protocol = ipProtocolName(flow.protocol);
  if (flow.protocol != kTcp && flow.protocol != kUdp && flow.protocol != kSctp) return protocol;
  return std::to_string(flow.port) + "/" + protocol;
}

bool portsAllow(const policy::PortSet& ports, const FlowQuery& flow) {
  if (ports.empty()) return true;
  if (flow.protocol != kTcp && flow.protocol != kUdp && flow.protocol != kSctp) return false;
  return policy::portSetAllows(ports, static_cast<policy::PortProtocol>(flow.protocol), flow.port);
}

std::string ruleName(const policy::CompiledPolicy& policy, policy::RuleId rule) {
  const auto found = policy.rule_descriptions.find(rule);
  if (found != policy.rule_descriptions.end()) return found->second;
  return "a rule of an earlier policy";
}

std::string joined(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : separator) + item;
  return text;
}

// The most specific installed prefix holding the destination: the one the datapath's
// longest-prefix match finds.
const policy::StaticEntry* longestMatch(const std::vector<policy::StaticEntry>& entries,
                                        const IpAddress& destination) {
  const policy::StaticEntry* best = nullptr;
  for (const auto& entry : entries) {
    if (!entry.prefix.contains(destination)) continue;
    if (!best || entry.prefix.length > best->prefix.length) best = &entry;
  }
  return best;
}

// A new TLS or QUIC flow to a learned address whose rule checks server names passes
// only if its ClientHello names an allowed server (daemon/server_name_verdict.h).
void explainServerName(const FlowQuery& flow, const PolicySnapshot& snapshot,
                       const maps::AllowedIpEntry& learned, Explanation& result) {
  const auto& check = snapshot.server_name_check;
  if (!check || (flow.protocol != kTcp && flow.protocol != kUdp) ||
      !policy::portSetAllows(check->ports, static_cast<policy::PortProtocol>(flow.protocol),
                             flow.port)) {
    return;
  }
  result.server_name_checked = true;
  if (!flow.server_name) {
    result.reason += "; a new " + std::string(flow.protocol == kTcp ? "TLS" : "QUIC") +
                     " flow also has its server name checked: it must name " +
                     (check->match == policy::ServerNameMatch::kLearnedForAddress
                          ? "one of " + joined(learned.names)
                          : std::string("a name the policy allows"));
    return;
  }
  HelloReading reading;
  reading.server_name = *flow.server_name;
  const auto judgement = judgeServerName(reading, *check, snapshot.policy->names, learned.names,
                                         snapshot.policy->audit());
  result.verdict = judgement.verdict;
  result.reason += "; server name check: " + judgement.explanation;
}

}  // namespace

std::optional<std::uint8_t> protocolNumber(std::string_view name, IpFamily family) {
  if (name == "tcp" || name == "TCP") return kTcp;
  if (name == "udp" || name == "UDP") return kUdp;
  if (name == "sctp" || name == "SCTP") return kSctp;
  if (name == "icmp" || name == "ICMP") return family == IpFamily::kV4 ? kIcmp : kIcmpV6;
  return std::nullopt;
}

Explanation explainFlow(const FlowQuery& flow, const PolicySnapshot& snapshot) {
  Explanation result;
  const std::string destination = flow.destination.toString();
  if (!snapshot.policy || !snapshot.policy->polices) {
    result.verdict = FlowVerdict::kAllowed;
    result.reason = "no Egress selects this workload, so its traffic is not policed";
    return result;
  }
  const auto& policy = *snapshot.policy;
  if (flow.protocol == kTcp || flow.protocol == kUdp) {
    for (const auto& resolver : snapshot.trusted_resolvers) {
      if (resolver.ip == flow.destination && resolver.port == flow.port) {
        result.verdict = FlowVerdict::kAllowed;
        result.reason = destination + " port " + std::to_string(flow.port) +
                        " is a trusted resolver; DNS to it always passes";
        return result;
      }
    }
  }

  // Why each way in failed, in the order the datapath tries them.
  std::vector<std::string> misses;
  const auto& learned = snapshot.learned;
  const bool expired = learned && learned->expiry_ns != 0 && learned->expiry_ns <= snapshot.now_ns;
  if (snapshot.late && (!learned || expired)) {
    // A client that kept the address past its expiry (the JVM and .NET cache answers).
    result.late = snapshot.late;
    misses.push_back(destination + " was " + describeLateConnection(*result.late, destination) +
                     " (" + ruleName(policy, result.late->rule) +
                     "): a late connection; the client must look the name up again, or a "
                     "minTTL on the rule keeps such addresses open longer");
  } else if (learned) {
    const std::string names = learned->names.empty() ? destination : joined(learned->names);
    if (expired) {
      misses.push_back(destination + " was learned from the answer for " + names +
                       " but has expired; the client must look the name up again");
    } else if (portsAllow(learned->ports, flow)) {
      result.verdict = FlowVerdict::kAllowed;
      result.rule = learned->rule;
      result.names = learned->names;
      std::string expiry = "never expires";
      if (learned->expiry_ns != 0) {
        result.expires_in_s =
            static_cast<double>(learned->expiry_ns - snapshot.now_ns) / kNanosPerSecond;
        expiry = "expires in " + std::to_string(static_cast<long>(*result.expires_in_s)) + " s";
      }
      result.reason = destination + " was learned from the answer for " + names + ", allowed by " +
                      ruleName(policy, learned->rule) + "; it " + expiry;
      explainServerName(flow, snapshot, *learned, result);
      return result;
    } else {
      misses.push_back(destination + " was learned from the answer for " + names +
                       ", but those names open only " + policy::describePorts(learned->ports) +
                       ", not " + describeFlow(flow));
    }
  }
  if (const auto* entry = longestMatch(snapshot.static_entries, flow.destination)) {
    const std::string prefix = entry->prefix.toString();
    if (portsAllow(entry->ports, flow)) {
      result.verdict = FlowVerdict::kAllowed;
      result.late.reset();
      result.rule = entry->rule;
      result.reason = destination + " is in " + prefix + ", allowed by " +
                      ruleName(policy, entry->rule) + " (static, never expires)";
      return result;
    }
    misses.push_back(destination + " is in " + prefix + " (" + ruleName(policy, entry->rule) +
                     "), which opens only " + policy::describePorts(entry->ports) + ", not " +
                     describeFlow(flow));
  }

  result.names = snapshot.observed_names;
  if (misses.empty()) {
    if (!snapshot.observed_names.empty()) {
      misses.push_back("answers gave " + destination + " for " + joined(snapshot.observed_names) +
                       ", which no rule allows");
    } else {
      misses.push_back("no rule allows " + destination +
                       " and no answer seen named it; allow a name that resolves to it, or list "
                       "it under ips or cidrs");
    }
  }
  result.reason = joined(misses, "; ");
  if (policy.audit()) {
    result.verdict = FlowVerdict::kAudited;
    result.reason +=
        "; it passes anyway, because " +
        (policy.audit_everything ? std::string("skouterd runs with --audit")
                                 : "Egress " + joined(policy.audit_egresses) + " is in mode audit");
  } else {
    result.verdict = FlowVerdict::kDenied;
  }
  return result;
}

}  // namespace skouter::daemon
