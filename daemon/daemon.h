// skouterd's wiring: the policy, the datapath, the answer path and the admin API on
// one Asio event loop.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "bpf/datapath.h"
#include "daemon/admin_server.h"
#include "daemon/audit_table.h"
#include "daemon/flow_event_reader.h"
#include "daemon/options.h"
#include "daemon/static_rule_table.h"
#include "policy/compiled_policy.h"
#include "policy/egress.h"
#include "resolver/allowed_ip_table.h"
#include "resolver/answer_injector.h"
#include "resolver/answer_pipeline.h"
#include "resolver/dns_client.h"
#include "resolver/observed_names.h"
#include "resolver/port_set_table.h"
#include "resolver/rate_limited_log.h"

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
  policy::CompiledPolicy compile(const std::vector<policy::Egress>& egresses) const;
  // Brings the datapath in line with host_policy_. False (logged) when a table is
  // full and part of the policy is missing.
  bool applyPolicy();
  void forgetUnusedPortSets();
  void onDeniedFlow(const DeniedFlow& flow);
  void writeConfig();
  void syncTrustedResolvers();
  void beat();
  void scheduleHeartbeat();
  void collectGarbage();
  void prewarm();
  // Loads the policy anew and applies it; a policy that fails to load leaves the
  // one in force untouched and is reported in status.
  void reload(const std::string& why);
  void watchPolicy();
  void waitForPolicyChange();
  void waitForSighup();
  void scheduleGarbageCollection();
  HttpResponse handleAdmin(const HttpRequest& request);
  std::string statusJson() const;
  std::string entriesJson() const;
  std::string policiesJson() const;
  std::string auditJson() const;
  HttpResponse explain(const HttpRequest& request, const std::string& query) const;
  bool selectsThisNode(const policy::Egress& egress) const;

  DaemonOptions options_;
  std::vector<policy::Egress> egresses_;
  policy::CompiledPolicy host_policy_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  boost::asio::io_context io_;
  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<resolver::PortSetTable> port_sets_;
  std::unique_ptr<resolver::AllowedIpTable> allowed_ips_;
  std::unique_ptr<StaticRuleTable> static_rules_;
  std::unique_ptr<resolver::AnswerInjector> injector_;
  std::unique_ptr<resolver::DnsClient> dns_client_;
  resolver::ObservedNames observed_names_;
  std::unique_ptr<resolver::AnswerPipeline> answers_;
  AuditTable audit_table_;
  std::unique_ptr<FlowEventReader> flow_events_;
  resolver::RateLimitedLog denied_flow_log_;
  std::unique_ptr<AdminServer> admin_;
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
  std::size_t reloads_applied_ = 0;
  std::size_t reloads_failed_ = 0;
  std::size_t expired_removed_ = 0;
  std::size_t flows_removed_ = 0;
  std::size_t gc_runs_ = 0;
};

// `skouterd --detach`: removes the programs from the interfaces and the pinned maps.
int detach(const DaemonOptions& options);

}  // namespace skouter::daemon
