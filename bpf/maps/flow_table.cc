#include "bpf/maps/flow_table.h"

#include <netinet/in.h>

#include <utility>

#include "common/datapath_clock.h"

namespace skouter::maps {

FlowTable::FlowTable(const Datapath& datapath)
    : flows_(datapath.flows()),
      inbound_flows_(datapath.inboundFlows()),
      dns_queries_(datapath.dnsQueries()) {}

bool FlowTable::settle(const skouter_flow_key& key, skouter_flow_origin origin,
                       std::uint64_t now_ns) {
  const skouter_flow_value value{.last_seen_ns = now_ns, .origin = origin, .pad = 0};
  return flows_.update(key, value) == 0;
}

FlowTable::Sweep FlowTable::sweep(std::uint64_t now_ns, std::uint64_t flow_idle_ns,
                                  std::uint64_t dns_connection_idle_ns) {
  Sweep sweep;
  for (auto [table, remaining] : {std::pair{&flows_, &sweep.flows_remaining},
                                  std::pair{&inbound_flows_, &sweep.inbound_flows_remaining}}) {
    table->forEach([&](const skouter_flow_key& key, const skouter_flow_value& value) {
      if (elapsedSince(value.last_seen_ns, now_ns) > flow_idle_ns && table->erase(key)) {
        ++sweep.flows_removed;
      } else {
        ++*remaining;
      }
    });
  }
  // UDP queries go when answered; a TCP connection is not answered once but lives until
  // it is silent. A query no answer matched (its resolver never answered, or only a
  // spoofer did) goes after the same silence, if the LRU table did not push it out.
  dns_queries_.forEach([&](const skouter_dns_query_key& key, const skouter_dns_query_value& value) {
    if (elapsedSince(value.sent_ns, now_ns) > dns_connection_idle_ns && dns_queries_.erase(key)) {
      if (key.protocol == IPPROTO_TCP && key.kind == 0) ++sweep.dns_connections_removed;
    } else {
      ++sweep.dns_queries_remaining;
    }
  });
  return sweep;
}

std::size_t FlowTable::forget(std::uint32_t identity) {
  std::size_t forgotten = 0;
  for (FlowMap* table : {&flows_, &inbound_flows_}) {
    table->forEach([&](const skouter_flow_key& key, const skouter_flow_value&) {
      if (key.identity == identity && table->erase(key)) ++forgotten;
    });
  }
  dns_queries_.forEach([&](const skouter_dns_query_key& key, const skouter_dns_query_value& value) {
    if (value.identity == identity && dns_queries_.erase(key)) ++forgotten;
  });
  return forgotten;
}

}  // namespace skouter::maps
