/* Another BPF agent's program, for the coexistence tests: counts the packets it sees
 * and returns the verdict its loader chose, which either hands the packet to the next
 * program (TC_ACT_UNSPEC) or ends the chain (TC_ACT_OK). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_helpers.h>

const volatile int verdict = TC_ACT_UNSPEC;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} packets SEC(".maps");

SEC("tc")
int foreign_agent(struct __sk_buff* skb) {
  const __u32 key = 0;
  __u64* seen = bpf_map_lookup_elem(&packets, &key);
  if (seen) __sync_fetch_and_add(seen, 1);
  return verdict;
}

char LICENSE[] SEC("license") = "GPL";
