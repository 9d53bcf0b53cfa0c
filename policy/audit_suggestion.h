// Turns what audit mode recorded into an Egress that would have allowed it
// (`skouterctl audit suggest`): a starting point for an operator to review, not a
// policy to apply blindly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/ip_address.h"

namespace skouter::policy {

// One row of the audit table: a flow that policy would have denied.
struct ObservedFlow {
  IpAddress destination;
  std::uint8_t protocol = 6;  // IANA number: 6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6, ...
  std::uint16_t port = 0;     // destination port; 0 for protocols without ports
  // Names that resolved to destination (lower case, no trailing dot); may be empty.
  std::vector<std::string> names;
  // Late connections among its sightings: new flows to the destination after the
  // address learned for its names had expired (a client that caches past the TTL).
  std::uint64_t late_count = 0;
  // The longest any of them came after that expiry, and the longest an answer had kept
  // the address open before it (0: not known), in seconds.
  std::uint64_t late_expired_ago_s = 0;
  std::uint64_t late_open_for_s = 0;
};

// The minTTL that would have kept the address of a late connection open: how long
// after the answer the client connected (`open_for_s` + `expired_ago_s`), rounded up
// to a multiple of 30 s (of 300 s beyond 10 minutes), at most a week.
std::uint32_t suggestedMinTtl(std::uint64_t open_for_s, std::uint64_t expired_ago_s);

struct SuggestionOptions {
  std::string name = "suggested";  // metadata.name
  // This many distinct names directly under one parent of two or more labels collapse
  // into "*.parent" (1 turns every such name into a wildcard).
  std::size_t wildcard_siblings = 3;
};

// An Egress (egress.skouter/v1alpha1, nodeSelector {}, mode enforce) allowing every
// flow, as YAML that parsePolicyDocuments accepts. A flow is allowed by its names
// when it has any the loader accepts, otherwise by its address. Each destination is
// restricted to the TCP/UDP/SCTP ports it was seen on, unless it was also seen with
// another protocol or without a port; destinations with the same ports share a rule.
// Names with late connections go in a rule of their own with the minTTL they need
// (suggestedMinTtl of their latest), and a comment giving the evidence.
// The same flows, in any order, give the same text.
std::string suggestEgress(const std::vector<ObservedFlow>& flows,
                          const SuggestionOptions& options = {});

}  // namespace skouter::policy
