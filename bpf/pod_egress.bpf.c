/* tc egress of a pod's node-side interface: packets into the pod. DNS answers for the
 * pod are held until the daemon has installed their addresses (it delivers them with
 * an AF_PACKET socket that bypasses this hook); connections opened to the pod are
 * noted so its replies pass pod_ingress. */
#include "lib/dns.h"
#include "lib/flows.h"

#define HOOK SKOUTER_HOOK_POD_EGRESS

SEC("tc")
int pod_egress(struct __sk_buff* skb) {
  const struct skouter_config* cfg = config_get();
  if (!cfg) return VERDICT_PASS;
  struct packet pkt = {};
  if (parse_packet(skb, &pkt) != PARSE_OK) return VERDICT_PASS;

  struct skouter_addr key = {.family = pkt.family};
  copy_addr(key.addr, pkt.daddr);
  const struct skouter_identity_value* pod = bpf_map_lookup_elem(&identities, &key);
  if (!pod || pod->identity == SKOUTER_UNPOLICED_IDENTITY) return VERDICT_PASS;

  __u64 now = now_ns();
  if (pkt.has_ports && trusted_resolver(pkt.family, pkt.sport, pkt.saddr)) {
    if (pkt.protocol == IPPROTO_UDP) return dns_intercept_udp(skb, &pkt, cfg, HOOK, now);
    if (pkt.protocol == IPPROTO_TCP) return dns_intercept_tcp(skb, &pkt, cfg, HOOK, now);
  }
  /* The pod's sockets are in its own network namespace. */
  const struct receiver_netns netns = {
      .netns_id = pod->netns_id,
      .known = (pod->flags & SKOUTER_IDENTITY_NETNS_KNOWN) != 0,
  };
  note_incoming_flow(skb, &pkt, pod->identity, &netns, now, cfg, HOOK);
  return VERDICT_PASS;
}

char LICENSE[] SEC("license") = "GPL";
