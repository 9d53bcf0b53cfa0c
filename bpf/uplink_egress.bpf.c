/* tc egress of the uplink: the host's own traffic leaving the node. */
#include "lib/enforce.h"

#define HOOK SKOUTER_COUNTER_HOOK_UPLINK_EGRESS

SEC("tc")
int uplink_egress(struct __sk_buff* skb) {
  const struct skouter_config* cfg = config_get();
  if (!cfg || !(cfg->flags & SKOUTER_CFG_HOST_POLICED)) return VERDICT_PASS;
  struct packet pkt = {};
  int rc = parse_packet(skb, &pkt);
  /* A locally originated packet never arrived on an interface. Forwarded packets
   * (pods, routed traffic) are judged where they entered the node; only their DNS
   * queries are noted, because after SNAT the answers come back addressed to this
   * host and would otherwise be dropped as unsolicited. */
  if (skb->ingress_ifindex != 0) {
    if (rc == PARSE_OK && pkt.has_ports && trusted_resolver(pkt.family, pkt.dport, pkt.daddr))
      dns_record_query(skb, &pkt, SKOUTER_UNPOLICED_IDENTITY, bpf_ktime_get_ns(), HOOK);
    return VERDICT_PASS;
  }
  if (rc == PARSE_NOT_IP) return VERDICT_PASS;
  int audit = (cfg->flags & (SKOUTER_CFG_AUDIT | SKOUTER_CFG_HOST_AUDIT)) != 0;
  if (rc != PARSE_OK) {
    /* What cannot be parsed cannot be shown to be allowed. */
    count(HOOK, SKOUTER_CNT_PARSE_ERROR);
    return audit ? VERDICT_PASS : VERDICT_DROP;
  }
  return enforce_outgoing(skb, &pkt, SKOUTER_HOST_IDENTITY, audit, cfg, HOOK);
}

char LICENSE[] SEC("license") = "GPL";
