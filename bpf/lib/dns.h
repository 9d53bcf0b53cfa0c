/* The DNS side of the datapath: note each query a policed workload sends to a trusted
 * resolver, and hold back the matching answer until the daemon has installed its
 * addresses. */
#ifndef SKOUTER_BPF_LIB_DNS_H
#define SKOUTER_BPF_LIB_DNS_H

#include "maps.h"
#include "parse.h"

#define DNS_FLAG_QR 0x80 /* in the first flags byte: 1 = response */

struct dns_header_start {
  __be16 id;
  __u8 flags1;
  __u8 flags2;
};

/* The frame as it goes into the answers ring buffer; a per-CPU scratch copy, because
 * a record this large does not fit on the BPF stack. */
struct answer_record {
  struct skouter_answer_header header;
  __u8 frame[SKOUTER_MAX_FRAME];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct answer_record);
} answer_scratch SEC(".maps") __weak;

static __always_inline int trusted_resolver(__u8 family, __be16 port, const __u8* addr) {
  struct skouter_resolver_key key = {.family = family, .port = port};
  copy_addr(key.addr, addr);
  return bpf_map_lookup_elem(&trusted_resolvers, &key) != NULL;
}

static __always_inline int load_dns_header(struct __sk_buff* skb, const struct packet* pkt,
                                           struct dns_header_start* dns) {
  return bpf_skb_load_bytes(skb, pkt->l4_offset + sizeof(struct udphdr), dns, sizeof(*dns));
}

static __always_inline void dns_query_key(__u8 family, __be16 client_port, __be16 dns_id,
                                          const __u8* client, struct skouter_dns_query_key* key) {
  key->family = family;
  key->client_port = client_port;
  key->dns_id = dns_id;
  copy_addr(key->client, client);
}

/* A UDP query leaving a policed workload for a trusted resolver. */
static __always_inline void dns_record_query(struct __sk_buff* skb, const struct packet* pkt,
                                             __u32 identity, __u64 now) {
  struct dns_header_start dns;
  if (pkt->protocol != IPPROTO_UDP || pkt->is_later_fragment) return;
  if (load_dns_header(skb, pkt, &dns) < 0 || (dns.flags1 & DNS_FLAG_QR)) return;

  struct skouter_dns_query_key key = {};
  dns_query_key(pkt->family, pkt->sport, dns.id, pkt->saddr, &key);
  struct skouter_dns_query_value value = {.sent_ns = now, .identity = identity};
  bpf_map_update_elem(&dns_queries, &key, &value, BPF_ANY);
  count(SKOUTER_CNT_DNS_QUERY_RECORDED);
}

static __always_inline int daemon_alive(const struct skouter_config* cfg, __u64 now) {
  __u32 key = 0;
  struct skouter_heartbeat* beat = bpf_map_lookup_elem(&heartbeat, &key);
  return beat && beat->last_beat_ns != 0 && now - beat->last_beat_ns <= cfg->failsafe_ns;
}

/* A UDP packet from a trusted resolver. Returns the tc verdict: answers to a recorded
 * query are copied to the daemon and dropped (the daemon re-injects them once their
 * addresses are installed); anything else passes. */
static __always_inline int dns_intercept_answer(struct __sk_buff* skb, const struct packet* pkt,
                                                const struct skouter_config* cfg,
                                                enum skouter_hook hook, __u64 now) {
  if (pkt->is_fragment) {
    /* Only the first fragment could be held; the client would never reassemble it. */
    count(SKOUTER_CNT_DNS_ANSWER_FRAGMENT);
    return VERDICT_PASS;
  }
  struct dns_header_start dns;
  if (load_dns_header(skb, pkt, &dns) < 0 || !(dns.flags1 & DNS_FLAG_QR)) return VERDICT_PASS;

  struct skouter_dns_query_key key = {};
  dns_query_key(pkt->family, pkt->dport, dns.id, pkt->daddr, &key);
  struct skouter_dns_query_value* query = bpf_map_lookup_elem(&dns_queries, &key);
  if (!query) {
    count(SKOUTER_CNT_DNS_ANSWER_UNSOLICITED);
    return VERDICT_PASS;
  }
  if (!daemon_alive(cfg, now)) {
    /* DNS must not go dark while the daemon is away; enforcement goes on. */
    bpf_map_delete_elem(&dns_queries, &key);
    count(SKOUTER_CNT_DNS_ANSWER_FAILSAFE);
    return VERDICT_PASS;
  }

  __u32 len = skb->len;
  if (len > SKOUTER_MAX_FRAME) {
    count(SKOUTER_CNT_DNS_ANSWER_TOO_LARGE);
    return VERDICT_PASS;
  }
  __u32 zero = 0;
  struct answer_record* record = bpf_map_lookup_elem(&answer_scratch, &zero);
  if (!record || len == 0) return VERDICT_PASS;
  /* Re-derive the bound in a form the verifier tracks through the helper calls. */
  len &= 0x3fff;
  if (len > SKOUTER_MAX_FRAME || len == 0) return VERDICT_PASS;
  if (bpf_skb_load_bytes(skb, 0, record->frame, len) < 0) return VERDICT_PASS;

  record->header.received_ns = now;
  record->header.ifindex = skb->ifindex;
  record->header.hook = hook;
  record->header.identity = query->identity;
  record->header.frame_len = len;
  record->header.l3_offset = pkt->l3_offset;
  record->header.l4_offset = pkt->l4_offset;
  if (bpf_ringbuf_output(&answers, record, sizeof(record->header) + len, 0) < 0) {
    /* Never release an answer whose addresses are not installed: the client's retry
     * finds the query still recorded. */
    count(SKOUTER_CNT_DNS_ANSWER_RINGBUF_FULL);
    return VERDICT_DROP;
  }
  bpf_map_delete_elem(&dns_queries, &key);
  count(SKOUTER_CNT_DNS_ANSWER_PUNTED);
  return VERDICT_DROP;
}

#endif /* SKOUTER_BPF_LIB_DNS_H */
