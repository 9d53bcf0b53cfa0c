/* The verdict on a packet leaving a policed workload. */
#ifndef SKOUTER_BPF_LIB_ENFORCE_H
#define SKOUTER_BPF_LIB_ENFORCE_H

#include "dns.h"
#include "flows.h"
#include "maps.h"
#include "parse.h"

#define DHCP_CLIENT_PORT 68
#define DHCP_SERVER_PORT 67
#define DHCPV6_CLIENT_PORT 546
#define DHCPV6_SERVER_PORT 547
#define ICMPV6_MLD_QUERY 130
#define ICMPV6_MLD_REPORT 131
#define ICMPV6_MLD_DONE 132
#define ICMPV6_ROUTER_SOLICIT 133
#define ICMPV6_REDIRECT 137
#define ICMPV6_MLD2_REPORT 143

/* Traffic a host needs to stay on the network at all: address configuration,
 * neighbour discovery, multicast membership, and error reports about packets it
 * received. None of it can carry a connection to a chosen destination. */
static __always_inline int is_control_traffic(const struct packet* pkt) {
  if (pkt->is_later_fragment) return 0;
  switch (pkt->protocol) {
    case IPPROTO_UDP:
      return (pkt->sport == bpf_htons(DHCP_CLIENT_PORT) &&
              pkt->dport == bpf_htons(DHCP_SERVER_PORT)) ||
             (pkt->sport == bpf_htons(DHCPV6_CLIENT_PORT) &&
              pkt->dport == bpf_htons(DHCPV6_SERVER_PORT));
    case IPPROTO_ICMP:
      return pkt->icmp_type == ICMP_DEST_UNREACH || pkt->icmp_type == ICMP_TIME_EXCEEDED ||
             pkt->icmp_type == ICMP_PARAMETERPROB;
    case IPPROTO_ICMPV6:
      return pkt->icmp_type == ICMPV6_DEST_UNREACH || pkt->icmp_type == ICMPV6_PKT_TOOBIG ||
             pkt->icmp_type == ICMPV6_TIME_EXCEED || pkt->icmp_type == ICMPV6_PARAMPROB ||
             (pkt->icmp_type >= ICMPV6_MLD_QUERY && pkt->icmp_type <= ICMPV6_REDIRECT) ||
             pkt->icmp_type == ICMPV6_MLD2_REPORT;
    case IPPROTO_IGMP:
      return 1;
    default:
      return 0;
  }
}

static __always_inline int allowed_by_learned_ip(const struct packet* pkt, __u32 identity,
                                                 __u64 now) {
  struct skouter_allowed_ip_key key = {.identity = identity, .ip = {.family = pkt->family}};
  copy_addr(key.ip.addr, pkt->daddr);
  struct skouter_allowed_ip_value* entry = bpf_map_lookup_elem(&allowed_ips, &key);
  if (!entry) return 0;
  if (entry->expiry_ns != 0 && entry->expiry_ns <= now) {
    count(SKOUTER_CNT_EGRESS_EXPIRED);
    return 0;
  }
  return 1;
}

static __always_inline int allowed_by_static_rule(const struct packet* pkt, __u32 identity) {
  struct skouter_cidr_key key = {
      .prefixlen = SKOUTER_CIDR_FIXED_BITS + (pkt->family == SKOUTER_FAMILY_IPV4 ? 32 : 128),
      .identity = identity,
      .family = pkt->family,
  };
  copy_addr(key.addr, pkt->daddr);
  return bpf_map_lookup_elem(&allowed_cidrs, &key) != NULL;
}

static __always_inline int enforce_outgoing(struct __sk_buff* skb, const struct packet* pkt,
                                            __u32 identity, const struct skouter_config* cfg) {
  __u64 now = bpf_ktime_get_ns();

  if (is_control_traffic(pkt)) {
    count(SKOUTER_CNT_EGRESS_ALLOWED_CONTROL);
    return VERDICT_PASS;
  }
  if ((pkt->protocol == IPPROTO_UDP || pkt->protocol == IPPROTO_TCP) && pkt->has_ports &&
      trusted_resolver(pkt->family, pkt->dport, pkt->daddr)) {
    dns_record_query(skb, pkt, identity, now);
    count(SKOUTER_CNT_EGRESS_ALLOWED_RESOLVER);
    return VERDICT_PASS;
  }
  /* After the query is noted: the ingress program drops answers to no noted query,
   * so failing open before it would take DNS down with the daemon. */
  if ((cfg->flags & SKOUTER_CFG_FAIL_OPEN) && !daemon_alive(cfg, now)) {
    count(SKOUTER_CNT_EGRESS_FAIL_OPEN);
    return VERDICT_PASS;
  }

  struct skouter_flow_key flow = {};
  if (pkt->has_ports) {
    flow_key_outgoing(pkt, &flow);
    if (flow_touch(&flow, now, cfg)) {
      count(SKOUTER_CNT_EGRESS_ALLOWED_FLOW);
      return VERDICT_PASS;
    }
  }

  enum skouter_counter verdict;
  if (allowed_by_learned_ip(pkt, identity, now))
    verdict = SKOUTER_CNT_EGRESS_ALLOWED_LEARNED;
  else if (allowed_by_static_rule(pkt, identity))
    verdict = SKOUTER_CNT_EGRESS_ALLOWED_STATIC;
  else if (cfg->flags & SKOUTER_CFG_AUDIT) {
    /* No flow: a connection audit let through must not outlive the audit. */
    count(SKOUTER_CNT_EGRESS_AUDITED);
    return VERDICT_PASS;
  } else {
    count(SKOUTER_CNT_EGRESS_DENIED);
    return VERDICT_DROP;
  }
  /* Fragments after the first carry no ports; their flow is the first fragment's. */
  if (pkt->has_ports) flow_open(&flow, now, SKOUTER_FLOW_OUTBOUND, identity);
  count(verdict);
  return VERDICT_PASS;
}

#endif /* SKOUTER_BPF_LIB_ENFORCE_H */
