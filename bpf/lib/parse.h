/* Packet parsing for tc programs. Offsets are never fixed: VLAN tags, IPv4 options and
 * IPv6 extension headers move the headers that follow. Everything is read with
 * bpf_skb_load_bytes, which bounds-checks at run time, so odd packets fail to parse
 * instead of confusing the verifier or the policy. */
#ifndef SKOUTER_BPF_LIB_PARSE_H
#define SKOUTER_BPF_LIB_PARSE_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include "common.h"

#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)
#define ETH_P_QINQ1_BE bpf_htons(0x9100)
#define ETH_P_MPLS_UC_BE bpf_htons(0x8847)
#define ETH_P_MPLS_MC_BE bpf_htons(0x8848)
/* QinQ: a customer tag inside a service tag. A deeper stack is not parsed, and since
 * a receiver may strip the tags (VLAN 0 is a mere priority tag) and route what is
 * inside, such a frame counts as IP that cannot be parsed. */
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT_HEADERS 6
/* The longest IPv4 options field: 15 header words less the 5 of the fixed header. */
#define IPV4_MAX_OPTIONS 40
#define IPV4_OPT_END 0
#define IPV4_OPT_NOOP 1
#define IPV4_OPT_LSRR 131
#define IPV4_OPT_SSRR 137

#define IPV6_NEXTHDR_HOP 0
#define IPV6_NEXTHDR_ROUTING 43
#define IPV6_NEXTHDR_FRAGMENT 44
#define IPV6_NEXTHDR_AUTH 51
#define IPV6_NEXTHDR_DEST 60

#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV4_MORE_FRAGMENTS 0x2000

/* From linux/icmp.h and linux/icmpv6.h, which drag in libc headers. */
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

enum parse_result {
  PARSE_OK = 0,
  PARSE_NOT_IP,    /* ARP, LLDP, ...: not ours to judge */
  PARSE_MALFORMED, /* truncated headers, too many extension headers or VLAN tags, MPLS */
  /* An IPv4 loose or strict source route, or an IPv6 routing header with segments
   * left: the destination field names only the next hop, and where the packet ends is
   * up to the routers on the way. */
  PARSE_SOURCE_ROUTED,
};

struct packet {
  __u8 family;            /* SKOUTER_FAMILY_* */
  __u8 protocol;          /* the upper-layer protocol after extension headers */
  __u8 is_fragment;       /* any fragment, the first included */
  __u8 is_later_fragment; /* a non-first fragment: no upper-layer header */
  __u8 has_ports;         /* TCP, UDP, SCTP, or ICMP echo (identifier as source port) */
  __u8 tcp_flags;
  __u8 icmp_type;
  __u8 tcp_header_len; /* TCP: bytes of header, options included */
  __u32 l3_offset;
  __u32 l4_offset;
  __u32 l3_end; /* offset just past the IP datagram (Ethernet padding excluded) */
  __be16 sport;
  __be16 dport;
  __u8 saddr[16];
  __u8 daddr[16];
};

struct vlan_tag {
  __be16 tci;
  __be16 encapsulated_proto;
};

static __always_inline int is_vlan(__be16 proto) {
  return proto == ETH_P_8021Q_BE || proto == ETH_P_8021AD_BE || proto == ETH_P_QINQ1_BE;
}

static __always_inline int parse_ethernet(struct __sk_buff* skb, __be16* proto, __u32* offset) {
  struct ethhdr eth;
  if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0) return PARSE_MALFORMED;
  *proto = eth.h_proto;
  *offset = sizeof(eth);
#pragma unroll
  for (int i = 0; i < MAX_VLAN_TAGS; i++) {
    if (!is_vlan(*proto)) break;
    struct vlan_tag tag;
    if (bpf_skb_load_bytes(skb, *offset, &tag, sizeof(tag)) < 0) return PARSE_MALFORMED;
    *proto = tag.encapsulated_proto;
    *offset += sizeof(tag);
  }
  /* What is inside could be IP; MPLS carries IP to a router that takes labels. */
  if (is_vlan(*proto) || *proto == ETH_P_MPLS_UC_BE || *proto == ETH_P_MPLS_MC_BE)
    return PARSE_MALFORMED;
  return PARSE_OK;
}

/* Whether the IPv4 options (`len` bytes after the fixed header) hold a source route.
 * Options are type-length-value, but End and No-Operation are a single byte. A global
 * function (weak, so every program file may define it), which the verifier checks
 * once on its own: walked inline, every path through the options would multiply the
 * paths of the whole program. */
__attribute__((noinline, weak)) int ipv4_source_routed(struct __sk_buff* skb, __u32 offset,
                                                       __u32 len) {
  __u32 at = 0;
  /* A bounded loop the verifier walks: at most one step per option byte. */
  for (int i = 0; i < IPV4_MAX_OPTIONS; i++) {
    if (at >= len) break;
    /* The type, and the length of all but the single-byte options. */
    __u8 option[2];
    if (bpf_skb_load_bytes(skb, offset + at, option, sizeof(option)) < 0) break;
    if (option[0] == IPV4_OPT_END) break;
    if (option[0] == IPV4_OPT_LSRR || option[0] == IPV4_OPT_SSRR) return 1;
    if (option[0] == IPV4_OPT_NOOP) {
      at += 1;
      continue;
    }
    if (option[1] < 2) break; /* malformed: the receiver stops here too */
    at += option[1];
  }
  return 0;
}

static __always_inline int parse_ipv4(struct __sk_buff* skb, struct packet* pkt) {
  struct iphdr ip;
  if (bpf_skb_load_bytes(skb, pkt->l3_offset, &ip, sizeof(ip)) < 0) return PARSE_MALFORMED;
  if (ip.version != 4 || ip.ihl < 5) return PARSE_MALFORMED;
  pkt->family = SKOUTER_FAMILY_IPV4;
  pkt->protocol = ip.protocol;
  __u16 frag_off = bpf_ntohs(ip.frag_off);
  pkt->is_later_fragment = (frag_off & IPV4_FRAG_OFFSET_MASK) != 0;
  pkt->is_fragment = pkt->is_later_fragment || (frag_off & IPV4_MORE_FRAGMENTS);
  pkt->l4_offset = pkt->l3_offset + ip.ihl * 4;
  pkt->l3_end = pkt->l3_offset + bpf_ntohs(ip.tot_len);
  if (ip.ihl > 5 && ipv4_source_routed(skb, pkt->l3_offset + sizeof(ip), (ip.ihl - 5) * 4))
    return PARSE_SOURCE_ROUTED;
  __builtin_memcpy(pkt->saddr, &ip.saddr, 4);
  __builtin_memcpy(pkt->daddr, &ip.daddr, 4);
  return PARSE_OK;
}

struct ipv6_ext_header {
  __u8 nexthdr;
  __u8 hdrlen;
  union {
    __be16 fragment_offset; /* in a fragment header */
    struct {
      __u8 routing_type; /* in a routing header */
      __u8 segments_left;
    };
  };
};

static __always_inline int parse_ipv6(struct __sk_buff* skb, struct packet* pkt) {
  struct ipv6hdr ip;
  if (bpf_skb_load_bytes(skb, pkt->l3_offset, &ip, sizeof(ip)) < 0) return PARSE_MALFORMED;
  if (ip.version != 6) return PARSE_MALFORMED;
  pkt->family = SKOUTER_FAMILY_IPV6;
  pkt->l3_end = pkt->l3_offset + sizeof(ip) + bpf_ntohs(ip.payload_len);
  __builtin_memcpy(pkt->saddr, &ip.saddr, 16);
  __builtin_memcpy(pkt->daddr, &ip.daddr, 16);

  __u8 nexthdr = ip.nexthdr;
  __u32 offset = pkt->l3_offset + sizeof(ip);
  /* One pass per extension header, and one more to reach the upper layer behind the
   * last of them. */
#pragma unroll
  for (int i = 0; i <= MAX_IPV6_EXT_HEADERS; i++) {
    struct ipv6_ext_header ext;
    switch (nexthdr) {
      case IPV6_NEXTHDR_ROUTING:
        if (bpf_skb_load_bytes(skb, offset, &ext, sizeof(ext)) < 0) return PARSE_MALFORMED;
        /* Segments left: the packet is bound for another address after this one. */
        if (ext.segments_left != 0) return PARSE_SOURCE_ROUTED;
        nexthdr = ext.nexthdr;
        offset += (ext.hdrlen + 1) * 8;
        break;
      case IPV6_NEXTHDR_HOP:
      case IPV6_NEXTHDR_DEST:
        if (bpf_skb_load_bytes(skb, offset, &ext, 2) < 0) return PARSE_MALFORMED;
        nexthdr = ext.nexthdr;
        offset += (ext.hdrlen + 1) * 8;
        break;
      case IPV6_NEXTHDR_AUTH:
        if (bpf_skb_load_bytes(skb, offset, &ext, 2) < 0) return PARSE_MALFORMED;
        nexthdr = ext.nexthdr;
        offset += (ext.hdrlen + 2) * 4;
        break;
      case IPV6_NEXTHDR_FRAGMENT:
        if (bpf_skb_load_bytes(skb, offset, &ext, sizeof(ext)) < 0) return PARSE_MALFORMED;
        nexthdr = ext.nexthdr;
        /* The low three bits are flags; the rest is the offset in 8-byte units. */
        pkt->is_fragment = 1;
        if (bpf_ntohs(ext.fragment_offset) & ~7) pkt->is_later_fragment = 1;
        offset += 8;
        break;
      default:
        pkt->protocol = nexthdr;
        pkt->l4_offset = offset;
        return PARSE_OK;
    }
  }
  return PARSE_MALFORMED;
}

static __always_inline int parse_l4(struct __sk_buff* skb, struct packet* pkt) {
  if (pkt->is_later_fragment) return PARSE_OK;
  switch (pkt->protocol) {
    case IPPROTO_TCP: {
      struct tcphdr tcp;
      if (bpf_skb_load_bytes(skb, pkt->l4_offset, &tcp, sizeof(tcp)) < 0) return PARSE_MALFORMED;
      pkt->sport = tcp.source;
      pkt->dport = tcp.dest;
      pkt->tcp_flags = ((__u8*)&tcp)[13];
      pkt->tcp_header_len = tcp.doff * 4;
      pkt->has_ports = 1;
      return PARSE_OK;
    }
    case IPPROTO_SCTP:
    case IPPROTO_UDP: {
      /* An SCTP common header starts with the ports, as a UDP header does. */
      struct udphdr udp;
      if (bpf_skb_load_bytes(skb, pkt->l4_offset, &udp, sizeof(udp)) < 0) return PARSE_MALFORMED;
      pkt->sport = udp.source;
      pkt->dport = udp.dest;
      pkt->has_ports = 1;
      return PARSE_OK;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      /* type, code, checksum, then the echo identifier */
      __u8 icmp[6];
      if (bpf_skb_load_bytes(skb, pkt->l4_offset, icmp, sizeof(icmp)) < 0) return PARSE_MALFORMED;
      pkt->icmp_type = icmp[0];
      int is_echo = pkt->protocol == IPPROTO_ICMP
                        ? (icmp[0] == ICMP_ECHO || icmp[0] == ICMP_ECHOREPLY)
                        : (icmp[0] == ICMPV6_ECHO_REQUEST || icmp[0] == ICMPV6_ECHO_REPLY);
      if (is_echo) {
        /* Request and reply carry the same identifier: it stands in for the port that
         * ties a reply to its request in the flow table. */
        __builtin_memcpy(&pkt->sport, &icmp[4], 2);
        pkt->dport = 0;
        pkt->has_ports = 1;
      }
      return PARSE_OK;
    }
    default:
      return PARSE_OK;
  }
}

static __always_inline int parse_packet(struct __sk_buff* skb, struct packet* pkt) {
  __be16 proto;
  int rc = parse_ethernet(skb, &proto, &pkt->l3_offset);
  if (rc != PARSE_OK) return rc;
  if (proto == bpf_htons(ETH_P_IP))
    rc = parse_ipv4(skb, pkt);
  else if (proto == bpf_htons(ETH_P_IPV6))
    rc = parse_ipv6(skb, pkt);
  else
    return PARSE_NOT_IP;
  if (rc != PARSE_OK) return rc;
  return parse_l4(skb, pkt);
}

#endif /* SKOUTER_BPF_LIB_PARSE_H */
