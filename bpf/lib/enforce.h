/* The verdict on a packet leaving a policed workload. */
#ifndef SKOUTER_BPF_LIB_ENFORCE_H
#define SKOUTER_BPF_LIB_ENFORCE_H

#include "control.h"
#include "dns.h"
#include "flows.h"
#include "maps.h"
#include "parse.h"
#include "ports.h"
#include "query.h"
#include "server_name.h"

enum lookup_result {
  LOOKUP_NONE = 0,
  LOOKUP_ALLOWED,
  LOOKUP_WRONG_PORT, /* the address is allowed, this port or protocol is not */
};

#define DNS_PORT 53
#define ENCRYPTED_DNS_PORT 853 /* DNS over TLS (TCP) and over QUIC (UDP) */

/* DNS to a resolver that is not a trusted one (traffic to those never gets here):
 * plain, or over TLS or QUIC. */
static __always_inline int to_dns_port(const struct packet* pkt) {
  return pkt->has_ports &&
         (pkt->dport == bpf_htons(DNS_PORT) || pkt->dport == bpf_htons(ENCRYPTED_DNS_PORT)) &&
         (pkt->protocol == IPPROTO_TCP || pkt->protocol == IPPROTO_UDP);
}

/* Whether `port_set` opens the packet's destination port; to a workload whose queries
 * are policed, ports 53 and 853 open only by a rule that lists its ports: an address
 * allowed on every port (a public resolver's, under a wildcard) would otherwise carry
 * queries past the query check. */
static __always_inline int port_opened(__u32 port_set, const struct packet* pkt,
                                       int queries_policed) {
  if (queries_policed && port_set == 0 && to_dns_port(pkt)) return 0;
  return port_allowed(port_set, pkt);
}

/* `rule`: the rule the entry was learned by, when there is one. */
static __always_inline enum lookup_result allowed_by_learned_ip(const struct packet* pkt,
                                                                __u32 identity, __u64 now,
                                                                enum skouter_hook hook,
                                                                int queries_policed, __u32* rule) {
  struct skouter_allowed_ip_key key = {.identity = identity, .ip = {.family = pkt->family}};
  copy_addr(key.ip.addr, pkt->daddr);
  struct skouter_allowed_ip_value* entry = bpf_map_lookup_elem(&allowed_ips, &key);
  if (!entry) return LOOKUP_NONE;
  if (entry->expiry_ns != 0 && entry->expiry_ns <= now) {
    count(hook, SKOUTER_CNT_EGRESS_EXPIRED);
    return LOOKUP_NONE;
  }
  *rule = entry->rule_id;
  return port_opened(entry->port_set, pkt, queries_policed) ? LOOKUP_ALLOWED : LOOKUP_WRONG_PORT;
}

static __always_inline enum lookup_result allowed_by_static_rule(const struct packet* pkt,
                                                                 __u32 identity,
                                                                 int queries_policed) {
  struct skouter_cidr_key key = {
      .prefixlen = SKOUTER_CIDR_FIXED_BITS + (pkt->family == SKOUTER_FAMILY_IPV4 ? 32 : 128),
      .identity = identity,
      .family = pkt->family,
  };
  copy_addr(key.addr, pkt->daddr);
  const struct skouter_cidr_value* entry = bpf_map_lookup_elem(&allowed_cidrs, &key);
  if (!entry) return LOOKUP_NONE;
  return port_opened(entry->port_set, pkt, queries_policed) ? LOOKUP_ALLOWED : LOOKUP_WRONG_PORT;
}

#define NANOS_PER_SECOND 1000000000ULL

/* Takes a token from this CPU's event budget; 0 when there is none. The bucket holds
 * up to `event_rate_limit` tokens and gains as many per second, so a flood of denied
 * packets costs the daemon a bounded number of events while the drops go on. */
static __always_inline int take_event_token(const struct skouter_config* cfg, __u64 now) {
  __u64 rate = cfg->event_rate_limit;
  if (rate == 0) return 1;
  __u32 zero = 0;
  struct skouter_event_budget* budget = bpf_map_lookup_elem(&event_budget, &zero);
  if (!budget) return 1;
  __u64 elapsed = elapsed_since(budget->last_refill_ns, now);
  /* A second or more refills the whole bucket; less, in proportion (the product then
   * stays below 2^64). */
  __u64 refill = elapsed >= NANOS_PER_SECOND ? rate : elapsed * rate / NANOS_PER_SECOND;
  __u64 tokens = budget->tokens + refill;
  if (tokens >= rate) {
    tokens = rate;
    budget->last_refill_ns = now;
  } else if (refill > 0) {
    /* Only the time the whole tokens took: the fraction of the next carries over. */
    budget->last_refill_ns += refill * NANOS_PER_SECOND / rate;
  }
  if (tokens == 0) return 0;
  budget->tokens = tokens - 1;
  return 1;
}

/* Tells the daemon about a denied new flow (audit discovery, `skouterctl audit`). The
 * verdict on the packet never depends on whether the event goes out. */
static __always_inline void report_denied(const struct packet* pkt, __u32 identity, __u64 now,
                                          enum skouter_event_verdict verdict,
                                          const struct skouter_config* cfg,
                                          enum skouter_hook hook) {
  if (!take_event_token(cfg, now)) {
    count(hook, SKOUTER_CNT_EVENT_RATE_LIMITED);
    return;
  }
  struct skouter_flow_event* event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
  if (!event) {
    count(hook, SKOUTER_CNT_EVENT_RINGBUF_FULL);
    return;
  }
  __builtin_memset(event, 0, sizeof(*event));
  event->time_ns = now;
  event->identity = identity;
  event->verdict = verdict;
  event->family = pkt->family;
  event->protocol = pkt->protocol;
  event->dport = pkt->has_ports && !is_icmp(pkt) ? pkt->dport : 0;
  copy_addr(event->saddr, pkt->saddr);
  copy_addr(event->daddr, pkt->daddr);
  bpf_ringbuf_submit(event, 0);
}

/* What cannot be shown to be allowed, because it could not be parsed or its
 * destination is not where it ends. */
static __always_inline int refuse_unparsed(int rc, int audit, enum skouter_hook hook) {
  count(hook, rc == PARSE_SOURCE_ROUTED ? SKOUTER_CNT_SOURCE_ROUTED : SKOUTER_CNT_PARSE_ERROR);
  return audit ? VERDICT_PASS : VERDICT_DROP;
}

/* The verdict on a packet of the workload `identity` (link control traffic was let
 * through before: it may come from no workload's address). `audit`: the workload is
 * in audit mode (globally, or an Egress selecting it is); `queries_policed`: its
 * queries are (lib/query.h). */
static __always_inline int enforce_outgoing(struct __sk_buff* skb, const struct packet* pkt,
                                            __u32 identity, int audit, int queries_policed,
                                            const struct skouter_config* cfg,
                                            enum skouter_hook hook) {
  __u64 now = now_ns();

  if (is_error_of_a_flow(skb, pkt->l3_offset, pkt->l4_offset, packet_shape(pkt), identity)) {
    count(hook, SKOUTER_CNT_EGRESS_ALLOWED_CONTROL);
    return VERDICT_PASS;
  }
  if ((pkt->protocol == IPPROTO_UDP || pkt->protocol == IPPROTO_TCP) && pkt->has_ports &&
      trusted_resolver(pkt->family, pkt->dport, pkt->daddr)) {
    int recorded = dns_record_query(skb, pkt, identity, now, hook);
    /* Audit drops nothing, queries included. */
    if (queries_policed && !audit) return dns_police_query(skb, pkt, identity, recorded, hook);
    count(hook, SKOUTER_CNT_EGRESS_ALLOWED_RESOLVER);
    return VERDICT_PASS;
  }
  /* After the query is noted: the ingress program drops answers to no noted query,
   * so failing open before it would take DNS down with the daemon. */
  if ((cfg->flags & SKOUTER_CFG_FAIL_OPEN) && !daemon_alive(cfg, now)) {
    count(hook, SKOUTER_CNT_EGRESS_FAIL_OPEN);
    return VERDICT_PASS;
  }

  struct skouter_flow_key flow = {};
  if (pkt->has_ports) {
    flow_key_outgoing(pkt, identity, &flow);
    __u32 origin = flow_touch(&flows, &flow, now, cfg);
    if (origin == SKOUTER_FLOW_SERVER_NAME_PENDING || origin == SKOUTER_FLOW_SERVER_NAME_DENIED)
      return server_name_gate(skb, pkt, &flow, identity, origin, cfg, hook, now);
    /* A new connection on the ports of an earlier one is judged as new: a client that
     * binds the port of an allowed connection must not carry another server name
     * through its flow unchecked. */
    if (is_tcp_open(pkt)) origin = 0;
    if (flow_carries(origin, &flow, pkt, audit, now, cfg)) {
      count(hook, SKOUTER_CNT_EGRESS_ALLOWED_FLOW);
      return VERDICT_PASS;
    }
  }

  enum skouter_counter verdict;
  __u32 rule = 0;
  enum lookup_result learned =
      allowed_by_learned_ip(pkt, identity, now, hook, queries_policed, &rule);
  enum lookup_result fixed = LOOKUP_NONE;
  if (learned == LOOKUP_ALLOWED) {
    verdict = SKOUTER_CNT_EGRESS_ALLOWED_LEARNED;
  } else if ((fixed = allowed_by_static_rule(pkt, identity, queries_policed)) == LOOKUP_ALLOWED) {
    verdict = SKOUTER_CNT_EGRESS_ALLOWED_STATIC;
  } else {
    if (learned == LOOKUP_WRONG_PORT || fixed == LOOKUP_WRONG_PORT)
      count(hook, queries_policed && to_dns_port(pkt) ? SKOUTER_CNT_EGRESS_DNS_PORT
                                                      : SKOUTER_CNT_EGRESS_PORT_DENIED);
    if (!audit) {
      count(hook, SKOUTER_CNT_EGRESS_DENIED);
      report_denied(pkt, identity, now, SKOUTER_EVENT_DENIED, cfg, hook);
      return VERDICT_DROP;
    }
    /* The flow is noted so that it is reported once, not for every packet. */
    count(hook, SKOUTER_CNT_EGRESS_AUDITED);
    report_denied(pkt, identity, now, SKOUTER_EVENT_AUDITED, cfg, hook);
    if (pkt->has_ports) flow_open(&flow, now, SKOUTER_FLOW_AUDITED);
    return VERDICT_PASS;
  }
  count(hook, verdict);
  if (learned == LOOKUP_ALLOWED && pkt->has_ports && server_name_checked(rule, pkt)) {
    /* Also a segment with data on a connection the flow table lost (idle, evicted):
     * what it carries is checked as a first segment, so that no flow skips the check
     * by waiting. */
    flow_open(&flow, now, SKOUTER_FLOW_SERVER_NAME_PENDING);
    return server_name_gate(skb, pkt, &flow, identity, SKOUTER_FLOW_SERVER_NAME_PENDING, cfg, hook,
                            now);
  }
  /* Fragments after the first carry no ports; their flow is the first fragment's. */
  if (pkt->has_ports) flow_open(&flow, now, SKOUTER_FLOW_OUTBOUND);
  return VERDICT_PASS;
}

#endif /* SKOUTER_BPF_LIB_ENFORCE_H */
