#include "daemon/daemon.h"

#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "bpf/counter_names.h"
#include "common/datapath_clock.h"
#include "daemon/explain.h"
#include "daemon/host_network.h"
#include "daemon/json_text.h"
#include "daemon/version.h"
#include "policy/loader.h"
#include "resolver/dns_question.h"

namespace skouter::daemon {
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

constexpr auto kHeartbeatInterval = std::chrono::milliseconds(250);
constexpr auto kGcInterval = std::chrono::seconds(2);
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

// A query string value as sent: "%3A" for ':' and '+' for a space. A malformed escape
// stays as it is and fails the value's own validation.
std::string percentDecoded(const std::string& text) {
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      decoded += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() &&
               std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      decoded += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
}

std::string lowerCase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// "a=1&b=2" as {a: 1, b: 2}, decoded.
std::map<std::string, std::string> queryParameters(const std::string& query) {
  std::map<std::string, std::string> parameters;
  for (std::size_t start = 0; start <= query.size();) {
    const auto end = std::min(query.find('&', start), query.size());
    const std::string pair = query.substr(start, end - start);
    const auto equals = pair.find('=');
    if (!pair.empty()) {
      parameters[percentDecoded(pair.substr(0, equals))] =
          equals == std::string::npos ? "" : percentDecoded(pair.substr(equals + 1));
    }
    start = end + 1;
  }
  return parameters;
}

constexpr const char* kStaticRulesFull =
    "the static rule table is full: part of the node's policy is missing";

// Allows the node the API server's endpoints on their ports, one rule per port.
policy::Egress apiServerEgress(const std::vector<ServiceEndpoint>& endpoints) {
  policy::Egress egress;
  egress.name = "skouterd:kubernetes-api-server";  // no Kubernetes name has a colon
  egress.source = "skouterd (the node always reaches its Kubernetes API server)";
  egress.node_selector = policy::LabelSelector{};
  std::map<std::uint16_t, policy::EgressRule> rules;
  for (const auto& endpoint : endpoints) {
    auto& rule = rules[endpoint.port];
    rule.ips.push_back({endpoint.ip, endpoint.ip.maxPrefixLength()});
    rule.ports = {{policy::PortProtocol::kTcp, endpoint.port, endpoint.port}};
  }
  for (auto& [port, rule] : rules) egress.rules.push_back(std::move(rule));
  return egress;
}

// --verify-answers' work; null without it.
json verifyJson(const resolver::AnswerVerifier* verifier) {
  if (!verifier) return nullptr;
  const auto& stats = verifier->stats();
  return {{"lookups", stats.lookups},
          {"failed", stats.failed},
          {"confirmed", stats.confirmed},
          {"cached", stats.cached},
          {"unconfirmed", stats.unconfirmed},
          {"pending", verifier->pending()},
          {"cached_addresses", verifier->cachedAddresses()}};
}

}  // namespace

Daemon::Daemon(DaemonOptions options)
    : options_(std::move(options)),
      observed_names_(options_.observed_names_size),
      audit_table_(options_.audit_table_size) {
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

  node_labels_ = options_.node_labels;
  if (!options_.policy_path.empty()) file_egresses_ = policy::loadPolicyPath(options_.policy_path);
  egresses_ = file_egresses_;
  auto host = compile(egresses_);
  // The policy files are the operator's, who is there to fix them: at start, one that
  // does not compile stops skouterd, as one that does not load does.
  if (!host.left_out.empty()) throw policy::PolicyError(host.left_out.front().reason);
  host_policy_ = std::move(host.policy);
  if (options_.kubernetes) {
    kubernetes_ = std::make_unique<KubernetesSource>(
        io_, options_, [this] { scheduleApply(std::chrono::milliseconds(20), "cluster change"); });
  }

  datapath_ = Datapath::open(options_.bpffs);
  datapath_settings_ =
      std::make_unique<maps::DatapathSettings>(datapath_->config(), datapath_->heartbeat());
  trusted_resolver_table_ =
      std::make_unique<maps::TrustedResolverTable>(datapath_->trustedResolvers());
  port_sets_ = std::make_unique<maps::PortSetTable>(datapath_->portSets());
  allowed_ips_ = std::make_unique<maps::AllowedIpTable>(
      datapath_->allowedIps(), datapath_->learnedNames(), *port_sets_, options_.max_ips_per_name,
      options_.max_names_per_ip, options_.max_ips_per_workload);
  static_rules_ = std::make_unique<maps::StaticRuleTable>(datapath_->allowedCidrs(), *port_sets_);
  if (datapath_->takeover().took_over) {
    entries_taken_over_ = allowed_ips_->size() + static_rules_->size();
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
  pod_firewall_ = std::make_unique<PodFirewall>(*datapath_, *allowed_ips_, *static_rules_,
                                                *flow_table_, std::move(uplinks), guarded);
  interface_roles_ = InterfaceRoles{
      .kubernetes = options_.kubernetes,
      .uplinks = {options_.interfaces.begin(), options_.interfaces.end()},
      .transit = {options_.transit_interfaces.begin(), options_.transit_interfaces.end()}};
  interface_table_ =
      std::make_unique<maps::InterfaceTable>(datapath_->interfaces(), datapath_->linkPrefixes());
  injector_ = std::make_unique<resolver::AnswerInjector>(options_.reinject_mark);
  dns_client_ = std::make_unique<resolver::DnsClient>(io_, options_.trusted_dns);

  // State first, programs last: a program never runs against a half-written config.
  beat();
  writeConfig();
  syncTrustedResolvers();
  // With Kubernetes, the node's policy is applied once the cluster is listed; until
  // then its entries stay as pinned.
  // A policy that does not fit leaves out what did not fit (fail-closed): the daemon
  // serves and says so, rather than leave the node to a restart loop.
  if (!kubernetes_ && !applyPolicy()) last_policy_error_ = kStaticRulesFull;
  answers_ = std::make_unique<resolver::AnswerPipeline>(
      io_, datapath_->answersRingFd(), *allowed_ips_, *injector_,
      [this](std::uint32_t identity) { return policyOf(identity); },
      resolver::TtlSettings{options_.min_ttl_s, options_.ttl_grace_s, options_.max_ttl_s},
      resolver::RewriteSettings{options_.deny_response, options_.max_ttl_s,
                                options_.block_private_answers},
      dns_client_.get(), &observed_names_,
      resolver::AnswerPipelineLimits{{options_.max_tcp_streams, options_.tcp_buffer_size},
                                     options_.max_pending_lookups});
  answers_->reportTo(
      [this](std::uint32_t identity, const IpAddress& client,
             const resolver::AnswerDecision& decision,
             resolver::AnswerOutcome outcome) { onAnswer(identity, client, decision, outcome); });
  answers_->countReadsIn(*answer_ring_quota_);
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
      io_, datapath_->eventsRingFd(), [this](const DeniedFlow& flow) { onDeniedFlow(flow); });
  // Before the uplink programs: they tell forwarded traffic apart by the interface it
  // came in on. Interfaces that appear later are followed from here on.
  network_monitor_ = std::make_unique<NetworkChangeMonitor>(io_, [this] {
    refreshInterfaces();
    if (kubernetes_) scheduleApply(std::chrono::milliseconds(50), "network change");
  });
  refreshInterfaces();
  for (const auto& interface : options_.interfaces) datapath_->attachUplink(interface);

  admin_ = std::make_unique<AdminServer>(
      io_, options_.admin_socket,
      [this](const HttpRequest& request) { return handleAdmin(request); });
  if (!options_.metrics_address.empty()) {
    metrics_server_ = std::make_unique<MetricsServer>(
        io_, options_.metrics_address,
        [this](const HttpRequest& request) { return metricsResponse(request); });
  }

  const auto& takeover = datapath_->takeover();
  std::string state = "created fresh state";
  if (takeover.migrated) {
    state = fmt::format("migrated the state of layout {} ({} entries)",
                        takeover.previous_layout_version.value_or(0), entries_taken_over_);
  } else if (takeover.took_over) {
    state = fmt::format("took over the state ({} entries)", entries_taken_over_);
  }
  spdlog::info(
      "skouterd {} {} in {}; policing {} on {}; trusted resolvers: {}{}{}", kVersion, state,
      options_.bpffs, host_policy_.polices ? "this host" : "nothing",
      fmt::join(options_.interfaces, ", "),
      [&] {
        std::vector<std::string> names;
        for (const auto& r : options_.trusted_dns) names.push_back(r.toString());
        return fmt::format("{}", fmt::join(names, ", "));
      }(),
      kubernetes_ ? "; pods and Egress objects come from Kubernetes" : "",
      metrics_server_ ? "; metrics on " + options_.metrics_address : "");
}

Daemon::~Daemon() = default;

void Daemon::writeConfig() {
  skouter_config config{};
  config.flags = (host_policy_.polices ? SKOUTER_CFG_HOST_POLICED : 0) |
                 (options_.fail_open ? SKOUTER_CFG_FAIL_OPEN : 0) |
                 (options_.audit ? SKOUTER_CFG_AUDIT : 0) |
                 (host_policy_.audit_egresses.empty() ? 0 : SKOUTER_CFG_HOST_AUDIT) |
                 (pod_firewall_->guarding() ? SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES : 0);
  // Whether the node and its pods are policed comes from the cluster: until it is
  // listed, they stay as the previous daemon left them.
  const std::uint32_t from_cluster =
      awaitingCluster()
          ? SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_HOST_AUDIT | SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES
          : 0;
  config.reinject_mark = options_.reinject_mark;
  config.event_rate_limit = options_.event_rate_limit;
  config.failsafe_ns = options_.failsafe_timeout_s * kNanosPerSecond;
  config.flow_idle_ns = options_.flow_idle_timeout_s * kNanosPerSecond;
  config.answer_quota_bytes = static_cast<std::uint32_t>(
      datapath_->ringFill(Datapath::Ring::kAnswers).size_bytes * options_.answers_ring_share / 100);
  datapath_settings_->writeConfig(config, from_cluster);
}

void Daemon::syncTrustedResolvers() {
  const auto wanted = trustedResolvers();
  // The cluster DNS service's addresses are known only once it is listed; a restarted
  // daemon keeps the ones in place until then, or pods' lookups would be dropped.
  const std::size_t refused = trusted_resolver_table_->sync(wanted, awaitingCluster());
  if (refused > 0) {
    // Their answers are not held: they pass uninstalled, so the workloads' connections
    // to what they name are judged without them. Never a reason to stop.
    resolvers_refused_ += refused;
    trouble_log_.log(datapathNowNs(), spdlog::level::err,
                     "the trusted_resolvers map is full: {} of {} resolvers are not trusted",
                     refused, wanted.size());
  }
}

policy::WorkloadPolicy Daemon::compile(const std::vector<policy::Egress>& egresses) const {
  auto compiled = policy::compileLeavingOut(
      egresses, [this](const policy::Egress& egress) { return selectsThisNode(egress); });
  compiled.policy.audit_everything = options_.audit;
  return compiled;
}

const policy::CompiledPolicy* Daemon::policyOf(std::uint32_t identity) const {
  if (identity == SKOUTER_HOST_IDENTITY) return host_policy_.polices ? &host_policy_ : nullptr;
  const PodState* pod = pod_firewall_->byIdentity(identity);
  return pod ? pod->policy.get() : nullptr;
}

policy::PodSelectionFacts Daemon::selectionFacts(const PodObject& pod) const {
  policy::PodSelectionFacts facts{pod.namespace_name, pod.labels, {}};
  if (const auto found = cluster_.namespace_labels.find(pod.namespace_name);
      found != cluster_.namespace_labels.end()) {
    facts.namespace_labels = found->second;
  }
  return facts;
}

std::vector<PolicedPod> Daemon::policedPods(const std::vector<policy::Egress>& egresses,
                                            std::vector<PodObject>& unpoliced,
                                            std::vector<LeftOutOfWorkload>& left_out) {
  const auto generation = std::make_pair(file_generation_, cluster_.egress_generation);
  if (generation != pod_policies_generation_) {
    pod_policies_.clear();
    pod_policies_generation_ = generation;
  }
  std::vector<PolicedPod> policed;
  for (const PodObject& pod : cluster_.pods) {
    // A host-network pod's traffic is the node's own; a finished pod's address may be
    // a newer pod's already.
    if (pod.host_network || pod.finished || pod.addresses.empty()) continue;
    const auto facts = selectionFacts(pod);
    std::vector<std::size_t> selecting;
    for (std::size_t i = 0; i < egresses.size(); ++i) {
      if (policy::selectsPod(egresses[i], facts)) selecting.push_back(i);
    }
    if (selecting.empty()) {
      unpoliced.push_back(pod);
      continue;
    }
    auto& compiled = pod_policies_[selecting];
    if (!compiled.policy) {
      auto united = policy::compileLeavingOut(egresses, [&](const policy::Egress& egress) {
        return policy::selectsPod(egress, facts);
      });
      united.policy.audit_everything = options_.audit;
      compiled = {std::make_shared<const policy::CompiledPolicy>(std::move(united.policy)),
                  std::move(united.left_out)};
    }
    for (const auto& egress : compiled.left_out) {
      left_out.push_back({"pod " + pod.qualifiedName(), egress});
    }
    policed.push_back({pod, compiled.policy});
  }
  return policed;
}

bool Daemon::applyPolicy() {
  // New static entries go in before old ones go out; learned names the policy no
  // longer allows go last. Open connections keep their flows throughout.
  const auto result = static_rules_->sync(SKOUTER_HOST_IDENTITY, host_policy_.static_entries);
  if (result.failed > 0) {
    spdlog::error("the static rule table is full: {} IPs/CIDRs could not be installed",
                  result.failed);
  }
  const auto removed = allowed_ips_->applyPolicy(
      SKOUTER_HOST_IDENTITY, [this](const std::string& name) -> std::optional<maps::NameVerdict> {
        if (!host_policy_.polices) return std::nullopt;
        const auto rule = host_policy_.names.match(name);
        if (!rule) return std::nullopt;
        return maps::NameVerdict{*rule, host_policy_.portsOf(*rule)};
      });
  // Cluster changes apply the node's unchanged policy again: only changes are news.
  auto summary = fmt::format(
      "{} Egress document(s), {} exact name(s), {} wildcard(s), {} regex(es), {} static "
      "IP/CIDR(s)",
      egresses_.size(), host_policy_.names.exactCount(), host_policy_.names.wildcardCount(),
      host_policy_.names.regexCount(), host_policy_.static_entries.size());
  const bool changed = result.added + result.removed + removed > 0 || summary != last_applied_;
  last_applied_ = std::move(summary);
  spdlog::log(changed ? spdlog::level::info : spdlog::level::debug,
              "policy: {} (+{} -{}), {} learned address(es) no longer allowed removed{}",
              last_applied_, result.added, result.removed, removed,
              host_policy_.audit() ? "; audit mode: nothing is dropped" : "");
  return result.failed == 0;
}

void Daemon::forgetUnusedPortSets() {
  auto in_use = allowed_ips_->portSetsInUse();
  in_use.merge(static_rules_->portSetsInUse());
  port_sets_->retainOnly(in_use);
}

void Daemon::onDeniedFlow(const DeniedFlow& flow) {
  auto names = observed_names_.namesOf(flow.identity, flow.destination);
  if (events_.hasSubscribers()) {
    events_.publish(
        flowEvent(std::chrono::system_clock::now(),
                  {.identity = flow.identity,
                   .workload = workloadName(flow.identity),
                   .verdict = flow.verdict == AuditVerdict::kAudited ? "audited" : "denied",
                   .source = flow.source.toString(),
                   .destination = flow.destination.toString(),
                   .port = flow.port,
                   .protocol = lowerCase(ipProtocolName(flow.protocol)),
                   .names = names}));
  }
  const std::string named = names.empty() ? "" : fmt::format(" ({})", fmt::join(names, ", "));
  // One line per destination, not per retransmitted SYN; `skouterctl audit` counts them.
  if (!audit_table_.record(flow, std::move(names), std::chrono::system_clock::now())) return;
  denied_flow_log_.log(datapathNowNs(), spdlog::level::info, "{} {} -> {} {}{}{}",
                       toString(flow.verdict), flow.source.toString(), flow.destination.toString(),
                       flow.port ? std::to_string(flow.port) + "/" : "",
                       ipProtocolName(flow.protocol), named);
}

void Daemon::beat() {
  if (!datapath_settings_->beat(datapathNowNs())) {
    spdlog::error("cannot write the heartbeat; answers will pass untouched");
  }
}

void Daemon::collectGarbage() {
  const auto now = datapathNowNs();
  answers_->forgetIdleTcpStreams(now, kTcpStreamIdle.count() * kNanosPerSecond);
  expired_removed_ += allowed_ips_->removeExpired(now);
  // Port sets outlive the entries that used them only briefly; a full pass over the
  // tables is not needed every round.
  if (++gc_runs_ % 30 == 0) forgetUnusedPortSets();
  const auto sweep = flow_table_->sweep(now, options_.flow_idle_timeout_s * kNanosPerSecond,
                                        kTcpStreamIdle.count() * kNanosPerSecond);
  flows_removed_ += sweep.flows_removed;
  last_sweep_ = sweep;
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

void Daemon::run() {
  signals_.async_wait([this](const boost::system::error_code&, int signal) {
    spdlog::info("signal {}: exiting; programs and maps stay in place", signal);
    io_.stop();
  });
  scheduleHeartbeat();
  scheduleGarbageCollection();
  answers_->start();
  flow_events_->start();
  network_monitor_->start();
  // With Kubernetes the first complete list of the cluster applies (and pre-warms).
  if (!kubernetes_) {
    applied_once_ = true;
    if (host_policy_.polices) prewarm(SKOUTER_HOST_IDENTITY, host_policy_);
  }
  if (kubernetes_) {
    kubernetes_->start();
    // Answers to pods wait for the cluster's policy, but not longer than DNS may go
    // without an answer.
    startup_timer_.expires_after(std::chrono::seconds(options_.failsafe_timeout_s));
    startup_timer_.async_wait([this](const boost::system::error_code& error) {
      if (error || applied_once_) return;
      spdlog::warn(
          "the Kubernetes API has not been listed after {}s; answers are judged "
          "without the cluster's policy until it is",
          options_.failsafe_timeout_s);
      answers_->deferWhile(nullptr);
      answers_->releaseDeferred();
    });
  }
  if (!options_.policy_path.empty()) watchPolicy();
  waitForSighup();
  // A handler that throws ends io_context::run(); the loop goes on with the next one,
  // so no input (a name no JSON can hold, a full map) takes the daemon down, and what
  // went wrong is counted and logged.
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& error) {
      ++handler_failures_;
      trouble_log_.log(datapathNowNs(), spdlog::level::err,
                       "a handler failed, the daemon goes on: {}", error.what());
    }
  }
}

void Daemon::reload(const std::string& why) {
  if (!options_.policy_path.empty()) {
    try {
      file_egresses_ = policy::loadPolicyPath(options_.policy_path);
      ++file_generation_;
    } catch (const std::exception& error) {
      keepPolicyInForce(why, error);
      return;
    }
  }
  applyAll(why);
}

void Daemon::keepPolicyInForce(const std::string& why, const std::exception& error) {
  ++reloads_failed_;
  last_policy_error_ = error.what();
  spdlog::error("cannot apply the policy ({}); the previous one stays in force: {}", why,
                last_policy_error_);
  publishPolicyEvent(why, last_policy_error_);
}

void Daemon::publishPolicyEvent(const std::string& why, const std::string& error) {
  if (!events_.hasSubscribers()) return;
  events_.publish({{"time", eventTime(std::chrono::system_clock::now())},
                   {"type", "policy"},
                   {"result", error.empty() ? "applied" : "failed"},
                   {"reason", why},
                   {"error", error.empty() ? json(nullptr) : json(error)}});
}

void Daemon::onAnswer(std::uint32_t identity, const IpAddress& client,
                      const resolver::AnswerDecision& decision, resolver::AnswerOutcome outcome) {
  if (!events_.hasSubscribers()) return;
  DnsAnswerEventFields event{.identity = identity,
                             .workload = workloadName(identity),
                             .client = client.toString(),
                             .name = decision.question,
                             .qtype = resolver::dnsTypeName(decision.question_type),
                             .verdict = resolver::toString(outcome),
                             .addresses = {},
                             .rule = std::nullopt};
  if (outcome == resolver::AnswerOutcome::kDenied) {
    for (const auto& address : decision.denied_addresses) {
      event.addresses.push_back(address.toString());
    }
  } else {
    for (const auto& learned : decision.addresses) event.addresses.push_back(learned.ip.toString());
  }
  if (decision.rule) event.rule = ruleName(identity, *decision.rule);
  events_.publish(dnsAnswerEvent(std::chrono::system_clock::now(), event));
}

void Daemon::applyAll(const std::string& why) {
  if (kubernetes_) {
    // Until every collection is listed, a pod might look unselected only because its
    // Egress has not arrived: enforcement stays as the pinned state has it.
    if (!kubernetes_->synced()) return;
    cluster_ = kubernetes_->snapshot();
    node_labels_ = cluster_.node_labels.value_or(policy::NodeLabels{});
    for (const auto& [key, value] : options_.node_labels) node_labels_[key] = value;
  }
  std::vector<policy::Egress> egresses = file_egresses_;
  const std::size_t first_cluster = egresses.size();
  std::vector<std::string> problems;
  std::set<std::string> file_names;
  for (const auto& egress : file_egresses_) {
    file_names.insert(egress.namespace_name + "/" + egress.name);
  }
  for (const auto& egress : cluster_.egresses) {
    if (file_names.count(egress.namespace_name + "/" + egress.name)) {
      problems.push_back("Egress " + egress.namespace_name + "/" + egress.name +
                         " is defined both in the policy files and in the cluster; the "
                         "files' one is enforced");
      continue;
    }
    egresses.push_back(egress);
  }
  const std::size_t end_cluster = egresses.size();
  for (const auto& invalid : cluster_.invalid_egresses) problems.push_back(invalid.error);
  // kubelet and skouterd itself need the API server: a node policy that forgot it
  // would cut the node off its cluster.
  if (std::any_of(egresses.begin(), egresses.end(),
                  [this](const policy::Egress& egress) {
                    return policy::selectsNode(egress, node_labels_);
                  }) &&
      !cluster_.api_server_endpoints.empty()) {
    egresses.push_back(apiServerEgress(cluster_.api_server_endpoints));
  }

  policy::CompiledPolicy compiled;
  std::vector<PolicedPod> policed;
  std::vector<PodObject> unpoliced;
  std::vector<LeftOutOfWorkload> left_out;
  try {
    auto host = compile(egresses);
    compiled = std::move(host.policy);
    for (auto& egress : host.left_out) left_out.push_back({"the node", std::move(egress)});
    policed = policedPods(egresses, unpoliced, left_out);
  } catch (const std::exception& error) {
    keepPolicyInForce(why, error);
    return;
  }
  const bool first = !applied_once_;
  applied_once_ = true;
  const bool host_names_changed =
      first || compiled.names.exactNames() != host_policy_.names.exactNames();
  egresses_ = std::move(egresses);
  host_policy_ = std::move(compiled);
  bool complete = applyPolicy();
  // First: the node's policy is missing part, the gravest problem of all.
  if (!complete) problems.insert(problems.begin(), kStaticRulesFull);
  // While any Egress selects pods, a pod is judged from its first packet, before the
  // API server shows who it is: every pod interface carries the pod programs.
  const bool guard_pods =
      std::any_of(egresses_.begin(), egresses_.end(), [](const policy::Egress& egress) {
        return egress.pod_selector || egress.namespace_selector;
      });
  const auto pods = pod_firewall_->sync(policed, unpoliced, guard_pods);
  interface_table_->write(interfaceKinds(links_, pod_firewall_->unguarded(), interface_roles_),
                          uplinkPrefixes(links_, addresses_, interface_roles_));
  complete = complete && pods.complete;
  // Port sets only fall out of use when a policy changes (the garbage collection
  // catches the rest); a full pass over the tables per pod event would be wasted.
  const auto generation = std::make_pair(file_generation_, cluster_.egress_generation);
  if (generation != applied_generation_) {
    applied_generation_ = generation;
    forgetUnusedPortSets();
  }
  syncTrustedResolvers();
  writeConfig();
  ++reloads_applied_;
  for (const auto& [identity, state] : pod_firewall_->pods()) {
    if (!state.problem.empty()) {
      problems.push_back("pod " + state.pod.qualifiedName() + ": " + state.problem);
    }
  }
  reportLeftOut(left_out, first_cluster, end_cluster, problems);
  last_policy_error_ = problems.empty() ? "" : problems.front();
  publishPolicyEvent(why, "");
  spdlog::log(first ? spdlog::level::info : spdlog::level::debug,
              "policy applied ({}): {} Egress(es), {} policed pod(s)", why, egresses_.size(),
              pod_firewall_->pods().size());
  answers_->releaseDeferred();
  if (host_names_changed && host_policy_.polices) prewarm(SKOUTER_HOST_IDENTITY, host_policy_);
  for (const std::uint32_t identity : pods.newly_policed) {
    if (const auto* policy = policyOf(identity)) prewarm(identity, *policy);
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

void Daemon::reportLeftOut(const std::vector<LeftOutOfWorkload>& left_out,
                           std::size_t first_cluster, std::size_t end_cluster,
                           std::vector<std::string>& problems) {
  // One problem per Egress and reason, however many workloads share it.
  std::map<policy::LeftOutEgress, std::vector<std::string>> workloads;
  for (const auto& entry : left_out) workloads[entry.egress].push_back(entry.workload);
  std::set<std::string> logged;
  for (const auto& [egress, names] : workloads) {
    const policy::Egress& left = egresses_[egress.index];
    const std::string name =
        left.namespace_name.empty() ? left.name : left.namespace_name + "/" + left.name;
    const std::string others =
        names.size() > 1 ? fmt::format(" and {} other workload(s)", names.size() - 1) : "";
    std::string problem = fmt::format("Egress {} is left out of the policy of {}{}: {}", name,
                                      names.front(), others, egress.reason);
    if (!left_out_logged_.contains(problem)) spdlog::error("{}", problem);
    problems.push_back(problem);
    logged.insert(std::move(problem));
    if (kubernetes_ && egress.index >= first_cluster && egress.index < end_cluster) {
      kubernetes_->warnAboutEgress(
          name, "EgressLeftOut",
          "not enforced on the workloads it selects together with Egresses that take "
          "precedence: " +
              egress.reason);
    }
  }
  left_out_logged_ = std::move(logged);
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

void Daemon::watchPolicy() {
  const std::filesystem::path path(options_.policy_path);
  // A file is watched through its directory: editors and ConfigMaps replace files
  // by renaming, which a watch on the file itself would not follow.
  const auto directory = std::filesystem::is_directory(path) ? path : path.parent_path();
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, directory.empty() ? "." : directory.c_str(),
                                  IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                      IN_DELETE | IN_ATTRIB) < 0) {
    spdlog::warn("cannot watch {} for changes ({}); reload with SIGHUP", directory.string(),
                 std::strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  policy_watch_.assign(fd);
  waitForPolicyChange();
}

void Daemon::waitForPolicyChange() {
  policy_watch_.async_read_some(
      boost::asio::buffer(inotify_buffer_),
      [this](const boost::system::error_code& error, std::size_t) {
        if (error) return;
        reload_timer_.expires_after(std::chrono::milliseconds(200));
        reload_timer_.async_wait([this](const boost::system::error_code& cancelled) {
          if (!cancelled) reload("policy files changed");
        });
        waitForPolicyChange();
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
                                         workloadName(identity), installed);
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

void Daemon::scheduleGarbageCollection() {
  collectGarbage();
  gc_timer_.expires_after(kGcInterval);
  gc_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) scheduleGarbageCollection();
  });
}

AdminReply Daemon::handleAdmin(const HttpRequest& request) {
  if (request.method() != http::verb::get) {
    return {jsonResponse(request, http::status::method_not_allowed,
                         jsonText(json{{"error", "only GET is supported"}})),
            nullptr};
  }
  const std::string target(request.target());
  const auto question_mark = target.find('?');
  const std::string path = target.substr(0, question_mark);
  const std::string query =
      question_mark == std::string::npos ? "" : target.substr(question_mark + 1);
  const auto ok = [&request](const std::string& body) -> AdminReply {
    return {jsonResponse(request, http::status::ok, body), nullptr};
  };
  if (path == "/v1/status") return ok(statusJson());
  if (path == "/v1/entries") return ok(entriesJson());
  if (path == "/v1/policies") return ok(policiesJson());
  if (path == "/v1/audit") return ok(auditJson());
  if (path == "/v1/explain") return {explain(request, query), nullptr};
  if (path == "/v1/events") return subscribeEvents(request, query);
  if (path == "/metrics") return {metricsResponse(request), nullptr};
  // Liveness: the event loop answers.
  if (path == "/v1/health") return ok(jsonText(json{{"ok", true}}));
  if (path == "/v1/ready") {
    const std::string reason = notReadyReason();
    return {
        jsonResponse(request, reason.empty() ? http::status::ok : http::status::service_unavailable,
                     jsonText(json{{"ready", reason.empty()}, {"reason", reason}})),
        nullptr};
  }
  return {
      jsonResponse(
          request, http::status::not_found,
          jsonText(json{{"error", "no such endpoint: " + path},
                        {"endpoints",
                         {"/v1/status", "/v1/entries", "/v1/policies", "/v1/audit", "/v1/explain",
                          "/v1/events", "/v1/health", "/v1/ready", "/metrics"}}})),
      nullptr};
}

AdminReply Daemon::subscribeEvents(const HttpRequest& request, const std::string& query) {
  std::string error;
  auto filter = parseEventFilter(queryParameters(query), error);
  if (!filter) {
    return {jsonResponse(request, http::status::bad_request,
                         jsonText(json{{"error", error},
                                       {"usage",
                                        "/v1/events?identity=N|host|NS/POD&verdict=V&type="
                                        "flow|dns|policy"}})),
            nullptr};
  }
  HttpResponse head{http::status::ok, request.version()};
  head.set(http::field::content_type, "application/x-ndjson");
  head.set(http::field::cache_control, "no-store");
  return {std::move(head), events_.subscribe(std::move(*filter))};
}

std::string Daemon::auditJson() const {
  json records = json::array();
  const auto seconds = [](std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
  };
  for (const auto& record : audit_table_.records()) {
    const auto& flow = record.flow;
    records.push_back({{"identity", flow.identity},
                       {"workload", workloadName(flow.identity)},
                       {"source", flow.source.toString()},
                       {"destination", flow.destination.toString()},
                       {"protocol", flow.protocol},
                       {"port", flow.port},
                       {"verdict", toString(flow.verdict)},
                       {"names", record.names},
                       {"count", record.count},
                       {"first_seen", seconds(record.first_seen)},
                       {"last_seen", seconds(record.last_seen)}});
  }
  return jsonText(json{{"audit", host_policy_.audit()},
                       {"capacity", options_.audit_table_size},
                       {"forgotten", audit_table_.forgotten()},
                       {"records", records}});
}

HttpResponse Daemon::explain(const HttpRequest& request, const std::string& query) const {
  auto parameters = queryParameters(query);
  const auto badRequest = [&request](const std::string& message) {
    return jsonResponse(
        request, http::status::bad_request,
        jsonText(json{{"error", message},
                      {"usage", "/v1/explain?dst=ADDR&port=N&proto=tcp|udp|sctp|icmp"}}));
  };
  const auto destination = IpAddress::parse(parameters["dst"]);
  if (!destination) return badRequest("dst: '" + parameters["dst"] + "' is not an IP address");
  // The source decides whose policy judges the flow: the node's own, or a pod's.
  std::uint32_t identity = SKOUTER_HOST_IDENTITY;
  if (parameters.count("src") && parameters["src"] != "host" &&
      !isLocalAddress(parameters["src"])) {
    const auto source = IpAddress::parse(parameters["src"]);
    const PodState* pod = source ? pod_firewall_->byAddress(*source) : nullptr;
    if (!pod) {
      return badRequest("src: '" + parameters["src"] +
                        "' is neither an address of this node nor of a policed pod on it");
    }
    identity = pod->identity;
  }
  const std::string proto = parameters.count("proto") ? parameters["proto"] : "tcp";
  FlowQuery flow;
  flow.destination = *destination;
  const auto protocol = protocolNumber(proto, destination->family);
  if (!protocol) return badRequest("proto: '" + proto + "' is not tcp, udp, sctp or icmp");
  flow.protocol = *protocol;
  if (proto != "icmp") {
    const std::string& port = parameters["port"];
    const bool digits =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoul(port) < 1 || std::stoul(port) > 65535) {
      return badRequest("port: '" + port + "' is not a port from 1 to 65535");
    }
    flow.port = static_cast<std::uint16_t>(std::stoul(port));
  }

  PolicySnapshot snapshot;
  snapshot.policy = policyOf(identity);
  snapshot.trusted_resolvers = trustedResolvers();
  snapshot.now_ns = datapathNowNs();
  snapshot.learned = allowed_ips_->entryOf(identity, flow.destination);
  for (const auto& entry : static_rules_->entries()) {
    if (entry.identity == identity) snapshot.static_entries.push_back(entry.entry);
  }
  snapshot.observed_names = observed_names_.namesOf(identity, flow.destination);
  const auto explanation = explainFlow(flow, snapshot);
  json body = {{"verdict", toString(explanation.verdict)},
               {"passes", explanation.verdict != FlowVerdict::kDenied},
               {"reason", explanation.reason},
               {"identity", workloadName(identity)},
               {"destination", flow.destination.toString()},
               {"protocol", proto},
               {"port", flow.port},
               {"names", explanation.names},
               {"rule", nullptr},
               {"expires_in_s", nullptr}};
  if (explanation.rule) body["rule"] = ruleName(identity, *explanation.rule);
  if (explanation.expires_in_s) body["expires_in_s"] = *explanation.expires_in_s;
  return jsonResponse(request, http::status::ok, jsonText(body));
}

std::string Daemon::statusJson() const {
  json trusted = json::array();
  for (const auto& address : trustedResolvers()) trusted.push_back(address.toString());
  json pods = json::array();
  for (const auto& [identity, state] : pod_firewall_->pods()) {
    json addresses = json::array();
    for (const auto& address : state.pod.addresses) addresses.push_back(address.toString());
    pods.push_back({{"pod", state.pod.qualifiedName()},
                    {"identity", identity},
                    {"addresses", addresses},
                    {"interface", state.interface ? json(state.interface->name) : json(nullptr)},
                    {"audit", !state.policy->audit_egresses.empty() || options_.audit},
                    {"problem", state.problem.empty() ? json(nullptr) : json(state.problem)}});
  }
  json datapath_counters = json::object();
  const auto counters = datapath_->readCounters();
  for (std::uint32_t i = 0; i < SKOUTER_CNT_MAX; ++i) {
    const auto counter = static_cast<skouter_counter>(i);
    datapath_counters[counterName(counter)] = counters.total(counter);
  }
  json tables = json::array();
  std::uint64_t learned = 0;
  for (const auto& table : tableFill()) {
    tables.push_back({{"name", table.name},
                      {"entries", table.used},
                      {"capacity", table.capacity},
                      {"fill_ratio", table.ratio()}});
    if (table.name == "allowed_ips") learned = table.used;
  }
  json rings = json::array();
  for (const auto& ring : ringFill()) {
    rings.push_back({{"name", ring.name},
                     {"used_bytes", ring.used},
                     {"size_bytes", ring.capacity},
                     {"fill_ratio", ring.ratio()}});
  }
  json attach_points = json::array();
  for (const auto& interface : options_.interfaces) {
    attach_points.push_back(
        {{"interface", interface}, {"hooks", {"uplink_egress", "uplink_ingress"}}});
  }
  for (const auto& [identity, state] : pod_firewall_->pods()) {
    if (!state.interface) continue;
    attach_points.push_back({{"interface", state.interface->name},
                             {"hooks", {"pod_ingress", "pod_egress"}},
                             {"pod", state.pod.qualifiedName()}});
  }
  // What the uplink programs make of traffic forwarded from each interface.
  json judged_as_host = json::array();
  json transit = json::array();
  std::size_t pod_interfaces = 0;
  for (const Link& link : links_) {
    switch (interfaceKindOf(link, links_, interface_roles_)) {
      case SKOUTER_INTERFACE_POD:
        ++pod_interfaces;
        break;
      case SKOUTER_INTERFACE_TRANSIT:
        transit.push_back(link.name);
        break;
      case SKOUTER_INTERFACE_GUEST:
        judged_as_host.push_back(link.name);
        break;
    }
  }
  const auto& takeover = datapath_->takeover();
  json gap_ms = nullptr;
  if (takeover.previous_heartbeat_ns) {
    gap_ms = started_ns_ > *takeover.previous_heartbeat_ns
                 ? (started_ns_ - *takeover.previous_heartbeat_ns) / 1'000'000
                 : 0;
  }
  const auto& answers = answers_->stats();
  json policies = json::array();
  for (const auto& egress : egresses_) {
    policies.push_back({{"name", egress.name},
                        {"source", egress.source},
                        {"selects_this_node", selectsThisNode(egress)}});
  }
  const auto heartbeat = datapath_->heartbeat().lookup(0);
  const auto uptime = std::chrono::steady_clock::now() - started_;
  json status = {
      {"version", kVersion},
      {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
      {"layout_version", SKOUTER_LAYOUT_VERSION},
      {"takeover",
       {{"took_over", takeover.took_over},
        {"previous_layout_version", takeover.previous_layout_version
                                        ? json(*takeover.previous_layout_version)
                                        : json(nullptr)},
        {"migrated", takeover.migrated},
        {"migration", takeover.migrated ? json(takeover.migration) : json(nullptr)},
        {"gap_ms", gap_ms},
        {"entries_taken_over", entries_taken_over_}}},
      {"attach_points", attach_points},
      {"forwarded",
       {{"judged_as_host", judged_as_host},
        {"transit", transit},
        {"pod_interfaces", pod_interfaces},
        {"pod_interfaces_guarded", pod_firewall_->guarding()}}},
      {"tables", tables},
      {"rings", rings},
      {"events",
       {{"subscribers", events_.subscribers()},
        {"rate_limit", options_.event_rate_limit},
        {"rate_limited", counters.total(SKOUTER_CNT_EVENT_RATE_LIMITED)},
        {"dropped_slow", events_.droppedSlow()}}},
      {"bpffs", options_.bpffs},
      {"interfaces", options_.interfaces},
      {"trusted_resolvers", trusted},
      {"host_policed", host_policy_.polices},
      {"ready", notReadyReason().empty()},
      {"pods", pods},
      {"kubernetes", kubernetes_ ? kubernetes_->statusJson() : json(nullptr)},
      {"audit",
       {{"active", host_policy_.audit()},
        {"flag", options_.audit},
        {"egresses", host_policy_.audit_egresses},
        {"records", audit_table_.size()},
        {"forgotten", audit_table_.forgotten()}}},
      {"policies", policies},
      {"policy_reloads", {{"applied", reloads_applied_}, {"failed", reloads_failed_}}},
      {"last_policy_error", last_policy_error_.empty() ? json(nullptr) : json(last_policy_error_)},
      {"heartbeat_age_ms",
       heartbeat ? elapsedSince(heartbeat->last_beat_ns, datapathNowNs()) / 1'000'000 : 0},
      {"entries", {{"learned", learned}, {"static", static_rules_->size()}}},
      {"counters",
       {{"datapath", datapath_counters},
        {"answers",
         {{"allowed", answers.allowed},
          {"denied", answers.denied},
          {"malformed", answers.malformed},
          {"dropped_install_failed", answers.dropped_install_failed},
          {"inject_failed", answers.inject_failed},
          {"addresses_installed", answers.addresses_installed},
          {"addresses_evicted", answers.addresses_evicted},
          {"names_evicted", answers.names_evicted},
          {"workload_addresses_evicted", answers.workload_addresses_evicted},
          {"question_mismatch", answers.question_mismatch},
          {"already_answered", answers.already_answered},
          {"tcp_picked_up", answers.tcp_picked_up},
          {"tcp_unmatched", answers.tcp_unmatched},
          {"rewritten", answers.rewritten},
          {"private_removed", answers.private_removed},
          {"tcp_segments", answers.tcp_segments},
          {"tcp_messages", answers.tcp_messages},
          {"truncated_resolved", answers.truncated_resolved},
          {"truncated_failed", answers.truncated_failed},
          {"max_hold_us", answers.max_hold_ns / 1000},
          {"deferred", answers.deferred},
          {"deferred_over_limit", answers.deferred_over_limit},
          {"tcp_streams_forgotten", answers.tcp_streams_forgotten},
          {"tcp_segments_dropped", answers.tcp_segments_dropped},
          {"truncated_over_limit", answers.truncated_over_limit},
          {"verify_over_limit", answers.verify_over_limit},
          {"own_lookups", answers.own_lookups},
          {"observed_names_forgotten", observed_names_.forgotten()}}},
        {"verify", verifyJson(answers_->verifier())},
        {"port_sets", {{"in_use", port_sets_->size()}, {"widened", port_sets_->widened()}}},
        {"malformed_events", flow_events_->malformed()},
        {"gc",
         {{"expired_entries_removed", expired_removed_}, {"idle_flows_removed", flows_removed_}}},
        {"daemon",
         {{"handler_failures", handler_failures_},
          {"trusted_resolvers_refused", resolvers_refused_},
          {"admin_connections_refused", admin_->refused()},
          {"metrics_connections_refused", metrics_server_ ? metrics_server_->refused() : 0}}}}},
  };
  return jsonText(status);
}

bool Daemon::selectsThisNode(const policy::Egress& egress) const {
  return policy::selectsNode(egress, node_labels_);
}

bool Daemon::awaitingCluster() const { return kubernetes_ && !applied_once_; }

std::string Daemon::notReadyReason() const {
  if (kubernetes_ && !kubernetes_->synced()) return "the Kubernetes API has not been listed yet";
  if (!applied_once_) return "the cluster's policy has not been applied yet";
  return "";
}

std::string Daemon::workloadName(std::uint32_t identity) const {
  if (identity == SKOUTER_HOST_IDENTITY) return "host";
  if (const PodState* pod = pod_firewall_->byIdentity(identity)) return pod->pod.qualifiedName();
  return "identity " + std::to_string(identity);
}

std::string Daemon::policiesJson() const {
  json policies = json::array();
  for (const auto& egress : egresses_) {
    json rules = json::array();
    for (std::size_t i = 0; i < egress.rules.size(); ++i) {
      const auto& rule = egress.rules[i];
      json cidrs = json::array();
      for (const auto& prefix : rule.ips) cidrs.push_back(prefix.address.toString());
      for (const auto& prefix : rule.cidrs) cidrs.push_back(prefix.toString());
      rules.push_back({{"rule", (egress.namespace_name.empty() ? "" : egress.namespace_name + "/") +
                                    egress.name + "/rules[" + std::to_string(i) + "]"},
                       {"domains", rule.domains},
                       {"regex", rule.regexes},
                       {"addresses", cidrs},
                       {"ports", policy::describePorts(rule.ports)}});
    }
    json identities = json::array();
    if (selectsThisNode(egress)) identities.push_back("host");
    for (const auto& [identity, state] : pod_firewall_->pods()) {
      if (policy::selectsPod(egress, selectionFacts(state.pod)))
        identities.push_back(state.pod.qualifiedName());
    }
    policies.push_back(
        {{"name", egress.name},
         {"namespace", egress.namespace_name},
         {"source", egress.source},
         {"document", egress.document},
         {"identities", identities},
         {"mode", egress.mode == policy::EgressMode::kAudit ? "audit" : "enforce"},
         {"deny_response",
          egress.deny_response ? json(policy::toString(*egress.deny_response)) : json(nullptr)},
         {"rules", rules}});
  }
  return jsonText(policies);
}

std::string Daemon::ruleName(std::uint32_t identity, policy::RuleId rule) const {
  if (const auto* policy = policyOf(identity)) {
    const auto found = policy->rule_descriptions.find(rule);
    if (found != policy->rule_descriptions.end()) return found->second;
  }
  return fmt::format("(rule {:08x} of an earlier policy)", rule);
}

std::vector<resolver::ResolverAddress> Daemon::trustedResolvers() const {
  auto addresses = options_.trusted_dns;
  for (const auto& address : cluster_.dns_resolvers) {
    if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
      addresses.push_back(address);
    }
  }
  return addresses;
}

std::string Daemon::entriesJson() const {
  const auto now = datapathNowNs();
  json entries = json::array();
  for (const auto& entry : allowed_ips_->entries()) {
    json expires_in = nullptr;
    if (entry.expiry_ns != 0) {
      expires_in = entry.expiry_ns > now
                       ? static_cast<double>(entry.expiry_ns - now) / kNanosPerSecond
                       : 0.0;
    }
    entries.push_back({{"identity", entry.identity},
                       {"workload", workloadName(entry.identity)},
                       {"ip", entry.ip.toString()},
                       {"names", entry.names},
                       {"expires_in_s", expires_in},
                       {"ports", policy::describePorts(entry.ports)},
                       {"rule", ruleName(entry.identity, entry.rule)}});
  }
  for (const auto& entry : static_rules_->entries()) {
    const auto& prefix = entry.entry.prefix;
    entries.push_back(
        {{"identity", entry.identity},
         {"workload", workloadName(entry.identity)},
         {"ip", prefix.length == prefix.address.maxPrefixLength() ? prefix.address.toString()
                                                                  : prefix.toString()},
         {"names", json::array()},
         {"expires_in_s", nullptr},
         {"ports", policy::describePorts(entry.entry.ports)},
         {"rule", ruleName(entry.identity, entry.entry.rule)}});
  }
  return jsonText(entries);
}

int detach(const DaemonOptions& options) {
  std::vector<std::string> interfaces = resolveInterfaces(options);
  // Pins first: it refuses while a daemon runs, before anything is detached.
  Datapath::removePins(options.bpffs);
  spdlog::info("removed pinned maps under {}", options.bpffs);
  int status = 0;
  std::set<int> uplinks;
  for (const auto& interface : interfaces) {
    uplinks.insert(static_cast<int>(if_nametoindex(interface.c_str())));
    try {
      Datapath::detachUplink(interface);
      spdlog::info("detached from {}", interface);
    } catch (const std::exception& error) {
      spdlog::error("{}", error.what());
      status = 1;
    }
  }
  try {
    for (const int ifindex : Datapath::podAttachments(uplinks)) {
      Datapath::detachPod(ifindex);
      spdlog::info("detached from pod interface {}", ifindex);
    }
  } catch (const std::exception& error) {
    spdlog::error("{}", error.what());
    status = 1;
  }
  std::filesystem::remove(options.admin_socket);
  return status;
}

}  // namespace skouter::daemon
