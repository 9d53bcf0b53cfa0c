#include "daemon/query_gate.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "common/datapath_clock.h"
#include "resolver/dns_question.h"
#include "resolver/ip_frame.h"

namespace skouter::daemon {

namespace {

constexpr std::size_t kEthernetAddress = 6;
constexpr std::size_t kDnsHeader = 12;

}  // namespace

QueryGate::QueryGate(maps::ReleasedQueryTable& released, resolver::AnswerInjector& injector,
                     const FrameReceiver& receiver, Sources sources, Reporter reporter,
                     policy::DenyResponse deny_response)
    : released_(released),
      injector_(injector),
      receiver_(receiver),
      sources_(std::move(sources)),
      reporter_(std::move(reporter)),
      deny_response_(deny_response) {}

void QueryGate::handle(const skouter_answer_header& header, std::span<const std::uint8_t> frame) {
  const std::uint64_t now = datapathNowNs();
  std::string error;
  auto held = resolver::extractHeldPacket(frame, header.l3_offset, header.l4_offset, error);
  if (!held || resolver::completeUdpChecksum(*held) == resolver::UdpChecksum::kCorrupt ||
      held->dns().size() < kDnsHeader) {
    // The datapath holds only recorded queries, whose checksums it checked.
    ++stats_.judged[{toString(FlowVerdict::kDenied), toString(QueryReason::kUnreadable)}];
    trouble_log_.log(now, spdlog::level::warn, "dropped a held query that is not a UDP query: {}",
                     error.empty() ? "bad checksum" : error);
    return;
  }
  // extractHeldPacket() reads answers: its "client" is the destination, here the
  // resolver, and its "server" the source, here the workload.
  QueryDecision decision{
      .identity = header.identity, .client = held->server, .resolver = held->client};
  const auto dns = held->dns();
  const auto question = resolver::parseQuestionSection(dns.subspan(kDnsHeader));
  const auto* policy = sources_.policy(header.identity);
  auto refusal =
      refusalOf(dns, policy && policy->deny_response ? *policy->deny_response : deny_response_);
  if (question && refusal) {
    decision.name = question->name;
    decision.type = question->type;
    decision.judgement = judgeQuery(policy, question->name);
  }
  ++stats_.judged[{toString(decision.judgement.verdict), toString(decision.judgement.reason)}];

  std::vector<std::uint8_t> out(
      frame.begin(), frame.begin() + std::min<std::size_t>(header.l3_offset, frame.size()));
  // As the datapath recorded it: the client's port and the id as on the wire.
  const auto udp = std::span<const std::uint8_t>(held->ip_packet).subspan(held->udp_offset);
  const auto key =
      maps::udpQueryKey(decision.client, static_cast<std::uint16_t>(udp[0] | udp[1] << 8),
                        static_cast<std::uint16_t>(dns[0] | dns[1] << 8));
  std::string failure;
  if (decision.judgement.verdict == FlowVerdict::kAllowed) {
    const auto packet = resolver::rebuildUdpPacket(*held, dns);
    out.insert(out.end(), packet.begin(), packet.end());
    if (header.destination == SKOUTER_QUERY_FROM_POD) {
      if (!released_.release(
              key, std::span<const std::uint8_t>(header.question, header.question_len), now)) {
        failure = "released_queries cannot be written";
      }
    }
    if (failure.empty()) failure = send(header, std::move(out));
    if (failure.empty()) ++stats_.released;
  } else if (refusal) {
    // Back to where the query came from: the Ethernet addresses swap too.
    if (out.size() >= 2 * kEthernetAddress) {
      std::swap_ranges(out.begin(), out.begin() + kEthernetAddress, out.begin() + kEthernetAddress);
    }
    const auto packet = resolver::replyUdpPacket(*held, *refusal);
    if (header.destination == SKOUTER_QUERY_FROM_POD) {
      out.insert(out.end(), packet.begin(), packet.end());
      failure = sendOutOf(static_cast<int>(header.ifindex), std::move(out));
    } else {
      auto sent = injector_.toHost(packet, decision.client);
      injector_.send(std::span(&sent, 1));
      failure = sent.failure;
    }
    if (failure.empty()) ++stats_.answered;
    if (sources_.forget_query) sources_.forget_query(key);
  }
  if (!failure.empty()) {
    ++stats_.send_failed;
    trouble_log_.log(now, spdlog::level::warn, "cannot send the {} query of identity {} for {}: {}",
                     toString(decision.judgement.verdict), header.identity, decision.name, failure);
  }
  stats_.max_hold_ns =
      std::max(stats_.max_hold_ns, elapsedSince(header.received_ns, datapathNowNs()));
  if (reporter_) reporter_(decision);
}

std::string QueryGate::send(const skouter_answer_header& header, std::vector<std::uint8_t> frame) {
  if (header.destination == SKOUTER_QUERY_FROM_POD) {
    return receiver_.receive(frame, static_cast<int>(header.ifindex));
  }
  return sendOutOf(static_cast<int>(header.ifindex), std::move(frame));
}

std::string QueryGate::sendOutOf(int ifindex, std::vector<std::uint8_t> frame) {
  std::string failure;
  auto sent = injector_.toInterface(std::move(frame), ifindex, failure);
  if (!sent) return failure;
  injector_.send(std::span(&*sent, 1));
  return sent->failure;
}

}  // namespace skouter::daemon
