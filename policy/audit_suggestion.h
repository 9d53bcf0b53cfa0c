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
};

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
// The same flows, in any order, give the same text.
std::string suggestEgress(const std::vector<ObservedFlow>& flows,
                          const SuggestionOptions& options = {});

}  // namespace skouter::policy
