// What skouterd tells Prometheus: every metric, from the daemon's read-only view.
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <map>

#include "bpf/counter_names.h"
#include "common/datapath_clock.h"
#include "daemon/admin_views.h"
#include "daemon/prometheus_text.h"
#include "daemon/version.h"

namespace skouter::daemon {
namespace http = boost::beast::http;

namespace {

// The datapath counters that decide a packet leaving a workload, by the verdict they
// mean. (Expired entries are counted again as denied; parse errors and DNS handling
// have their own metrics.)
struct VerdictCounters {
  const char* verdict;
  std::vector<skouter_counter> counters;
};
const VerdictCounters kPacketVerdicts[] = {
    {"allowed",
     {SKOUTER_CNT_EGRESS_ALLOWED_FLOW, SKOUTER_CNT_EGRESS_ALLOWED_LEARNED,
      SKOUTER_CNT_EGRESS_ALLOWED_STATIC, SKOUTER_CNT_EGRESS_ALLOWED_RESOLVER,
      SKOUTER_CNT_EGRESS_ALLOWED_CONTROL, SKOUTER_CNT_EGRESS_FAIL_OPEN,
      SKOUTER_CNT_SERVER_NAME_UNCHECKED}},
    {"denied",
     {SKOUTER_CNT_EGRESS_DENIED, SKOUTER_CNT_EGRESS_PORT_DENIED, SKOUTER_CNT_POD_UNKNOWN_SOURCE,
      SKOUTER_CNT_POD_SPOOFED_SOURCE, SKOUTER_CNT_SOURCE_ROUTED, SKOUTER_CNT_FORWARDED_UNKNOWN,
      SKOUTER_CNT_SERVER_NAME_DENIED, SKOUTER_CNT_DNS_QUERY_DENIED,
      SKOUTER_CNT_DNS_QUERY_HOLD_FAILED}},
    {"audited", {SKOUTER_CNT_EGRESS_AUDITED}},
};

}  // namespace

HttpResponse metricsResponse(const DaemonView& view, const HttpRequest& request) {
  if (request.method() != http::verb::get || request.target() != "/metrics") {
    HttpResponse response{http::status::not_found, request.version()};
    response.set(http::field::content_type, "text/plain");
    response.body() = "skouterd serves GET /metrics here\n";
    return response;
  }
  HttpResponse response{http::status::ok, request.version()};
  response.set(http::field::content_type, kPrometheusContentType);
  response.body() = metricsText(view);
  return response;
}

std::string metricsText(const DaemonView& view) {
  PrometheusText out;
  out.gauge(
      "skouter_build_info", "skouterd's version and the layout of its pinned maps",
      {{{{"version", kVersion}, {"layout_version", std::to_string(SKOUTER_LAYOUT_VERSION)}}, 1}});
  out.gauge("skouter_start_time_seconds", "When this skouterd started, in Unix time",
            std::chrono::duration<double>(view.record.started_wall.time_since_epoch()).count());

  const auto counters = view.datapath.readCounters();
  std::vector<std::pair<MetricLabels, double>> packets;
  std::vector<std::pair<MetricLabels, double>> reasons;
  for (std::uint32_t hook = 0; hook < SKOUTER_HOOKS; ++hook) {
    const char* hook_name = hookName(static_cast<skouter_hook>(hook));
    for (const auto& [verdict, which] : kPacketVerdicts) {
      std::uint64_t sum = 0;
      for (const auto counter : which) sum += counters.at(hook, counter);
      packets.push_back({{{"hook", hook_name}, {"verdict", verdict}}, static_cast<double>(sum)});
    }
    for (std::uint32_t counter = 0; counter < SKOUTER_CNT_MAX; ++counter) {
      reasons.push_back(
          {{{"hook", hook_name}, {"reason", counterName(static_cast<skouter_counter>(counter))}},
           static_cast<double>(counters.at(hook, counter))});
    }
  }
  out.counter("skouter_datapath_packets_total",
              "Packets leaving workloads, by the datapath's verdict and the hook that judged them",
              packets);
  out.counter("skouter_datapath_events_total",
              "Every datapath counter, by hook and reason (see SKOUTER_COUNTER_NAMES)", reasons);

  const auto& answers = view.answers.stats();
  const auto total = [&counters](skouter_counter counter) {
    return static_cast<double>(counters.total(counter));
  };
  out.counter(
      "skouter_dns_answers_total", "Answers of trusted resolvers to policed workloads, by outcome",
      {{{{"outcome", "allowed"}}, static_cast<double>(answers.allowed)},
       {{{"outcome", "denied"}}, static_cast<double>(answers.denied)},
       {{{"outcome", "malformed"}}, static_cast<double>(answers.malformed)},
       {{{"outcome", "question_mismatch"}}, static_cast<double>(answers.question_mismatch)},
       {{{"outcome", "already_answered"}}, static_cast<double>(answers.already_answered)},
       {{{"outcome", "tcp_unmatched"}}, static_cast<double>(answers.tcp_unmatched)},
       {{{"outcome", "tcp_picked_up"}}, static_cast<double>(answers.tcp_picked_up)},
       {{{"outcome", "install_failed"}}, static_cast<double>(answers.dropped_install_failed)},
       {{{"outcome", "tcp_segment_dropped"}}, static_cast<double>(answers.tcp_segments_dropped)},
       {{{"outcome", "unsolicited"}}, total(SKOUTER_CNT_DNS_ANSWER_UNSOLICITED)},
       {{{"outcome", "failsafe_pass"}}, total(SKOUTER_CNT_DNS_ANSWER_FAILSAFE)},
       {{{"outcome", "dropped_overload"}}, total(SKOUTER_CNT_DNS_ANSWER_RINGBUF_FULL)},
       {{{"outcome", "dropped_over_quota"}}, total(SKOUTER_CNT_DNS_ANSWER_OVER_QUOTA)},
       {{{"outcome", "too_large"}}, total(SKOUTER_CNT_DNS_ANSWER_TOO_LARGE)}});
  out.counter("skouter_dns_answers_away_total",
              "UDP answers the datapath passed while the daemon was away (failsafe_pass), by "
              "what it did: installed their addresses itself (learned), found no exact or *. "
              "name of the policy or could not read them (not_learned), or found the "
              "workload's --learning-budget spent (budget_exhausted)",
              {{{{"result", "learned"}}, total(SKOUTER_CNT_DNS_ANSWER_LEARNED)},
               {{{"result", "not_learned"}}, total(SKOUTER_CNT_DNS_ANSWER_NOT_LEARNED)},
               {{{"result", "budget_exhausted"}}, total(SKOUTER_CNT_LEARNING_BUDGET_EXHAUSTED)}});
  {
    // Every combination, so that the set of series never depends on what happened.
    const auto& server_names = view.server_names.stats();
    std::vector<std::pair<MetricLabels, double>> checks;
    for (const char* protocol : {"tls", "quic"}) {
      auto judged = [&](const char* verdict, ServerNameReason reason) {
        const auto found = server_names.judged.find({protocol, verdict, toString(reason)});
        checks.push_back(
            {{{"protocol", protocol}, {"verdict", verdict}, {"reason", toString(reason)}},
             found == server_names.judged.end() ? 0.0 : static_cast<double>(found->second)});
      };
      judged("allowed", ServerNameReason::kAllowed);
      for (const char* verdict : {"denied", "audited"}) {
        for (const auto reason :
             {ServerNameReason::kNotAllowed, ServerNameReason::kNotLearnedForAddress,
              ServerNameReason::kNoServerName, ServerNameReason::kNotTls,
              ServerNameReason::kNotQuicInitial, ServerNameReason::kUnreadable}) {
          judged(verdict, reason);
        }
      }
    }
    out.counter("skouter_server_name_checks_total",
                "New TLS (tcp) and QUIC (udp) flows to learned addresses whose server name was "
                "checked, by verdict and reason (spec.tls, --verify-sni)",
                checks);
    out.counter(
        "skouter_server_name_packets_total",
        "Packets of flows whose server name is checked: held by the datapath for the daemon "
        "(held), not held for want of room and dropped (hold_failed), dropped on a denied "
        "flow (denied), passed unchecked while the daemon was away (unchecked); released by "
        "the daemon after the check (released), dropped by it (dropped), or not taken by the "
        "kernel (release_failed)",
        {{{{"result", "held"}}, total(SKOUTER_CNT_SERVER_NAME_HELD)},
         {{{"result", "hold_failed"}}, total(SKOUTER_CNT_SERVER_NAME_HOLD_FAILED)},
         {{{"result", "denied"}}, total(SKOUTER_CNT_SERVER_NAME_DENIED)},
         {{{"result", "unchecked"}}, total(SKOUTER_CNT_SERVER_NAME_UNCHECKED)},
         {{{"result", "released"}}, static_cast<double>(server_names.released)},
         {{{"result", "dropped"}}, static_cast<double>(server_names.dropped)},
         {{{"result", "release_failed"}}, static_cast<double>(server_names.release_failed)}});
    out.gauge("skouter_server_name_flows_held",
              "Flows whose first data the daemon holds, waiting for the rest of a ClientHello",
              static_cast<double>(view.server_names.flowsHeld()));
  }
  {
    // Every combination, so that the set of series never depends on what happened.
    const auto& queries = view.queries.stats();
    const auto judged = [&](const char* verdict, QueryReason reason) {
      const auto found = queries.judged.find({verdict, toString(reason)});
      return found == queries.judged.end() ? 0.0 : static_cast<double>(found->second);
    };
    std::vector<std::pair<MetricLabels, double>> series = {
        {{{"verdict", "allowed"}, {"reason", "listed_name"}}, total(SKOUTER_CNT_DNS_QUERY_ALLOWED)},
        {{{"verdict", "allowed"}, {"reason", "unchecked"}}, total(SKOUTER_CNT_DNS_QUERY_UNCHECKED)},
        {{{"verdict", "denied"}, {"reason", "not_a_query"}}, total(SKOUTER_CNT_DNS_QUERY_DENIED)},
        {{{"verdict", "denied"}, {"reason", "hold_failed"}},
         total(SKOUTER_CNT_DNS_QUERY_HOLD_FAILED)}};
    for (const auto reason :
         {QueryReason::kAllowedName, QueryReason::kQueryableName, QueryReason::kNotPoliced}) {
      series.push_back(
          {{{"verdict", "allowed"}, {"reason", toString(reason)}}, judged("allowed", reason)});
    }
    for (const auto reason : {QueryReason::kNameNotAllowed, QueryReason::kEncryptedDnsResolver,
                              QueryReason::kUnreadable}) {
      series.push_back(
          {{{"verdict", "denied"}, {"reason", toString(reason)}}, judged("denied", reason)});
    }
    out.counter("skouter_dns_queries_total",
                "Queries of workloads whose queries are policed (spec.queries: deny, "
                "--deny-queries), by verdict and reason: allowed by the datapath alone "
                "(listed_name), or passed while the daemon was away (unchecked); dropped by it "
                "as no standard query or over TCP (not_a_query) or for want of room to hold "
                "(hold_failed); the rest judged by the daemon",
                series);
  }
  // Served without --verify-answers too (all zero), so the set of series never depends
  // on flags.
  const auto* verifier = view.answers.verifier();
  const resolver::VerifyStats verify = verifier ? verifier->stats() : resolver::VerifyStats{};
  out.counter("skouter_dns_verify_lookups_total",
              "Confirmation lookups of --verify-answers, by result",
              {{{{"result", "answered"}}, static_cast<double>(verify.lookups - verify.failed)},
               {{{"result", "failed"}}, static_cast<double>(verify.failed)}});
  out.counter("skouter_dns_verify_addresses_total",
              "New addresses --verify-answers judged: confirmed by a lookup or from the cache, "
              "or not (removed from the answer, never installed; over_limit: no lookup was "
              "made, --max-pending-lookups were under way)",
              {{{{"result", "confirmed"}}, static_cast<double>(verify.confirmed)},
               {{{"result", "cached"}}, static_cast<double>(verify.cached)},
               {{{"result", "unconfirmed"}}, static_cast<double>(verify.unconfirmed)},
               {{{"result", "over_limit"}}, static_cast<double>(answers.verify_over_limit)}});
  out.histogram("skouter_dns_answer_hold_seconds",
                "Time from the datapath holding an answer to its re-injection",
                view.answers.holdTimes());

  const auto tables = view.tableFill();
  const auto learned = std::find_if(tables.begin(), tables.end(), [](const Fill& table) {
                         return table.name == "allowed_ips";
                       })->used;
  out.gauge("skouter_entries", "Installed entries by kind",
            {{{{"kind", "learned"}}, static_cast<double>(learned)},
             {{{"kind", "static"}}, static_cast<double>(view.static_rules.size())},
             {{{"kind", "pod_identity"}}, static_cast<double>(view.pods.pods().size())}});

  std::vector<std::pair<MetricLabels, double>> entries, capacity, fill;
  for (const auto& table : tables) {
    const MetricLabels labels{{"table", table.name}};
    entries.push_back({labels, static_cast<double>(table.used)});
    capacity.push_back({labels, static_cast<double>(table.capacity)});
    fill.push_back({labels, table.ratio()});
  }
  out.gauge("skouter_table_entries", "Entries in each bounded table", entries);
  out.gauge("skouter_table_capacity", "Entries each bounded table can hold", capacity);
  out.gauge("skouter_table_fill_ratio", "Entries over capacity of each bounded table", fill);

  std::vector<std::pair<MetricLabels, double>> ring_used, ring_size, ring_fill;
  for (const auto& ring : view.ringFill()) {
    const MetricLabels labels{{"ring", ring.name}};
    ring_used.push_back({labels, static_cast<double>(ring.used)});
    ring_size.push_back({labels, static_cast<double>(ring.capacity)});
    ring_fill.push_back({labels, ring.ratio()});
  }
  out.gauge("skouter_ring_buffer_used_bytes", "Bytes written to a ring buffer and not yet read",
            ring_used);
  out.gauge("skouter_ring_buffer_size_bytes", "Size of each ring buffer", ring_size);
  out.gauge("skouter_ring_buffer_fill_ratio", "Unread bytes over the size of each ring buffer",
            ring_fill);

  out.counter("skouter_policy_reloads_total", "Policy applications, by result",
              {{{{"result", "applied"}}, static_cast<double>(view.record.reloads_applied)},
               {{{"result", "failed"}}, static_cast<double>(view.record.reloads_failed)}});
  out.counter("skouter_handler_failures_total",
              "Event-loop handlers that threw (logged; the daemon went on with the next)",
              {{{}, static_cast<double>(view.record.handler_failures)}});
  out.counter("skouter_flow_events_dropped_total",
              "Events nobody saw: flow events the datapath did not emit (rate_limited, ring_full) "
              "and events a slow `skouterctl monitor` missed (slow_subscriber)",
              {{{{"reason", "rate_limited"}}, total(SKOUTER_CNT_EVENT_RATE_LIMITED)},
               {{{"reason", "ring_full"}}, total(SKOUTER_CNT_EVENT_RINGBUF_FULL)},
               {{{"reason", "slow_subscriber"}}, static_cast<double>(view.events.droppedSlow())}});
  // The host always has a sample, so the metric is there before the first late
  // connection; pods appear with theirs and leave when deleted.
  std::map<std::uint32_t, std::uint64_t> late_counts{{SKOUTER_HOST_IDENTITY, 0}};
  for (const auto& [identity, count] : view.expired_addresses.counts()) {
    late_counts[identity] = count;
  }
  std::vector<std::pair<MetricLabels, double>> late;
  for (const auto& [identity, count] : late_counts) {
    late.push_back({{{"workload", view.workloadName(identity)}}, static_cast<double>(count)});
  }
  out.counter("skouter_late_connections_total",
              "Denied or audited new flows to an address learned for the workload after its "
              "expiry (a client that kept it past the TTL), by workload; a retransmitted SYN "
              "counts again",
              late);
  const auto heartbeat = view.datapath.heartbeat().lookup(0);
  const auto now = datapathNowNs();
  out.gauge(
      "skouter_heartbeat_age_seconds",
      "Time since skouterd last told the datapath it is alive (answers pass untouched "
      "beyond --failsafe-timeout)",
      heartbeat ? static_cast<double>(elapsedSince(heartbeat->last_beat_ns, now)) / 1e9 : 0.0);
  out.gauge("skouter_pods_policed", "Pods on this node an Egress selects",
            static_cast<double>(view.pods.pods().size()));
  out.gauge("skouter_event_subscribers", "Readers of the live event stream (skouterctl monitor)",
            static_cast<double>(view.events.subscribers()));
  return out.text();
}

}  // namespace skouter::daemon
