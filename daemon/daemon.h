// skouterd's wiring: the policy, the datapath, the answer path and the admin API on
// one Asio event loop.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bpf/datapath.h"
#include "bpf/maps/allowed_ip_table.h"
#include "bpf/maps/datapath_settings.h"
#include "bpf/maps/flow_table.h"
#include "bpf/maps/interface_table.h"
#include "bpf/maps/port_set_table.h"
#include "bpf/maps/static_rule_table.h"
#include "bpf/maps/trusted_resolver_table.h"
#include "common/datapath_clock.h"
#include "common/rate_limited_log.h"
#include "daemon/admin_server.h"
#include "daemon/audit_table.h"
#include "daemon/event_stream.h"
#include "daemon/flow_event_reader.h"
#include "daemon/host_network.h"
#include "daemon/interface_kind.h"
#include "daemon/kubernetes_source.h"
#include "daemon/options.h"
#include "daemon/pod_firewall.h"
#include "daemon/route_lookup.h"
#include "policy/compiled_policy.h"
#include "policy/egress.h"
#include "resolver/answer_injector.h"
#include "resolver/answer_pipeline.h"
#include "resolver/dns_client.h"
#include "resolver/observed_names.h"

namespace skouter::daemon {

class Daemon {
 public:
  // Loads the policy and the datapath and attaches; throws with a message fit for the
  // operator when anything is wrong (the daemon then refuses to start).
  explicit Daemon(DaemonOptions options);
  ~Daemon();

  // Serves until SIGTERM or SIGINT. Programs and maps stay in place afterwards.
  void run();

 private:
  // The policy of the pods one set of Egresses selects, and the Egresses left out of it.
  struct PodPolicy {
    std::shared_ptr<const policy::CompiledPolicy> policy;
    std::vector<policy::LeftOutEgress> left_out;
  };
  using PodPolicyCache = std::map<std::vector<std::size_t>, PodPolicy>;
  // An Egress left out of the policy of one workload ("the node", "pod NAMESPACE/NAME").
  struct LeftOutOfWorkload {
    std::string workload;
    policy::LeftOutEgress egress;
  };

  // The node's policy; Egresses that cannot be united with those before them are left
  // out of it.
  policy::WorkloadPolicy compile(const std::vector<policy::Egress>& egresses) const;
  // Recomputes every workload's policy from the file policy and the cluster, and
  // brings the datapath in line: the node's own, then the pods'. A policy that does
  // not compile leaves the one in force untouched and is reported in status.
  void applyAll(const std::string& why);
  // Brings the datapath in line with host_policy_. False (logged) when a table is
  // full and part of the policy is missing.
  bool applyPolicy();
  // The pods on this node an Egress selects, each with the union of those Egresses;
  // the others with an address go to `unpoliced`, and the Egresses left out of a pod's
  // policy to `left_out`.
  std::vector<PolicedPod> policedPods(const std::vector<policy::Egress>& egresses,
                                      std::vector<PodObject>& unpoliced,
                                      std::vector<LeftOutOfWorkload>& left_out);
  // Logs (when new), adds to `problems` and, for the cluster's Egresses (indices
  // [first_cluster, end_cluster) of egresses_), reports as Events on them the Egresses
  // left out of a workload's policy.
  void reportLeftOut(const std::vector<LeftOutOfWorkload>& left_out, std::size_t first_cluster,
                     std::size_t end_cluster, std::vector<std::string>& problems);
  policy::PodSelectionFacts selectionFacts(const PodObject& pod) const;
  void forgetUnusedPortSets();
  void onDeniedFlow(const DeniedFlow& flow);
  void writeConfig();
  // Lists the node's interfaces anew: guards new pod interfaces, and tells the uplink
  // programs what each interface's forwarded traffic is.
  void refreshInterfaces();
  void syncTrustedResolvers();
  void beat();
  void scheduleHeartbeat();
  void collectGarbage();
  // Looks up the literal names of `policy` and installs the answers for `identity`.
  void prewarm(std::uint32_t identity, const policy::CompiledPolicy& policy);
  const policy::CompiledPolicy* policyOf(std::uint32_t identity) const;
  // Reads the policy files anew and applies everything; files that fail to load leave
  // the policy in force untouched and are reported in status.
  void reload(const std::string& why);
  // A policy that did not load or compile: counted and shown in status.
  void keepPolicyInForce(const std::string& why, const std::exception& error);
  // Coalesces bursts of cluster or network changes into one applyAll after `delay`.
  void scheduleApply(std::chrono::milliseconds delay, const std::string& why);
  void watchPolicy();
  void waitForPolicyChange();
  void waitForSighup();
  void scheduleGarbageCollection();
  AdminReply handleAdmin(const HttpRequest& request);
  // GET /v1/events: a subscription to the decisions the query's filter selects.
  AdminReply subscribeEvents(const HttpRequest& request, const std::string& query);
  // Every metric, in the Prometheus text format (daemon_metrics.cc).
  std::string metricsText();
  HttpResponse metricsResponse(const HttpRequest& request);
  void onAnswer(std::uint32_t identity, const IpAddress& client,
                const resolver::AnswerDecision& decision, resolver::AnswerOutcome outcome);
  void publishPolicyEvent(const std::string& why, const std::string& error);
  // How full something bounded is: a table (entries) or a ring buffer (unread bytes).
  struct Fill {
    std::string name;
    std::uint64_t used = 0;
    std::uint64_t capacity = 0;
    double ratio() const {
      return capacity == 0 ? 0.0 : static_cast<double>(used) / static_cast<double>(capacity);
    }
  };
  // Every bounded table, and the two ring buffers (daemon_metrics.cc). Counts kept by
  // each table's writer, or by the last garbage collection for the tables the datapath
  // writes: a scrape walks no map.
  std::vector<Fill> tableFill() const;
  std::vector<Fill> ringFill() const;
  std::string statusJson() const;
  std::string entriesJson() const;
  std::string policiesJson() const;
  std::string auditJson() const;
  // What rule `rule` of the policy of `identity` is called.
  std::string ruleName(std::uint32_t identity, policy::RuleId rule) const;
  // --trusted-dns and the cluster DNS service's addresses.
  std::vector<resolver::ResolverAddress> trustedResolvers() const;
  // "host", "namespace/pod", or "identity N" for one that is gone.
  std::string workloadName(std::uint32_t identity) const;
  HttpResponse explain(const HttpRequest& request, const std::string& query) const;
  bool selectsThisNode(const policy::Egress& egress) const;
  // With --kubernetes, before the cluster's policy was first applied: the pinned
  // state stands, and answers wait for the policy that will judge them.
  bool awaitingCluster() const;
  // Whether the daemon serves its purpose: the cluster listed and applied.
  std::string notReadyReason() const;

  DaemonOptions options_;
  std::vector<policy::Egress> file_egresses_;
  // The file policy and the cluster's Egress objects together.
  std::vector<policy::Egress> egresses_;
  policy::CompiledPolicy host_policy_;
  // --node-label flags over the Node object's labels.
  policy::NodeLabels node_labels_;
  ClusterSnapshot cluster_;
  std::uint64_t file_generation_ = 0;
  // Pod policies by the Egresses (indices into egresses_) that select the pod; valid
  // for one (file_generation_, cluster_.egress_generation) pair.
  PodPolicyCache pod_policies_;
  std::pair<std::uint64_t, std::uint64_t> pod_policies_generation_{~0ULL, ~0ULL};
  bool applied_once_ = false;
  std::pair<std::uint64_t, std::uint64_t> applied_generation_{~0ULL, ~0ULL};
  // What applyPolicy() last applied to the node, for its log line.
  std::string last_applied_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
  // The datapath clock, as the heartbeat: the gap since the previous daemon.
  std::uint64_t started_ns_ = datapathNowNs();

  boost::asio::io_context io_;
  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<maps::DatapathSettings> datapath_settings_;
  std::unique_ptr<maps::TrustedResolverTable> trusted_resolver_table_;
  std::unique_ptr<maps::PortSetTable> port_sets_;
  std::unique_ptr<maps::AllowedIpTable> allowed_ips_;
  std::unique_ptr<maps::StaticRuleTable> static_rules_;
  std::unique_ptr<resolver::AnswerInjector> injector_;
  std::unique_ptr<resolver::DnsClient> dns_client_;
  resolver::ObservedNames observed_names_;
  // Before answers_, which counts what it reads in it.
  std::unique_ptr<maps::AnswerRingQuota> answer_ring_quota_;
  std::unique_ptr<resolver::AnswerPipeline> answers_;
  AuditTable audit_table_;
  std::unique_ptr<FlowEventReader> flow_events_;
  std::unique_ptr<maps::FlowTable> flow_table_;
  InterfaceRoles interface_roles_;
  std::unique_ptr<maps::InterfaceTable> interface_table_;
  // The node's interfaces and their addresses at the last look.
  std::vector<Link> links_;
  std::vector<InterfaceAddress> addresses_;
  std::unique_ptr<PodFirewall> pod_firewall_;
  std::unique_ptr<KubernetesSource> kubernetes_;
  std::unique_ptr<NetworkChangeMonitor> network_monitor_;
  boost::asio::steady_timer apply_timer_{io_};
  bool apply_pending_ = false;
  std::string apply_reason_;
  // Retries pods that are not attached yet (their interface or route is late).
  boost::asio::steady_timer pod_retry_timer_{io_};
  // Ends the wait of pods' answers for a cluster that cannot be listed.
  boost::asio::steady_timer startup_timer_{io_};
  RateLimitedLog denied_flow_log_;
  // Handlers that threw: each was logged (rate-limited) and the loop went on.
  std::uint64_t handler_failures_ = 0;
  // Trusted resolvers the full trusted_resolvers map refused, over time.
  std::uint64_t resolvers_refused_ = 0;
  // What went wrong and was survived: failed handlers, full maps.
  RateLimitedLog trouble_log_;
  EventHub events_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<MetricsServer> metrics_server_;
  boost::asio::steady_timer heartbeat_timer_{io_};
  boost::asio::steady_timer gc_timer_{io_};
  boost::asio::signal_set signals_{io_, SIGTERM, SIGINT};
  boost::asio::signal_set reload_signals_{io_, SIGHUP};
  // inotify on the policy's directory; changes are applied after a short quiet
  // period, so an editor's or a ConfigMap's several steps make one reload.
  boost::asio::posix::stream_descriptor policy_watch_{io_};
  boost::asio::steady_timer reload_timer_{io_};
  std::array<char, 4096> inotify_buffer_;
  std::string last_policy_error_;
  // The Egresses left out at the last apply, as logged: each is logged when it appears,
  // not again at every pod change.
  std::set<std::string> left_out_logged_;
  std::size_t reloads_applied_ = 0;
  std::size_t reloads_failed_ = 0;
  std::size_t expired_removed_ = 0;
  std::size_t flows_removed_ = 0;
  // The garbage collection's last pass over the flow and DNS query tables (it counts
  // them; the datapath writes them, so no count is kept as they change).
  maps::FlowTable::Sweep last_sweep_;
  // What the previous daemon left: learned and static entries found at start.
  std::size_t entries_taken_over_ = 0;
  std::size_t gc_runs_ = 0;
};

// `skouterd --detach`: removes the programs from the interfaces and the pinned maps.
int detach(const DaemonOptions& options);

}  // namespace skouter::daemon
