/* Yardsticks for bench/egress_verdict_bench.cc, timed beside uplink_egress on the same
 * frames: a tc program that does nothing, and one that does the least any map-based
 * firewall does per packet, one hash lookup keyed by the destination address. What
 * uplink_egress costs is then read as a multiple of them, which holds from one machine
 * to the next where nanoseconds do not. Not part of the datapath. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* The family and a 16-byte address, as skouter's own address keys hold them. */
struct reference_key {
  __u32 family; /* 4 or 6 */
  __u8 addr[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct reference_key);
  __type(value, __u32);
} reference_destinations SEC(".maps");

SEC("tc")
int reference_empty(struct __sk_buff* skb) { return TC_ACT_OK; }

/* The headers are read in place (direct packet access), the cheapest way there is. A
 * destination not in the map is dropped, so that the verdict shows the lookup hit. */
SEC("tc")
int reference_one_lookup(struct __sk_buff* skb) {
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > data_end) return TC_ACT_SHOT;
  struct reference_key key = {};
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = (void*)(eth + 1);
    if ((void*)(ip + 1) > data_end) return TC_ACT_SHOT;
    key.family = 4;
    __builtin_memcpy(key.addr, &ip->daddr, 4);
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip = (void*)(eth + 1);
    if ((void*)(ip + 1) > data_end) return TC_ACT_SHOT;
    key.family = 6;
    __builtin_memcpy(key.addr, &ip->daddr, 16);
  } else {
    return TC_ACT_SHOT;
  }
  return bpf_map_lookup_elem(&reference_destinations, &key) ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
