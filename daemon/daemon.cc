#include "daemon/daemon.h"

#include <net/if.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "common/datapath_clock.h"
#include "daemon/admin_views.h"
#include "daemon/host_network.h"
#include "daemon/version.h"
#include "policy/loader.h"

namespace skouter::daemon {
namespace {

constexpr auto kHeartbeatInterval = std::chrono::milliseconds(250);
constexpr auto kGcInterval = std::chrono::seconds(2);
// Learned addresses removed in one turn of the event loop at most: each costs about
// 8 µs (two map deletes and the table's bookkeeping), so a turn stays near 1 ms.
constexpr std::size_t kExpiredPerTurn = 128;
// A resolver's TCP connection silent this long is forgotten (resolvers close idle
// ones within seconds; RFC 7766 suggests keeping them open for tens of seconds).
constexpr auto kTcpStreamIdle = std::chrono::seconds(120);

// The uplinks: as named, else every way out the default routes take (an IPv6 default
// route may leave by another interface than the IPv4 one).
std::vector<std::string> resolveInterfaces(const DaemonOptions& options) {
  if (!options.interfaces.empty()) return options.interfaces;
  auto interfaces = defaultRouteInterfaces();
  if (interfaces.empty()) {
    throw std::runtime_error("no default route; name the uplinks with --interface");
  }
  return interfaces;
}

constexpr const char* kStaticRulesFull =
    "the static rule table is full: part of the node's policy is missing";

}  // namespace

Daemon::Daemon(DaemonOptions options)
    : options_(std::move(options)),
      policies_(options_.audit, options_.node_labels, options_.verify_sni, options_.query_policing),
      observed_names_(options_.observed_names_size),
      audit_table_(options_.audit_table_size),
      denied_queries_(options_.audit_table_size),
      expired_addresses_(options_.expired_addresses_size, options_.late_connection_window_s) {
  options_.interfaces = resolveInterfaces(options_);
  if (options_.trusted_dns.empty()) {
    std::string note;
    options_.trusted_dns = resolver::systemNameservers(note);
    if (!note.empty()) spdlog::info("{}", note);
    // In a cluster the DNS service's addresses are trusted too; the node's own
    // resolvers are only needed for the node's lookups.
    if (options_.trusted_dns.empty() && !options_.kubernetes) {
      throw std::runtime_error("no nameserver in /etc/resolv.conf; give --trusted-dns");
    }
  }

  if (!options_.policy_path.empty()) {
    policies_.setFileEgresses(policy::loadPolicyPath(options_.policy_path));
  }
  // At start, a policy file that does not compile stops skouterd, as one that does not
  // load does.
  policies_.adoptFilePolicy();
  if (options_.kubernetes) {
    kubernetes_ = std::make_unique<KubernetesSource>(
        io_, options_, [this] { scheduleApply(std::chrono::milliseconds(20), "cluster change"); });
  }

  // Taking over, the previous daemon's programs go on running on the pinned maps while
  // this one's are verified (about a second): answers are served meanwhile.
  datapath_ = Datapath::open(options_.bpffs, Datapath::ProgramLoad::kAfterTakeover);
  datapath_->setAttachMode(options_.attach_mode);
  datapath_settings_ =
      std::make_unique<maps::DatapathSettings>(datapath_->config(), datapath_->heartbeat());
  trusted_resolver_table_ =
      std::make_unique<maps::TrustedResolverTable>(datapath_->trustedResolvers());
  port_sets_ = std::make_unique<maps::PortSetTable>(datapath_->portSets());
  allowed_ips_ = std::make_unique<maps::AllowedIpTable>(
      datapath_->allowedIps(), datapath_->learnedNames(), *port_sets_, options_.max_ips_per_name,
      options_.max_names_per_ip, options_.max_ips_per_workload);
  static_rules_ = std::make_unique<maps::StaticRuleTable>(datapath_->allowedCidrs(), *port_sets_);
  learnable_names_ =
      std::make_unique<maps::LearnableNameTable>(datapath_->learnableNames(), datapath_->learning(),
                                                 datapath_->learningBudgetUsed(), *port_sets_);
  server_name_rules_ =
      std::make_unique<maps::ServerNameRuleTable>(datapath_->serverNameRules(), *port_sets_);
  workload_entries_ = std::make_unique<WorkloadEntries>(
      *static_rules_, *allowed_ips_, *learnable_names_, *server_name_rules_, *port_sets_);
  if (datapath_->takeover().took_over) {
    record_.entries_taken_over = allowed_ips_->size() + static_rules_->size();
  }
  std::set<int> uplinks;
  for (const auto& interface : options_.interfaces) {
    const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
    if (ifindex == 0) throw DatapathError("no interface named '" + interface + "'");
    uplinks.insert(ifindex);
  }
  flow_table_ = std::make_unique<maps::FlowTable>(*datapath_);
  answer_ring_quota_ = std::make_unique<maps::AnswerRingQuota>(datapath_->answerBytesPunted(),
                                                               datapath_->answerBytesConsumed());
  const auto pinned_config = datapath_->config().lookup(0);
  const bool guarded = datapath_->takeover().took_over && pinned_config &&
                       (pinned_config->flags & SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES);
  pod_firewall_ = std::make_unique<PodFirewall>(*datapath_, *workload_entries_, *flow_table_,
                                                std::move(uplinks), guarded);
  interface_roles_ = InterfaceRoles{
      .kubernetes = options_.kubernetes,
      .uplinks = {options_.interfaces.begin(), options_.interfaces.end()},
      .transit = {options_.transit_interfaces.begin(), options_.transit_interfaces.end()}};
  interface_table_ =
      std::make_unique<maps::InterfaceTable>(datapath_->interfaces(), datapath_->linkPrefixes());
  injector_ = std::make_unique<resolver::AnswerInjector>(options_.reinject_mark);
  frame_receiver_ = std::make_unique<FrameReceiver>();
  server_name_gate_ = std::make_unique<ServerNameGate>(
      *flow_table_, *injector_, *frame_receiver_,
      ServerNameGate::Sources{
          .policy = [this](std::uint32_t identity) { return view_->policyOf(identity); },
          .learned = [this](std::uint32_t identity,
                            const IpAddress& ip) { return allowed_ips_->entryOf(identity, ip); },
          .check = [this](policy::RuleId rule) { return server_name_rules_->checkOf(rule); }},
      [this](const ServerNameDecision& decision) { reporter_->serverName(decision); });
  released_queries_ = std::make_unique<maps::ReleasedQueryTable>(datapath_->releasedQueries());
  query_gate_ = std::make_unique<QueryGate>(
      *released_queries_, *injector_, *frame_receiver_,
      QueryGate::Sources{
          .policy = [this](std::uint32_t identity) { return view_->policyOf(identity); },
          .forget_query =
              [this](const skouter_dns_query_key& key) { flow_table_->forgetQuery(key); }},
      [this](const QueryDecision& decision) { reporter_->query(decision); },
      options_.deny_response);
  dns_client_ = std::make_unique<resolver::DnsClient>(io_, options_.trusted_dns);

  try {
    held_sink_ifindex_ = ensureHeldSink();
  } catch (const std::exception& error) {
    spdlog::warn(
        "{}: the host's first data held for the server name check is dropped instead, and "
        "its sender's TCP sends it again after its retransmission timeout",
        error.what());
  }
  // State first, programs last: a program never runs against a half-written config.
  beat();
  writeConfig();
  if (!learnable_names_->configure(maps::LearningSettings{
          .ttl =
              resolver::TtlSettings{options_.min_ttl_s, options_.ttl_grace_s, options_.max_ttl_s},
          // The programs cannot remove private addresses from an answer, as
          // --block-private-answers does: with it they learn nothing.
          .budget = options_.block_private_answers ? 0 : options_.learning_budget})) {
    spdlog::error(
        "cannot write the learning settings: answers will pass uninstalled while the "
        "daemon is away");
  }
  syncTrustedResolvers();
  // With Kubernetes, the node's policy is applied once the cluster is listed; until
  // then its entries stay as pinned.
  // A policy that does not fit leaves out what did not fit (fail-closed): the daemon
  // serves and says so, rather than leave the node to a restart loop.
  if (!kubernetes_ && !applyHostPolicy()) record_.last_policy_error = kStaticRulesFull;
  answers_ = std::make_unique<resolver::AnswerPipeline>(
      io_, datapath_->answersRingFd(), *allowed_ips_, *injector_,
      [this](std::uint32_t identity) { return view_->policyOf(identity); },
      resolver::TtlSettings{options_.min_ttl_s, options_.ttl_grace_s, options_.max_ttl_s},
      resolver::RewriteSettings{options_.deny_response, options_.max_ttl_s,
                                options_.block_private_answers},
      dns_client_.get(), &observed_names_,
      resolver::AnswerPipelineLimits{{options_.max_tcp_streams, options_.tcp_buffer_size},
                                     options_.max_pending_lookups});
  answers_->reportTo([this](std::uint32_t identity, const IpAddress& client,
                            const resolver::AnswerDecision& decision,
                            resolver::AnswerOutcome outcome) {
    reporter_->answer(identity, client, decision, outcome);
  });
  answers_->countReadsIn(*answer_ring_quota_);
  answers_->sendHellosTo(
      [this](const skouter_answer_header& header, std::span<const std::uint8_t> frame) {
        server_name_gate_->handle(header, frame);
      });
  answers_->sendQueriesTo(
      [this](const skouter_answer_header& header, std::span<const std::uint8_t> frame) {
        query_gate_->handle(header, frame);
      });
  answers_->matchQueriesIn(
      {[this](const skouter_dns_query_key& key) { return flow_table_->query(key); },
       [this](const skouter_dns_query_key& key) { return flow_table_->forgetQuery(key); }});
  if (options_.verify_answers) {
    answers_->verifyAnswers(
        resolver::VerifySettings{.timeout = std::chrono::milliseconds(options_.verify_timeout_ms)});
  }
  if (kubernetes_) {
    answers_->deferWhile([this](std::uint32_t) { return awaitingCluster(); });
  }
  flow_events_ = std::make_unique<FlowEventReader>(
      io_, datapath_->eventsRingFd(), [this](const FlowEvent& flow) { reporter_->flow(flow); });
  // Before the uplink programs: they tell forwarded traffic apart by the interface it
  // came in on. Interfaces that appear later are followed from here on.
  network_monitor_ = std::make_unique<NetworkChangeMonitor>(io_, [this] {
    refreshInterfaces();
    if (kubernetes_) scheduleApply(std::chrono::milliseconds(50), "network change");
  });
  refreshInterfaces();
  if (datapath_->programsLoaded()) attachUplinks();

  view_ = std::make_unique<DaemonView>(DaemonView{.options = options_,
                                                  .record = record_,
                                                  .policies = policies_,
                                                  .datapath = *datapath_,
                                                  .pods = *pod_firewall_,
                                                  .allowed_ips = *allowed_ips_,
                                                  .static_rules = *static_rules_,
                                                  .port_sets = *port_sets_,
                                                  .trusted_resolvers = *trusted_resolver_table_,
                                                  .answer_ring_quota = *answer_ring_quota_,
                                                  .learnable_names = *learnable_names_,
                                                  .server_name_rules = *server_name_rules_,
                                                  .answers = *answers_,
                                                  .server_names = *server_name_gate_,
                                                  .queries = *query_gate_,
                                                  .observed_names = observed_names_,
                                                  .audit_table = audit_table_,
                                                  .denied_queries = denied_queries_,
                                                  .expired_addresses = expired_addresses_,
                                                  .flow_events = *flow_events_,
                                                  .events = events_,
                                                  .interface_table = *interface_table_,
                                                  .interface_roles = interface_roles_,
                                                  .links = links_,
                                                  .kubernetes = kubernetes_.get()});
  reporter_ = std::make_unique<DecisionReporter>(events_, audit_table_, denied_queries_,
                                                 expired_addresses_, *view_);
  admin_api_ = std::make_unique<AdminApi>(adminRoutes(*view_, events_));
  admin_ = std::make_unique<AdminServer>(
      io_, options_.admin_socket,
      [this](const HttpRequest& request) { return admin_api_->handle(request); });
  view_->admin = admin_.get();
  if (!options_.metrics_address.empty()) {
    metrics_server_ = std::make_unique<MetricsServer>(
        io_, options_.metrics_address,
        [this](const HttpRequest& request) { return metricsResponse(*view_, request); });
    view_->metrics_server = metrics_server_.get();
  }

  const auto& takeover = datapath_->takeover();
  std::string state = "created fresh state";
  if (takeover.migrated) {
    state = fmt::format("migrated the state of layout {} ({} entries)",
                        takeover.previous_layout_version.value_or(0), record_.entries_taken_over);
  } else if (takeover.took_over) {
    state = fmt::format("took over the state ({} entries)", record_.entries_taken_over);
  }
  spdlog::info(
      "skouterd {} {} in {}; policing {} on {}; trusted resolvers: {}{}{}", kVersion, state,
      options_.bpffs, policies_.hostPolicy().polices ? "this host" : "nothing",
      fmt::join(options_.interfaces, ", "),
      [&] {
        std::vector<std::string> names;
        for (const auto& r : options_.trusted_dns) names.push_back(r.toString());
        return fmt::format("{}", fmt::join(names, ", "));
      }(),
      kubernetes_ ? "; pods and Egress objects come from Kubernetes" : "",
      metrics_server_ ? "; metrics on " + options_.metrics_address : "");
}

Daemon::~Daemon() {
  if (program_loader_.joinable()) program_loader_.join();
}

void Daemon::writeConfig() {
  skouter_config config{};
  const auto& host = policies_.hostPolicy();
  config.flags = (host.polices ? SKOUTER_CFG_HOST_POLICED : 0) |
                 (options_.fail_open ? SKOUTER_CFG_FAIL_OPEN : 0) |
                 (options_.audit ? SKOUTER_CFG_AUDIT : 0) |
                 (host.audit_egresses.empty() ? 0 : SKOUTER_CFG_HOST_AUDIT) |
                 (host.queryable_suffixes ? SKOUTER_CFG_HOST_QUERIES_POLICED : 0) |
                 (pod_firewall_->guarding() ? SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES : 0);
  // Whether the node and its pods are policed comes from the cluster: until it is
  // listed, they stay as the previous daemon left them.
  const std::uint32_t from_cluster = awaitingCluster()
                                         ? SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_HOST_AUDIT |
                                               SKOUTER_CFG_HOST_QUERIES_POLICED |
                                               SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES
                                         : 0;
  config.reinject_mark = options_.reinject_mark;
  config.event_rate_limit = options_.event_rate_limit;
  config.failsafe_ns = options_.failsafe_timeout_s * kNanosPerSecond;
  config.flow_idle_ns = options_.flow_idle_timeout_s * kNanosPerSecond;
  config.held_sink_ifindex = static_cast<std::uint32_t>(held_sink_ifindex_);
  config.answer_quota_bytes = static_cast<std::uint32_t>(
      datapath_->ringFill(Datapath::Ring::kAnswers).size_bytes * options_.answers_ring_share / 100);
  datapath_settings_->writeConfig(config, from_cluster);
}

void Daemon::syncTrustedResolvers() {
  const auto wanted = trustedResolversOf(options_, policies_.cluster());
  // The cluster DNS service's addresses are known only once it is listed; a restarted
  // daemon keeps the ones in place until then, or pods' lookups would be dropped.
  const std::size_t refused = trusted_resolver_table_->sync(wanted, awaitingCluster());
  if (refused > 0) {
    // Their answers are not held: they pass uninstalled, so the workloads' connections
    // to what they name are judged without them. Never a reason to stop.
    record_.resolvers_refused += refused;
    trouble_log_.log(datapathNowNs(), spdlog::level::err,
                     "the trusted_resolvers map is full: {} of {} resolvers are not trusted",
                     refused, wanted.size());
  }
}

bool Daemon::applyHostPolicy() {
  const auto& host = policies_.hostPolicy();
  const auto applied =
      workload_entries_->apply(SKOUTER_HOST_IDENTITY, host.polices ? &host : nullptr);
  const auto& result = applied.static_entries;
  if (result.failed > 0) {
    spdlog::error("the static rule table is full: {} IPs/CIDRs could not be installed",
                  result.failed);
  }
  // Cluster changes apply the node's unchanged policy again: only changes are news.
  auto summary = fmt::format(
      "{} Egress document(s), {} exact name(s), {} wildcard(s), {} regex(es), {} static "
      "IP/CIDR(s)",
      policies_.egresses().size(), host.names.exactCount(), host.names.wildcardCount(),
      host.names.regexCount(), host.static_entries.size());
  const bool changed =
      result.added + result.removed + applied.learned_removed > 0 || summary != last_applied_;
  last_applied_ = std::move(summary);
  spdlog::log(changed ? spdlog::level::info : spdlog::level::debug,
              "policy: {} (+{} -{}), {} learned address(es) no longer allowed removed{}",
              last_applied_, result.added, result.removed, applied.learned_removed,
              host.audit() ? "; audit mode: nothing is dropped" : "");
  return applied.complete();
}

void Daemon::beat() {
  const std::uint64_t now = datapathNowNs();
  const std::uint64_t silent_ns = last_beat_ns_ ? now - last_beat_ns_ : 0;
  if (!datapath_settings_->beat(now)) {
    spdlog::error("cannot write the heartbeat; answers will pass untouched");
  }
  last_beat_ns_ = now;
  // The datapath took the daemon for gone (stopped, or its loop stalled) and judged
  // answers itself meanwhile.
  if (silent_ns > options_.failsafe_timeout_s * kNanosPerSecond) takeInAfterAbsence(silent_ns);
}

void Daemon::takeInAfterAbsence(std::uint64_t silent_ns) {
  // The datapath gave what it learned --min-ttl only. A rule's minTTL counts from the
  // answer, which came once the heartbeat was --failsafe-timeout old at the earliest:
  // counted from then, no address stays open longer than its rule asks.
  const std::uint64_t answered_from =
      datapathNowNs() - silent_ns + options_.failsafe_timeout_s * kNanosPerSecond;
  const auto rule_floor = [&](std::uint32_t identity, const std::string& name) -> std::uint64_t {
    const auto* policy = view_->policyOf(identity);
    const auto rule = policy ? policy->names.match(name) : std::nullopt;
    if (!rule) return 0;
    const auto min_ttl = policy->rule_min_ttls.find(*rule);
    if (min_ttl == policy->rule_min_ttls.end()) return 0;
    return resolver::expiryFor(
        answered_from, 0,
        {std::max(options_.min_ttl_s, min_ttl->second), options_.ttl_grace_s, options_.max_ttl_s});
  };
  const std::size_t adopted = allowed_ips_->adoptDatapathLearned(rule_floor);
  learnable_names_->resetBudgets();
  ++record_.absences;
  record_.pairs_adopted += adopted;
  spdlog::warn(
      "the heartbeat was {} ms late (the daemon was stopped or stalled): answers were judged "
      "by the datapath meanwhile; took in {} name/address pair(s) it installed",
      silent_ns / 1'000'000, adopted);
  // Their names get their rules' ports, and those the policy no longer allows go.
  if (adopted > 0) scheduleApply(std::chrono::milliseconds(0), "after an absence");
}

void Daemon::collectGarbage() {
  const auto now = datapathNowNs();
  answers_->forgetIdleTcpStreams(now, kTcpStreamIdle.count() * kNanosPerSecond);
  server_name_gate_->expire();
  sweepExpired();
  // Port sets outlive the entries that used them only briefly; a full pass over the
  // tables is not needed every round.
  if (++gc_runs_ % 30 == 0) {
    workload_entries_->forgetUnusedPortSets();
    // Pods deleted since leave the late connections metric.
    std::set<std::uint32_t> workloads{SKOUTER_HOST_IDENTITY};
    for (const auto& [identity, pod] : pod_firewall_->pods()) workloads.insert(identity);
    expired_addresses_.keepCountsOf(workloads);
  }
  // Another agent may put its program before skouter's at any time; a look every ten
  // seconds (one bpf() call per hook) tells the operator soon enough.
  if (gc_runs_ % 5 == 0 && datapath_->programsLoaded()) datapath_->checkChainOrder();
  const auto sweep = flow_table_->sweep(now, options_.flow_idle_timeout_s * kNanosPerSecond,
                                        kTcpStreamIdle.count() * kNanosPerSecond);
  record_.flows_removed += sweep.flows_removed;
  record_.last_sweep = sweep;
  answer_ring_quota_->forgetDrained();
}

void Daemon::refreshInterfaces() {
  try {
    links_ = listLinks();
    addresses_ = listAddresses();
    if (kubernetes_) {
      std::vector<IpAddress> node_addresses;
      for (const auto& address : addresses_) node_addresses.push_back(address.address);
      pod_firewall_->observe(podInterfacesOf(links_, interface_roles_), node_addresses);
    }
    interface_table_->write(interfaceKinds(links_, pod_firewall_->unguarded(), interface_roles_),
                            uplinkPrefixes(links_, addresses_, interface_roles_));
  } catch (const std::exception& error) {
    spdlog::error("cannot read the node's interfaces: {}", error.what());
  }
}

void Daemon::attachUplinks() {
  for (const auto& interface : options_.interfaces) datapath_->attachUplink(interface);
  record_.programs_loaded_after = std::chrono::steady_clock::now() - record_.started;
}

void Daemon::loadProgramsAside() {
  program_loader_ = std::thread([this] {
    try {
      datapath_->loadPrograms();
    } catch (...) {
      program_load_error_ = std::current_exception();
    }
    boost::asio::post(io_, [this] {
      program_loader_.join();
      if (program_load_error_) {
        io_.stop();
        return;
      }
      attachUplinks();
      spdlog::info(
          "programs loaded and attached {} ms after start",
          std::chrono::duration_cast<std::chrono::milliseconds>(*record_.programs_loaded_after)
              .count());
      // Pods whose interfaces carry the previous daemon's programs get these.
      if (kubernetes_) scheduleApply(std::chrono::milliseconds(0), "programs loaded");
    });
  });
}

void Daemon::stopAfterHeldAnswers(int signal) {
  // What the ring holds waits there for the next daemon; what was read from it is
  // answered first (a confirmation or a lookup over TCP takes milliseconds), so that
  // no client waits for its retry across a restart.
  answers_->stopReading();
  stopOnceAnswered(signal, std::chrono::steady_clock::now() +
                               std::chrono::milliseconds(options_.verify_timeout_ms) +
                               std::chrono::milliseconds(100));
}

void Daemon::stopOnceAnswered(int signal, std::chrono::steady_clock::time_point deadline) {
  if (answers_->pendingLookups() > 0 && std::chrono::steady_clock::now() < deadline) {
    stop_timer_.expires_after(std::chrono::milliseconds(2));
    stop_timer_.async_wait([this, signal, deadline](const boost::system::error_code& error) {
      if (!error) stopOnceAnswered(signal, deadline);
    });
    return;
  }
  spdlog::info("signal {}: exiting ({} answer(s) still held); programs and maps stay in place",
               signal, answers_->pendingLookups());
  io_.stop();
}

void Daemon::run() {
  signals_.async_wait([this](const boost::system::error_code& error, int signal) {
    if (!error) stopAfterHeldAnswers(signal);
  });
  scheduleHeartbeat();
  scheduleGarbageCollection();
  answers_->start();
  record_.answers_read_after = std::chrono::steady_clock::now() - record_.started;
  if (!datapath_->programsLoaded()) loadProgramsAside();
  flow_events_->start();
  network_monitor_->start();
  // With Kubernetes the first complete list of the cluster applies (and pre-warms).
  if (!kubernetes_) {
    record_.applied_once = true;
    const auto& host = policies_.hostPolicy();
    if (host.polices) prewarm(SKOUTER_HOST_IDENTITY, host);
  }
  if (kubernetes_) {
    kubernetes_->start();
    // Answers to pods wait for the cluster's policy, but not longer than DNS may go
    // without an answer.
    startup_timer_.expires_after(std::chrono::seconds(options_.failsafe_timeout_s));
    startup_timer_.async_wait([this](const boost::system::error_code& error) {
      if (error || record_.applied_once) return;
      spdlog::warn(
          "the Kubernetes API has not been listed after {}s; answers are judged "
          "without the cluster's policy until it is",
          options_.failsafe_timeout_s);
      answers_->deferWhile(nullptr);
      answers_->releaseDeferred();
    });
  }
  if (!options_.policy_path.empty()) {
    policy_watch_ = std::make_unique<PolicyFileWatch>(io_, options_.policy_path,
                                                      [this] { reload("policy files changed"); });
  }
  waitForSighup();
  // A handler that throws ends io_context::run(); the loop goes on with the next one,
  // so no input (a name no JSON can hold, a full map) takes the daemon down, and what
  // went wrong is counted and logged.
  for (;;) {
    try {
      io_.run();
      if (program_load_error_) std::rethrow_exception(program_load_error_);
      return;
    } catch (const std::exception& error) {
      ++record_.handler_failures;
      trouble_log_.log(datapathNowNs(), spdlog::level::err,
                       "a handler failed, the daemon goes on: {}", error.what());
    }
  }
}

void Daemon::reload(const std::string& why) {
  if (!options_.policy_path.empty()) {
    try {
      policies_.setFileEgresses(policy::loadPolicyPath(options_.policy_path));
    } catch (const std::exception& error) {
      keepPolicyInForce(why, error);
      return;
    }
  }
  applyAll(why);
}

void Daemon::keepPolicyInForce(const std::string& why, const std::exception& error) {
  ++record_.reloads_failed;
  record_.last_policy_error = error.what();
  spdlog::error("cannot apply the policy ({}); the previous one stays in force: {}", why,
                record_.last_policy_error);
  reporter_->policy(why, record_.last_policy_error);
}

void Daemon::applyAll(const std::string& why) {
  if (kubernetes_) {
    // Until every collection is listed, a pod might look unselected only because its
    // Egress has not arrived: enforcement stays as the pinned state has it.
    if (!kubernetes_->synced()) return;
    policies_.setCluster(kubernetes_->snapshot());
  }
  PolicyPlan plan;
  try {
    plan = policies_.reconcile();
  } catch (const std::exception& error) {
    keepPolicyInForce(why, error);
    return;
  }
  const bool first = !record_.applied_once;
  record_.applied_once = true;
  std::vector<std::string> problems = std::move(plan.refused);
  bool complete = applyHostPolicy();
  // First: the node's policy is missing part, the gravest problem of all.
  if (!complete) problems.insert(problems.begin(), kStaticRulesFull);
  const auto pods = pod_firewall_->sync(plan.policed, plan.unpoliced, plan.guard_pods);
  interface_table_->write(interfaceKinds(links_, pod_firewall_->unguarded(), interface_roles_),
                          uplinkPrefixes(links_, addresses_, interface_roles_));
  complete = complete && pods.complete;
  // Port sets only fall out of use when a policy changes (the garbage collection
  // catches the rest); a full pass over the tables per pod event would be wasted.
  if (plan.egresses_changed) workload_entries_->forgetUnusedPortSets();
  syncTrustedResolvers();
  writeConfig();
  ++record_.reloads_applied;
  for (const auto& [identity, state] : pod_firewall_->pods()) {
    if (!state.problem.empty()) {
      problems.push_back("pod " + state.pod.qualifiedName() + ": " + state.problem);
    }
  }
  problems.insert(problems.end(), plan.left_out.begin(), plan.left_out.end());
  for (const auto& [egress, reason] : plan.cluster_egresses_left_out) {
    if (!kubernetes_) break;
    kubernetes_->warnAboutEgress(
        egress, "EgressLeftOut",
        "not enforced on the workloads it selects together with Egresses that take "
        "precedence: " +
            reason);
  }
  record_.last_policy_error = problems.empty() ? "" : problems.front();
  reporter_->policy(why, "");
  spdlog::log(first ? spdlog::level::info : spdlog::level::debug,
              "policy applied ({}): {} Egress(es), {} policed pod(s)", why,
              policies_.egresses().size(), pod_firewall_->pods().size());
  answers_->releaseDeferred();
  const auto& host = policies_.hostPolicy();
  if ((first || plan.host_names_changed) && host.polices) prewarm(SKOUTER_HOST_IDENTITY, host);
  for (const std::uint32_t identity : pods.newly_policed) {
    if (const auto* policy = view_->policyOf(identity)) prewarm(identity, *policy);
  }
  if (!complete) {
    // A pod's interface or route may appear later than its address; the network
    // monitor usually tells first, this retry catches the rest.
    pod_retry_timer_.expires_after(std::chrono::seconds(1));
    pod_retry_timer_.async_wait([this](const boost::system::error_code& error) {
      if (!error) scheduleApply(std::chrono::milliseconds(0), "retrying pods not yet enforced");
    });
  }
}

void Daemon::scheduleApply(std::chrono::milliseconds delay, const std::string& why) {
  if (apply_pending_) return;
  apply_pending_ = true;
  apply_reason_ = why;
  apply_timer_.expires_after(delay);
  apply_timer_.async_wait([this](const boost::system::error_code& error) {
    apply_pending_ = false;
    if (!error) applyAll(apply_reason_);
  });
}

void Daemon::waitForSighup() {
  reload_signals_.async_wait([this](const boost::system::error_code& error, int) {
    if (error) return;
    reload("SIGHUP");
    waitForSighup();
  });
}

// Applications that resolved a name before skouterd started (or before their pod was
// policed) still hold its addresses: looking every literal name up now installs them
// before they connect.
void Daemon::prewarm(std::uint32_t identity, const policy::CompiledPolicy& policy) {
  for (const auto& name : policy.names.exactNames()) {
    for (const auto type : {resolver::DnsClient::kTypeA, resolver::DnsClient::kTypeAAAA}) {
      dns_client_->query(name, type, resolver::DnsClient::Transport::kUdp,
                         [this, name, identity](const std::string& error,
                                                const std::vector<std::uint8_t>& answer) {
                           if (answer.empty()) {
                             spdlog::warn("pre-warming {}: {}", name, error);
                             return;
                           }
                           const auto installed = answers_->installOwnAnswer(identity, answer);
                           spdlog::debug("pre-warmed {} for {}: {} address(es)", name,
                                         view_->workloadName(identity), installed);
                         });
    }
  }
}

void Daemon::scheduleHeartbeat() {
  beat();
  heartbeat_timer_.expires_after(kHeartbeatInterval);
  heartbeat_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) scheduleHeartbeat();
  });
}

void Daemon::sweepExpired() {
  const std::size_t removed = allowed_ips_->removeExpired(
      datapathNowNs(), kExpiredPerTurn,
      [this](const maps::AllowedIpEntry& entry) { expired_addresses_.remember(entry); });
  record_.expired_removed += removed;
  // More came due at once (a burst of answers a TTL ago): the rest in later turns, with
  // the answers waiting meanwhile in between.
  if (removed == kExpiredPerTurn) boost::asio::post(io_, [this] { sweepExpired(); });
}

void Daemon::scheduleGarbageCollection() {
  collectGarbage();
  gc_timer_.expires_after(kGcInterval);
  gc_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) scheduleGarbageCollection();
  });
}

bool Daemon::awaitingCluster() const { return kubernetes_ && !record_.applied_once; }

int detach(const DaemonOptions& options) {
  std::vector<std::string> interfaces = resolveInterfaces(options);
  // Pins first: it refuses while a daemon runs, before anything is detached; it
  // detaches skouter's tcx links, pinned there, on the way.
  Datapath::removePins(options.bpffs);
  spdlog::info("removed skouter's tcx links and pinned maps under {}", options.bpffs);
  int status = 0;
  std::set<int> uplinks;
  for (const auto& interface : interfaces) {
    uplinks.insert(static_cast<int>(if_nametoindex(interface.c_str())));
    try {
      Datapath::detachUplink(options.bpffs, interface);
      spdlog::info("detached from {}", interface);
    } catch (const std::exception& error) {
      spdlog::error("{}", error.what());
      status = 1;
    }
  }
  try {
    for (const int ifindex : Datapath::podAttachments(options.bpffs, uplinks)) {
      Datapath::detachPod(options.bpffs, ifindex);
      spdlog::info("detached from pod interface {}", ifindex);
    }
  } catch (const std::exception& error) {
    spdlog::error("{}", error.what());
    status = 1;
  }
  try {
    removeHeldSink();
  } catch (const std::exception& error) {
    spdlog::error("{}", error.what());
    status = 1;
  }
  std::filesystem::remove(options.admin_socket);
  return status;
}

}  // namespace skouter::daemon
