/* tc egress of the uplink: the host's own traffic leaving the node, and traffic the
 * node forwards from its local guests (containers, VMs), judged as the host's. */
#include "lib/enforce.h"

#define HOOK SKOUTER_HOOK_UPLINK_EGRESS

/* Forwarded traffic judged elsewhere or nobody's to judge: from a pod interface (its
 * programs judged it), or passing through (another uplink, a tunnel). */
static __always_inline int judged_elsewhere(const struct __sk_buff* skb) {
  __u32 ifindex = skb->ingress_ifindex;
  const struct skouter_interface_value* from = bpf_map_lookup_elem(&interfaces, &ifindex);
  return from && from->kind != SKOUTER_INTERFACE_GUEST;
}

SEC("tc")
int uplink_egress(struct __sk_buff* skb) {
  const struct skouter_config* cfg = config_get();
  if (!cfg) return VERDICT_PASS;
  struct packet pkt = {};
  int rc = parse_packet(skb, &pkt);
  /* A locally originated packet never arrived on an interface. */
  if (skb->ingress_ifindex != 0) {
    if (judged_elsewhere(skb)) {
      /* Only its DNS queries are noted: after SNAT the answers come back addressed to
       * this host and would otherwise be dropped as unsolicited. */
      if (rc == PARSE_OK && pkt.has_ports && trusted_resolver(pkt.family, pkt.dport, pkt.daddr))
        dns_record_query(skb, &pkt, SKOUTER_UNPOLICED_IDENTITY, now_ns(), HOOK);
      return VERDICT_PASS;
    }
    __u32 ifindex = skb->ingress_ifindex;
    if ((cfg->flags & SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES) &&
        !bpf_map_lookup_elem(&interfaces, &ifindex)) {
      /* A pod interface that appeared while no daemon ran carries no pod programs. */
      count(HOOK, SKOUTER_CNT_FORWARDED_UNKNOWN);
      return (cfg->flags & SKOUTER_CFG_AUDIT) ? VERDICT_PASS : VERDICT_DROP;
    }
    /* A local guest's, or injected on lo: the host's traffic by another way out. */
  }
  if (!(cfg->flags & SKOUTER_CFG_HOST_POLICED)) return VERDICT_PASS;
  if (rc == PARSE_NOT_IP) return VERDICT_PASS;
  int audit = (cfg->flags & (SKOUTER_CFG_AUDIT | SKOUTER_CFG_HOST_AUDIT)) != 0;
  if (rc != PARSE_OK) return refuse_unparsed(rc, audit, HOOK);
  if (is_link_control(skb, pkt.l3_offset, pkt.l4_offset, packet_shape(&pkt), 0)) {
    count(HOOK, SKOUTER_CNT_EGRESS_ALLOWED_CONTROL);
    return VERDICT_PASS;
  }
  int queries_policed = (cfg->flags & SKOUTER_CFG_HOST_QUERIES_POLICED) != 0;
  return enforce_outgoing(skb, &pkt, SKOUTER_HOST_IDENTITY, audit, queries_policed, cfg, HOOK);
}

char LICENSE[] SEC("license") = "GPL";
