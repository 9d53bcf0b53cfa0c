/* The flow table: once a flow is allowed (or was opened from outside), its packets
 * pass without a policy lookup, and it outlives the DNS entry that allowed it. */
#ifndef SKOUTER_BPF_LIB_FLOWS_H
#define SKOUTER_BPF_LIB_FLOWS_H

#include "maps.h"
#include "parse.h"

static __always_inline int is_icmp(const struct packet* pkt) {
  return pkt->protocol == IPPROTO_ICMP || pkt->protocol == IPPROTO_ICMPV6;
}

/* Key of a packet leaving the workload: it is the local side. */
static __always_inline void flow_key_outgoing(const struct packet* pkt,
                                              struct skouter_flow_key* key) {
  key->family = pkt->family;
  key->protocol = pkt->protocol;
  key->local_port = pkt->sport;
  key->remote_port = pkt->dport;
  copy_addr(key->local, pkt->saddr);
  copy_addr(key->remote, pkt->daddr);
}

/* Key of a packet arriving for the workload, turned around to match its replies. */
static __always_inline void flow_key_incoming(const struct packet* pkt,
                                              struct skouter_flow_key* key) {
  key->family = pkt->family;
  key->protocol = pkt->protocol;
  /* An ICMP echo identifier is the same in both directions. */
  key->local_port = is_icmp(pkt) ? pkt->sport : pkt->dport;
  key->remote_port = is_icmp(pkt) ? 0 : pkt->sport;
  copy_addr(key->local, pkt->daddr);
  copy_addr(key->remote, pkt->saddr);
}

/* Refreshes a live flow and returns its origin (enum skouter_flow_origin); 0 when
 * there is none. A flow idle past the configured timeout no longer counts. */
static __always_inline __u32 flow_touch(const struct skouter_flow_key* key, __u64 now,
                                        const struct skouter_config* cfg) {
  struct skouter_flow_value* flow = bpf_map_lookup_elem(&flows, key);
  if (!flow) return 0;
  if (now - flow->last_seen_ns > cfg->flow_idle_ns) return 0;
  flow->last_seen_ns = now;
  return flow->origin;
}

static __always_inline void flow_open(const struct skouter_flow_key* key, __u64 now,
                                      enum skouter_flow_origin origin, __u32 identity) {
  struct skouter_flow_value flow = {
      .last_seen_ns = now,
      .origin = origin,
      .identity = identity,
  };
  bpf_map_update_elem(&flows, key, &flow, BPF_ANY);
}

/* Notes a flow opened from outside towards the workload, so its replies pass. */
static __always_inline void note_incoming_flow(const struct packet* pkt, __u32 identity, __u64 now,
                                               const struct skouter_config* cfg,
                                               enum skouter_counter_hook hook) {
  if (!pkt->has_ports) return;
  struct skouter_flow_key key = {};
  flow_key_incoming(pkt, &key);
  if (flow_touch(&key, now, cfg)) return;

  int opens_flow;
  switch (pkt->protocol) {
    case IPPROTO_TCP:
      opens_flow = (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
      break;
    case IPPROTO_ICMP:
      opens_flow = pkt->icmp_type == ICMP_ECHO;
      break;
    case IPPROTO_ICMPV6:
      opens_flow = pkt->icmp_type == ICMPV6_ECHO_REQUEST;
      break;
    default:
      opens_flow = 1; /* UDP and other datagram protocols have no handshake */
      break;
  }
  if (!opens_flow) return;
  flow_open(&key, now, SKOUTER_FLOW_INBOUND, identity);
  count(hook, SKOUTER_CNT_INGRESS_FLOW_RECORDED);
}

#endif /* SKOUTER_BPF_LIB_FLOWS_H */
