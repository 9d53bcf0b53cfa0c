/* Learning while the daemon is away: an answer from a trusted resolver that passes
 * because the daemon's heartbeat is stale has its addresses installed by the program
 * that sees it, when the workload's policy allows the name asked by an exact name or
 * a `*.` suffix (learnable_names), so a name first resolved meanwhile opens as it
 * would with the daemon there. The daemon adopts what was learned when it is back.
 *
 * Only what the daemon would install, and less: the answer is read in one walk,
 * conservatively. Anything unexpected in it (a malformed or truncated record, a
 * forward compression pointer, a question that is not the recorded query's) installs
 * nothing; names that only a regex or a bare `*` allows are not in learnable_names and
 * stay closed until the daemon is back. Answers over TCP are not learned. */
#ifndef SKOUTER_BPF_LIB_LEARN_H
#define SKOUTER_BPF_LIB_LEARN_H

#include "../name_hash.h"
#include "dns_wire.h"
#include "maps.h"
#include "parse.h"

/* A question name of more labels is not learned: each suffix is looked up. */
#define LEARN_MAX_LABELS 32
/* The records of the answer section read; an answer with more learns from these
 * only (resolvers put a CNAME chain before the addresses it leads to). */
#define LEARN_MAX_RECORDS 16
/* The names an address record may be owned by: the question's and the targets of up
 * to 7 CNAME records in a row; the rest of a longer chain is not learned. */
#define LEARN_MAX_CHAIN 8
/* The longest name in wire form (RFC 1035 section 3.1). */
#define LEARN_MAX_WIRE_NAME 255
/* The labels of the longest name: one byte each and their lengths. */
#define LEARN_MAX_NAME_LABELS 128

#define NANOS_PER_SECOND 1000000000ULL
/* RFC 2181 section 8: a TTL with the most significant bit set is read as zero. */
#define DNS_TTL_MAX 0x7fffffffU

#define FNV1A32_BASIS 2166136261U
#define FNV1A32_PRIME 16777619U

/* Loop state kept in scratch memory, through volatile accesses: the verifier knows
 * nothing of a value read from a map, so the iterations of a loop that keeps its state
 * there differ only in the loop counter, however the data branched on the way. The
 * same state in registers, where the verifier tracks every value, would multiply the
 * paths it walks by the values it takes (one per count of labels or addresses). */
#define OPAQUE(field) (*(volatile typeof(field)*)&(field))

struct learned_address {
  __u32 ttl_s;
  __u8 family;
  __u8 pad[3];
  __u8 addr[16];
};

/* What one answer's walk keeps, per CPU: too much for the BPF stack. */
struct learn_scratch {
  __u8 question[SKOUTER_MAX_QUESTION]; /* the answer's question section, as received */
  /* At the offset of the length byte after each label of the question's name: the
   * label's hash, and the offset of its own length byte. */
  __u64 label_hashes[LEARN_MAX_WIRE_NAME + 1];
  __u8 label_starts[LEARN_MAX_WIRE_NAME + 1];
  __u32 loaded;                 /* bytes of the message copied to question */
  __u32 next_length;            /* where the next length byte of the question's name is */
  __u32 links;                  /* names in chain */
  __u32 found;                  /* addresses kept in addresses */
  __u32 end;                    /* the offset just past the message */
  __u16 chain[LEARN_MAX_CHAIN]; /* offsets in the message of the names in the chain */
  struct learned_address addresses[LEARN_MAX_RECORDS];
  struct skouter_learned_name_value name;   /* the question's name, dotted, lower case */
  struct skouter_learned_name_key name_key; /* of the address being installed */
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct learn_scratch);
} learn_scratch SEC(".maps") __weak;

/* The question of an answer, once read. */
struct learn_question {
  __u32 wire_len;  /* the name's bytes in the message, the root's included */
  __u32 name_hash; /* FNV-1a 32 of the dotted name, as learned_names keys it */
};

/* Letters, digits, '-' and '_' (host names, and service labels such as _http): the
 * bytes of the names the daemon's patterns match. A name with any other byte in a label
 * (a dot, say, which would make its dotted form another name) is not learned. */
static __always_inline int learnable_byte(__u8 byte) {
  __u8 lower = byte | 0x20;
  return (lower >= 'a' && lower <= 'z') || (byte >= '0' && byte <= '9') || byte == '-' ||
         byte == '_';
}

static __always_inline __u8 lower_case(__u8 byte) {
  return byte >= 'A' && byte <= 'Z' ? byte | 0x20 : byte;
}

/* Reads the question of the message from `message` to `end`: one name of uncompressed
 * labels, all learnable, asked as `asked_question` (the recorded query's, of
 * `asked_len` bytes) asked it (names compare without case), of class IN and type A or
 * AAAA unless `any_type` (a query's own question, checked against itself). Puts each
 * label's hash and where the label starts in scratch at the offset of the length byte
 * that follows the label, and the dotted name in scratch->name. Returns the offset of
 * the answer section, or 0 when the question is not one to learn from.
 *
 * Only the offset in the name is a loop counter the verifier must tell apart: the
 * labels are not counted here (learnable_rule() walks them back from the last), so
 * the walks of names of as many bytes in different labels are one to the verifier. */
static __always_inline __u32 learn_question(struct __sk_buff* skb, __u32 message, __u32 end,
                                            const __u8* asked_question, __u32 asked_len,
                                            int any_type, __u64 seed, struct learn_scratch* scratch,
                                            struct learn_question* question) {
  __u32 offset = message + DNS_HEADER_LEN;
  if (end <= offset) return 0;
  /* Zeros after what the message holds: the walk needs no bound of its own, and ends
   * at the first (a name cut short ends there, or in a label: not learnable). */
  __builtin_memset(scratch->question, 0, sizeof(scratch->question));
  OPAQUE(scratch->loaded) = load_question(skb, offset, end - offset, scratch->question);

  __u64 label_hash = 0;
  __u32 label_start = 0; /* the offset of the current label's length byte */
  __u32 name_hash = FNV1A32_BASIS;
  __u32 wire_len = 0;
  __builtin_memset(&scratch->name, 0, sizeof(scratch->name));
  OPAQUE(scratch->next_length) = 0;
  /* 64 bits wide: clang turns a 32-bit counter and its `i - 1` into arithmetic that
   * wraps at 2^32, which the verifier refuses on a map value pointer. */
  for (__u64 i = 0; i < LEARN_MAX_WIRE_NAME; i++) {
    __u8 byte = scratch->question[i];
    __u8 asked = asked_question[i];
    if (i != OPAQUE(scratch->next_length)) {
      if (!learnable_byte(byte)) return 0;
      byte = lower_case(byte);
      if (lower_case(asked) != byte) return 0;
      label_hash = skouter_label_byte(label_hash, byte);
    } else {
      /* A label's length: compression pointers are not taken in a question. */
      if (asked != byte || byte > DNS_MAX_LABEL) return 0;
      if (i > 0) {
        scratch->label_hashes[i] = skouter_label_end(label_hash, i - label_start - 1);
        scratch->label_starts[i] = label_start;
      }
      if (byte == 0) {
        wire_len = i + 1;
        break;
      }
      label_start = i;
      OPAQUE(scratch->next_length) = i + 1 + byte;
      label_hash = skouter_label_start(seed);
      byte = '.';
    }
    /* The dotted name is the wire form without its first length byte, each other
     * length a dot. */
    if (i > 0) {
      scratch->name.name[i - 1] = byte;
      name_hash = (name_hash ^ byte) * FNV1A32_PRIME;
    }
  }
  /* The root alone, or a name longer than any. */
  if (wire_len < 2) return 0;

  /* Type and class, as asked: the recorded query holds them after the name. */
  if (wire_len + 4 > OPAQUE(scratch->loaded) || wire_len + 4 > asked_len) return 0;
  const __u8* type_class = &scratch->question[wire_len];
  const __u8* asked = &asked_question[wire_len];
  if (type_class[0] != asked[0] || type_class[1] != asked[1] || type_class[2] != asked[2] ||
      type_class[3] != asked[3])
    return 0;
  __u16 type = (__u16)type_class[0] << 8 | type_class[1];
  __u16 class = (__u16)type_class[2] << 8 | type_class[3];
  if (!any_type && (class != DNS_CLASS_IN || (type != DNS_TYPE_A && type != DNS_TYPE_AAAA)))
    return 0;

  question->wire_len = wire_len;
  question->name_hash = name_hash;
  return offset + wire_len + 4;
}

/* The entry of learnable_names that allows the question's name to `identity`, as the
 * daemon's policy would: the exact name first, then the longest `*.` suffix above it.
 * Entries of rule 0 only make names queryable (lib/query.h): they count when
 * `queryable`, and are passed over otherwise.
 * The hash of each suffix is its first label's pushed onto its parent's, so one pass
 * over the labels from the last to the first yields them all. A name of more than
 * LEARN_MAX_LABELS labels is not learned. */
static __always_inline const struct skouter_learnable_name_value* learnable_rule(
    __u32 identity, __u64 seed, const struct learn_scratch* scratch,
    const struct learn_question* question, int queryable) {
  const struct skouter_learnable_name_value* rule = NULL;
  struct skouter_learnable_name_key key = {.identity = identity};
  __u64 hash = skouter_suffix_root(seed);
  __u32 label_end = question->wire_len - 1; /* the root's length byte ends the last label */
  for (__u32 i = 0; i < LEARN_MAX_LABELS; i++) {
    label_end &= LEARN_MAX_WIRE_NAME; /* a bound the verifier can see */
    hash = skouter_suffix_push(hash, scratch->label_hashes[label_end]);
    label_end = scratch->label_starts[label_end]; /* and the previous label's end */
    key.hash = hash;
    if (label_end == 0) {
      key.kind = SKOUTER_LEARNABLE_EXACT;
      const struct skouter_learnable_name_value* exact =
          bpf_map_lookup_elem(&learnable_names, &key);
      return exact && (exact->rule_id != 0 || queryable) ? exact : rule;
    }
    key.kind = SKOUTER_LEARNABLE_BELOW;
    const struct skouter_learnable_name_value* below = bpf_map_lookup_elem(&learnable_names, &key);
    /* A longer suffix than any before. */
    if (below && (below->rule_id != 0 || queryable)) rule = below;
  }
  return NULL;
}

/* The offset a compression pointer in `bytes` leads to. */
static __always_inline __u32 pointer_target(const __u8* bytes) {
  return (__u32)(bytes[0] & ~DNS_LABEL_KIND) << 8 | bytes[1];
}

/* The offset just past the name at `offset`: labels, ending in the root or in a
 * compression pointer, which must point back (and is not followed). -1 when the name is
 * malformed or runs past `end`. A global function: the verifier walks it once, not for
 * every record. */
__attribute__((noinline, weak)) int dns_skip_name(struct __sk_buff* skb, __u32 offset, __u32 end,
                                                  __u32 message) {
  __u32 start = offset;
  for (int i = 0; i < LEARN_MAX_NAME_LABELS; i++) {
    __u8 bytes[2];
    if (offset >= end || bpf_skb_load_bytes(skb, offset, bytes, 1) < 0) return -1;
    if (bytes[0] == 0) return offset + 1;
    if ((bytes[0] & DNS_LABEL_KIND) == DNS_POINTER) {
      if (offset + 2 > end || bpf_skb_load_bytes(skb, offset, bytes, 2) < 0) return -1;
      if (pointer_target(bytes) >= offset - message) return -1;
      return offset + 2;
    }
    if (bytes[0] > DNS_MAX_LABEL) return -1;
    offset += 1 + bytes[0];
    if (offset - start >= LEARN_MAX_WIRE_NAME) return -1;
  }
  return -1;
}

static __always_inline int in_chain(const struct learn_scratch* scratch, __u32 offset) {
  __u32 links = OPAQUE(scratch->links);
  for (__u32 i = 0; i < LEARN_MAX_CHAIN; i++) {
    if (i >= links) break;
    if (scratch->chain[i] == offset) return 1;
  }
  return 0;
}

/* Where the name a CNAME record leads to is in the message: at its RDATA, or, when
 * that is a compression pointer, where the pointer leads. -1 when malformed. */
static __always_inline int cname_target(struct __sk_buff* skb, __u32 message, __u32 rdata,
                                        __u32 rdlength) {
  __u8 bytes[2];
  if (rdlength < 1 || bpf_skb_load_bytes(skb, rdata, bytes, 1) < 0) return -1;
  if ((bytes[0] & DNS_LABEL_KIND) == 0) return rdata - message;
  if ((bytes[0] & DNS_LABEL_KIND) != DNS_POINTER || rdlength < 2 ||
      bpf_skb_load_bytes(skb, rdata, bytes, 2) < 0)
    return -1;
  __u32 target = pointer_target(bytes);
  return target < rdata - message ? (int)target : -1;
}

/* Reads the first LEARN_MAX_RECORDS of the `records` answer records from `offset`, and
 * keeps in scratch->addresses those of the A and AAAA records (class IN) owned by a
 * name in the chain: the question's, then the target of each CNAME record owned by
 * one. A record counts as owned by a name only when its owner is a compression pointer
 * to where that name is written, as resolvers write them: a record whose owner is
 * written out is skipped, whatever its name. Returns how many addresses were kept, or
 * -1 when a record is malformed or runs past the message's end (scratch->end, out of the
 * verifier's sight like the counts): then none may be learned. */
static __always_inline int learn_records(struct __sk_buff* skb, __u32 message, __u32 offset,
                                         __u32 records, struct learn_scratch* scratch) {
  scratch->chain[0] = DNS_HEADER_LEN;
  OPAQUE(scratch->links) = 1;
  OPAQUE(scratch->found) = 0;
  for (__u32 r = 0; r < LEARN_MAX_RECORDS; r++) {
    if (r >= records) break;
    __u8 owner[2];
    if (offset + sizeof(owner) > OPAQUE(scratch->end) ||
        bpf_skb_load_bytes(skb, offset, owner, sizeof(owner)) < 0)
      return -1;
    int chained = 0;
    if ((owner[0] & DNS_LABEL_KIND) == DNS_POINTER) {
      __u32 target = pointer_target(owner);
      if (target >= offset - message) return -1;
      chained = in_chain(scratch, target);
      offset += sizeof(owner);
    } else {
      int after = dns_skip_name(skb, offset, OPAQUE(scratch->end), message);
      if (after < 0) return -1;
      offset = after;
    }

    struct dns_record_fixed fixed;
    if (offset + sizeof(fixed) > OPAQUE(scratch->end) ||
        bpf_skb_load_bytes(skb, offset, &fixed, sizeof(fixed)) < 0)
      return -1;
    __u32 rdata = offset + sizeof(fixed);
    __u32 rdlength = bpf_ntohs(fixed.rdlength);
    if (rdata + rdlength > OPAQUE(scratch->end)) return -1;
    offset = rdata + rdlength;
    if (!chained || fixed.class != bpf_htons(DNS_CLASS_IN)) continue;

    __u16 type = bpf_ntohs(fixed.type);
    if (type == DNS_TYPE_CNAME) {
      int target = cname_target(skb, message, rdata, rdlength);
      if (target < 0) return -1;
      __u32 links = OPAQUE(scratch->links);
      if (links < LEARN_MAX_CHAIN) {
        scratch->chain[links & (LEARN_MAX_CHAIN - 1)] = target;
        OPAQUE(scratch->links) = links + 1;
      }
    } else if ((type == DNS_TYPE_A && rdlength == 4) || (type == DNS_TYPE_AAAA && rdlength == 16)) {
      __u32 found = OPAQUE(scratch->found);
      struct learned_address* address = &scratch->addresses[found & (LEARN_MAX_RECORDS - 1)];
      __builtin_memset(address->addr, 0, sizeof(address->addr));
      int loaded = type == DNS_TYPE_A ? bpf_skb_load_bytes(skb, rdata, address->addr, 4)
                                      : bpf_skb_load_bytes(skb, rdata, address->addr, 16);
      if (loaded < 0) return -1;
      __u32 ttl = bpf_ntohl(fixed.ttl);
      address->ttl_s = ttl > DNS_TTL_MAX ? 0 : ttl;
      address->family = type == DNS_TYPE_A ? SKOUTER_FAMILY_IPV4 : SKOUTER_FAMILY_IPV6;
      OPAQUE(scratch->found) = found + 1;
    }
  }
  return OPAQUE(scratch->found);
}

/* As the daemon's expiryFor (resolver/answer_handler.cc), so an address expires alike
 * whoever learned it. */
static __always_inline __u64 learned_expiry(__u64 now, __u32 ttl_s,
                                            const struct skouter_learning_settings* settings) {
  __u32 ttl = ttl_s < settings->max_ttl_s ? ttl_s : settings->max_ttl_s;
  if (ttl < settings->min_ttl_s) ttl = settings->min_ttl_s;
  __u64 exact = now + (__u64)ttl * NANOS_PER_SECOND + (__u64)settings->grace_s * NANOS_PER_SECOND;
  return settings->grace_s ? exact / NANOS_PER_SECOND * NANOS_PER_SECOND : exact;
}

/* The count of what `identity` learned since the daemon last cleared it. NULL when the
 * map has no room for it: then it learns nothing more. */
static __always_inline __u32* learning_budget_slot(__u32 identity) {
  __u32* used = bpf_map_lookup_elem(&learning_budget_used, &identity);
  if (used) return used;
  __u32 none = 0;
  /* Another CPU may make it first: either way it is there after. */
  bpf_map_update_elem(&learning_budget_used, &identity, &none, BPF_NOEXIST);
  return bpf_map_lookup_elem(&learning_budget_used, &identity);
}

/* Installs the `found` addresses in scratch for `identity` under `rule`, each with the
 * question's name. An address already allowed keeps its rule and ports and only gets
 * the later expiry of the two. Each address that brings anything new (the address or
 * its name) takes one from the identity's budget; once it is spent, the rest of the
 * answer is not learned. Two CPUs may both take the last one: an identity can exceed
 * its budget by an address per CPU. */
static __always_inline enum skouter_counter learn_install(
    __u32 identity, __u32 rule_id, __u32 port_set, const struct learn_question* question,
    __u32 found, struct learn_scratch* scratch, const struct skouter_learning_settings* settings,
    __u64 now) {
  int installed = 0;
  for (__u32 i = 0; i < LEARN_MAX_RECORDS; i++) {
    if (i >= found) break;
    const struct learned_address* address = &scratch->addresses[i];
    struct skouter_learned_name_key* name_key = &scratch->name_key;
    __builtin_memset(name_key, 0, sizeof(*name_key));
    name_key->ip.identity = identity;
    name_key->ip.ip.family = address->family;
    copy_addr(name_key->ip.ip.addr, address->addr);
    name_key->name_hash = question->name_hash;
    __u64 expiry = learned_expiry(now, address->ttl_s, settings);

    struct skouter_allowed_ip_value* current = bpf_map_lookup_elem(&allowed_ips, &name_key->ip);
    int named = bpf_map_lookup_elem(&learned_names, name_key) != NULL;
    if (!current || !named) {
      __u32* used = learning_budget_slot(identity);
      if (!used || *used >= settings->budget) return SKOUTER_CNT_LEARNING_BUDGET_EXHAUSTED;
      __sync_fetch_and_add(used, 1);
      if (!current) {
        struct skouter_allowed_ip_value value = {
            .expiry_ns = expiry, .rule_id = rule_id, .port_set = port_set};
        bpf_map_update_elem(&allowed_ips, &name_key->ip, &value, BPF_NOEXIST);
      }
      if (!named) bpf_map_update_elem(&learned_names, name_key, &scratch->name, BPF_NOEXIST);
    }
    /* 0 never expires. */
    if (current && current->expiry_ns != 0 && current->expiry_ns < expiry)
      current->expiry_ns = expiry;
    installed = 1;
  }
  return installed ? SKOUTER_CNT_DNS_ANSWER_LEARNED : SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED;
}

static __always_inline enum skouter_counter learn_answer(
    struct __sk_buff* skb, const struct packet* pkt, const struct skouter_dns_query_value* query,
    __u64 now) {
  __u32 zero = 0;
  const struct skouter_learning_settings* settings = bpf_map_lookup_elem(&learning, &zero);
  if (!settings || settings->seed == 0 || settings->budget == 0)
    return SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED;
  struct learn_scratch* scratch = bpf_map_lookup_elem(&learn_scratch, &zero);
  if (!scratch) return SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED;

  /* The message is what the UDP length says, as the client's socket reads it. */
  struct udphdr udp;
  if (bpf_skb_load_bytes(skb, pkt->l4_offset, &udp, sizeof(udp)) < 0)
    return SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED;
  __u32 message = pkt->l4_offset + sizeof(udp);
  __u32 end = pkt->l4_offset + bpf_ntohs(udp.len);
  struct dns_header header;
  if (end > pkt->l3_end || end < message + sizeof(header) ||
      bpf_skb_load_bytes(skb, message, &header, sizeof(header)) < 0)
    return SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED;
  /* A truncated answer lacks records: the client asks again over TCP. */
  if (!(header.start.flags1 & DNS_FLAG_QR) || (header.start.flags1 & DNS_OPCODE_MASK) ||
      (header.start.flags1 & DNS_FLAG_TC) || (header.start.flags2 & DNS_RCODE_MASK) ||
      header.qdcount != bpf_htons(1))
    return SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED;

  struct learn_question question = {};
  __u32 records = learn_question(skb, message, end, query->question, query->question_len, 0,
                                 settings->seed, scratch, &question);
  if (!records) return SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED;
  const struct skouter_learnable_name_value* rule =
      learnable_rule(query->identity, settings->seed, scratch, &question, 0);
  if (!rule) return SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED;
  __u32 rule_id = rule->rule_id;
  __u32 port_set = rule->port_set;

  OPAQUE(scratch->end) = end;
  int found = learn_records(skb, message, records, bpf_ntohs(header.ancount), scratch);
  /* No address (NODATA, or a chain that leads out of the answer): nothing to learn. */
  if (found <= 0) return SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED;
  return learn_install(query->identity, rule_id, port_set, &question, found, scratch, settings,
                       now);
}

/* An answer to `query` that passes while the daemon is away (UDP only): learns its
 * addresses when its name is learnable, and counts which of LEARNED, NOT_LEARNED and
 * LEARNING_BUDGET_EXHAUSTED came of it. A global function: the verifier walks it once.
 * The query must still be recorded: its question is what the answer is checked
 * against. */
__attribute__((noinline, weak)) int dns_learn_answer(struct __sk_buff* skb,
                                                     const struct packet* pkt,
                                                     const struct skouter_dns_query_value* query,
                                                     __u64 now, __u32 hook) {
  if (!pkt || !query) return 0;
  enum skouter_counter outcome = learn_answer(skb, pkt, query, now);
  count(hook, outcome);
  return 0;
}

#endif /* SKOUTER_BPF_LIB_LEARN_H */
