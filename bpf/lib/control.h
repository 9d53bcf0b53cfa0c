/* The control traffic a workload may send without a policy rule, and only where it
 * belongs: address configuration and neighbour discovery on the link, multicast
 * membership that no router forwards, and ICMP errors about its own flows sent back
 * to the peer of that flow. Anything shaped like control traffic that goes elsewhere
 * is judged like any other packet: otherwise it would carry data to any address. */
#ifndef SKOUTER_BPF_LIB_CONTROL_H
#define SKOUTER_BPF_LIB_CONTROL_H

#include <stddef.h>

#include "flows.h"
#include "maps.h"
#include "parse.h"

#define DHCP_CLIENT_PORT 68
#define DHCP_SERVER_PORT 67
#define DHCPV6_CLIENT_PORT 546
#define DHCPV6_SERVER_PORT 547
#define ICMPV6_MLD_QUERY 130
#define ICMPV6_MLD_REPORT 131
#define ICMPV6_MLD_DONE 132
#define ICMPV6_ROUTER_SOLICIT 133
#define ICMPV6_REDIRECT 137
#define ICMPV6_MLD2_REPORT 143
/* Neighbour discovery is sent with the largest hop limit, and a receiver ignores it
 * otherwise (RFC 4861): proof that no router forwarded it. */
#define ND_HOP_LIMIT 255
/* IGMP and MLD are sent with the smallest: no router forwards them. */
#define LINK_ONLY_HOP_LIMIT 1
#define ICMP_HEADER_LEN 8

/* The checks below are global functions (weak, so that every program file may define
 * them): the verifier checks each once on its own, where inlined they would multiply
 * the paths of the whole program by their own. The verifier takes only scalars and
 * the context as their arguments, so what they need of a parsed packet travels in one
 * scalar, and they read the rest from the packet itself. */
static __always_inline __u32 packet_shape(const struct packet* pkt) {
  return pkt->family | (__u32)pkt->protocol << 8 | (__u32)pkt->is_fragment << 16;
}
#define SHAPE_FAMILY(shape) ((shape)&0xff)
#define SHAPE_PROTOCOL(shape) (((shape) >> 8) & 0xff)
#define SHAPE_FRAGMENT(shape) (((shape) >> 16) & 0xff)

/* Byte by byte: the addresses sit at offsets the verifier allows no wider load at. */
static __always_inline int addr_equal(const __u8* a, const __u8* b) {
  __u8 differ = 0;
#pragma unroll
  for (int i = 0; i < 16; i++) differ |= a[i] ^ b[i];
  return differ == 0;
}

/* Where the destination and the TTL (hop limit) are in an IP header. */
static __always_inline __u32 destination_offset(__u32 family) {
  return family == SKOUTER_FAMILY_IPV4 ? offsetof(struct iphdr, daddr)
                                       : offsetof(struct ipv6hdr, daddr);
}
static __always_inline __u32 ttl_offset(__u32 family) {
  return family == SKOUTER_FAMILY_IPV4 ? offsetof(struct iphdr, ttl)
                                       : offsetof(struct ipv6hdr, hop_limit);
}
static __always_inline __u32 address_size(__u32 family) {
  return family == SKOUTER_FAMILY_IPV4 ? 4 : 16;
}

static __always_inline int is_multicast(__u32 family, const __u8* d) {
  return family == SKOUTER_FAMILY_IPV4 ? (d[0] & 0xf0) == 0xe0 : d[0] == 0xff;
}

/* Destinations no router forwards: the IPv4 limited broadcast; IPv6 link-local
 * unicast (fe80::/10) and interface- or link-scoped multicast (ff01::/16, ff02::/16,
 * whatever the flags). */
static __always_inline int is_link_scoped(__u32 family, const __u8* d) {
  if (family == SKOUTER_FAMILY_IPV4)
    return d[0] == 255 && d[1] == 255 && d[2] == 255 && d[3] == 255;
  return (d[0] == 0xfe && (d[1] & 0xc0) == 0x80) || (d[0] == 0xff && (d[1] & 0x0f) <= 0x02);
}

/* Whether `destination` is a neighbour on the packet's link. Link-scoped addresses
 * are. Leaving the host (`from_pod` 0): an address in a prefix of the uplink it leaves
 * by (link_prefixes, the uplinks' own subnets). From a pod: the node itself or another
 * pod of the node (identities lists both), pods on one bridge being each other's
 * neighbours; a neighbour on the node's uplink is not the pod's. Another multicast
 * scope is no neighbour: multicast routers forward it.
 * (bpf_fib_lookup cannot say this: on a host that does not forward it fails outright,
 * and it answers "not forwarded" alike for a local address, a link-local source and no
 * route at all.) */
static __always_inline int is_on_link(struct __sk_buff* skb, __u32 family, const __u8* destination,
                                      __u32 from_pod) {
  if (is_link_scoped(family, destination)) return 1;
  if (is_multicast(family, destination)) return 0;
  if (from_pod) {
    struct skouter_addr neighbour = {.family = family};
    copy_addr(neighbour.addr, destination);
    return bpf_map_lookup_elem(&identities, &neighbour) != NULL;
  }
  struct skouter_link_prefix_key key = {
      .prefixlen = SKOUTER_LINK_PREFIX_FIXED_BITS + (family == SKOUTER_FAMILY_IPV4 ? 32 : 128),
      .ifindex = skb->ifindex,
      .family = family,
  };
  copy_addr(key.addr, destination);
  return bpf_map_lookup_elem(&link_prefixes, &key) != NULL;
}

/* Link-level control traffic, whose source may be no workload's address yet (DHCP
 * from 0.0.0.0, neighbour discovery from a link-local address): DHCP to the limited
 * broadcast or an on-link server, DHCPv6 to its link-scoped servers, IGMP and MLD that
 * no router forwards, neighbour discovery on the link. */
__attribute__((noinline, weak)) int is_link_control(struct __sk_buff* skb, __u32 l3_offset,
                                                    __u32 l4_offset, __u32 shape, __u32 from_pod) {
  __u32 family = SHAPE_FAMILY(shape);
  __u32 protocol = SHAPE_PROTOCOL(shape);
  if (SHAPE_FRAGMENT(shape)) return 0;
  if (protocol != IPPROTO_UDP && protocol != IPPROTO_IGMP && protocol != IPPROTO_ICMPV6) return 0;
  __u8 destination[16] = {};
  __u8 ttl;
  /* UDP: the ports; ICMPv6: the type. */
  __be16 header[2];
  if (bpf_skb_load_bytes(skb, l3_offset + destination_offset(family), destination,
                         address_size(family)) < 0 ||
      bpf_skb_load_bytes(skb, l3_offset + ttl_offset(family), &ttl, 1) < 0 ||
      bpf_skb_load_bytes(skb, l4_offset, header, sizeof(header)) < 0)
    return 0;
  if (protocol == IPPROTO_UDP) {
    if (header[0] == bpf_htons(DHCP_CLIENT_PORT) && header[1] == bpf_htons(DHCP_SERVER_PORT))
      return family == SKOUTER_FAMILY_IPV4 && is_on_link(skb, family, destination, from_pod);
    /* DHCPv6 clients send to All_DHCP_Relay_Agents_and_Servers (ff02::1:2). */
    if (header[0] == bpf_htons(DHCPV6_CLIENT_PORT) && header[1] == bpf_htons(DHCPV6_SERVER_PORT))
      return family == SKOUTER_FAMILY_IPV6 && is_link_scoped(family, destination);
    return 0;
  }
  if (protocol == IPPROTO_IGMP)
    return family == SKOUTER_FAMILY_IPV4 && is_multicast(family, destination) &&
           ttl == LINK_ONLY_HOP_LIMIT;
  __u8 type = ((const __u8*)header)[0];
  if (type == ICMPV6_MLD_QUERY || type == ICMPV6_MLD_REPORT || type == ICMPV6_MLD_DONE ||
      type == ICMPV6_MLD2_REPORT)
    return is_multicast(family, destination) && ttl == LINK_ONLY_HOP_LIMIT;
  if (type >= ICMPV6_ROUTER_SOLICIT && type <= ICMPV6_REDIRECT)
    return ttl == ND_HOP_LIMIT && is_on_link(skb, family, destination, from_pod);
  return 0;
}

static __always_inline int is_icmp_error_type(__u32 protocol, __u8 type) {
  if (protocol == IPPROTO_ICMP)
    return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
  return type == ICMPV6_DEST_UNREACH || type == ICMPV6_PKT_TOOBIG || type == ICMPV6_TIME_EXCEED ||
         type == ICMPV6_PARAMPROB;
}

/* Whether the packet is an ICMP error leaving the workload `identity` that reports on
 * a packet the workload received on one of its flows, and goes back to that packet's
 * sender (conntrack calls this RELATED). The error quotes the packet: its IP header
 * and the first bytes of what followed. */
__attribute__((noinline, weak)) int is_error_of_a_flow(struct __sk_buff* skb, __u32 l3_offset,
                                                       __u32 l4_offset, __u32 shape,
                                                       __u32 identity) {
  __u32 family = SHAPE_FAMILY(shape);
  __u32 protocol = SHAPE_PROTOCOL(shape);
  if (SHAPE_FRAGMENT(shape)) return 0; /* a quote is whole or not at all */
  if (protocol != IPPROTO_ICMP && protocol != IPPROTO_ICMPV6) return 0;
  __u8 type;
  if (bpf_skb_load_bytes(skb, l4_offset, &type, 1) < 0 || !is_icmp_error_type(protocol, type))
    return 0;
  __u8 destination[16] = {};
  if (bpf_skb_load_bytes(skb, l3_offset + destination_offset(family), destination,
                         address_size(family)) < 0)
    return 0;

  __u32 quote = l4_offset + ICMP_HEADER_LEN;
  __u32 quoted_l4;
  struct skouter_flow_key key = {.identity = identity, .family = family};
  if (family == SKOUTER_FAMILY_IPV4) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, quote, &ip, sizeof(ip)) < 0) return 0;
    if (ip.version != 4 || ip.ihl < 5) return 0;
    if (bpf_ntohs(ip.frag_off) & IPV4_FRAG_OFFSET_MASK) return 0; /* no ports to match */
    key.protocol = ip.protocol;
    __builtin_memcpy(key.remote, &ip.saddr, 4);
    __builtin_memcpy(key.local, &ip.daddr, 4);
    quoted_l4 = quote + ip.ihl * 4;
  } else {
    struct ipv6hdr ip;
    if (bpf_skb_load_bytes(skb, quote, &ip, sizeof(ip)) < 0) return 0;
    if (ip.version != 6) return 0;
    key.protocol = ip.nexthdr; /* a quote behind extension headers is not matched */
    __builtin_memcpy(key.remote, &ip.saddr, 16);
    __builtin_memcpy(key.local, &ip.daddr, 16);
    quoted_l4 = quote + sizeof(ip);
  }
  /* Reported to anyone but the sender, an error is a message to a third party. */
  if (!addr_equal(key.remote, destination)) return 0;
  switch (key.protocol) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_SCTP: {
      __be16 ports[2];
      if (bpf_skb_load_bytes(skb, quoted_l4, ports, sizeof(ports)) < 0) return 0;
      key.remote_port = ports[0];
      key.local_port = ports[1];
      break;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      /* An echo: type, code, checksum, identifier. */
      __u8 echo[6];
      if (bpf_skb_load_bytes(skb, quoted_l4, echo, sizeof(echo)) < 0) return 0;
      int is_echo = key.protocol == IPPROTO_ICMP
                        ? (echo[0] == ICMP_ECHO || echo[0] == ICMP_ECHOREPLY)
                        : (echo[0] == ICMPV6_ECHO_REQUEST || echo[0] == ICMPV6_ECHO_REPLY);
      if (!is_echo) return 0;
      __builtin_memcpy(&key.local_port, &echo[4], 2);
      break;
    }
    default:
      return 0;
  }
  return bpf_map_lookup_elem(&flows, &key) != NULL ||
         bpf_map_lookup_elem(&inbound_flows, &key) != NULL;
}

#endif /* SKOUTER_BPF_LIB_CONTROL_H */
