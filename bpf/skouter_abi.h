/* Structures and constants shared by the BPF programs and the C++ daemon.
 *
 * Everything that crosses the kernel/userspace boundary is defined here once, with
 * explicit padding, so both compilers agree on the layout. The layout of the pinned
 * maps is versioned by SKOUTER_LAYOUT_VERSION: change it whenever a key, a value or
 * the size of a map below changes, so a daemon never silently reuses a map it cannot
 * read. A daemon takes over the pinned maps of its own layout and migrates those of
 * SKOUTER_MIGRATABLE_LAYOUT_VERSION; it refuses any other (see Datapath::open).
 *
 * Layout 6 (from 5): every time is CLOCK_BOOTTIME (bpf_ktime_get_boot_ns), so expiries
 * and idle flows count a suspend; identities bind each address to the interface its
 * packets arrive on and to its network namespace; flows are keyed by identity, and
 * inbound-started flows live in a map of their own (inbound_flows); the interfaces and
 * link_prefixes maps; the answer ring's per-identity accounting (answer_bytes_punted,
 * answer_bytes_consumed) and its quota in the config;
 * new counters (so the counters map is recreated).
 */
#ifndef SKOUTER_BPF_SKOUTER_ABI_H
#define SKOUTER_BPF_SKOUTER_ABI_H

#ifdef __cplusplus
#include <cstdint>
#define SKOUTER_U8 std::uint8_t
#define SKOUTER_U16 std::uint16_t
#define SKOUTER_U32 std::uint32_t
#define SKOUTER_U64 std::uint64_t
#else
#define SKOUTER_U8 __u8
#define SKOUTER_U16 __u16
#define SKOUTER_U32 __u32
#define SKOUTER_U64 __u64
#endif

#define SKOUTER_LAYOUT_VERSION 6
/* The previous layout, whose pinned maps a daemon of this layout migrates. */
#define SKOUTER_MIGRATABLE_LAYOUT_VERSION 5

/* Identity of the node's own traffic. Pod identities are allocated above it. */
#define SKOUTER_HOST_IDENTITY 1
/* The identity of queries nobody polices (forwarded through the node): their answers
 * are checked against the query and then passed, never held. */
#define SKOUTER_UNPOLICED_IDENTITY 0

#define SKOUTER_FAMILY_IPV4 4
#define SKOUTER_FAMILY_IPV6 6

/* Largest frame copied to the daemon: a whole GRO-merged TCP segment (64 KiB), so no
 * DNS answer is too large to hold. Records take only the bytes the frame has. */
#define SKOUTER_MAX_FRAME 65535

/* The question section of a query as sent, kept to check that the answer is for it:
 * the longest name (255 bytes in wire form), its type and its class. */
#define SKOUTER_MAX_QUESTION 260

/* An IPv4 address occupies the first 4 bytes of addr; the rest is zero. */
struct skouter_addr {
  SKOUTER_U8 family;
  SKOUTER_U8 pad[3];
  SKOUTER_U8 addr[16];
};

/* allowed_ips: an address learned from an allowed DNS answer. */
struct skouter_allowed_ip_key {
  SKOUTER_U32 identity;
  struct skouter_addr ip;
};

struct skouter_allowed_ip_value {
  SKOUTER_U64 expiry_ns; /* CLOCK_BOOTTIME (bpf_ktime_get_boot_ns); 0 = never expires */
  SKOUTER_U32 rule_id;
  SKOUTER_U32 port_set; /* key in port_sets; 0 = every port */
};

/* port_sets: the destination ports an allowed address or CIDR opens, interned by the
 * daemon (one entry per distinct set, shared by every address that uses it). */
#define SKOUTER_MAX_PORT_RANGES 32
struct skouter_port_range {
  SKOUTER_U16 first; /* host byte order, inclusive */
  SKOUTER_U16 last;
  SKOUTER_U8 protocol; /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP */
  SKOUTER_U8 pad[3];
};

struct skouter_port_set {
  SKOUTER_U32 count; /* ranges in use */
  SKOUTER_U32 pad;
  struct skouter_port_range ranges[SKOUTER_MAX_PORT_RANGES];
};

/* learned_names: which names resolved to a learned address. Only the daemon reads and
 * writes it; it is pinned so the names survive a restart together with the address. */
#define SKOUTER_MAX_NAME 256
struct skouter_learned_name_key {
  struct skouter_allowed_ip_key ip;
  SKOUTER_U32 name_hash; /* FNV-1a of the lower-case name */
};

struct skouter_learned_name_value {
  char name[SKOUTER_MAX_NAME]; /* NUL-terminated, lower case, no trailing dot */
};

/* learnable_names: the names each workload's policy allows by an exact name or a `*.`
 * suffix, which the programs learn from by themselves while the daemon is away (its
 * heartbeat older than failsafe_ns): an answer to such a name has its addresses
 * installed by the program that holds it, instead of passing with nothing installed.
 * Names only a regex or a bare `*` allows are not here: their answers pass uninstalled
 * while the daemon is away, as all answers did before. The same entries tell the
 * programs which queries of a workload whose queries are policed may go out without
 * waiting on the daemon (lib/query.h). Written by the daemon only. */
enum skouter_learnable_kind {
  SKOUTER_LEARNABLE_EXACT = 1, /* the name itself */
  SKOUTER_LEARNABLE_BELOW = 2, /* every name below it (`*.suffix`), never the name itself */
};

struct skouter_learnable_name_key {
  SKOUTER_U32 identity;
  SKOUTER_U32 kind; /* enum skouter_learnable_kind */
  SKOUTER_U64 hash; /* skouter_name_hash (bpf/name_hash.h) of the name or the suffix */
};

struct skouter_learnable_name_value {
  /* The rule allowing the name, as the daemon would install it; 0: the name may only be
   * queried (a cluster name, --allow-query-suffix), nothing is learned from it. */
  SKOUTER_U32 rule_id;
  SKOUTER_U32 port_set; /* that rule's ports (key in port_sets); 0 = every port */
};

/* learning: how the programs learn while the daemon is away; one entry, written by the
 * daemon. The TTL settings are the daemon's (--min-ttl, --max-ttl, --ttl-grace), so an
 * address learned either way expires alike. */
struct skouter_learning_settings {
  SKOUTER_U64 seed;      /* keys the name hashes (secret); 0 = learning off */
  SKOUTER_U32 min_ttl_s; /* a TTL below is raised to it */
  SKOUTER_U32 max_ttl_s; /* a TTL above is lowered to it; 0xffffffff = no cap */
  SKOUTER_U32 grace_s;   /* added to every TTL; with grace, expiries round to seconds */
  /* Addresses one identity may learn while the daemon is away (learning_budget_used
   * counts them; the daemon clears it when it is back); 0 = learning off. */
  SKOUTER_U32 budget;
  SKOUTER_U32 pad[2];
};

/* allowed_cidrs: static IPs and CIDRs. prefixlen counts the identity, the family byte
 * and its padding (SKOUTER_CIDR_FIXED_BITS) plus the address prefix. */
#define SKOUTER_CIDR_FIXED_BITS 64
struct skouter_cidr_key {
  SKOUTER_U32 prefixlen;
  SKOUTER_U32 identity;
  SKOUTER_U8 family;
  SKOUTER_U8 pad[3];
  SKOUTER_U8 addr[16];
};

struct skouter_cidr_value {
  SKOUTER_U32 rule_id;
  SKOUTER_U32 port_set; /* key in port_sets; 0 = every port */
};

/* identities: a workload address -> who it is. The host's identity is implicit (a
 * packet leaving the uplink that was originated locally); pods are added here, those
 * no Egress selects with SKOUTER_UNPOLICED_IDENTITY (their packets pass untouched).
 * Each address is bound to the interface the pod's packets arrive on: the same
 * address from any other interface is a neighbour posing as the pod, and is dropped. */
enum skouter_identity_flags {
  SKOUTER_IDENTITY_AUDIT = 1 << 0,       /* an Egress in mode audit selects the pod */
  SKOUTER_IDENTITY_NETNS_KNOWN = 1 << 1, /* netns_id is valid */
  /* Queries for names its policy does not allow never reach a resolver (lib/query.h). */
  SKOUTER_IDENTITY_QUERIES_POLICED = 1 << 2,
};

struct skouter_identity_value {
  SKOUTER_U32 identity;
  SKOUTER_U32 flags;   /* enum skouter_identity_flags */
  SKOUTER_U32 ifindex; /* the node-side interface the pod's packets arrive on */
  /* The pod's network namespace as the node's namespace numbers it (the peer id
   * `ip link` shows as link-netnsid), for the socket lookups that decide whether an
   * inbound datagram has a receiver. */
  SKOUTER_U32 netns_id;
};

/* flows and inbound_flows: keyed in the egress orientation (local side as source),
 * whichever side started the flow, so a reply leaving the node finds the flow its
 * peer opened. The identity is part of the key: a pod that inherits an address never
 * inherits its flows. Flows the workload opened (outbound, audited) and flows opened
 * from outside (inbound) are in separate LRU maps, so a flood of inbound packets can
 * evict only inbound flows. */
struct skouter_flow_key {
  SKOUTER_U32 identity;
  SKOUTER_U8 family;
  SKOUTER_U8 protocol;
  SKOUTER_U16 pad;
  SKOUTER_U16 local_port;  /* network byte order; ICMP echo: identifier */
  SKOUTER_U16 remote_port; /* network byte order; ICMP echo: 0 */
  SKOUTER_U8 local[16];
  SKOUTER_U8 remote[16];
};

enum skouter_flow_origin {
  SKOUTER_FLOW_OUTBOUND = 1, /* opened by the workload, allowed by policy (flows) */
  /* Opened from outside (inbound_flows): carries only the responder's side, i.e. no
   * TCP SYN without ACK and no ICMP echo request leaves on it. */
  SKOUTER_FLOW_INBOUND = 2,
  SKOUTER_FLOW_AUDITED = 3, /* denied but let through by audit; ends with the audit (flows) */
  /* To a learned address whose rule checks server names: the handshake passes, the
   * workload's data is held for the daemon (SKOUTER_HELLO_FROM_*) until it has read
   * the TLS or QUIC server name and settled the flow OUTBOUND, AUDITED or this. */
  SKOUTER_FLOW_SERVER_NAME_PENDING = 4,
  SKOUTER_FLOW_SERVER_NAME_DENIED = 5, /* its server name is not allowed: dropped */
};

struct skouter_flow_value {
  SKOUTER_U64 last_seen_ns; /* CLOCK_BOOTTIME */
  SKOUTER_U32 origin;       /* enum skouter_flow_origin */
  SKOUTER_U32 pad;
};

/* link_prefixes: the subnets of each uplink (its addresses with their prefix lengths),
 * whose addresses are neighbours on that link, for DHCP and neighbour discovery. The
 * prefix length counts the fixed part (ifindex, family, padding) too. */
#define SKOUTER_LINK_PREFIX_FIXED_BITS 64
struct skouter_link_prefix_key {
  SKOUTER_U32 prefixlen;
  SKOUTER_U32 ifindex;
  SKOUTER_U8 family;
  SKOUTER_U8 pad[3];
  SKOUTER_U8 addr[16];
};

/* interfaces: what forwarded traffic leaving an uplink is, by the interface it came in
 * on (skb->ingress_ifindex). Written by the daemon for every interface of the node. */
enum skouter_interface_kind {
  /* Carries the pod programs (a pod's veth, or a bridge of such): its traffic was
   * judged where it entered. */
  SKOUTER_INTERFACE_POD = 1,
  /* Others' traffic passing through: another uplink, a tunnel from other nodes, an
   * interface named with --transit-interface. Passed unjudged. */
  SKOUTER_INTERFACE_TRANSIT = 2,
  /* Local containers, VMs, anything else (lo included): judged as the host. */
  SKOUTER_INTERFACE_GUEST = 3,
};

struct skouter_interface_value {
  SKOUTER_U32 kind; /* enum skouter_interface_kind */
  SKOUTER_U32 pad;
};

/* dns_queries: an outstanding UDP query from a policed workload to a trusted
 * resolver; or (protocol TCP, dns_id 0, kind 0) a TCP connection to one, whose
 * segments from the resolver are held the same way; or (protocol TCP, kind
 * SKOUTER_DNS_TCP_QUERY) a query sent on such a connection. */
enum skouter_dns_query_kind {
  SKOUTER_DNS_TCP_QUERY = 1,
};

struct skouter_dns_query_key {
  SKOUTER_U8 family;
  SKOUTER_U8 protocol;     /* IPPROTO_UDP or IPPROTO_TCP */
  SKOUTER_U16 client_port; /* network byte order */
  SKOUTER_U16 dns_id;      /* network byte order; 0 for a TCP connection */
  SKOUTER_U16 kind;        /* 0, or enum skouter_dns_query_kind */
  SKOUTER_U8 client[16];
};

/* flags of a TCP connection's record. */
enum skouter_dns_connection_flags {
  /* The resolver's SYN-ACK was seen: its initial sequence number is in the first four
   * bytes of `question` (network byte order), and the stream is read from its start. */
  SKOUTER_CONNECTION_STARTED = 1 << 0,
};

struct skouter_dns_query_value {
  SKOUTER_U64 sent_ns; /* CLOCK_BOOTTIME; TCP connection: of the client's last segment */
  SKOUTER_U32 identity;
  SKOUTER_U16 question_len; /* bytes of question that are valid; 0 for a connection */
  SKOUTER_U16 flags;        /* a TCP connection's: enum skouter_dns_connection_flags */
  /* The bytes after the query's header, as sent: the question section first (an
   * OPT record may follow when the question is shorter than this). */
  SKOUTER_U8 question[SKOUTER_MAX_QUESTION];
};

/* trusted_resolvers: {address, port} of a resolver whose answers open the firewall. */
struct skouter_resolver_key {
  SKOUTER_U8 family;
  SKOUTER_U8 pad;
  SKOUTER_U16 port; /* network byte order */
  SKOUTER_U8 addr[16];
};

struct skouter_resolver_value {
  SKOUTER_U32 flags;
};

/* Where a held answer goes once the daemon releases it, which decides how it is
 * delivered: to a client on the host (held at an uplink's ingress, re-injected as an
 * IP packet) or to a pod (held at its interface's egress, sent there as a frame).
 * (Not a hook: enum skouter_hook numbers the programs, for the counters.) */
enum skouter_answer_destination {
  SKOUTER_ANSWER_TO_HOST = 1,
  SKOUTER_ANSWER_TO_POD = 2,
  /* Not answers: a workload's first data on a SKOUTER_FLOW_SERVER_NAME_PENDING flow (a
   * TLS ClientHello or a QUIC Initial), released towards its destination once the
   * daemon allows its server name. They share the ring, and the quota, of answers. */
  SKOUTER_HELLO_FROM_HOST = 3, /* held at an uplink's egress: sent out of it again */
  SKOUTER_HELLO_FROM_POD = 4,  /* held at a pod interface's ingress: received there again */
  /* Not answers either: a query of a workload whose queries are policed for a name the
   * programs cannot tell allowed (lib/query.h). The daemon sends it on its way like a
   * hello, or answers it itself and drops it. */
  SKOUTER_QUERY_FROM_HOST = 5,
  SKOUTER_QUERY_FROM_POD = 6,
};

/* Header of each record in the answers ring buffer; the frame, starting at its
 * Ethernet header, follows immediately. */

struct skouter_answer_header {
  SKOUTER_U64 received_ns; /* CLOCK_BOOTTIME */
  SKOUTER_U32 ifindex;
  SKOUTER_U32 destination; /* enum skouter_answer_destination */
  SKOUTER_U32 identity;
  SKOUTER_U32 frame_len;    /* bytes that follow */
  SKOUTER_U32 l3_offset;    /* offset of the IP header within the frame */
  SKOUTER_U32 l4_offset;    /* offset of the UDP or TCP header within the frame */
  SKOUTER_U8 protocol;      /* IPPROTO_UDP or IPPROTO_TCP */
  SKOUTER_U8 flags;         /* TCP: the connection's (enum skouter_dns_connection_flags) */
  SKOUTER_U16 question_len; /* UDP: the recorded query's question (see dns_queries) */
  SKOUTER_U8 question[SKOUTER_MAX_QUESTION];
};

/* server_name_rules: rule id -> the ports (a port set, never 0) on which new flows to
 * an address that rule learned have their TLS or QUIC server name checked. Rules not
 * in it are not checked. */
struct skouter_server_name_rule {
  SKOUTER_U32 port_set;
};

/* released_queries: a held query of a pod that the daemon allowed, keyed like its
 * record in dns_queries, while the daemon receives it again on the pod's interface
 * (it passes the pod's program once, then the entry goes). The question, as sent,
 * must be the one allowed: a query reusing its id and port for another name is held
 * like any other. Written by the daemon; the programs delete what they use. */
struct skouter_released_query {
  SKOUTER_U64 released_ns; /* CLOCK_BOOTTIME */
  SKOUTER_U16 question_len;
  SKOUTER_U16 pad[3];
  SKOUTER_U8 question[SKOUTER_MAX_QUESTION];
};

/* The bytes a record of `size` bytes takes in a BPF ring buffer: the kernel's 8-byte
 * record header, then the record, rounded up to 8 bytes. */
#define SKOUTER_RINGBUF_FOOTPRINT(size) ((((SKOUTER_U64)(size)) + 8 + 7) & ~(SKOUTER_U64)7)

/* answer_bytes_punted (the programs write it) and answer_bytes_consumed (the daemon
 * writes it): identity -> the ring bytes (SKOUTER_RINGBUF_FOOTPRINT) of the answers
 * copied to the answers ring for it, and of those the daemon has read, both counted
 * up from the entry's creation. Their difference is what the identity holds in the
 * ring, which config.answer_quota_bytes bounds. */
struct skouter_answer_bytes {
  SKOUTER_U64 bytes;
};

/* config: settings that can change at run time, one entry. */
enum skouter_config_flags {
  SKOUTER_CFG_HOST_POLICED = 1 << 0, /* a policy selects this node's own traffic */
  SKOUTER_CFG_AUDIT = 1 << 1,        /* count and pass instead of dropping */
  SKOUTER_CFG_FAIL_OPEN = 1 << 2,    /* no enforcement while the daemon is silent */
  SKOUTER_CFG_HOST_AUDIT = 1 << 3,   /* an Egress in mode audit selects this node */
  /* Every pod interface carries the pod programs: traffic forwarded from an interface
   * the interfaces map does not know (a pod born while no daemon ran) is dropped. */
  SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES = 1 << 4,
  /* The node's own queries are policed (as SKOUTER_IDENTITY_QUERIES_POLICED). */
  SKOUTER_CFG_HOST_QUERIES_POLICED = 1 << 5,
};

/* events: a new flow that policy denies, dropped or (audit) let through. One event per
 * dropped packet; an audited flow is reported once, when it opens. At most
 * skouter_config.event_rate_limit a second per CPU (see event_budget); the rest are
 * only counted. */
enum skouter_event_verdict {
  SKOUTER_EVENT_DENIED = 1,
  SKOUTER_EVENT_AUDITED = 2,
};

struct skouter_flow_event {
  SKOUTER_U64 time_ns; /* CLOCK_BOOTTIME */
  SKOUTER_U32 identity;
  SKOUTER_U8 verdict; /* enum skouter_event_verdict */
  SKOUTER_U8 family;
  SKOUTER_U8 protocol;
  SKOUTER_U8 pad;
  SKOUTER_U16 dport; /* network byte order; 0 without ports */
  SKOUTER_U16 pad2;
  SKOUTER_U32 pad3;
  SKOUTER_U8 saddr[16];
  SKOUTER_U8 daddr[16];
};

/* layout_version stays the first field in every layout: a daemon reads it from pinned
 * maps of any layout before it decides to reuse them. */
struct skouter_config {
  SKOUTER_U32 layout_version;
  SKOUTER_U32 flags;            /* enum skouter_config_flags */
  SKOUTER_U32 reinject_mark;    /* skb->mark of answers the daemon re-injects */
  SKOUTER_U32 event_rate_limit; /* flow events per second per CPU, burst as many; 0 = no limit */
  SKOUTER_U64 failsafe_ns;      /* answers pass untouched when the heartbeat is older */
  SKOUTER_U64 flow_idle_ns;     /* a flow idle longer than this is judged anew */
  /* The answers ring bytes one identity may hold unread (--answers-ring-share of the
   * ring); 0 = no quota (a configuration no daemon has written yet). */
  SKOUTER_U32 answer_quota_bytes;
  /* The interface the host's held first data (lib/server_name.h) is redirected to: one
   * that discards it (a veth end kept down), so that the sending socket takes it for
   * sent. 0: none, it is dropped instead (TCP then sends it again after its
   * retransmission timeout). */
  SKOUTER_U32 held_sink_ifindex;
};

/* heartbeat: CLOCK_BOOTTIME time of the daemon's last beat, one entry. */
struct skouter_heartbeat {
  SKOUTER_U64 last_beat_ns;
};

/* event_budget: the token bucket that limits flow events, one per CPU. A bucket last
 * refilled at 0 (a new map) starts full. */
struct skouter_event_budget {
  SKOUTER_U64 tokens;
  SKOUTER_U64 last_refill_ns; /* CLOCK_BOOTTIME */
};

/* The four programs, by the tc hook each runs at. counters: one per-CPU slot per hook
 * and reason, at hook * SKOUTER_CNT_MAX + counter. Keep the names below in step. */
enum skouter_hook {
  SKOUTER_HOOK_UPLINK_EGRESS = 0,
  SKOUTER_HOOK_UPLINK_INGRESS,
  SKOUTER_HOOK_POD_INGRESS,
  SKOUTER_HOOK_POD_EGRESS,
  SKOUTER_HOOKS,
};

#define SKOUTER_HOOK_NAMES \
  { "uplink_egress", "uplink_ingress", "pod_ingress", "pod_egress", }

enum skouter_counter {
  SKOUTER_CNT_EGRESS_ALLOWED_FLOW = 0,   /* packet of an existing flow */
  SKOUTER_CNT_EGRESS_ALLOWED_LEARNED,    /* new flow to a learned address */
  SKOUTER_CNT_EGRESS_ALLOWED_STATIC,     /* new flow to a static IP or CIDR */
  SKOUTER_CNT_EGRESS_ALLOWED_RESOLVER,   /* traffic to a trusted resolver */
  SKOUTER_CNT_EGRESS_ALLOWED_CONTROL,    /* on-link NDP, DHCP, MLD, IGMP; ICMP errors of a flow */
  SKOUTER_CNT_EGRESS_DENIED,             /* dropped */
  SKOUTER_CNT_EGRESS_AUDITED,            /* would have been dropped; audit mode */
  SKOUTER_CNT_EGRESS_EXPIRED,            /* learned address found but expired */
  SKOUTER_CNT_DNS_QUERY_RECORDED,        /* query to a trusted resolver noted */
  SKOUTER_CNT_DNS_ANSWER_PUNTED,         /* answer copied to the daemon and held */
  SKOUTER_CNT_DNS_ANSWER_UNSOLICITED,    /* from a trusted resolver, no query: dropped */
  SKOUTER_CNT_DNS_ANSWER_FAILSAFE,       /* daemon silent: answer passed untouched */
  SKOUTER_CNT_DNS_ANSWER_RINGBUF_FULL,   /* could not punt: dropped, client retries */
  SKOUTER_CNT_DNS_ANSWER_FRAGMENT,       /* IP fragment of an answer: passed */
  SKOUTER_CNT_DNS_ANSWER_TOO_LARGE,      /* larger than SKOUTER_MAX_FRAME: dropped */
  SKOUTER_CNT_INGRESS_FLOW_RECORDED,     /* inbound-started flow noted */
  SKOUTER_CNT_REINJECTED_SEEN,           /* our own re-injected answer let through */
  SKOUTER_CNT_DNS_TCP_SEGMENT_HELD,      /* TCP segment with data from a resolver, held */
  SKOUTER_CNT_EGRESS_FAIL_OPEN,          /* daemon silent and --fail-open: passed */
  SKOUTER_CNT_PARSE_ERROR,               /* unparseable: dropped on egress, passed on ingress */
  SKOUTER_CNT_EGRESS_PORT_DENIED,        /* address allowed, but not this port or protocol */
  SKOUTER_CNT_EVENT_RINGBUF_FULL,        /* deny/audit event lost: the daemon is behind */
  SKOUTER_CNT_POD_UNKNOWN_SOURCE,        /* from a pod interface, no pod's address: dropped */
  SKOUTER_CNT_EVENT_RATE_LIMITED,        /* deny/audit event not sent: over event_rate_limit */
  SKOUTER_CNT_POD_SPOOFED_SOURCE,        /* a pod's address from another interface: dropped */
  SKOUTER_CNT_SOURCE_ROUTED,             /* IPv4 source route or IPv6 routing header: dropped */
  SKOUTER_CNT_FORWARDED_UNKNOWN,         /* forwarded from an interface nobody knows: dropped */
  SKOUTER_CNT_INBOUND_NO_RECEIVER,       /* inbound datagram for no local socket: no flow */
  SKOUTER_CNT_DNS_ANSWER_OVER_QUOTA,     /* its identity holds its share of the ring: dropped */
  SKOUTER_CNT_DNS_ANSWER_LEARNED,        /* daemon away: the program installed its addresses */
  SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED,    /* daemon away: no learnable name, or unreadable */
  SKOUTER_CNT_LEARNING_BUDGET_EXHAUSTED, /* daemon away: the identity learned its budget */
  SKOUTER_CNT_SERVER_NAME_HELD,          /* first data held for the server name check */
  SKOUTER_CNT_SERVER_NAME_HOLD_FAILED,   /* not copied (too large, over quota): dropped */
  SKOUTER_CNT_SERVER_NAME_DENIED,        /* of a flow whose server name is denied: dropped */
  SKOUTER_CNT_SERVER_NAME_UNCHECKED,     /* daemon away: passed, its server name unchecked */
  SKOUTER_CNT_DNS_QUERY_ALLOWED,         /* policed query, its name allowed by the programs */
  SKOUTER_CNT_DNS_QUERY_HELD,            /* policed query held for the daemon to judge */
  SKOUTER_CNT_DNS_QUERY_HOLD_FAILED,     /* not copied (over quota, ring full): dropped */
  SKOUTER_CNT_DNS_QUERY_RELEASED,        /* a held query the daemon allowed, passing */
  SKOUTER_CNT_DNS_QUERY_DENIED,          /* not a query one may send, or over TCP: dropped */
  SKOUTER_CNT_DNS_QUERY_UNCHECKED,       /* daemon away: passed, its name unchecked */
  SKOUTER_CNT_EGRESS_DNS_PORT,           /* policed queries: to port 53 or 853 no rule names */
  SKOUTER_CNT_MAX,
};

#define SKOUTER_COUNTER_NAMES                                                                     \
  {                                                                                               \
    "egress_allowed_flow", "egress_allowed_learned", "egress_allowed_static",                     \
        "egress_allowed_resolver", "egress_allowed_control", "egress_denied", "egress_audited",   \
        "egress_expired", "dns_query_recorded", "dns_answer_punted", "dns_answer_unsolicited",    \
        "dns_answer_failsafe", "dns_answer_ringbuf_full", "dns_answer_fragment",                  \
        "dns_answer_too_large", "ingress_flow_recorded", "reinjected_seen",                       \
        "dns_tcp_segment_held", "egress_fail_open", "parse_error", "egress_port_denied",          \
        "event_ringbuf_full", "pod_unknown_source", "event_rate_limited", "pod_spoofed_source",   \
        "source_routed", "forwarded_unknown_interface", "inbound_no_receiver",                    \
        "dns_answer_over_quota", "dns_answer_learned", "dns_answer_not_learned",                  \
        "learning_budget_exhausted", "server_name_held", "server_name_hold_failed",               \
        "server_name_denied", "server_name_unchecked", "dns_query_allowed", "dns_query_held",     \
        "dns_query_hold_failed", "dns_query_released", "dns_query_denied", "dns_query_unchecked", \
        "egress_dns_port",                                                                        \
  }

#endif /* SKOUTER_BPF_SKOUTER_ABI_H */
