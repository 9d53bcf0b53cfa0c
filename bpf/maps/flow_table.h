// The datapath's connection state as the daemon tends it: flows idle past the timeout
// and DNS-over-TCP connections long silent are swept, everything a workload that went
// away left behind is forgotten, so a pod that inherits its address inherits none of
// it, and flows whose server name was checked are settled. The programs write these
// tables; this is the one place in userspace that writes to them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "bpf/datapath.h"

namespace skouter::maps {

class FlowTable {
 public:
  explicit FlowTable(const Datapath& datapath);

  struct Sweep {
    std::size_t flows_removed = 0;  // from both tables
    std::size_t flows_remaining = 0;
    std::size_t inbound_flows_remaining = 0;
    std::size_t dns_queries_remaining = 0;  // UDP queries and TCP connections
    std::size_t dns_connections_removed = 0;
  };
  // Removes the flows (both tables) idle longer than `flow_idle_ns` and the records of
  // TCP connections to a resolver silent longer than `dns_connection_idle_ns`, at
  // `now_ns` (datapath clock). The programs refresh flows meanwhile: one refreshed
  // after `now_ns` was read is not idle.
  Sweep sweep(std::uint64_t now_ns, std::uint64_t flow_idle_ns,
              std::uint64_t dns_connection_idle_ns);

  // The query `key` while it is recorded, for an answer to be matched against.
  std::optional<skouter_dns_query_value> query(const skouter_dns_query_key& key) const {
    return dns_queries_.lookup(key);
  }
  // Forgets the query `key` once an answer to it is installed; false when it was gone
  // already (answered, or pushed out of the table).
  bool forgetQuery(const skouter_dns_query_key& key) { return dns_queries_.erase(key); }

  // Settles a flow whose server name the daemon checked (SKOUTER_FLOW_SERVER_NAME_PENDING)
  // as `origin`: OUTBOUND, AUDITED or SERVER_NAME_DENIED. False when the flow is gone
  // (swept, evicted) and the table is full; a flow that is gone is made anew, so that
  // the held data released next is carried.
  bool settle(const skouter_flow_key& key, skouter_flow_origin origin, std::uint64_t now_ns);

  // Forgets the flows and outstanding DNS queries of `identity`; returns how many.
  std::size_t forget(std::uint32_t identity);

 private:
  FlowMap flows_;
  FlowMap inbound_flows_;
  DnsQueryMap dns_queries_;
};

}  // namespace skouter::maps
