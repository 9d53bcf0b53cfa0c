/* Server names checked on shared addresses: an address learned for one allowed name
 * may serve many others (a CDN). For a rule that asks for it, a new TCP or UDP flow
 * to such an address on a checked port opens SKOUTER_FLOW_SERVER_NAME_PENDING: the
 * handshake passes, the workload's data is held for the daemon, which reads the TLS
 * ClientHello or the QUIC Initial, judges the server name it names and settles the
 * flow (see daemon/server_name_gate.h). The programs only hold and drop. */
#ifndef SKOUTER_BPF_LIB_SERVER_NAME_H
#define SKOUTER_BPF_LIB_SERVER_NAME_H

#include "dns.h"
#include "flows.h"
#include "maps.h"
#include "parse.h"
#include "ports.h"

/* Whether a new flow to an address `rule_id` learned has its server name checked. */
static __always_inline int server_name_checked(__u32 rule_id, const struct packet* pkt) {
  if (pkt->protocol != IPPROTO_TCP && pkt->protocol != IPPROTO_UDP) return 0;
  /* A later fragment has no ports: its first fragment was judged. */
  if (pkt->is_later_fragment) return 0;
  const struct skouter_server_name_rule* rule = bpf_map_lookup_elem(&server_name_rules, &rule_id);
  return rule && rule->port_set != 0 && port_allowed(rule->port_set, pkt);
}

/* The verdict on a packet leaving the workload on a flow whose server name is pending
 * or denied. */
static __always_inline int server_name_gate(struct __sk_buff* skb, const struct packet* pkt,
                                            const struct skouter_flow_key* flow, __u32 identity,
                                            __u32 origin, const struct skouter_config* cfg,
                                            enum skouter_hook hook, __u64 now) {
  if (origin == SKOUTER_FLOW_SERVER_NAME_DENIED) {
    /* A new connection on the same ports (the client's retry) is checked anew: its
     * ClientHello is held like any first data. Anything else of the denied flow goes. */
    if (is_tcp_open(pkt)) {
      flow_open(flow, now, SKOUTER_FLOW_SERVER_NAME_PENDING);
      count(hook, SKOUTER_CNT_EGRESS_ALLOWED_LEARNED);
      return VERDICT_PASS;
    }
    count(hook, SKOUTER_CNT_SERVER_NAME_DENIED);
    return VERDICT_DROP;
  }
  /* The handshake, ACKs, FIN and RST name nothing: only data is held. */
  if (pkt->protocol == IPPROTO_TCP && pkt->l3_end <= pkt->l4_offset + pkt->tcp_header_len)
    return VERDICT_PASS;
  if (!daemon_alive(cfg, now)) {
    /* Nobody would release it: the address is allowed, the server name goes
     * unchecked. */
    flow_open(flow, now, SKOUTER_FLOW_OUTBOUND);
    count(hook, SKOUTER_CNT_SERVER_NAME_UNCHECKED);
    return VERDICT_PASS;
  }
  const struct punt_label label = {
      .identity = identity,
      .destination =
          hook == SKOUTER_HOOK_POD_INGRESS ? SKOUTER_HELLO_FROM_POD : SKOUTER_HELLO_FROM_HOST,
  };
  /* Not copied: dropped all the same; the workload sends it again (TCP retransmits,
   * QUIC repeats its Initial) and the next copy may go through. */
  if (punt_frame(skb, pkt, &label, cfg, now) != PUNT_OK) {
    count(hook, SKOUTER_CNT_SERVER_NAME_HOLD_FAILED);
    return VERDICT_DROP;
  }
  count(hook, SKOUTER_CNT_SERVER_NAME_HELD);
  return held_frame_verdict(hook, cfg);
}

#endif /* SKOUTER_BPF_LIB_SERVER_NAME_H */
