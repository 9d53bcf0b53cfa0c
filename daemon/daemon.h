// skouterd's wiring: the policy, the datapath, the answer path and the admin API on
// one Asio event loop, with its signals and timers. What each piece does lives in
// its own class; this one builds them in order and tells them when to act.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bpf/datapath.h"
#include "bpf/maps/allowed_ip_table.h"
#include "bpf/maps/datapath_settings.h"
#include "bpf/maps/flow_table.h"
#include "bpf/maps/interface_table.h"
#include "bpf/maps/learnable_name_table.h"
#include "bpf/maps/port_set_table.h"
#include "bpf/maps/released_query_table.h"
#include "bpf/maps/server_name_rule_table.h"
#include "bpf/maps/static_rule_table.h"
#include "bpf/maps/trusted_resolver_table.h"
#include "common/datapath_clock.h"
#include "common/rate_limited_log.h"
#include "daemon/admin_api.h"
#include "daemon/admin_server.h"
#include "daemon/audit_table.h"
#include "daemon/daemon_view.h"
#include "daemon/decision_reporter.h"
#include "daemon/denied_query_table.h"
#include "daemon/event_stream.h"
#include "daemon/expired_addresses.h"
#include "daemon/flow_event_reader.h"
#include "daemon/host_network.h"
#include "daemon/interface_kind.h"
#include "daemon/kubernetes_source.h"
#include "daemon/options.h"
#include "daemon/pod_firewall.h"
#include "daemon/policy_file_watch.h"
#include "daemon/policy_reconciler.h"
#include "daemon/query_gate.h"
#include "daemon/route_lookup.h"
#include "daemon/server_name_gate.h"
#include "daemon/workload_entries.h"
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

  // Serves until SIGTERM or SIGINT. Programs and maps stay in place afterwards. Throws
  // when the programs it loads after starting to serve are refused.
  void run();

 private:
  // Recomputes every workload's policy from the file policy and the cluster, and
  // brings the datapath in line: the node's own, then the pods'. A policy that does
  // not compile leaves the one in force untouched and is reported in status.
  void applyAll(const std::string& why);
  // Brings the node's own entries in line with its policy. False (logged) when a table
  // is full and part of the policy is missing.
  bool applyHostPolicy();
  void writeConfig();
  // Lists the node's interfaces anew: guards new pod interfaces, and tells the uplink
  // programs what each interface's forwarded traffic is.
  void refreshInterfaces();
  void syncTrustedResolvers();
  void beat();
  // After the heartbeat was later than --failsafe-timeout: takes in what the datapath
  // installed meanwhile.
  void takeInAfterAbsence(std::uint64_t silent_ns);
  void scheduleHeartbeat();
  void collectGarbage();
  // Looks up the literal names of `policy` and installs the answers for `identity`.
  void prewarm(std::uint32_t identity, const policy::CompiledPolicy& policy);
  // Reads the policy files anew and applies everything; files that fail to load leave
  // the policy in force untouched and are reported in status.
  void reload(const std::string& why);
  // A policy that did not load or compile: counted and shown in status.
  void keepPolicyInForce(const std::string& why, const std::exception& error);
  // Coalesces bursts of cluster or network changes into one applyAll after `delay`.
  void scheduleApply(std::chrono::milliseconds delay, const std::string& why);
  void waitForSighup();
  // Removes expired learned addresses, a bounded number per turn of the loop.
  void sweepExpired();
  void scheduleGarbageCollection();
  // Puts the programs on the uplinks (once they are loaded).
  void attachUplinks();
  // Loads the programs on a thread of its own, then attaches them on the loop's.
  void loadProgramsAside();
  // SIGTERM, SIGINT: stops reading answers, answers those already read, then stops.
  void stopAfterHeldAnswers(int signal);
  void stopOnceAnswered(int signal, std::chrono::steady_clock::time_point deadline);
  // With --kubernetes, before the cluster's policy was first applied: the pinned
  // state stands, and answers wait for the policy that will judge them.
  bool awaitingCluster() const;

  DaemonOptions options_;
  DaemonRecord record_;
  PolicyReconciler policies_;
  // What applyHostPolicy() last applied to the node, for its log line.
  std::string last_applied_;

  boost::asio::io_context io_;
  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<maps::DatapathSettings> datapath_settings_;
  std::unique_ptr<maps::TrustedResolverTable> trusted_resolver_table_;
  std::unique_ptr<maps::PortSetTable> port_sets_;
  std::unique_ptr<maps::AllowedIpTable> allowed_ips_;
  std::unique_ptr<maps::StaticRuleTable> static_rules_;
  std::unique_ptr<maps::LearnableNameTable> learnable_names_;
  std::unique_ptr<maps::ServerNameRuleTable> server_name_rules_;
  std::unique_ptr<WorkloadEntries> workload_entries_;
  std::unique_ptr<resolver::AnswerInjector> injector_;
  std::unique_ptr<FrameReceiver> frame_receiver_;
  // The interface the host's held first data is redirected to (a veth end kept down); 0: none.
  int held_sink_ifindex_ = 0;
  std::unique_ptr<ServerNameGate> server_name_gate_;
  std::unique_ptr<maps::ReleasedQueryTable> released_queries_;
  std::unique_ptr<QueryGate> query_gate_;
  std::unique_ptr<resolver::DnsClient> dns_client_;
  resolver::ObservedNames observed_names_;
  // Before answers_, which counts what it reads in it.
  std::unique_ptr<maps::AnswerRingQuota> answer_ring_quota_;
  std::unique_ptr<resolver::AnswerPipeline> answers_;
  AuditTable audit_table_;
  DeniedQueryTable denied_queries_;
  // Learned addresses removed on expiry, to tell late connections.
  ExpiredAddresses expired_addresses_;
  std::unique_ptr<FlowEventReader> flow_events_;
  std::unique_ptr<maps::FlowTable> flow_table_;
  // What forwarded traffic from each interface is: the uplinks, transit, pods.
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
  // What went wrong and was survived: failed handlers, full maps.
  RateLimitedLog trouble_log_;
  EventHub events_;
  // What the admin API and /metrics read; built once every owner it points at exists.
  std::unique_ptr<DaemonView> view_;
  std::unique_ptr<DecisionReporter> reporter_;
  std::unique_ptr<AdminApi> admin_api_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<MetricsServer> metrics_server_;
  boost::asio::steady_timer heartbeat_timer_{io_};
  boost::asio::steady_timer gc_timer_{io_};
  boost::asio::signal_set signals_{io_, SIGTERM, SIGINT};
  boost::asio::steady_timer stop_timer_{io_};
  std::thread program_loader_;
  std::exception_ptr program_load_error_;
  boost::asio::signal_set reload_signals_{io_, SIGHUP};
  std::unique_ptr<PolicyFileWatch> policy_watch_;
  std::size_t gc_runs_ = 0;
  std::uint64_t last_beat_ns_ = 0;
};

// `skouterd --detach`: removes the programs from the interfaces and the pinned maps.
int detach(const DaemonOptions& options);

}  // namespace skouter::daemon
