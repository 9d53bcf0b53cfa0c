/* tc ingress of a pod's node-side interface: packets leaving the pod, judged here
 * before any SNAT or encapsulation, by the identity of their source address, which
 * must be bound to this very interface. */
#include "lib/enforce.h"

#define HOOK SKOUTER_HOOK_POD_INGRESS

static __always_inline const struct skouter_identity_value* pod_identity(const struct packet* pkt) {
  struct skouter_addr key = {.family = pkt->family};
  copy_addr(key.addr, pkt->saddr);
  return bpf_map_lookup_elem(&identities, &key);
}

SEC("tc")
int pod_ingress(struct __sk_buff* skb) {
  const struct skouter_config* cfg = config_get();
  if (!cfg) return VERDICT_PASS;
  int global_audit = (cfg->flags & SKOUTER_CFG_AUDIT) != 0;
  struct packet pkt = {};
  int rc = parse_packet(skb, &pkt);
  if (rc == PARSE_NOT_IP) return VERDICT_PASS; /* ARP */
  if (rc != PARSE_OK) return refuse_unparsed(rc, global_audit, HOOK);
  const struct skouter_identity_value* pod = pod_identity(&pkt);
  if (pod && pod->ifindex != skb->ifindex) {
    /* A pod's (or the node's) address from another interface: a neighbour posing as
     * it, link control traffic included. */
    count(HOOK, SKOUTER_CNT_POD_SPOOFED_SOURCE);
    return global_audit ? VERDICT_PASS : VERDICT_DROP;
  }
  /* Before the identity is required: neighbour discovery and DHCP come from addresses
   * (link-local, unspecified) that are no pod's. */
  if (is_link_control(skb, pkt.l3_offset, pkt.l4_offset, packet_shape(&pkt), 1)) {
    count(HOOK, SKOUTER_CNT_EGRESS_ALLOWED_CONTROL);
    return VERDICT_PASS;
  }
  if (!pod) {
    /* Every pod interface carries this program, also before the pod's address is
     * known: a source that is no pod's would otherwise be a way around a policy. */
    count(HOOK, SKOUTER_CNT_POD_UNKNOWN_SOURCE);
    return global_audit ? VERDICT_PASS : VERDICT_DROP;
  }
  /* A pod no Egress selects: listed so that it is neither taken for a spoofed source
   * nor posed as by a policed neighbour. */
  if (pod->identity == SKOUTER_UNPOLICED_IDENTITY) return VERDICT_PASS;
  int audit = global_audit || (pod->flags & SKOUTER_IDENTITY_AUDIT);
  int queries_policed = (pod->flags & SKOUTER_IDENTITY_QUERIES_POLICED) != 0;
  return enforce_outgoing(skb, &pkt, pod->identity, audit, queries_policed, cfg, HOOK);
}

char LICENSE[] SEC("license") = "GPL";
