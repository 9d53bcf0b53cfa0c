// The Egress resource (egress.skouter/v1alpha1) as written by operators, after
// validation. Field names follow the YAML.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip_address.h"

namespace skouter::policy {

// A Kubernetes label selector requirement (matchExpressions item).
struct LabelRequirement {
  enum class Operator { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Operator op = Operator::kExists;
  std::vector<std::string> values;  // In / NotIn only
};

struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelRequirement> match_expressions;
  // Every matchLabels pair and every expression must hold; an empty selector ({})
  // selects everything.
  bool matches(const std::map<std::string, std::string>& labels) const;
};

// What a client asking for a denied name receives (spec.denyResponse, --deny-response).
enum class DenyResponse {
  kPassthrough,  // the real answer; the datapath still drops connections to it
  kNxdomain,     // "no such name"
  kRefused,      // "the server refuses to answer"
};

// "passthrough", "nxdomain", "refused"; nullopt for anything else.
std::optional<DenyResponse> parseDenyResponse(std::string_view text);
const char* toString(DenyResponse response);

// IANA protocol numbers, as the datapath sees them.
enum class PortProtocol : std::uint8_t { kTcp = 6, kUdp = 17, kSctp = 132 };

// "TCP", "UDP", "SCTP" (as Kubernetes writes them).
const char* toString(PortProtocol protocol);

// Destination ports first..last (inclusive) of one protocol. Port 0 never occurs: an
// entry without `port` covers 1..65535.
struct PortRange {
  PortProtocol protocol = PortProtocol::kTcp;
  std::uint16_t first = 1;
  std::uint16_t last = 65535;
  auto operator<=>(const PortRange&) const = default;
};

// The destination ports a rule allows. Empty: every port of every protocol (a rule
// without `ports`).
using PortSet = std::vector<PortRange>;

// The most ranges one destination can carry in the datapath (SKOUTER_MAX_PORT_RANGES),
// and so the most `ports` entries one rule may list.
inline constexpr std::size_t kMaxPortRanges = 32;

// Sorted, with overlapping and adjacent ranges of one protocol merged.
PortSet normalizePorts(PortSet ports);
// The ports either allows; every port when either does.
PortSet unitePorts(const PortSet& a, const PortSet& b);
bool portSetAllows(const PortSet& ports, PortProtocol protocol, std::uint16_t port);
// `ports`, normalized, with the narrowest gaps between ranges of one protocol closed
// until at most `max_ranges` (at least 3, one per protocol) remain: every port of
// `ports` stays open and as few others as possible are added. A union of rules can
// exceed what one datapath entry holds; widening it beats refusing it.
PortSet widenToFit(PortSet ports, std::size_t max_ranges = kMaxPortRanges);
// "443/TCP, 8000-8080/TCP", or "any port" for the empty set.
std::string describePorts(const PortSet& ports);

// What a new TLS or QUIC flow must name (its ClientHello's server_name) to an address a
// rule learned, besides going to that address (spec.tls, --verify-sni).
enum class ServerNameMatch {
  // A name that resolved to the flow's address for the workload, which its policy
  // still allows: an address shared by many sites opens only the allowed ones.
  kLearnedForAddress,
  // Any name the workload's policy allows (for clients that resolve through another
  // path, or pin addresses).
  kAllowedByPolicy,
};
// "learnedForAddress", "allowedByPolicy"; nullopt for anything else.
std::optional<ServerNameMatch> parseServerNameMatch(std::string_view text);
const char* toString(ServerNameMatch match);

struct ServerNameCheck {
  // The destination ports checked: TLS over TCP, QUIC over UDP.
  PortSet ports;
  ServerNameMatch match = ServerNameMatch::kLearnedForAddress;
  auto operator<=>(const ServerNameCheck&) const = default;
};
// 443 of TCP and of UDP: HTTPS and HTTP/3.
PortSet defaultServerNamePorts();

// spec.queries: whether the workloads may query names the rules do not allow.
enum class QueryMode {
  kAllow,  // any name may be queried; only the answers are judged
  // A query for a name no rule allows never leaves the node: it is answered there,
  // as spec.denyResponse says (nxdomain when that is passthrough).
  kDeny,
};
// "allow", "deny"; nullopt for anything else.
std::optional<QueryMode> parseQueryMode(std::string_view text);

// `text` as the policy compares domain names: lower case, no trailing dot; nullopt
// when it is no valid domain name (dot-separated labels of 1 to 63 characters from
// a-z, 0-9, '-' and '_', at most 253 in all).
std::optional<std::string> canonicalDomain(std::string_view text);
const char* toString(QueryMode mode);

struct EgressRule {
  // Lower case, no trailing dot. "*.example.com" stands for every name below
  // example.com (one or more labels, never the apex); "*" for every name.
  std::vector<std::string> domains;
  std::vector<std::string> regexes;  // `regex` and its alias `fqdn`, as written
  std::vector<IpPrefix> ips;         // full-length prefixes
  std::vector<IpPrefix> cidrs;       // normalized: host bits cleared
  PortSet ports;                     // normalized; empty: every port
  // minTTL: the addresses this rule's names resolve to stay open at least this many
  // seconds after each answer, over --min-ttl (for clients that cache past the TTL).
  std::optional<std::uint32_t> min_ttl_s;
};

// The longest minTTL a rule may set: a week, as long as any resolver keeps a record.
inline constexpr std::uint32_t kMaxRuleMinTtl = 604800;

enum class EgressMode {
  kEnforce,  // what no rule allows is dropped
  kAudit,    // nothing is dropped; what would have been is recorded
};

struct Egress {
  std::string name;
  std::string namespace_name;  // empty when metadata.namespace is absent
  std::string source;          // file the document came from
  int document = 0;            // 1-based index of the document in that file
  // Absent nodeSelector: the Egress selects no node (it is meant for pods).
  std::optional<LabelSelector> node_selector;
  // The pods of the Egress's own namespace that podSelector matches, and of every
  // namespace namespaceSelector matches (all pods there when podSelector is absent).
  // Both absent: the Egress selects no pod.
  std::optional<LabelSelector> pod_selector;
  std::optional<LabelSelector> namespace_selector;
  EgressMode mode = EgressMode::kEnforce;
  // Overrides --deny-response for the workloads this Egress selects.
  std::optional<DenyResponse> deny_response;
  // spec.tls with verifySNI: the server names of this Egress's rules are checked.
  std::optional<ServerNameCheck> server_names;
  // spec.queries; absent: --deny-queries decides.
  std::optional<QueryMode> queries;
  std::vector<EgressRule> rules;
};

// A policy that cannot be loaded. what() names the file, the document, the field and,
// where known, the line: "policy.yaml: document 2 (metadata.name=web), line 14:
// spec.rules[1].cidrs[0]: '10.0.0.0/33' is not a valid CIDR".
class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace skouter::policy
