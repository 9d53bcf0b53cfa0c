// A read-only view of a running skouterd: what the admin API, the status page and
// /metrics read. Each member is the sole owner of what it shows (a table, the
// answer path, the policy); the view only points at them, so a handler can show
// anything and change nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bpf/datapath.h"
#include "bpf/maps/allowed_ip_table.h"
#include "bpf/maps/answer_ring_quota.h"
#include "bpf/maps/flow_table.h"
#include "bpf/maps/interface_table.h"
#include "bpf/maps/learnable_name_table.h"
#include "bpf/maps/port_set_table.h"
#include "bpf/maps/released_query_table.h"
#include "bpf/maps/server_name_rule_table.h"
#include "bpf/maps/static_rule_table.h"
#include "bpf/maps/trusted_resolver_table.h"
#include "common/datapath_clock.h"
#include "daemon/admin_server.h"
#include "daemon/audit_table.h"
#include "daemon/denied_query_table.h"
#include "daemon/event_stream.h"
#include "daemon/expired_addresses.h"
#include "daemon/flow_event_reader.h"
#include "daemon/host_network.h"
#include "daemon/interface_kind.h"
#include "daemon/kubernetes_source.h"
#include "daemon/options.h"
#include "daemon/pod_firewall.h"
#include "daemon/policy_reconciler.h"
#include "daemon/query_gate.h"
#include "daemon/server_name_gate.h"
#include "resolver/answer_pipeline.h"
#include "resolver/observed_names.h"

namespace skouter::daemon {

// What the daemon itself records as it runs (the tables and the answer path keep
// their own counts).
struct DaemonRecord {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point started_wall = std::chrono::system_clock::now();
  // The datapath clock, as the heartbeat: the gap since the previous daemon.
  std::uint64_t started_ns = datapathNowNs();
  // The datapath is in line with the policy of the files and (with --kubernetes) of
  // the cluster, listed whole.
  bool applied_once = false;
  std::string last_policy_error;
  std::size_t reloads_applied = 0;
  std::size_t reloads_failed = 0;
  // Handlers that threw: each was logged (rate-limited) and the loop went on.
  std::uint64_t handler_failures = 0;
  // Trusted resolvers the full trusted_resolvers map refused, over time.
  std::uint64_t resolvers_refused = 0;
  std::size_t expired_removed = 0;
  std::size_t flows_removed = 0;
  // The garbage collection's last pass over the flow and DNS query tables (it counts
  // them; the datapath writes them, so no count is kept as they change).
  maps::FlowTable::Sweep last_sweep;
  // What the previous daemon left: learned and static entries found at start.
  std::size_t entries_taken_over = 0;
  // Since `started`: when held answers began to be read, and when this daemon's
  // programs were loaded and attached (a takeover loads them while serving).
  std::optional<std::chrono::steady_clock::duration> answers_read_after;
  std::optional<std::chrono::steady_clock::duration> programs_loaded_after;
  // Heartbeats later than --failsafe-timeout (the daemon stopped or stalled), and the
  // pairs of a name and an address the datapath installed meanwhile, taken in after.
  std::size_t absences = 0;
  std::size_t pairs_adopted = 0;
};

// How full something bounded is: a table (entries) or a ring buffer (unread bytes).
struct Fill {
  std::string name;
  std::uint64_t used = 0;
  std::uint64_t capacity = 0;
  double ratio() const {
    return capacity == 0 ? 0.0 : static_cast<double>(used) / static_cast<double>(capacity);
  }
};

// --trusted-dns and the cluster DNS service's addresses.
std::vector<resolver::ResolverAddress> trustedResolversOf(const DaemonOptions& options,
                                                          const ClusterSnapshot& cluster);

struct DaemonView {
  const DaemonOptions& options;
  const DaemonRecord& record;
  const PolicyReconciler& policies;
  const Datapath& datapath;
  const PodFirewall& pods;
  const maps::AllowedIpTable& allowed_ips;
  const maps::StaticRuleTable& static_rules;
  const maps::PortSetTable& port_sets;
  const maps::TrustedResolverTable& trusted_resolvers;
  const maps::AnswerRingQuota& answer_ring_quota;
  const maps::LearnableNameTable& learnable_names;
  const maps::ServerNameRuleTable& server_name_rules;
  const resolver::AnswerPipeline& answers;
  const ServerNameGate& server_names;
  const QueryGate& queries;
  const resolver::ObservedNames& observed_names;
  const AuditTable& audit_table;
  const DeniedQueryTable& denied_queries;
  const ExpiredAddresses& expired_addresses;
  const FlowEventReader& flow_events;
  const EventHub& events;
  const maps::InterfaceTable& interface_table;
  const InterfaceRoles& interface_roles;
  // The node's interfaces at the last look.
  const std::vector<Link>& links;
  const KubernetesSource* kubernetes = nullptr;  // null without --kubernetes
  // Set once they listen (they serve this view).
  const AdminServer* admin = nullptr;
  const MetricsServer* metrics_server = nullptr;

  // The policy judging `identity`'s traffic; null when nothing polices it.
  const policy::CompiledPolicy* policyOf(std::uint32_t identity) const;
  // "host", "namespace/pod", or "identity N" for one that is gone.
  std::string workloadName(std::uint32_t identity) const;
  // What rule `rule` of the policy of `identity` is called.
  std::string ruleName(std::uint32_t identity, policy::RuleId rule) const;
  // --trusted-dns and the cluster DNS service's addresses.
  std::vector<resolver::ResolverAddress> trustedResolvers() const;
  // Why the daemon does not serve its purpose yet; empty when it does.
  std::string notReadyReason() const;
  // Every bounded table, and the two ring buffers. Counts kept by each table's writer,
  // or by the last garbage collection for the tables the datapath writes: a scrape
  // walks no map.
  std::vector<Fill> tableFill() const;
  std::vector<Fill> ringFill() const;
};

}  // namespace skouter::daemon
