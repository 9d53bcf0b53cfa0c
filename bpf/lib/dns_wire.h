/* The DNS message format (RFC 1035) as the programs read it. */
#ifndef SKOUTER_BPF_LIB_DNS_WIRE_H
#define SKOUTER_BPF_LIB_DNS_WIRE_H

#include "common.h"

#define DNS_HEADER_LEN 12

/* In the first flags byte. */
#define DNS_FLAG_QR 0x80     /* 1 = response */
#define DNS_OPCODE_MASK 0x78 /* 0 = QUERY */
#define DNS_FLAG_TC 0x02     /* truncated: the client asks again over TCP */
/* In the second flags byte. */
#define DNS_RCODE_MASK 0x0f /* 0 = no error */

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1

/* A label's length byte: its top two bits set make it a compression pointer, whose
 * other 14 bits are the offset of the rest of the name in the message; 01 and 10 are
 * not in use. */
#define DNS_LABEL_KIND 0xc0
#define DNS_POINTER 0xc0
#define DNS_MAX_LABEL 63

struct dns_header_start {
  __be16 id;
  __u8 flags1;
  __u8 flags2;
};

struct dns_header {
  struct dns_header_start start;
  __be16 qdcount;
  __be16 ancount;
  __be16 nscount;
  __be16 arcount;
};

/* What follows a record's owner name. */
struct dns_record_fixed {
  __be16 type;
  __be16 class;
  __be32 ttl;
  __be16 rdlength;
} __attribute__((packed));

/* Copies up to SKOUTER_MAX_QUESTION of the `available` bytes at `offset` to
 * `question`; returns how many (0 when none could be read). 64 bits wide, so the
 * compiler has no zero-extension to put between the bounds check and the copy that
 * would hide the bounds from the verifier. */
static __always_inline __u16 load_question(struct __sk_buff* skb, __u32 offset, __u32 available,
                                           __u8* question) {
  __u64 len = available;
  if (len > SKOUTER_MAX_QUESTION) len = SKOUTER_MAX_QUESTION;
  if (len < 1) return 0;
  if (bpf_skb_load_bytes(skb, offset, question, len) < 0) return 0;
  return (__u16)len;
}

#endif /* SKOUTER_BPF_LIB_DNS_WIRE_H */
