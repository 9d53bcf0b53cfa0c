/* The flow tables: once a flow is allowed (or was opened from outside), its packets
 * pass without a policy lookup, and it outlives the DNS entry that allowed it. Flows
 * the workload opened are in `flows`, flows opened from outside in `inbound_flows`;
 * both are keyed by identity in the egress orientation (the workload's side local). */
#ifndef SKOUTER_BPF_LIB_FLOWS_H
#define SKOUTER_BPF_LIB_FLOWS_H

#include "maps.h"
#include "parse.h"

/* For the socket lookups: the namespace of the program's own skb. */
#define CURRENT_NETNS ((__u32)-1)
#define BPF_TCP_LISTEN_STATE 10

static __always_inline int is_icmp(const struct packet* pkt) {
  return pkt->protocol == IPPROTO_ICMP || pkt->protocol == IPPROTO_ICMPV6;
}

static __always_inline int is_echo_request(const struct packet* pkt) {
  return pkt->protocol == IPPROTO_ICMP ? pkt->icmp_type == ICMP_ECHO
                                       : pkt->icmp_type == ICMPV6_ECHO_REQUEST;
}

/* A TCP segment that opens a connection: SYN without ACK. */
static __always_inline int is_tcp_open(const struct packet* pkt) {
  return pkt->protocol == IPPROTO_TCP &&
         (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* Key of a packet leaving the workload: it is the local side. */
static __always_inline void flow_key_outgoing(const struct packet* pkt, __u32 identity,
                                              struct skouter_flow_key* key) {
  key->identity = identity;
  key->family = pkt->family;
  key->protocol = pkt->protocol;
  key->local_port = pkt->sport;
  key->remote_port = pkt->dport;
  copy_addr(key->local, pkt->saddr);
  copy_addr(key->remote, pkt->daddr);
}

/* Key of a packet arriving for the workload, turned around to match its replies. */
static __always_inline void flow_key_incoming(const struct packet* pkt, __u32 identity,
                                              struct skouter_flow_key* key) {
  key->identity = identity;
  key->family = pkt->family;
  key->protocol = pkt->protocol;
  /* An ICMP echo identifier is the same in both directions. */
  key->local_port = is_icmp(pkt) ? pkt->sport : pkt->dport;
  key->remote_port = is_icmp(pkt) ? 0 : pkt->sport;
  copy_addr(key->local, pkt->daddr);
  copy_addr(key->remote, pkt->saddr);
}

/* Refreshes a live flow of `table` and returns its origin (enum skouter_flow_origin);
 * 0 when there is none. A flow idle past the configured timeout no longer counts. */
static __always_inline __u32 flow_touch(void* table, const struct skouter_flow_key* key, __u64 now,
                                        const struct skouter_config* cfg) {
  struct skouter_flow_value* flow = bpf_map_lookup_elem(table, key);
  if (!flow) return 0;
  if (elapsed_since(flow->last_seen_ns, now) > cfg->flow_idle_ns) return 0;
  flow->last_seen_ns = now;
  return flow->origin;
}

static __always_inline void flow_open(const struct skouter_flow_key* key, __u64 now,
                                      enum skouter_flow_origin origin) {
  struct skouter_flow_value flow = {.last_seen_ns = now, .origin = origin};
  bpf_map_update_elem(origin == SKOUTER_FLOW_INBOUND ? (void*)&inbound_flows : (void*)&flows, key,
                      &flow, BPF_ANY);
}

/* Whether a packet leaving the workload may use a flow opened from outside: only the
 * responder's side of it. A TCP SYN or an echo request on it would be the workload
 * opening a connection of its own, to a peer that merely sent it a packet first. */
static __always_inline int inbound_flow_carries(const struct packet* pkt) {
  if (pkt->protocol == IPPROTO_TCP) return !is_tcp_open(pkt);
  if (is_icmp(pkt)) return !is_echo_request(pkt);
  return 1;
}

/* Whether a flow carries a packet leaving the workload; `origin`: what flow_touch()
 * found in `flows` for it. `audit`: a flow only audit mode let through carries
 * packets while it lasts. */
static __always_inline int flow_carries(__u32 origin, const struct skouter_flow_key* key,
                                        const struct packet* pkt, int audit, __u64 now,
                                        const struct skouter_config* cfg) {
  if (origin == SKOUTER_FLOW_OUTBOUND || (origin == SKOUTER_FLOW_AUDITED && audit)) return 1;
  /* A new connection of the workload's own need not look. */
  return inbound_flow_carries(pkt) && flow_touch(&inbound_flows, key, now, cfg);
}

/* Where the workload's sockets are: `netns_id` as the socket lookups take it. */
struct receiver_netns {
  __u32 netns_id; /* CURRENT_NETNS: the namespace of the interface */
  int known;      /* 0: a pod whose namespace the daemon could not find */
};

static __always_inline void socket_tuple(const struct packet* pkt, struct bpf_sock_tuple* tuple,
                                         __u32* size) {
  if (pkt->family == SKOUTER_FAMILY_IPV4) {
    __builtin_memcpy(&tuple->ipv4.saddr, pkt->saddr, 4);
    __builtin_memcpy(&tuple->ipv4.daddr, pkt->daddr, 4);
    tuple->ipv4.sport = pkt->sport;
    tuple->ipv4.dport = pkt->dport;
    *size = sizeof(tuple->ipv4);
  } else {
    __builtin_memcpy(tuple->ipv6.saddr, pkt->saddr, 16);
    __builtin_memcpy(tuple->ipv6.daddr, pkt->daddr, 16);
    tuple->ipv6.sport = pkt->sport;
    tuple->ipv6.dport = pkt->dport;
    *size = sizeof(tuple->ipv6);
  }
}

/* Whether a local socket would take this inbound UDP datagram (one bound to its port,
 * or connected to its sender), or this inbound TCP segment belongs to a connection a
 * socket holds (not a listener: a SYN is judged on its own). */
static __always_inline int has_receiver(struct __sk_buff* skb, const struct packet* pkt,
                                        const struct receiver_netns* netns) {
  if (!netns->known) return 0;
  struct bpf_sock_tuple tuple = {};
  __u32 size = 0;
  socket_tuple(pkt, &tuple, &size);
  struct bpf_sock* sk;
  if (pkt->protocol == IPPROTO_UDP) {
    sk = bpf_sk_lookup_udp(skb, &tuple, size, netns->netns_id, 0);
    if (!sk) return 0;
    bpf_sk_release(sk);
    return 1;
  }
  sk = bpf_sk_lookup_tcp(skb, &tuple, size, netns->netns_id, 0);
  if (!sk) return 0;
  int established = sk->state != BPF_TCP_LISTEN_STATE;
  bpf_sk_release(sk);
  return established;
}

/* Notes a flow opened from outside towards the workload, so its replies pass: a TCP
 * SYN; a TCP segment of a connection a local socket holds (a flow lost to eviction,
 * to a restart, or older than skouter); a UDP datagram a local socket receives; an
 * ICMP echo request (the kernel answers those itself). Nothing else opens a flow: a
 * datagram to a closed port must not make a hole for the workload to send through. */
static __always_inline void note_incoming_flow(struct __sk_buff* skb, const struct packet* pkt,
                                               __u32 identity, const struct receiver_netns* netns,
                                               __u64 now, const struct skouter_config* cfg,
                                               enum skouter_hook hook) {
  if (!pkt->has_ports || pkt->is_later_fragment) return;
  struct skouter_flow_key key = {};
  flow_key_incoming(pkt, identity, &key);
  if (flow_touch(&flows, &key, now, cfg)) return; /* a reply to the workload's own flow */
  if (flow_touch(&inbound_flows, &key, now, cfg)) return;

  int opens_flow;
  switch (pkt->protocol) {
    case IPPROTO_TCP:
      opens_flow = is_tcp_open(pkt) || has_receiver(skb, pkt, netns);
      break;
    case IPPROTO_UDP:
      opens_flow = has_receiver(skb, pkt, netns);
      if (!opens_flow) count(hook, SKOUTER_CNT_INBOUND_NO_RECEIVER);
      break;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      opens_flow = is_echo_request(pkt);
      break;
    default:
      /* SCTP: no socket lookup can tell whether anyone listens. */
      opens_flow = 0;
      break;
  }
  if (!opens_flow) return;
  flow_open(&key, now, SKOUTER_FLOW_INBOUND);
  count(hook, SKOUTER_CNT_INGRESS_FLOW_RECORDED);
}

#endif /* SKOUTER_BPF_LIB_FLOWS_H */
