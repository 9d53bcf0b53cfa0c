#include "daemon/decision_reporter.h"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "common/datapath_clock.h"
#include "resolver/dns_question.h"

namespace skouter::daemon {
using nlohmann::json;

namespace {

std::string lowerCase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

void DecisionReporter::flow(const FlowEvent& flow) {
  auto names = view_.observed_names.namesOf(flow.identity, flow.destination);
  const auto late = expired_addresses_.lateConnection(
      flow.identity, flow.destination, view_.allowed_ips.entryOf(flow.identity, flow.destination),
      datapathNowNs());
  if (late) expired_addresses_.count(flow.identity);
  if (events_.hasSubscribers()) {
    FlowEventFields fields{.identity = flow.identity,
                           .workload = view_.workloadName(flow.identity),
                           .verdict = toString(flow.verdict),
                           .source = flow.source.toString(),
                           .destination = flow.destination.toString(),
                           .port = flow.port,
                           .protocol = lowerCase(ipProtocolName(flow.protocol)),
                           .names = names,
                           .late = std::nullopt};
    if (late) {
      fields.late = LateConnectionFields{.names = late->names,
                                         .rule = view_.ruleName(flow.identity, late->rule),
                                         .expired_ago_s = late->expired_ago_s,
                                         .open_for_s = late->open_for_s};
    }
    events_.publish(flowEvent(std::chrono::system_clock::now(), fields));
  }
  const std::string named = names.empty() ? "" : fmt::format(" ({})", fmt::join(names, ", "));
  const std::string lateness =
      late ? "; late connection: " + describeLateConnection(*late, flow.destination.toString())
           : "";
  // One line per destination, not per retransmitted SYN; `skouterctl audit` counts them.
  if (!audit_table_.record(flow, std::move(names), std::chrono::system_clock::now(), late)) return;
  denied_flow_log_.log(datapathNowNs(), spdlog::level::info, "{} {} -> {} {}{}{}{}",
                       toString(flow.verdict), flow.source.toString(), flow.destination.toString(),
                       flow.port ? std::to_string(flow.port) + "/" : "",
                       ipProtocolName(flow.protocol), named, lateness);
}

void DecisionReporter::serverName(const ServerNameDecision& decision) {
  const auto& judgement = decision.judgement;
  if (events_.hasSubscribers()) {
    events_.publish(
        serverNameEvent(std::chrono::system_clock::now(),
                        {.identity = decision.identity,
                         .workload = view_.workloadName(decision.identity),
                         .verdict = toString(judgement.verdict),
                         .reason = toString(judgement.reason),
                         .protocol = decision.protocol,
                         .source = decision.source.toString(),
                         .destination = decision.destination.toString(),
                         .port = decision.port,
                         .server_name = decision.reading.server_name,
                         .encrypted_client_hello = decision.reading.encrypted_client_hello,
                         .names = decision.learned_names,
                         .explanation = judgement.explanation}));
  }
  if (judgement.verdict == FlowVerdict::kAllowed) return;
  const FlowEvent flow{
      .identity = decision.identity,
      .source = decision.source,
      .destination = decision.destination,
      .protocol = static_cast<std::uint8_t>(std::string_view(decision.protocol) == "tls" ? 6 : 17),
      .port = decision.port,
      .verdict = judgement.verdict};
  audit_table_.record(flow, decision.learned_names, std::chrono::system_clock::now());
  server_name_log_.log(datapathNowNs(), spdlog::level::info,
                       "{} {} {} -> {}:{}/{}: server name {}: {}", toString(judgement.verdict),
                       view_.workloadName(decision.identity), decision.source.toString(),
                       decision.destination.toString(), decision.port, decision.protocol,
                       decision.reading.server_name.value_or("(none)"), judgement.explanation);
}

void DecisionReporter::query(const QueryDecision& decision) {
  const auto& judgement = decision.judgement;
  if (events_.hasSubscribers()) {
    events_.publish(queryEvent(
        std::chrono::system_clock::now(),
        {.identity = decision.identity,
         .workload = view_.workloadName(decision.identity),
         .verdict = toString(judgement.verdict),
         .reason = toString(judgement.reason),
         .client = decision.client.toString(),
         .resolver = decision.resolver.toString(),
         .name = decision.name,
         .qtype = resolver::dnsTypeName(decision.type),
         .rule = judgement.rule ? std::optional(view_.ruleName(decision.identity, *judgement.rule))
                                : std::nullopt}));
  }
  if (judgement.verdict == FlowVerdict::kAllowed) return;
  denied_queries_.record(decision.identity, decision.name, std::chrono::system_clock::now());
  query_log_.log(datapathNowNs(), spdlog::level::info, "{} query {} {} for {} {}: {}",
                 toString(judgement.verdict), view_.workloadName(decision.identity),
                 decision.client.toString(), decision.name.empty() ? "(unreadable)" : decision.name,
                 resolver::dnsTypeName(decision.type), toString(judgement.reason));
}

void DecisionReporter::policy(const std::string& why, const std::string& error) {
  if (!events_.hasSubscribers()) return;
  events_.publish({{"time", eventTime(std::chrono::system_clock::now())},
                   {"type", "policy"},
                   {"result", error.empty() ? "applied" : "failed"},
                   {"reason", why},
                   {"error", error.empty() ? json(nullptr) : json(error)}});
}

void DecisionReporter::answer(std::uint32_t identity, const IpAddress& client,
                              const resolver::AnswerDecision& decision,
                              resolver::AnswerOutcome outcome) {
  if (!events_.hasSubscribers()) return;
  DnsAnswerEventFields event{.identity = identity,
                             .workload = view_.workloadName(identity),
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
  if (decision.rule) event.rule = view_.ruleName(identity, *decision.rule);
  events_.publish(dnsAnswerEvent(std::chrono::system_clock::now(), event));
}

}  // namespace skouter::daemon
