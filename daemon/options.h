// skouterd's command line and configuration file. Every knob is a flag with a documented
// default; the flag names are the interface and stay stable, and a configuration file's
// keys are the same names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/attach_mode.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_rewriter.h"
#include "resolver/resolver_address.h"

namespace skouter::daemon {

enum class LogFormat { kText, kJson };

struct DaemonOptions {
  std::string config_path;  // empty: no configuration file
  std::string policy_path;
  std::vector<std::string> interfaces;  // empty: the default routes' interfaces
  // Interfaces whose forwarded traffic is someone else's passing through (a router's
  // LAN): it leaves the uplinks unjudged instead of being judged as the host's.
  std::vector<std::string> transit_interfaces;
  std::vector<resolver::ResolverAddress> trusted_dns;  // empty: /etc/resolv.conf
  std::string admin_socket = "/run/skouter/skouterd.sock";
  std::string bpffs = "/sys/fs/bpf/skouter";
  AttachMode attach_mode = AttachMode::kAuto;
  std::uint32_t min_ttl_s = 0;
  std::uint32_t ttl_grace_s = 5;
  std::uint32_t failsafe_timeout_s = 2;
  std::uint32_t learning_budget = 4096;
  std::uint32_t flow_idle_timeout_s = 3600;
  std::uint32_t reinject_mark = 0x5c0a;
  std::optional<std::uint32_t> max_ttl_s;
  resolver::DenyResponse deny_response = resolver::DenyResponse::kPassthrough;
  bool block_private_answers = false;
  bool verify_answers = true;
  std::uint32_t verify_timeout_ms = 1000;
  std::size_t max_ips_per_name = 1000;
  // Names one learned address keeps (0: no limit): random names under an allowed
  // wildcard that resolve to one address cannot grow the daemon.
  std::size_t max_names_per_ip = 64;
  // Addresses one workload (identity) keeps open (0: no limit): one tenant answered
  // with many distinct addresses cannot fill allowed_ips (1048576 entries), shared by
  // every workload of the node. 8192 leaves room for 128 workloads at their limit,
  // more than kubelet's default of 110 pods (and the host).
  std::size_t max_ips_per_workload = 8192;
  // The percentage of the answers ring (8 MiB) one workload's answers may hold unread:
  // one whose resolver answers faster than the daemon reads cannot fill the ring every
  // workload's answers go through. 25 leaves room for three more at their quota.
  std::uint32_t answers_ring_share = 25;
  // DNS over TCP: connections followed at once, and the bytes kept across all of them.
  std::size_t max_tcp_streams = 65536;
  std::size_t tcp_buffer_size = 16 * 1024 * 1024;
  // Truncated answers held while the daemon completes them over TCP.
  std::size_t max_pending_lookups = 256;
  // Addresses whose names from answers are kept to name denied destinations.
  std::size_t observed_names_size = 65536;
  // Expired learned addresses remembered to tell late connections, and for how long
  // after their expiry (seconds).
  std::size_t expired_addresses_size = 65536;
  std::uint64_t late_connection_window_s = 3600;
  bool fail_open = false;
  bool audit = false;
  // --verify-sni: every rule's learned addresses have their server names checked, as
  // spec.tls of an Egress asks for its own rules.
  std::optional<policy::ServerNameCheck> verify_sni;
  // --deny-queries, and with it --allow-query-suffix and --encrypted-dns-names, as the
  // policies take them.
  bool deny_queries = false;
  policy::QueryPolicingSettings query_policing;
  std::size_t audit_table_size = 4096;
  policy::NodeLabels node_labels;
  // Kubernetes: Egress objects, this node's pods, namespaces and Node, and the cluster
  // DNS service come from the API server.
  bool kubernetes = false;
  std::string kubeconfig;  // empty: the in-cluster service account
  std::string node_name;   // default: $NODE_NAME
  // The namespaces whose Egresses may select pods of other namespaces and nodes: an
  // Egress anywhere else selects pods of its own namespace only.
  std::vector<std::string> admin_namespaces = {"skouter-system"};
  std::string trusted_dns_service_namespace = "kube-system";
  std::string trusted_dns_service_name = "kube-dns";
  // A connection to the API server that answers nothing, not even TCP keepalive
  // probes, for this long is closed and made anew: a dead watch misses no pod longer.
  std::uint32_t api_connection_timeout_s = 30;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;
  std::string metrics_address;  // HOST:PORT of the Prometheus endpoint; empty: none
  // Flow events per second per CPU the datapath may emit (token bucket, burst of as
  // many); 0: no limit.
  std::uint32_t event_rate_limit = 1000;
  bool detach = false;
};

// Either options to run with, or an exit: `--help`/`--version` text (exit code 0) or a
// usage error (exit code 2).
struct ParsedCommandLine {
  std::optional<DaemonOptions> options;
  std::string message;
  int exit_code = 0;
};

// The command line, over the configuration file of `--config` if one is given: a flag
// on the command line replaces the file's value (a repeatable flag's whole list).
ParsedCommandLine parseCommandLine(int argc, const char* const* argv);

// Every long flag, without its `--`, in the order `--help` lists them.
std::vector<std::string> longFlagNames();

// Where `--metrics-address` listens: an IPv4 address, an IPv6 address (bracketed or
// not: the last colon always separates the port, so `$(NODE_IP):9464` works on IPv6
// nodes too) or `localhost`, and a port. nullopt for anything else.
struct ListenAddress {
  std::string host;  // IPv6 without its brackets
  std::uint16_t port = 0;
};
std::optional<ListenAddress> parseMetricsAddress(std::string_view text);

// A Kubernetes namespace name: a DNS-1123 label (at most 63 lower-case letters, digits
// and '-', beginning and ending with a letter or digit).
bool isNamespaceName(std::string_view name);

}  // namespace skouter::daemon
