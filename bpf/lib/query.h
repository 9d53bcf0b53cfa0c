/* Queries policed: a workload whose policy polices its queries (spec.queries: deny,
 * --deny-queries) sends a trusted resolver only queries for names its policy allows,
 * so that data written into query names (DNS tunnelling) never leaves the node.
 *
 * Over UDP, a query whose name the programs find in learnable_names (an exact name or
 * a `*.` suffix of the policy, or a name only made queryable: the cluster's) goes out
 * at once. Any other is held for the daemon (SKOUTER_QUERY_FROM_*), which judges its
 * name with the whole policy (regexes too): it sends an allowed query on its way, and
 * answers a denied one itself (daemon/query_gate.h). Over TCP nothing is held: a
 * segment goes out only when every query in it is for a name the programs find, and
 * is dropped otherwise. */
#ifndef SKOUTER_BPF_LIB_QUERY_H
#define SKOUTER_BPF_LIB_QUERY_H

#include "dns.h"
#include "learn.h"
#include "maps.h"
#include "parse.h"

/* What the programs make of a query's name. */
enum query_name {
  QUERY_NAME_UNLISTED = 0, /* not in learnable_names, or not readable here: the daemon judges */
  QUERY_NAME_LISTED = 1,   /* allowed by an exact name, a suffix, or as a cluster name */
};

/* Whether the question of the query from `message` to `end` (one name of learnable
 * bytes, any type) is in `identity`'s learnable_names. A global function: the
 * verifier walks the name once, not at every call site. */
__attribute__((noinline, weak)) int query_name_listed(struct __sk_buff* skb, __u32 message,
                                                      __u32 end, __u32 identity) {
  __u32 zero = 0;
  const struct skouter_learning_settings* settings = bpf_map_lookup_elem(&learning, &zero);
  if (!settings || settings->seed == 0) return QUERY_NAME_UNLISTED;
  struct learn_scratch* scratch = bpf_map_lookup_elem(&learn_scratch, &zero);
  if (!scratch) return QUERY_NAME_UNLISTED;
  struct learn_question question = {};
  /* The query is its own reference: its name is read, not compared with another. */
  if (!learn_question(skb, message, end, scratch->question, SKOUTER_MAX_QUESTION, 1, settings->seed,
                      scratch, &question))
    return QUERY_NAME_UNLISTED;
  return learnable_rule(identity, settings->seed, scratch, &question, 1) ? QUERY_NAME_LISTED
                                                                         : QUERY_NAME_UNLISTED;
}

/* Whether a query the daemon allowed is being received again, the same question
 * under the same id and port (the recorded `query`); its release is used up. */
static __always_inline int query_released(const struct packet* pkt, __be16 dns_id,
                                          const struct skouter_dns_query_value* query) {
  struct skouter_dns_query_key key = {};
  dns_query_key(pkt->family, IPPROTO_UDP, pkt->sport, dns_id, pkt->saddr, &key);
  const struct skouter_released_query* released = bpf_map_lookup_elem(&released_queries, &key);
  if (!released || released->question_len != query->question_len) return 0;
  for (__u32 i = 0; i < SKOUTER_MAX_QUESTION; i++) {
    if (i >= query->question_len) break;
    if (released->question[i] != query->question[i]) return 0;
  }
  bpf_map_delete_elem(&released_queries, &key);
  return 1;
}

static __always_inline int police_udp_query(struct __sk_buff* skb, const struct packet* pkt,
                                            __u32 identity, int recorded,
                                            const struct skouter_config* cfg, __u64 now,
                                            enum skouter_hook hook) {
  /* Not recorded: no query a resolver takes (a response, a bad checksum). */
  __u32 zero = 0;
  const struct skouter_dns_query_value* query = bpf_map_lookup_elem(&query_scratch, &zero);
  struct udphdr udp;
  struct dns_header header;
  __u32 message = pkt->l4_offset + sizeof(udp);
  if (!recorded || !query || bpf_skb_load_bytes(skb, pkt->l4_offset, &udp, sizeof(udp)) < 0 ||
      bpf_skb_load_bytes(skb, message, &header, sizeof(header)) < 0) {
    count(hook, SKOUTER_CNT_DNS_QUERY_DENIED);
    return VERDICT_DROP;
  }
  __u32 end = pkt->l4_offset + bpf_ntohs(udp.len);
  /* Only a standard query of one question names what it asks for. */
  if (end > pkt->l3_end || (header.start.flags1 & DNS_OPCODE_MASK) ||
      header.qdcount != bpf_htons(1)) {
    count(hook, SKOUTER_CNT_DNS_QUERY_DENIED);
    return VERDICT_DROP;
  }
  enum skouter_counter passed = SKOUTER_CNT_MAX;
  if (query_name_listed(skb, message, end, identity) == QUERY_NAME_LISTED)
    passed = SKOUTER_CNT_DNS_QUERY_ALLOWED;
  else if (query_released(pkt, header.start.id, query))
    passed = SKOUTER_CNT_DNS_QUERY_RELEASED;
  else if (!daemon_alive(cfg, now))
    /* Nobody would judge it: DNS must not go dark while the daemon is away. */
    passed = SKOUTER_CNT_DNS_QUERY_UNCHECKED;
  if (passed != SKOUTER_CNT_MAX) {
    count(hook, passed);
    count(hook, SKOUTER_CNT_EGRESS_ALLOWED_RESOLVER);
    return VERDICT_PASS;
  }
  const struct punt_label label = {
      .identity = identity,
      .destination =
          hook == SKOUTER_HOOK_POD_INGRESS ? SKOUTER_QUERY_FROM_POD : SKOUTER_QUERY_FROM_HOST,
      .question_len = query->question_len,
      .question = query->question,
  };
  /* Not copied: dropped all the same; the client asks again. */
  if (punt_frame(skb, pkt, &label, cfg, now) != PUNT_OK) {
    count(hook, SKOUTER_CNT_DNS_QUERY_HOLD_FAILED);
    return VERDICT_DROP;
  }
  count(hook, SKOUTER_CNT_DNS_QUERY_HELD);
  return held_frame_verdict(hook, cfg);
}

/* A TCP segment to a resolver: its data must be whole queries (at most
 * TCP_QUERIES_PER_SEGMENT), each for a listed name. */
static __always_inline int police_tcp_queries(struct __sk_buff* skb, const struct packet* pkt,
                                              __u32 identity, enum skouter_hook hook) {
  __u32 offset = pkt->l4_offset + pkt->tcp_header_len;
  __u32 end = pkt->l3_end;
  for (int i = 0; i < TCP_QUERIES_PER_SEGMENT; i++) {
    if (offset >= end) break;
    struct {
      __be16 length;
      struct dns_header header;
    } start;
    if (offset + sizeof(start) > end || bpf_skb_load_bytes(skb, offset, &start, sizeof(start)) < 0)
      break;
    __u32 message = offset + 2;
    __u32 message_end = message + bpf_ntohs(start.length);
    if (message_end > end || (start.header.start.flags1 & (DNS_FLAG_QR | DNS_OPCODE_MASK)) ||
        start.header.qdcount != bpf_htons(1) ||
        query_name_listed(skb, message, message_end, identity) != QUERY_NAME_LISTED)
      break;
    offset = message_end;
  }
  if (offset != end) {
    count(hook, SKOUTER_CNT_DNS_QUERY_DENIED);
    return VERDICT_DROP;
  }
  if (end > pkt->l4_offset + pkt->tcp_header_len) count(hook, SKOUTER_CNT_DNS_QUERY_ALLOWED);
  count(hook, SKOUTER_CNT_EGRESS_ALLOWED_RESOLVER);
  return VERDICT_PASS;
}

/* The verdict on a packet of a workload whose queries are policed to a trusted
 * resolver; `recorded`: dns_record_query() recorded it as a UDP query. A global
 * function: the verifier walks it once. */
__attribute__((noinline, weak)) int dns_police_query(struct __sk_buff* skb,
                                                     const struct packet* pkt, __u32 identity,
                                                     int recorded, __u32 hook) {
  const struct skouter_config* cfg = config_get();
  __u64 now = now_ns();
  if (!pkt || !cfg) return VERDICT_DROP;
  /* Queries are never that large: a fragment can only hide what it carries. */
  if (pkt->is_fragment) {
    count(hook, SKOUTER_CNT_DNS_QUERY_DENIED);
    return VERDICT_DROP;
  }
  if (pkt->protocol == IPPROTO_UDP)
    return police_udp_query(skb, pkt, identity, recorded, cfg, now, hook);
  if (pkt->protocol == IPPROTO_TCP) return police_tcp_queries(skb, pkt, identity, hook);
  return VERDICT_DROP;
}

#endif /* SKOUTER_BPF_LIB_QUERY_H */
