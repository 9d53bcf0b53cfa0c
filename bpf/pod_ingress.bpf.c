/* tc ingress of a policed pod's host-side interface: packets leaving the pod, judged
 * here before any SNAT or encapsulation, by the identity of their source address. */
#include "lib/enforce.h"

#define HOOK SKOUTER_COUNTER_HOOK_POD_INGRESS

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
  if (rc != PARSE_OK) {
    count(HOOK, SKOUTER_CNT_PARSE_ERROR);
    return global_audit ? VERDICT_PASS : VERDICT_DROP;
  }
  /* Before the identity: neighbour discovery and DHCP come from addresses (link-local,
   * unspecified) that are no pod's. */
  if (is_control_traffic(&pkt)) {
    count(HOOK, SKOUTER_CNT_EGRESS_ALLOWED_CONTROL);
    return VERDICT_PASS;
  }
  const struct skouter_identity_value* pod = pod_identity(&pkt);
  if (!pod) {
    /* Only policed pods' interfaces carry this program: a source that is none of the
     * pod's addresses would otherwise be a way around its policy. */
    count(HOOK, SKOUTER_CNT_POD_UNKNOWN_SOURCE);
    return global_audit ? VERDICT_PASS : VERDICT_DROP;
  }
  /* A pod no Egress selects, behind an interface it shares with policed ones (a
   * bridge): listed only so that it is not taken for a spoofed source. */
  if (pod->identity == SKOUTER_UNPOLICED_IDENTITY) return VERDICT_PASS;
  int audit = global_audit || (pod->flags & SKOUTER_IDENTITY_AUDIT);
  return enforce_outgoing(skb, &pkt, pod->identity, audit, cfg, HOOK);
}

char LICENSE[] SEC("license") = "GPL";
