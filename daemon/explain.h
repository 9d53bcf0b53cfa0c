// Why a flow would pass or be dropped right now: the same questions the datapath asks
// of a new flow, asked of the daemon's view of its maps, with the answer put in words
// (GET /v1/explain, `skouterctl explain`). A pure function of that snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/maps/allowed_ip_entry.h"
#include "common/ip_address.h"
#include "daemon/expired_addresses.h"
#include "daemon/flow_verdict.h"
#include "daemon/server_name_verdict.h"
#include "policy/compiled_policy.h"
#include "resolver/resolver_address.h"

namespace skouter::daemon {

struct FlowQuery {
  IpAddress destination;
  std::uint8_t protocol = 6;  // IANA number
  std::uint16_t port = 0;     // 0 for protocols without ports
  // The server name the flow's TLS ClientHello or QUIC Initial would name; nullopt:
  // not given (the explanation then says whether one is checked, not what of it).
  std::optional<std::string> server_name;
};

// "tcp", "udp", "sctp", "icmp" (ICMPv6 for an IPv6 destination); nullopt otherwise.
std::optional<std::uint8_t> protocolNumber(std::string_view name, IpFamily family);

// What the datapath holds for one identity, as the daemon last read it.
struct PolicySnapshot {
  const policy::CompiledPolicy* policy = nullptr;  // nullptr: nothing polices the identity
  std::vector<resolver::ResolverAddress> trusted_resolvers;
  std::optional<maps::AllowedIpEntry> learned;      // the destination's learned entry
  std::vector<policy::StaticEntry> static_entries;  // installed for the identity
  std::vector<std::string> observed_names;          // names answers gave the destination
  // Set when the destination was learned for the identity and its expiry passed
  // (ExpiredAddresses::lateConnection): a new flow to it now is a late connection.
  std::optional<LateConnection> late;
  // How the learned entry's rule checks server names; nullopt when it does not.
  std::optional<policy::ServerNameCheck> server_name_check;
  std::uint64_t now_ns = 0;
};

struct Explanation {
  FlowVerdict verdict = FlowVerdict::kDenied;
  std::string reason;  // one or more sentences for the operator
  std::optional<policy::RuleId> rule;
  std::vector<std::string> names;  // the names behind the destination, if any
  std::optional<double> expires_in_s;
  // A new flow now would be a late connection (denied or audited).
  std::optional<LateConnection> late;
  // The flow's server name is checked on this port (spec.tls, --verify-sni); with
  // FlowQuery::server_name, the verdict above includes that check.
  bool server_name_checked = false;
};

Explanation explainFlow(const FlowQuery& flow, const PolicySnapshot& snapshot);

}  // namespace skouter::daemon
