/* tc ingress of the uplink: DNS answers for the host are held until the daemon has
 * installed their addresses; connections opened from outside are noted so their
 * replies pass the egress program. */
#include "lib/dns.h"
#include "lib/flows.h"

#define HOOK SKOUTER_HOOK_UPLINK_INGRESS

SEC("tc")
int uplink_ingress(struct __sk_buff* skb) {
  const struct skouter_config* cfg = config_get();
  if (!cfg || !(cfg->flags & SKOUTER_CFG_HOST_POLICED)) return VERDICT_PASS;
  if (cfg->reinject_mark != 0 && skb->mark == cfg->reinject_mark) {
    count(HOOK, SKOUTER_CNT_REINJECTED_SEEN);
    return VERDICT_PASS;
  }

  struct packet pkt = {};
  int rc = parse_packet(skb, &pkt);
  if (rc == PARSE_NOT_IP) return VERDICT_PASS;
  if (rc != PARSE_OK) {
    count(HOOK, SKOUTER_CNT_PARSE_ERROR);
    return VERDICT_PASS;
  }

  __u64 now = now_ns();
  if (pkt.has_ports && trusted_resolver(pkt.family, pkt.sport, pkt.saddr)) {
    if (pkt.protocol == IPPROTO_UDP) return dns_intercept_udp(skb, &pkt, cfg, HOOK, now);
    if (pkt.protocol == IPPROTO_TCP) return dns_intercept_tcp(skb, &pkt, cfg, HOOK, now);
  }

  /* The host's sockets are in this interface's network namespace. */
  const struct receiver_netns host = {.netns_id = CURRENT_NETNS, .known = 1};
  note_incoming_flow(skb, &pkt, SKOUTER_HOST_IDENTITY, &host, now, cfg, HOOK);
  return VERDICT_PASS;
}

char LICENSE[] SEC("license") = "GPL";
