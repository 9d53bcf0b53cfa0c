// The admin API's routes and their views: JSON bodies, each a function of the
// daemon's read-only view.
#include "daemon/admin_views.h"

#include <net/if.h>
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "bpf/counter_names.h"
#include "common/datapath_clock.h"
#include "daemon/explain.h"
#include "daemon/json_text.h"
#include "daemon/version.h"
#include "resolver/dns_question.h"

namespace skouter::daemon {
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

// The server name check: what the datapath held and what the daemon made of it.
template <typename Counters>
json serverNameStatus(const DaemonView& view, const Counters& counters) {
  const auto& stats = view.server_names.stats();
  json judged = json::array();
  for (const auto& [key, count] : stats.judged) {
    const auto& [protocol, verdict, reason] = key;
    judged.push_back(
        {{"protocol", protocol}, {"verdict", verdict}, {"reason", reason}, {"flows", count}});
  }
  return {{"verify_sni", view.options.verify_sni.has_value()},
          {"rules_checked", view.server_name_rules.size()},
          {"flows_held", view.server_names.flowsHeld()},
          {"judged", judged},
          {"packets_held", counters.total(SKOUTER_CNT_SERVER_NAME_HELD)},
          {"packets_hold_failed", counters.total(SKOUTER_CNT_SERVER_NAME_HOLD_FAILED)},
          {"packets_denied", counters.total(SKOUTER_CNT_SERVER_NAME_DENIED)},
          {"packets_unchecked", counters.total(SKOUTER_CNT_SERVER_NAME_UNCHECKED)},
          {"released", stats.released},
          {"dropped", stats.dropped},
          {"release_failed", stats.release_failed},
          {"flows_forgotten", stats.flows_forgotten},
          {"unreadable_frames", stats.unreadable_frames},
          {"max_hold_ms", static_cast<double>(stats.max_hold_ns) / 1e6}};
}

// Policed queries: what the datapath decided alone, held, and what the daemon did.
template <typename Counters>
json queryStatus(const DaemonView& view, const Counters& counters) {
  const auto& stats = view.queries.stats();
  json judged = json::array();
  for (const auto& [key, count] : stats.judged) {
    judged.push_back({{"verdict", key.first}, {"reason", key.second}, {"queries", count}});
  }
  return {{"deny_queries", view.options.deny_queries},
          {"allowed_by_datapath", counters.total(SKOUTER_CNT_DNS_QUERY_ALLOWED)},
          {"held", counters.total(SKOUTER_CNT_DNS_QUERY_HELD)},
          {"hold_failed", counters.total(SKOUTER_CNT_DNS_QUERY_HOLD_FAILED)},
          {"denied_by_datapath", counters.total(SKOUTER_CNT_DNS_QUERY_DENIED)},
          {"unchecked", counters.total(SKOUTER_CNT_DNS_QUERY_UNCHECKED)},
          {"dns_port_denied", counters.total(SKOUTER_CNT_EGRESS_DNS_PORT)},
          {"judged", judged},
          {"released", stats.released},
          {"answered", stats.answered},
          {"send_failed", stats.send_failed},
          {"max_hold_ms", static_cast<double>(stats.max_hold_ns) / 1e6}};
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

// How skouter's programs sit on the interface's two tc hooks: tcx or tc, and whether
// another agent's program runs before them. Asked of the kernel now, not remembered.
json hookAttachments(const std::string& pin_dir, int ifindex) {
  json hooks = json::array();
  try {
    for (const auto& hook : Datapath::attachmentsOf(pin_dir, ifindex)) {
      using Mode = Datapath::HookAttachment::Mode;
      hooks.push_back({{"hook", tcx::directionName(hook.direction)},
                       {"mode", hook.mode == Mode::kTcx  ? "tcx"
                                : hook.mode == Mode::kTc ? "tc"
                                                         : "none"},
                       {"first", hook.first}});
    }
  } catch (const std::exception& error) {
    return error.what();
  }
  return hooks;
}

// The "late" object of /v1/explain and /v1/audit, as events have it.
json lateJson(const DaemonView& view, std::uint32_t identity, const LateConnection& late) {
  return lateConnectionJson({.names = late.names,
                             .rule = view.ruleName(identity, late.rule),
                             .expired_ago_s = late.expired_ago_s,
                             .open_for_s = late.open_for_s});
}

// Late connections by workload, and the memory of expired addresses that tells them.
json lateConnectionsStatus(const DaemonView& view) {
  json by_workload = json::object();
  std::uint64_t total = 0;
  for (const auto& [identity, count] : view.expired_addresses.counts()) {
    by_workload[view.workloadName(identity)] = count;
    total += count;
  }
  return {{"total", total},
          {"by_workload", by_workload},
          {"remembered", view.expired_addresses.size()},
          {"capacity", view.expired_addresses.capacity()},
          {"evicted", view.expired_addresses.evicted()},
          {"window_s", view.options.late_connection_window_s}};
}

}  // namespace

std::string auditJson(const DaemonView& view) {
  json records = json::array();
  const auto seconds = [](std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
  };
  for (const auto& record : view.audit_table.records()) {
    const auto& flow = record.flow;
    records.push_back({{"identity", flow.identity},
                       {"workload", view.workloadName(flow.identity)},
                       {"source", flow.source.toString()},
                       {"destination", flow.destination.toString()},
                       {"protocol", flow.protocol},
                       {"port", flow.port},
                       {"verdict", toString(flow.verdict)},
                       {"names", record.names},
                       {"count", record.count},
                       {"first_seen", seconds(record.first_seen)},
                       {"last_seen", seconds(record.last_seen)},
                       {"late_count", record.late_count}});
    if (record.late) {
      json& late = records.back()["late"];
      late = lateJson(view, flow.identity, *record.late);
      late["max_expired_ago_s"] = record.max_expired_ago_s;
      late["max_open_for_s"] = record.max_open_for_s;
    }
  }
  json queries = json::array();
  const auto now = std::chrono::system_clock::now();
  for (const auto& denied : view.denied_queries.workloads(now)) {
    queries.push_back({{"identity", denied.identity},
                       {"workload", view.workloadName(denied.identity)},
                       {"denied", denied.count},
                       {"per_minute", denied.per_minute},
                       {"latest_names", denied.latest_names},
                       {"first_seen", seconds(denied.first_seen)},
                       {"last_seen", seconds(denied.last_seen)}});
  }
  return jsonText(json{{"audit", view.policies.hostPolicy().audit()},
                       {"capacity", view.options.audit_table_size},
                       {"forgotten", view.audit_table.forgotten()},
                       {"records", records},
                       {"denied_queries", queries},
                       {"denied_queries_forgotten", view.denied_queries.forgotten()}});
}

std::string explainJson(const DaemonView& view, QueryParameters parameters, std::string& error) {
  const auto badRequest = [&error](const std::string& message) {
    error = message;
    return std::string();
  };
  const auto destination = IpAddress::parse(parameters["dst"]);
  if (!destination) return badRequest("dst: '" + parameters["dst"] + "' is not an IP address");
  // The source decides whose policy judges the flow: the node's own, or a pod's.
  std::uint32_t identity = SKOUTER_HOST_IDENTITY;
  if (parameters.count("src") && parameters["src"] != "host" &&
      !isLocalAddress(parameters["src"])) {
    const auto source = IpAddress::parse(parameters["src"]);
    const PodState* pod = source ? view.pods.byAddress(*source) : nullptr;
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
  if (parameters.count("sni")) {
    std::string name = parameters["sni"];
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (name.empty()) return badRequest("sni: must name a server");
    flow.server_name = name;
  }

  PolicySnapshot snapshot;
  snapshot.policy = view.policyOf(identity);
  snapshot.trusted_resolvers = view.trustedResolvers();
  snapshot.now_ns = datapathNowNs();
  snapshot.learned = view.allowed_ips.entryOf(identity, flow.destination);
  if (snapshot.learned)
    snapshot.server_name_check = view.server_name_rules.checkOf(snapshot.learned->rule);
  for (const auto& entry : view.static_rules.entries()) {
    if (entry.identity == identity) snapshot.static_entries.push_back(entry.entry);
  }
  snapshot.observed_names = view.observed_names.namesOf(identity, flow.destination);
  snapshot.late = view.expired_addresses.lateConnection(identity, flow.destination,
                                                        snapshot.learned, snapshot.now_ns);
  const auto explanation = explainFlow(flow, snapshot);
  json body = {{"verdict", toString(explanation.verdict)},
               {"passes", explanation.verdict != FlowVerdict::kDenied},
               {"reason", explanation.reason},
               {"identity", view.workloadName(identity)},
               {"destination", flow.destination.toString()},
               {"protocol", proto},
               {"port", flow.port},
               {"names", explanation.names},
               {"rule", nullptr},
               {"expires_in_s", nullptr},
               {"server_name_checked", explanation.server_name_checked},
               {"server_name", flow.server_name ? json(*flow.server_name) : json(nullptr)}};
  if (explanation.rule) body["rule"] = view.ruleName(identity, *explanation.rule);
  if (explanation.expires_in_s) body["expires_in_s"] = *explanation.expires_in_s;
  body["late"] = explanation.late ? lateJson(view, identity, *explanation.late) : json(nullptr);
  return jsonText(body);
}

std::string statusJson(const DaemonView& view) {
  json trusted = json::array();
  for (const auto& address : view.trustedResolvers()) trusted.push_back(address.toString());
  json pods = json::array();
  for (const auto& [identity, state] : view.pods.pods()) {
    json addresses = json::array();
    for (const auto& address : state.pod.addresses) addresses.push_back(address.toString());
    pods.push_back({{"pod", state.pod.qualifiedName()},
                    {"identity", identity},
                    {"addresses", addresses},
                    {"interface", state.interface ? json(state.interface->name) : json(nullptr)},
                    {"audit", !state.policy->audit_egresses.empty() || view.options.audit},
                    {"problem", state.problem.empty() ? json(nullptr) : json(state.problem)}});
  }
  json datapath_counters = json::object();
  const auto counters = view.datapath.readCounters();
  for (std::uint32_t i = 0; i < SKOUTER_CNT_MAX; ++i) {
    const auto counter = static_cast<skouter_counter>(i);
    datapath_counters[counterName(counter)] = counters.total(counter);
  }
  json tables = json::array();
  std::uint64_t learned = 0;
  for (const auto& table : view.tableFill()) {
    tables.push_back({{"name", table.name},
                      {"entries", table.used},
                      {"capacity", table.capacity},
                      {"fill_ratio", table.ratio()}});
    if (table.name == "allowed_ips") learned = table.used;
  }
  json rings = json::array();
  for (const auto& ring : view.ringFill()) {
    rings.push_back({{"name", ring.name},
                     {"used_bytes", ring.used},
                     {"size_bytes", ring.capacity},
                     {"fill_ratio", ring.ratio()}});
  }
  json attach_points = json::array();
  for (const auto& interface : view.options.interfaces) {
    attach_points.push_back(
        {{"interface", interface},
         {"hooks", {"uplink_egress", "uplink_ingress"}},
         {"attachment", hookAttachments(view.options.bpffs,
                                        static_cast<int>(if_nametoindex(interface.c_str())))}});
  }
  for (const auto& [identity, state] : view.pods.pods()) {
    if (!state.interface) continue;
    attach_points.push_back(
        {{"interface", state.interface->name},
         {"hooks", {"pod_ingress", "pod_egress"}},
         {"attachment", hookAttachments(view.options.bpffs, state.interface->ifindex)},
         {"pod", state.pod.qualifiedName()}});
  }
  // What the uplink programs make of traffic forwarded from each interface.
  json judged_as_host = json::array();
  json transit = json::array();
  std::size_t pod_interfaces = 0;
  for (const Link& link : view.links) {
    switch (interfaceKindOf(link, view.links, view.interface_roles)) {
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
  const auto& takeover = view.datapath.takeover();
  json gap_ms = nullptr;
  if (takeover.previous_heartbeat_ns) {
    gap_ms = view.record.started_ns > *takeover.previous_heartbeat_ns
                 ? (view.record.started_ns - *takeover.previous_heartbeat_ns) / 1'000'000
                 : 0;
  }
  const auto millisecondsSinceStart =
      [](const std::optional<std::chrono::steady_clock::duration>& after) {
        return after ? json(std::chrono::duration<double, std::milli>(*after).count())
                     : json(nullptr);
      };
  const auto& answers = view.answers.stats();
  json policies = json::array();
  for (const auto& egress : view.policies.egresses()) {
    policies.push_back({{"name", egress.name},
                        {"source", egress.source},
                        {"selects_this_node", view.policies.selectsThisNode(egress)}});
  }
  const auto heartbeat = view.datapath.heartbeat().lookup(0);
  const auto uptime = std::chrono::steady_clock::now() - view.record.started;
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
        {"entries_taken_over", view.record.entries_taken_over}}},
      {"startup",
       {{"answers_read_after_ms", millisecondsSinceStart(view.record.answers_read_after)},
        {"programs_loaded_after_ms", millisecondsSinceStart(view.record.programs_loaded_after)},
        {"programs_loaded", view.datapath.programsLoaded()}}},
      {"absences", {{"count", view.record.absences}, {"pairs_adopted", view.record.pairs_adopted}}},
      {"learning_while_away",
       {{"budget", view.options.learning_budget},
        {"learnable_names", view.learnable_names.size()},
        {"answers_learned", counters.total(SKOUTER_CNT_DNS_ANSWER_LEARNED)},
        {"answers_not_learned", counters.total(SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED)},
        {"budget_exhausted", counters.total(SKOUTER_CNT_LEARNING_BUDGET_EXHAUSTED)}}},
      {"server_names", serverNameStatus(view, counters)},
      {"queries", queryStatus(view, counters)},
      {"attach_points", attach_points},
      {"forwarded",
       {{"judged_as_host", judged_as_host},
        {"transit", transit},
        {"pod_interfaces", pod_interfaces},
        {"pod_interfaces_guarded", view.pods.guarding()}}},
      {"tables", tables},
      {"rings", rings},
      {"events",
       {{"subscribers", view.events.subscribers()},
        {"rate_limit", view.options.event_rate_limit},
        {"rate_limited", counters.total(SKOUTER_CNT_EVENT_RATE_LIMITED)},
        {"dropped_slow", view.events.droppedSlow()}}},
      {"bpffs", view.options.bpffs},
      {"interfaces", view.options.interfaces},
      {"trusted_resolvers", trusted},
      {"host_policed", view.policies.hostPolicy().polices},
      {"ready", view.notReadyReason().empty()},
      {"pods", pods},
      {"kubernetes", view.kubernetes ? view.kubernetes->statusJson() : json(nullptr)},
      {"audit",
       {{"active", view.policies.hostPolicy().audit()},
        {"flag", view.options.audit},
        {"egresses", view.policies.hostPolicy().audit_egresses},
        {"records", view.audit_table.size()},
        {"forgotten", view.audit_table.forgotten()}}},
      {"late_connections", lateConnectionsStatus(view)},
      {"policies", policies},
      {"policy_reloads",
       {{"applied", view.record.reloads_applied}, {"failed", view.record.reloads_failed}}},
      {"last_policy_error",
       view.record.last_policy_error.empty() ? json(nullptr) : json(view.record.last_policy_error)},
      {"heartbeat_age_ms",
       heartbeat ? elapsedSince(heartbeat->last_beat_ns, datapathNowNs()) / 1'000'000 : 0},
      {"entries", {{"learned", learned}, {"static", view.static_rules.size()}}},
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
          {"observed_names_forgotten", view.observed_names.forgotten()}}},
        {"verify", verifyJson(view.answers.verifier())},
        {"port_sets", {{"in_use", view.port_sets.size()}, {"widened", view.port_sets.widened()}}},
        {"malformed_events", view.flow_events.malformed()},
        {"gc",
         {{"expired_entries_removed", view.record.expired_removed},
          {"idle_flows_removed", view.record.flows_removed}}},
        {"daemon",
         {{"handler_failures", view.record.handler_failures},
          {"trusted_resolvers_refused", view.record.resolvers_refused},
          {"admin_connections_refused", view.admin ? view.admin->refused() : 0},
          {"metrics_connections_refused",
           view.metrics_server ? view.metrics_server->refused() : 0}}}}},
  };
  return jsonText(status);
}

std::string policiesJson(const DaemonView& view) {
  json policies = json::array();
  for (const auto& egress : view.policies.egresses()) {
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
                       {"ports", policy::describePorts(rule.ports)},
                       {"min_ttl_s", rule.min_ttl_s ? json(*rule.min_ttl_s) : json(nullptr)}});
    }
    json identities = json::array();
    if (view.policies.selectsThisNode(egress)) identities.push_back("host");
    for (const auto& [identity, state] : view.pods.pods()) {
      if (policy::selectsPod(egress, view.policies.selectionFacts(state.pod)))
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

BodyPiece entriesBody(const DaemonView& view) {
  // What the listing has reached; the body's pieces are made on later turns of the
  // loop, against the table as it is then.
  struct Listing {
    maps::AllowedIpTable::EntryCursor learned;
    bool started = false;
    bool finished = false;
    std::size_t listed = 0;
  };
  auto listing = std::make_shared<Listing>();
  return [&view, listing]() -> std::optional<std::string> {
    if (listing->finished) return std::nullopt;
    std::string piece = listing->started ? "" : "[";
    listing->started = true;
    const auto add = [&](const json& entry) {
      piece += listing->listed++ == 0 ? "\n" : ",\n";
      piece += jsonText(entry);
    };
    if (!listing->learned.done) {
      const auto now = datapathNowNs();
      for (const auto& entry : view.allowed_ips.entries(listing->learned, kEntriesPerPiece)) {
        json expires_in = nullptr;
        if (entry.expiry_ns != 0) {
          expires_in = entry.expiry_ns > now
                           ? static_cast<double>(entry.expiry_ns - now) / kNanosPerSecond
                           : 0.0;
        }
        add({{"identity", entry.identity},
             {"workload", view.workloadName(entry.identity)},
             {"ip", entry.ip.toString()},
             {"names", entry.names},
             {"expires_in_s", expires_in},
             {"ports", policy::describePorts(entry.ports)},
             {"rule", view.ruleName(entry.identity, entry.rule)}});
      }
      return piece;
    }
    // Static entries are as many as the policies' addresses and CIDRs: one piece.
    for (const auto& entry : view.static_rules.entries()) {
      const auto& prefix = entry.entry.prefix;
      add({{"identity", entry.identity},
           {"workload", view.workloadName(entry.identity)},
           {"ip", prefix.length == prefix.address.maxPrefixLength() ? prefix.address.toString()
                                                                    : prefix.toString()},
           {"names", json::array()},
           {"expires_in_s", nullptr},
           {"ports", policy::describePorts(entry.entry.ports)},
           {"rule", view.ruleName(entry.identity, entry.entry.rule)}});
    }
    listing->finished = true;
    return piece + "\n]\n";
  };
}

std::vector<AdminRoute> adminRoutes(const DaemonView& view, EventHub& events) {
  const auto ok = [](const HttpRequest& request, const std::string& body) {
    return jsonReply(request, http::status::ok, body);
  };
  return {
      {http::verb::get, "/v1/status",
       "the daemon, its tables, attach points, pods, policies and counters",
       [&view, ok](const HttpRequest& request, const QueryParameters&) {
         return ok(request, statusJson(view));
       }},
      {http::verb::get, "/v1/entries",
       "every allowed address: learned (with its names and when it expires) and static",
       [&view](const HttpRequest& request, const QueryParameters&) {
         AdminReply reply = jsonReply(request, http::status::ok, "");
         reply.pieces = entriesBody(view);
         return reply;
       }},
      {http::verb::get, "/v1/policies",
       "every Egress in force, its rules and the workloads it selects",
       [&view, ok](const HttpRequest& request, const QueryParameters&) {
         return ok(request, policiesJson(view));
       }},
      {http::verb::get, "/v1/audit", "flows denied or audited, one record per destination",
       [&view, ok](const HttpRequest& request, const QueryParameters&) {
         return ok(request, auditJson(view));
       }},
      {http::verb::get, "/v1/explain",
       "?dst=ADDR&port=N&proto=tcp|udp|sctp|icmp[&src=ADDR|host][&sni=NAME]: the verdict a "
       "new connection would get (naming server NAME in its TLS or QUIC ClientHello), and why",
       [&view, ok](const HttpRequest& request, const QueryParameters& parameters) {
         std::string error;
         const auto body = explainJson(view, parameters, error);
         if (!error.empty()) {
           return badRequest(request, error,
                             "/v1/explain?dst=ADDR&port=N&proto=tcp|udp|sctp|icmp[&sni=NAME]");
         }
         return ok(request, body);
       }},
      {http::verb::get, "/v1/events",
       "?identity=N|host|NS/POD&verdict=V&type=flow|dns|policy: the live decisions, as "
       "newline-delimited JSON",
       [&events](const HttpRequest& request, const QueryParameters& parameters) -> AdminReply {
         std::string error;
         auto filter = parseEventFilter(parameters, error);
         if (!filter) {
           return badRequest(request, error,
                             "/v1/events?identity=N|host|NS/POD&verdict=V&type=flow|dns|policy");
         }
         HttpResponse head{http::status::ok, request.version()};
         head.set(http::field::content_type, "application/x-ndjson");
         head.set(http::field::cache_control, "no-store");
         return {std::move(head), events.subscribe(std::move(*filter)), {}};
       }},
      {http::verb::get, "/v1/health", "liveness: the event loop answers",
       [ok](const HttpRequest& request, const QueryParameters&) {
         return ok(request, jsonText(json{{"ok", true}}));
       }},
      {http::verb::get, "/v1/ready",
       "readiness: 200 once the policy (with --kubernetes, the cluster's) is applied, else "
       "503 with the reason",
       [&view](const HttpRequest& request, const QueryParameters&) {
         const std::string reason = view.notReadyReason();
         return jsonReply(request,
                          reason.empty() ? http::status::ok : http::status::service_unavailable,
                          jsonText(json{{"ready", reason.empty()}, {"reason", reason}}));
       }},
      {http::verb::get, "/metrics", "every metric, in the Prometheus text format",
       [&view](const HttpRequest& request, const QueryParameters&) -> AdminReply {
         return {metricsResponse(view, request), nullptr, {}};
       }},
  };
}

}  // namespace skouter::daemon
