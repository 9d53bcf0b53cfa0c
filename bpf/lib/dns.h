/* The DNS side of the datapath: note each query a policed workload sends to a trusted
 * resolver, and hold back the matching answer until the daemon has installed its
 * addresses. */
#ifndef SKOUTER_BPF_LIB_DNS_H
#define SKOUTER_BPF_LIB_DNS_H

#include "dns_wire.h"
#include "learn.h"
#include "maps.h"
#include "parse.h"

/* The frame as it goes into the answers ring buffer; a scratch copy per CPU, because
 * a record this large does not fit on the BPF stack. A per-CPU map cannot hold values
 * over 32 KiB, so this is an array with one slot per CPU (its size is set at load
 * time); tc programs are not migrated while they run. */
struct answer_record {
  struct skouter_answer_header header;
  __u8 frame[SKOUTER_MAX_FRAME];
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
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

/* The query's question, copied to the map through a per-CPU buffer: it does not fit
 * on the BPF stack beside the rest of the program's state. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct skouter_dns_query_value);
} query_scratch SEC(".maps") __weak;

static __always_inline void dns_query_key(__u8 family, __u8 protocol, __be16 client_port,
                                          __be16 dns_id, const __u8* client,
                                          struct skouter_dns_query_key* key) {
  key->family = family;
  key->protocol = protocol;
  key->client_port = client_port;
  key->dns_id = dns_id;
  copy_addr(key->client, client);
}

#define CHECKSUM_CHUNK 512 /* the most bpf_csum_diff() sums at once */
#define CHECKSUM_CHUNKS 4  /* a query of more than 2 KiB is not checked: not recorded */

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u8[CHECKSUM_CHUNK + 4]); /* + a word the verifier may think rounding adds */
} checksum_scratch SEC(".maps") __weak;

static __always_inline __u32 fold_checksum(__u64 sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (sum & 0xffff) + (sum >> 16);
}

/* Whether the resolver's kernel will take this UDP datagram, as far as its checksum
 * goes. A socket's datagram leaves with CHECKSUM_PARTIAL: the stack or the NIC fills
 * the checksum in. One written whole (a raw or packet socket: CHECKSUM_NONE) leaves
 * as written, and a receiver drops it when the checksum is wrong: such a "query" never
 * reaches the resolver, and an accomplice told its port and id could answer it at
 * leisure. bpf_csum_level() reports only CHECKSUM_UNNECESSARY, which an increment
 * makes of CHECKSUM_NONE and nothing else: probe, then undo. A global function: the
 * verifier walks it once, not at every call site. */
__attribute__((noinline, weak)) int udp_checksum_acceptable(struct __sk_buff* skb, __u32 l3_offset,
                                                            __u32 l4_offset, __u32 l3_end,
                                                            __u32 family) {
  if (bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY) >= 0) return 1;
  bpf_csum_level(skb, BPF_CSUM_LEVEL_INC);
  if (bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY) < 0) return 1; /* partial or complete */
  bpf_csum_level(skb, BPF_CSUM_LEVEL_RESET);

  struct udphdr udp;
  if (bpf_skb_load_bytes(skb, l4_offset, &udp, sizeof(udp)) < 0) return 0;
  __u32 length = bpf_ntohs(udp.len);
  if (length < sizeof(udp) || l4_offset + length > l3_end) return 0;
  if (udp.check == 0) return family == SKOUTER_FAMILY_IPV4; /* IPv4: no checksum */
  if (length > CHECKSUM_CHUNK * CHECKSUM_CHUNKS) return 0;

  /* The pseudo-header: the addresses, the protocol, the UDP length (RFC 768, 8200). */
  struct {
    __u8 addresses[32];
    __be32 length;
    __be32 protocol;
  } pseudo = {};
  __u32 address_bytes = family == SKOUTER_FAMILY_IPV4 ? 4 : 16;
  __u32 addresses_at = l3_offset + (family == SKOUTER_FAMILY_IPV4 ? 12 : 8);
  if (bpf_skb_load_bytes(skb, addresses_at, pseudo.addresses, address_bytes * 2 & 0x3f) < 0)
    return 0;
  pseudo.length = bpf_htonl(length);
  pseudo.protocol = bpf_htonl(IPPROTO_UDP);
  __s64 sum = bpf_csum_diff(NULL, 0, (__be32*)&pseudo, sizeof(pseudo), 0);

  __u32 zero = 0;
  __u8* chunk = bpf_map_lookup_elem(&checksum_scratch, &zero);
  if (!chunk || sum < 0) return 0;
  for (__u32 i = 0; i < CHECKSUM_CHUNKS; i++) {
    __u32 offset = i * CHECKSUM_CHUNK;
    if (offset >= length) break;
    __u32 size = length - offset;
    if (size > CHECKSUM_CHUNK) size = CHECKSUM_CHUNK;
    /* The last chunk is padded with zeros to whole words, as the checksum pads. */
    *(__u32*)(chunk + ((size & ~3u) & (CHECKSUM_CHUNK - 4))) = 0;
    size &= CHECKSUM_CHUNK * 2 - 1; /* bounds the verifier can see */
    if (size == 0 || size > CHECKSUM_CHUNK) return 0;
    if (bpf_skb_load_bytes(skb, l4_offset + offset, chunk, size) < 0) return 0;
    __u32 words = (size + 3) & (CHECKSUM_CHUNK * 2 - 4);
    if (words > CHECKSUM_CHUNK) return 0;
    sum = bpf_csum_diff(NULL, 0, (__be32*)chunk, words, (__wsum)sum);
    if (sum < 0) return 0;
  }
  return fold_checksum((__u32)sum) == 0xffff;
}

/* The per-CPU scratch query value, made fresh for `identity` at `now`: no question yet,
 * no flags. */
static __always_inline struct skouter_dns_query_value* fresh_query_value(__u32 identity,
                                                                         __u64 now) {
  __u32 zero = 0;
  struct skouter_dns_query_value* value = bpf_map_lookup_elem(&query_scratch, &zero);
  if (!value) return 0;
  value->sent_ns = now;
  value->identity = identity;
  value->question_len = 0;
  value->flags = 0;
  return value;
}

/* Returns 1 when the query is recorded: then query_scratch holds it as recorded. */
static __always_inline int dns_record_udp_query(struct __sk_buff* skb, const struct packet* pkt,
                                                __u32 identity, __u64 now, enum skouter_hook hook) {
  struct dns_header_start dns;
  if (load_dns_header(skb, pkt, &dns) < 0 || (dns.flags1 & DNS_FLAG_QR)) return 0;
  /* A datagram the resolver's kernel drops is no query: nothing may answer it. */
  if (!udp_checksum_acceptable(skb, pkt->l3_offset, pkt->l4_offset, pkt->l3_end, pkt->family))
    return 0;

  struct skouter_dns_query_value* value = fresh_query_value(identity, now);
  if (!value) return 0;
  __u32 question_offset = pkt->l4_offset + sizeof(struct udphdr) + DNS_HEADER_LEN;
  if (pkt->l3_end > question_offset)
    value->question_len =
        load_question(skb, question_offset, pkt->l3_end - question_offset, value->question);

  struct skouter_dns_query_key key = {};
  dns_query_key(pkt->family, IPPROTO_UDP, pkt->sport, dns.id, pkt->saddr, &key);
  if (bpf_map_update_elem(&dns_queries, &key, value, BPF_ANY) != 0) return 0;
  count(hook, SKOUTER_CNT_DNS_QUERY_RECORDED);
  return 1;
}

#define TCP_QUERIES_PER_SEGMENT 4 /* more pipelined in one segment are not recorded */

/* The queries that start in one TCP segment a policed workload sends to a resolver,
 * each a 2-byte length and a message, as clients write them (one send each, or a few
 * back to back): each is recorded like a UDP query, so that an answer on the
 * connection installs only when it answers one (id and question). A query that does
 * not start in a segment of its own is not recorded, and its answer installs nothing.
 * A global function: the verifier walks it once, not at every call site. */
__attribute__((noinline, weak)) int dns_record_tcp_queries(struct __sk_buff* skb,
                                                           const struct packet* pkt, __u32 identity,
                                                           __u64 now, __u32 hook) {
  if (!pkt) return 0;
  __u32 offset = pkt->l4_offset + pkt->tcp_header_len;
  __u32 end = pkt->l3_end;
  int recorded = 0;
  for (int i = 0; i < TCP_QUERIES_PER_SEGMENT; i++) {
    struct {
      __be16 length;
      struct dns_header_start dns;
    } start;
    if (offset + sizeof(start) > end || bpf_skb_load_bytes(skb, offset, &start, sizeof(start)) < 0)
      break;
    __u32 length = bpf_ntohs(start.length);
    if (length < DNS_HEADER_LEN || (start.dns.flags1 & DNS_FLAG_QR)) break;
    struct skouter_dns_query_value* value = fresh_query_value(identity, now);
    if (!value) break;
    __u32 question_offset = offset + 2 + DNS_HEADER_LEN;
    __u32 message_end = offset + 2 + length;
    __u32 available = (message_end < end ? message_end : end);
    if (available > question_offset)
      value->question_len =
          load_question(skb, question_offset, available - question_offset, value->question);
    struct skouter_dns_query_key key = {};
    dns_query_key(pkt->family, IPPROTO_TCP, pkt->sport, start.dns.id, pkt->saddr, &key);
    key.kind = SKOUTER_DNS_TCP_QUERY;
    bpf_map_update_elem(&dns_queries, &key, value, BPF_ANY);
    count(hook, SKOUTER_CNT_DNS_QUERY_RECORDED);
    recorded++;
    offset = message_end;
  }
  return recorded;
}

/* A TCP connection to a resolver: everything the resolver sends back on it is held.
 * Each segment of the client refreshes the record, so the daemon can forget those of
 * connections long closed; a record of another workload (an address and port reused)
 * or of an earlier connection (the client's SYN opens a new one) is replaced, so the
 * resolver's segments are held for the workload that sends now, and read from the
 * start of the connection it opens. */
static __always_inline void dns_record_tcp_connection(struct __sk_buff* skb,
                                                      const struct packet* pkt, __u32 identity,
                                                      __u64 now, enum skouter_hook hook) {
  struct skouter_dns_query_key key = {};
  dns_query_key(pkt->family, IPPROTO_TCP, pkt->sport, 0, pkt->saddr, &key);
  struct skouter_dns_query_value* recorded = bpf_map_lookup_elem(&dns_queries, &key);
  if (recorded && recorded->identity == identity && !(pkt->tcp_flags & TCP_FLAG_SYN)) {
    recorded->sent_ns = now;
  } else {
    struct skouter_dns_query_value* value = fresh_query_value(identity, now);
    if (!value) return;
    bpf_map_update_elem(&dns_queries, &key, value, BPF_ANY);
    count(hook, SKOUTER_CNT_DNS_QUERY_RECORDED);
  }
  if (pkt->l3_end > pkt->l4_offset + pkt->tcp_header_len)
    dns_record_tcp_queries(skb, pkt, identity, now, hook);
}

/* Traffic leaving a policed workload for a trusted resolver. Returns 1 when it is a
 * UDP query, recorded (query_scratch holds it as recorded). A global function: the
 * verifier walks it once, not along every path of the programs that reach it. */
__attribute__((noinline, weak)) int dns_record_query(struct __sk_buff* skb,
                                                     const struct packet* pkt, __u32 identity,
                                                     __u64 now, __u32 hook) {
  if (!pkt || pkt->is_later_fragment) return 0;
  if (pkt->protocol == IPPROTO_UDP) return dns_record_udp_query(skb, pkt, identity, now, hook);
  if (pkt->protocol == IPPROTO_TCP) dns_record_tcp_connection(skb, pkt, identity, now, hook);
  return 0;
}

static __always_inline int daemon_alive(const struct skouter_config* cfg, __u64 now) {
  __u32 key = 0;
  struct skouter_heartbeat* beat = bpf_map_lookup_elem(&heartbeat, &key);
  /* The daemon may beat between this program's reading of the clock and of the beat. */
  return beat && beat->last_beat_ns != 0 &&
         elapsed_since(beat->last_beat_ns, now) <= cfg->failsafe_ns;
}

/* Answers are held on the way to a workload: into the host (uplink ingress) or into
 * a pod (its interface's egress). */
static __always_inline enum skouter_answer_destination answer_destination(enum skouter_hook hook) {
  return hook == SKOUTER_HOOK_POD_EGRESS ? SKOUTER_ANSWER_TO_POD : SKOUTER_ANSWER_TO_HOST;
}

/* Whether `identity` may put `footprint` more bytes into the answers ring: what it
 * holds there unread (punted, less what the daemon consumed) must stay within `quota`
 * (0: no quota), so that one workload whose resolver answers faster than the daemon
 * reads cannot fill the ring that every workload's answers go through. Counted only
 * once the record is in the ring (answer_ring_count): two CPUs may both pass this
 * check before either counts, so an identity can exceed its quota by a record per
 * CPU. A global function: the verifier walks it once. */
__attribute__((noinline, weak)) int answer_ring_admits(__u32 identity, __u64 footprint,
                                                       __u64 quota) {
  if (quota == 0) return 1;
  const struct skouter_answer_bytes* punted = bpf_map_lookup_elem(&answer_bytes_punted, &identity);
  const struct skouter_answer_bytes* consumed =
      bpf_map_lookup_elem(&answer_bytes_consumed, &identity);
  __u64 put = punted ? punted->bytes : 0;
  __u64 read = consumed ? consumed->bytes : 0;
  /* The daemon may read a record before its bytes are counted here. */
  __u64 held = put > read ? put - read : 0;
  return held + footprint <= quota;
}

/* Counts `footprint` bytes that a record of `identity` takes in the answers ring.
 * Only after the record is in: a count taken back on failure could, after the daemon
 * removed the entry and another CPU made a new one, go below zero. Without room for
 * a new entry the record goes uncounted. A global function: the verifier walks it
 * once. */
__attribute__((noinline, weak)) int answer_ring_count(__u32 identity, __u64 footprint) {
  struct skouter_answer_bytes* punted = bpf_map_lookup_elem(&answer_bytes_punted, &identity);
  if (!punted) {
    struct skouter_answer_bytes first = {.bytes = footprint};
    if (bpf_map_update_elem(&answer_bytes_punted, &identity, &first, BPF_NOEXIST) == 0) return 0;
    punted = bpf_map_lookup_elem(&answer_bytes_punted, &identity); /* another CPU made it */
    if (!punted) return 0;
  }
  __sync_fetch_and_add(&punted->bytes, footprint);
  return 0;
}

/* Why a frame did not go into the answers ring. */
enum punt_result {
  PUNT_OK = 0,
  PUNT_FAILED,    /* no scratch slot, or the frame could not be read */
  PUNT_TOO_LARGE, /* larger than SKOUTER_MAX_FRAME */
  PUNT_OVER_QUOTA,
  PUNT_RING_FULL,
};

/* What a held frame is, for the daemon: the answers ring's record header less what
 * is read from the packet. */
struct punt_label {
  __u32 identity;
  __u32 destination; /* enum skouter_answer_destination */
  __u8 flags;
  __u16 question_len;
  const __u8* question; /* SKOUTER_MAX_QUESTION bytes; NULL: none */
};

/* Copies the frame into the answers ring buffer. */
static __always_inline enum punt_result punt_frame(struct __sk_buff* skb, const struct packet* pkt,
                                                   const struct punt_label* label,
                                                   const struct skouter_config* cfg, __u64 now) {
  __u32 cpu = bpf_get_smp_processor_id();
  struct answer_record* record = bpf_map_lookup_elem(&answer_scratch, &cpu);
  if (!record) return PUNT_FAILED;
  __u32 len = skb->len;
  if (len > SKOUTER_MAX_FRAME) return PUNT_TOO_LARGE;
  __u64 footprint = SKOUTER_RINGBUF_FOOTPRINT(sizeof(record->header) + len);
  if (!answer_ring_admits(label->identity, footprint, cfg->answer_quota_bytes))
    return PUNT_OVER_QUOTA;
  /* A bound the verifier can see where it needs it: the compiler would otherwise fold
   * these into the check above, on a copy the verifier does not connect to this one. */
  asm volatile("" : "+r"(len));
  len &= 0xffff;
  if (len == 0) return PUNT_FAILED;
  if (bpf_skb_load_bytes(skb, 0, record->frame, len) < 0) return PUNT_FAILED;

  record->header.received_ns = now;
  record->header.ifindex = skb->ifindex;
  record->header.destination = label->destination;
  record->header.identity = label->identity;
  record->header.frame_len = len;
  record->header.l3_offset = pkt->l3_offset;
  record->header.l4_offset = pkt->l4_offset;
  record->header.protocol = pkt->protocol;
  record->header.flags = label->flags;
  record->header.question_len = label->question_len;
  if (label->question)
    __builtin_memcpy(record->header.question, label->question, SKOUTER_MAX_QUESTION);
  else
    __builtin_memset(record->header.question, 0, SKOUTER_MAX_QUESTION);
  if (bpf_ringbuf_output(&answers, record, sizeof(record->header) + len, 0) < 0)
    return PUNT_RING_FULL;
  answer_ring_count(label->identity, footprint);
  return PUNT_OK;
}

/* The verdict on a frame now in the answers ring, held for the daemon, which sends it
 * on its way (or not) itself. On the way out of the host a drop is an error the
 * sending socket sees: TCP would take held data for unsent and ignore the server's
 * acknowledgement of the copy the daemon releases until it has sent the data again,
 * a retransmission timeout later (200 ms or more). Redirected to a sink that discards
 * it, it counts as sent. (TC_ACT_STOLEN would do under clsact, but tcx takes it for
 * "next program".) A pod's packet is held on its way in from the pod, where nobody
 * sees the drop. */
static __always_inline int held_frame_verdict(enum skouter_hook hook,
                                              const struct skouter_config* cfg) {
  if (hook == SKOUTER_HOOK_UPLINK_EGRESS && cfg->held_sink_ifindex != 0)
    return bpf_redirect(cfg->held_sink_ifindex, 0);
  return VERDICT_DROP;
}

/* Holds a DNS answer (or a segment of one) for the daemon. Returns 0 when it is in
 * the ring. */
static __always_inline int punt_answer(struct __sk_buff* skb, const struct packet* pkt,
                                       const struct skouter_dns_query_value* query,
                                       const struct skouter_config* cfg, enum skouter_hook hook,
                                       __u64 now) {
  const struct punt_label label = {
      .identity = query->identity,
      .destination = answer_destination(hook),
      .flags = (__u8)query->flags,
      .question_len = query->question_len,
      .question = query->question,
  };
  switch (punt_frame(skb, pkt, &label, cfg, now)) {
    case PUNT_OK:
      return 0;
    case PUNT_TOO_LARGE:
      count(hook, SKOUTER_CNT_DNS_ANSWER_TOO_LARGE);
      return -1;
    case PUNT_OVER_QUOTA:
      count(hook, SKOUTER_CNT_DNS_ANSWER_OVER_QUOTA);
      return -1;
    case PUNT_RING_FULL:
      count(hook, SKOUTER_CNT_DNS_ANSWER_RINGBUF_FULL);
      return -1;
    default:
      return -1;
  }
}

/* A UDP packet from a trusted resolver. Returns the tc verdict: an answer to a
 * recorded query is copied to the daemon and dropped (the daemon re-injects it once
 * its addresses are installed); anything else that answers no recorded query is
 * dropped, whatever it holds. The query stays recorded: the daemon forgets it once
 * an answer to it, the same question included, is installed, so an answer that does
 * not match (spoofed with a guessed id and port) never stops the real one. */
static __always_inline int dns_intercept_udp(struct __sk_buff* skb, const struct packet* pkt,
                                             const struct skouter_config* cfg,
                                             enum skouter_hook hook, __u64 now) {
  if (pkt->is_later_fragment) {
    /* No UDP header to match; useless to the client without the first fragment. */
    count(hook, SKOUTER_CNT_DNS_ANSWER_FRAGMENT);
    return VERDICT_PASS;
  }
  struct dns_header_start dns;
  struct skouter_dns_query_value* query = NULL;
  struct skouter_dns_query_key key = {};
  if (load_dns_header(skb, pkt, &dns) == 0) {
    dns_query_key(pkt->family, IPPROTO_UDP, pkt->dport, dns.id, pkt->daddr, &key);
    query = bpf_map_lookup_elem(&dns_queries, &key);
  }
  if (!query || !(dns.flags1 & DNS_FLAG_QR)) {
    /* Spoofed, late, a second answer to one query, or no answer at all: it must not
     * reach the client. */
    count(hook, SKOUTER_CNT_DNS_ANSWER_UNSOLICITED);
    return VERDICT_DROP;
  }
  if (query->identity == SKOUTER_UNPOLICED_IDENTITY) {
    bpf_map_delete_elem(&dns_queries, &key);
    return VERDICT_PASS;
  }
  if (pkt->is_fragment) {
    /* Only the first fragment could be held; the client would never reassemble it.
     * Passed uninstalled: what it names stays closed. */
    bpf_map_delete_elem(&dns_queries, &key);
    count(hook, SKOUTER_CNT_DNS_ANSWER_FRAGMENT);
    return VERDICT_PASS;
  }
  if (!daemon_alive(cfg, now)) {
    /* DNS must not go dark while the daemon is away; enforcement goes on, and what a
     * learnable name resolves to is installed here (lib/learn.h). The query goes after:
     * its question is what the answer is checked against. */
    dns_learn_answer(skb, pkt, query, now, hook);
    bpf_map_delete_elem(&dns_queries, &key);
    count(hook, SKOUTER_CNT_DNS_ANSWER_FAILSAFE);
    return VERDICT_PASS;
  }
  /* Never release an answer whose addresses are not installed: when the copy fails,
   * the client's retry finds the query still recorded. */
  if (punt_answer(skb, pkt, query, cfg, hook, now) < 0) return VERDICT_DROP;
  count(hook, SKOUTER_CNT_DNS_ANSWER_PUNTED);
  return VERDICT_DROP;
}

/* A TCP segment from a trusted resolver. Segments carrying data on a connection a
 * policed workload opened are held like UDP answers; the daemon reassembles the
 * stream and releases each segment once the answers it completes are installed. */
static __always_inline int dns_intercept_tcp(struct __sk_buff* skb, const struct packet* pkt,
                                             const struct skouter_config* cfg,
                                             enum skouter_hook hook, __u64 now) {
  if (pkt->is_fragment) {
    count(hook, SKOUTER_CNT_DNS_ANSWER_FRAGMENT);
    return VERDICT_PASS;
  }
  struct skouter_dns_query_key key = {};
  dns_query_key(pkt->family, IPPROTO_TCP, pkt->dport, 0, pkt->daddr, &key);
  struct skouter_dns_query_value* connection = bpf_map_lookup_elem(&dns_queries, &key);
  /* Not a policed workload's connection */
  if (!connection || connection->identity == SKOUTER_UNPOLICED_IDENTITY) return VERDICT_PASS;
  if ((pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK)) {
    /* Where the resolver's stream starts: the daemon reads it from there only. */
    if (bpf_skb_load_bytes(skb, pkt->l4_offset + 4, connection->question, 4) == 0)
      connection->flags |= SKOUTER_CONNECTION_STARTED;
    return VERDICT_PASS;
  }
  __u32 data_offset = pkt->l4_offset + pkt->tcp_header_len;
  if (pkt->l3_end <= data_offset) return VERDICT_PASS; /* ACK, FIN, RST */
  if (!daemon_alive(cfg, now)) {
    /* Not learned (lib/learn.h): a segment need not hold a whole message, nor start
     * one. What it names opens once the daemon is back. */
    count(hook, SKOUTER_CNT_DNS_ANSWER_FAILSAFE);
    return VERDICT_PASS;
  }
  /* A segment that cannot be copied is dropped: TCP retransmits it. */
  if (punt_answer(skb, pkt, connection, cfg, hook, now) < 0) return VERDICT_DROP;
  count(hook, SKOUTER_CNT_DNS_TCP_SEGMENT_HELD);
  return VERDICT_DROP;
}

#endif /* SKOUTER_BPF_LIB_DNS_H */
