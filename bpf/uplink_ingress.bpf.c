/* tc ingress of the uplink: DNS answers for the host are held until the daemon has
 * installed their addresses; connections opened from outside are noted so their
 * replies pass the egress program. */
#include "lib/dns.h"
#include "lib/flows.h"

static __always_inline void note_incoming_flow(const struct packet* pkt, __u64 now,
                                               const struct skouter_config* cfg) {
  if (!pkt->has_ports) return;
  struct skouter_flow_key key = {};
  flow_key_incoming(pkt, &key);
  if (flow_touch(&key, now, cfg)) return;

  int opens_flow;
  switch (pkt->protocol) {
    case IPPROTO_TCP:
      opens_flow = (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
      break;
    case IPPROTO_ICMP:
      opens_flow = pkt->icmp_type == ICMP_ECHO;
      break;
    case IPPROTO_ICMPV6:
      opens_flow = pkt->icmp_type == ICMPV6_ECHO_REQUEST;
      break;
    default:
      opens_flow = 1; /* UDP and other datagram protocols have no handshake */
      break;
  }
  if (!opens_flow) return;
  flow_open(&key, now, SKOUTER_FLOW_INBOUND, SKOUTER_HOST_IDENTITY);
  count(SKOUTER_CNT_INGRESS_FLOW_RECORDED);
}

SEC("tc")
int uplink_ingress(struct __sk_buff* skb) {
  const struct skouter_config* cfg = config_get();
  if (!cfg || !(cfg->flags & SKOUTER_CFG_HOST_POLICED)) return VERDICT_PASS;
  if (cfg->reinject_mark != 0 && skb->mark == cfg->reinject_mark) {
    count(SKOUTER_CNT_REINJECTED_SEEN);
    return VERDICT_PASS;
  }

  struct packet pkt = {};
  int rc = parse_packet(skb, &pkt);
  if (rc == PARSE_NOT_IP) return VERDICT_PASS;
  if (rc != PARSE_OK) {
    count(SKOUTER_CNT_PARSE_ERROR);
    return VERDICT_PASS;
  }

  __u64 now = bpf_ktime_get_ns();
  if (pkt.has_ports && trusted_resolver(pkt.family, pkt.sport, pkt.saddr)) {
    if (pkt.protocol == IPPROTO_UDP)
      return dns_intercept_udp(skb, &pkt, cfg, SKOUTER_HOOK_UPLINK_INGRESS, now);
    if (pkt.protocol == IPPROTO_TCP)
      return dns_intercept_tcp(skb, &pkt, cfg, SKOUTER_HOOK_UPLINK_INGRESS, now);
  }

  note_incoming_flow(&pkt, now, cfg);
  return VERDICT_PASS;
}

char LICENSE[] SEC("license") = "GPL";
