/* Every map of the datapath. The definitions are __weak so that each program file can
 * include this header and the BPF linker merges them into one set of maps. Each map
 * has one writer in userspace (see bpf/datapath.h); the programs only read, except for
 * the flow tables (the daemon settles flows whose server name it checked), the query table, the
 * counters, the event budget, the two ring buffers and answer_bytes_punted; and, only while the
 * daemon is away, allowed_ips, learned_names and learning_budget_used (see lib/learn.h), which the
 * daemon adopts when it is back. */
#ifndef SKOUTER_BPF_LIB_MAPS_H
#define SKOUTER_BPF_LIB_MAPS_H

#include "common.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct skouter_addr);
  __type(value, struct skouter_identity_value);
} identities SEC(".maps") __weak;

/* Sized for high-churn names (CDNs); entries are allocated on use. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 20);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct skouter_allowed_ip_key);
  __type(value, struct skouter_allowed_ip_value);
} allowed_ips SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 20);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct skouter_learned_name_key);
  __type(value, struct skouter_learned_name_value);
} learned_names SEC(".maps") __weak;

/* Room for 100 pods with 1,000 exact names or suffixes each. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 17);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct skouter_learnable_name_key);
  __type(value, struct skouter_learnable_name_value);
} learnable_names SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct skouter_learning_settings);
} learning SEC(".maps") __weak;

/* identity -> addresses it learned while the daemon was away (see
 * skouter_learning_settings.budget). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, __u32);
} learning_budget_used SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1 << 16);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct skouter_cidr_key);
  __type(value, struct skouter_cidr_value);
} allowed_cidrs SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct skouter_port_set);
} port_sets SEC(".maps") __weak;

/* rule id -> the ports on which that rule's learned addresses have their server name
 * checked (lib/server_name.h). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct skouter_server_name_rule);
} server_name_rules SEC(".maps") __weak;

/* Held queries the daemon allowed, while it receives them again (lib/query.h). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct skouter_dns_query_key);
  __type(value, struct skouter_released_query);
} released_queries SEC(".maps") __weak;

/* Flows the workloads opened. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1 << 18);
  __type(key, struct skouter_flow_key);
  __type(value, struct skouter_flow_value);
} flows SEC(".maps") __weak;

/* Flows opened from outside: a map of their own, so that packets from outside can
 * evict only each other. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1 << 18);
  __type(key, struct skouter_flow_key);
  __type(value, struct skouter_flow_value);
} inbound_flows SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32); /* ifindex */
  __type(value, struct skouter_interface_value);
} interfaces SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1024);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct skouter_link_prefix_key);
  __type(value, __u32);
} link_prefixes SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1 << 16);
  __type(key, struct skouter_dns_query_key);
  __type(value, struct skouter_dns_query_value);
} dns_queries SEC(".maps") __weak;

/* Room for a large cluster's DNS service: its cluster IPs and every endpoint, both
 * families, and a rollout's old and new endpoints at once. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, struct skouter_resolver_key);
  __type(value, struct skouter_resolver_value);
} trusted_resolvers SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} answers SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps") __weak;

/* What each identity put into the answers ring (the programs add) and what of it the
 * daemon has read (the daemon adds); see struct skouter_answer_bytes. Room for every
 * identity the identities map can name, twice over: the daemon removes an identity's
 * entries once the ring holds nothing of it. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 17);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32); /* identity */
  __type(value, struct skouter_answer_bytes);
} answer_bytes_punted SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1 << 17);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32); /* identity */
  __type(value, struct skouter_answer_bytes);
} answer_bytes_consumed SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SKOUTER_HOOKS* SKOUTER_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct skouter_event_budget);
} event_budget SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct skouter_config);
} config SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct skouter_heartbeat);
} heartbeat SEC(".maps") __weak;

/* `hook`: the program that runs, so the same reason counts apart per hook. Every
 * caller passes its program's constant down through inlined helpers. */
static __always_inline void count(enum skouter_hook hook, enum skouter_counter counter) {
  __u32 key = hook * SKOUTER_CNT_MAX + counter;
  __u64* value = bpf_map_lookup_elem(&counters, &key);
  if (value) *value += 1;
}

static __always_inline const struct skouter_config* config_get(void) {
  __u32 key = 0;
  return bpf_map_lookup_elem(&config, &key);
}

#endif /* SKOUTER_BPF_LIB_MAPS_H */
