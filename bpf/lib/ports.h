/* The ports a port set opens (see port_sets). */
#ifndef SKOUTER_BPF_LIB_PORTS_H
#define SKOUTER_BPF_LIB_PORTS_H

#include "maps.h"
#include "parse.h"

/* Whether `port_set` (0: every port) opens the packet's destination port. A later
 * fragment has no ports: it passes when the protocol is open at all, since its first
 * fragment, which carries the ports, was judged in full. */
static __always_inline int port_allowed(__u32 port_set, const struct packet* pkt) {
  if (port_set == 0) return 1;
  const struct skouter_port_set* set = bpf_map_lookup_elem(&port_sets, &port_set);
  if (!set) return 0;
  __u16 port = bpf_ntohs(pkt->dport);
  for (__u32 i = 0; i < SKOUTER_MAX_PORT_RANGES; i++) {
    if (i >= set->count) break;
    const struct skouter_port_range* range = &set->ranges[i];
    if (range->protocol != pkt->protocol) continue;
    if (pkt->is_later_fragment) return 1;
    if (range->first <= port && port <= range->last) return 1;
  }
  return 0;
}

#endif /* SKOUTER_BPF_LIB_PORTS_H */
