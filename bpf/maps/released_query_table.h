// The held queries of pods that the daemon allowed, in released_queries, while it
// receives them again on the pod's interface (bpf/lib/query.h). Sole writer of
// released_queries; the programs delete each entry they use, and the map, an LRU,
// forgets those never used (a query the kernel did not take back).
#pragma once

#include <cstdint>
#include <span>

#include "bpf/datapath.h"
#include "common/ip_address.h"

namespace skouter::maps {

// The key of a UDP query in dns_queries (and released_queries): `client_port` and
// `dns_id` as on the wire, in network byte order.
skouter_dns_query_key udpQueryKey(const IpAddress& client, std::uint16_t client_port,
                                  std::uint16_t dns_id);

class ReleasedQueryTable {
 public:
  explicit ReleasedQueryTable(ReleasedQueryMap map) : map_(map) {}

  // Lets the query of `key` with `question` (the bytes after its header, as the
  // program recorded them) pass the pod's program once. False when the map write failed.
  bool release(const skouter_dns_query_key& key, std::span<const std::uint8_t> question,
               std::uint64_t now_ns);

 private:
  ReleasedQueryMap map_;
};

}  // namespace skouter::maps
