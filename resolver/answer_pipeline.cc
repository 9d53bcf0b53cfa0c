#include "resolver/answer_pipeline.h"

#include "bpf/maps/bpf_address.h"
#include "common/datapath_clock.h"
#include "resolver/dns_question.h"

#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace skouter::resolver {

namespace {

// Whether `answer` asks exactly one question, the one whose bytes the datapath
// recorded from the query (`asked_section`: the bytes after the query's header). A
// query's name is never compressed, so a compressed one is another question.
bool answersTheQuestion(const DnsMessage& answer, std::span<const std::uint8_t> asked_section) {
  if (!answer.hasHeader() || answer.questionCount() != 1) return false;
  const auto& answered = answer.question();
  const auto asked = questionBytes(asked_section);
  return answered && !answered->compressed && asked && std::ranges::equal(answered->wire, *asked);
}

// The dns_queries entry of the query sent on `connection` that `dns` answers.
skouter_dns_query_key tcpQueryKeyOf(const HeldSegment& connection, const DnsMessage& dns) {
  skouter_dns_query_key key{};
  const skouter_addr client = maps::toBpfAddr(connection.client);
  key.family = client.family;
  key.protocol = IPPROTO_TCP;
  key.client_port = htons(connection.client_port);
  std::memcpy(&key.dns_id, dns.bytes().data(), sizeof(key.dns_id));  // as on the wire
  key.kind = SKOUTER_DNS_TCP_QUERY;
  std::memcpy(key.client, client.addr, sizeof(key.client));
  return key;
}

// The dns_queries entry of the query `answer` answers.
skouter_dns_query_key queryKeyOf(const HeldPacket& answer) {
  skouter_dns_query_key key{};
  const skouter_addr client = maps::toBpfAddr(answer.client);
  key.family = client.family;
  key.protocol = IPPROTO_UDP;
  // Both as on the wire, in network byte order: the datagram's destination port, the id.
  std::memcpy(&key.client_port, &answer.ip_packet[answer.udp_offset + 2], sizeof(key.client_port));
  std::memcpy(&key.dns_id, &answer.ip_packet[answer.dns_offset], sizeof(key.dns_id));
  std::memcpy(key.client, client.addr, sizeof(key.client));
  return key;
}

// The resolver that sent `answer`: its source address and port.
ResolverAddress resolverOf(const HeldPacket& answer) {
  return {answer.server, read16(answer.ip_packet, answer.udp_offset)};
}

std::uint16_t clientPortOf(const HeldPacket& answer) {
  return read16(answer.ip_packet, answer.udp_offset + 2);
}

// The question's wire bytes (name, type, class) of a message decideAnswer read, as a
// confirmation asks it again; none when its name is compressed.
std::vector<std::uint8_t> questionWireOf(const DnsMessage& dns) {
  const auto& question = dns.question();
  if (!question || question->compressed) return {};
  return {question->wire.begin(), question->wire.end()};
}

// The TC bit: the resolver had more to say than fits in a UDP datagram.
bool isTruncated(const DnsMessage& dns) { return dns.hasHeader() && dns.truncated(); }

// The bytes of the held frame before its IP header: the Ethernet header (and VLAN
// tags) the kernel had put on the answer for the pod.
std::span<const std::uint8_t> linkHeaderOf(std::span<const std::uint8_t> frame,
                                           const skouter_answer_header& header) {
  return frame.first(std::min<std::size_t>(header.l3_offset, frame.size()));
}

}  // namespace

const char* toString(AnswerOutcome outcome) {
  switch (outcome) {
    case AnswerOutcome::kAllowed:
      return "allowed";
    case AnswerOutcome::kDenied:
      return "denied";
    case AnswerOutcome::kMalformed:
      return "malformed";
    case AnswerOutcome::kQuestionMismatch:
      return "question_mismatch";
    case AnswerOutcome::kInstallFailed:
      return "install_failed";
  }
  return "unknown";
}

Histogram makeHoldTimeHistogram() {
  return Histogram{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                   0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
}

AnswerPipeline::AnswerPipeline(boost::asio::io_context& io, int ring_fd,
                               maps::AllowedIpTable& table, AnswerInjector& injector,
                               PolicyLookup policy, TtlSettings ttl, RewriteSettings rewrite,
                               DnsClient* dns_client, ObservedNames* observed,
                               AnswerPipelineLimits limits)
    : io_(io),
      table_(table),
      injector_(injector),
      policy_(std::move(policy)),
      ttl_(ttl),
      rewrite_(rewrite),
      dns_client_(dns_client),
      observed_(observed),
      limits_(limits),
      tcp_streams_(limits.tcp),
      ring_(io, ring_fd, "answers",
            {.before_turn =
                 [this](const std::vector<RingRecord>& records) {
                   // Here, before the reader frees them (see AnswerRingQuota::consumed).
                   if (ring_quota_) ring_quota_->consumed(records);
                   reading_ring_ = true;
                 },
             .record = [this](RingRecord record) { handleRecord(record); },
             .after_turn =
                 [this] {
                   sendOutbox();
                   reading_ring_ = false;
                 }}) {}

AnswerPipeline::~AnswerPipeline() = default;

// Answers held while no daemon ran are still in the pinned ring: they are handled first.
void AnswerPipeline::start() { ring_.start(); }

void AnswerPipeline::stopReading() { ring_.stop(); }

void AnswerPipeline::deferWhile(std::function<bool(std::uint32_t identity)> pending) {
  pending_ = std::move(pending);
}

void AnswerPipeline::releaseDeferred() {
  auto deferred = std::move(deferred_);
  deferred_.clear();
  deferred_bytes_ = 0;
  const auto pending = std::move(pending_);
  pending_ = nullptr;
  for (const auto& record : deferred) handleRecord(record);
  pending_ = pending;
}

void AnswerPipeline::handleRecord(std::span<const std::uint8_t> record) {
  if (record.size() < sizeof(skouter_answer_header)) return;
  skouter_answer_header header;
  std::memcpy(&header, record.data(), sizeof(header));
  if (pending_ && pending_(header.identity)) {
    if (deferred_.size() < kMaxDeferredAnswers &&
        deferred_bytes_ + record.size() <= kMaxDeferredBytes) {
      deferred_.emplace_back(record.begin(), record.end());
      deferred_bytes_ += record.size();
      ++stats_.deferred;
      return;
    }
    ++stats_.deferred_over_limit;
    limit_log_.log(datapathNowNs(), spdlog::level::warn,
                   "{} answers ({} bytes) wait for their workload's policy already; judging "
                   "this one for identity {} at once",
                   deferred_.size(), deferred_bytes_, header.identity);
  }
  const auto frame = record.subspan(sizeof(header));
  handle(header, frame.first(std::min<std::size_t>(header.frame_len, frame.size())));
}

void AnswerPipeline::handle(const skouter_answer_header& header,
                            std::span<const std::uint8_t> frame) {
  if (header.destination == SKOUTER_HELLO_FROM_HOST ||
      header.destination == SKOUTER_HELLO_FROM_POD) {
    if (hello_handler_) hello_handler_(header, frame);
    return;
  }
  if (header.destination == SKOUTER_QUERY_FROM_HOST ||
      header.destination == SKOUTER_QUERY_FROM_POD) {
    if (query_handler_) query_handler_(header, frame);
    return;
  }
  if (header.protocol == IPPROTO_TCP) {
    handleTcpSegment(header, frame);
  } else {
    handleUdpAnswer(header, frame);
  }
}

AnswerDecision AnswerPipeline::decide(std::uint32_t identity, const DnsMessage& dns) const {
  static const policy::NameMatcher kNothingAllowed;
  const auto* policy = policy_(identity);
  if (!policy) return decideAnswer(dns, kNothingAllowed, datapathNowNs(), ttl_);
  return decideAnswer(dns, policy->names, datapathNowNs(), ttl_, policy->rule_min_ttls);
}

RewriteSettings AnswerPipeline::rewriteSettingsFor(const policy::CompiledPolicy* policy) const {
  RewriteSettings settings = rewrite_;
  // No policy known for the workload (after a restart, before the cluster is listed
  // again): nothing is installed, and nothing is denied either.
  if (!policy) settings.deny_response = DenyResponse::kPassthrough;
  if (policy && policy->deny_response) settings.deny_response = *policy->deny_response;
  // Audit drops nothing, answers included.
  if (policy && policy->audit()) settings.deny_response = DenyResponse::kPassthrough;
  return settings;
}

bool AnswerPipeline::install(std::uint32_t identity, const AnswerDecision& decision) {
  switch (decision.verdict) {
    case AnswerVerdict::kAllowed: {
      const auto* policy = policy_(identity);
      if (!policy) return true;  // the policy went away while the answer was held
      if (observed_) {
        std::vector<IpAddress> addresses;
        for (const auto& learned : decision.addresses) addresses.push_back(learned.ip);
        observed_->record(identity, decision.question, addresses);
      }
      const auto result = table_.install(identity, decision.addresses, decision.question,
                                         *decision.rule, policy->portsOf(*decision.rule));
      stats_.addresses_installed += result.installed;
      stats_.addresses_evicted += result.evicted;
      stats_.names_evicted += result.names_evicted;
      stats_.workload_addresses_evicted += result.workload_evicted;
      if (result.evicted > 0 || result.names_evicted > 0 || result.workload_evicted > 0) {
        limit_log_.log(datapathNowNs(), spdlog::level::info,
                       "{} for identity {}: {} address(es) beyond --max-ips-per-name, {} "
                       "name(s) of its addresses beyond --max-names-per-ip and {} address(es) "
                       "of the workload beyond --max-ips-per-workload forgotten, least "
                       "recently answered first",
                       decision.question, identity, result.evicted, result.names_evicted,
                       result.workload_evicted);
      }
      if (result.failed > 0) {
        ++stats_.dropped_install_failed;
        trouble_log_.log(datapathNowNs(), spdlog::level::err,
                         "allowed-IP table full: {} of {} addresses of {} not installed",
                         result.failed, decision.addresses.size(), decision.question);
        return false;
      }
      ++stats_.allowed;
      spdlog::debug("allowed {} for identity {}: {} address(es)", decision.question, identity,
                    decision.addresses.size());
      return true;
    }
    case AnswerVerdict::kDenied:
      ++stats_.denied;
      if (observed_) observed_->record(identity, decision.question, decision.denied_addresses);
      decision_log_.log(datapathNowNs(), spdlog::level::info,
                        "denied name {} (type {}) for identity {}", decision.question,
                        decision.question_type, identity);
      return true;
    case AnswerVerdict::kMalformed:
      ++stats_.malformed;
      spdlog::debug("answer not understood ({}); delivered without installing", decision.error);
      return true;
  }
  return true;
}

bool AnswerPipeline::installAndReport(std::uint32_t identity, const IpAddress& client,
                                      const AnswerDecision& decision) {
  const bool installed = install(identity, decision);
  AnswerOutcome outcome = AnswerOutcome::kMalformed;
  if (!installed) {
    outcome = AnswerOutcome::kInstallFailed;
  } else if (decision.verdict == AnswerVerdict::kAllowed) {
    outcome = AnswerOutcome::kAllowed;
  } else if (decision.verdict == AnswerVerdict::kDenied) {
    outcome = AnswerOutcome::kDenied;
  }
  if (reporter_) reporter_(identity, client, decision, outcome);
  return installed;
}

void AnswerPipeline::deliver(std::span<const std::uint8_t> ip_packet, const IpAddress& client,
                             const skouter_answer_header& header,
                             std::span<const std::uint8_t> link_header) {
  std::string failure;
  std::optional<OutgoingAnswer> answer;
  if (header.destination == SKOUTER_ANSWER_TO_POD) {
    // Ethernet has no length field for IP: a rewritten packet of another length keeps
    // the header as it was.
    std::vector<std::uint8_t> frame(link_header.begin(), link_header.end());
    frame.insert(frame.end(), ip_packet.begin(), ip_packet.end());
    answer = injector_.toInterface(std::move(frame), static_cast<int>(header.ifindex), failure);
  } else {
    answer = injector_.toHost(ip_packet, client);
  }
  if (!answer) {
    countInjectFailure(client, failure);
    return;
  }
  outbox_.push_back(std::move(*answer));
  outbox_held_.push_back({client, header.received_ns});
  if (!reading_ring_ || outbox_.size() >= kAnswersPerSend) sendOutbox();
}

void AnswerPipeline::sendOutbox() {
  if (outbox_.empty()) return;
  injector_.send(outbox_);
  const std::uint64_t now = datapathNowNs();
  for (std::size_t i = 0; i < outbox_.size(); ++i) {
    const auto& [client, received_ns] = outbox_held_[i];
    if (!outbox_[i].failure.empty()) {
      countInjectFailure(client, outbox_[i].failure);
      continue;
    }
    const std::uint64_t held_ns = elapsedSince(received_ns, now);
    stats_.max_hold_ns = std::max(stats_.max_hold_ns, held_ns);
    hold_times_.observe(static_cast<double>(held_ns) / 1e9);
  }
  outbox_.clear();
  outbox_held_.clear();
}

void AnswerPipeline::countInjectFailure(const IpAddress& client, const std::string& failure) {
  ++stats_.inject_failed;
  trouble_log_.log(datapathNowNs(), spdlog::level::warn, "cannot re-inject the answer to {}: {}",
                   client.toString(), failure);
}

void AnswerPipeline::deliverSegment(const HeldSegment& segment, const skouter_answer_header& header,
                                    std::span<const std::uint8_t> link_header) {
  if (header.destination == SKOUTER_ANSWER_TO_POD) {
    const auto mtu = injector_.mtuOf(static_cast<int>(header.ifindex));
    if (mtu && segment.ip_packet.size() > *mtu) {
      for (const auto& piece : splitTcpSegment(segment, *mtu)) {
        deliver(piece, segment.client, header, link_header);
      }
      return;
    }
  }
  deliver(segment.ip_packet, segment.client, header, link_header);
}

void AnswerPipeline::handleUdpAnswer(const skouter_answer_header& header,
                                     std::span<const std::uint8_t> frame) {
  std::string error;
  auto held = extractHeldPacket(frame, header.l3_offset, header.l4_offset, error);
  if (!held) {
    // Nothing sensible can be delivered; the client's retry gets a fresh chance.
    ++stats_.malformed;
    trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                     "dropped a held answer that is not a UDP datagram: {}", error);
    return;
  }
  if (completeUdpChecksum(*held) == UdpChecksum::kCorrupt) {
    ++stats_.malformed;
    trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                     "dropped a held answer to {} with a wrong UDP checksum",
                     held->client.toString());
    return;
  }

  // The view reads the packet's own bytes: both live in one object, which the
  // confirmation below shares rather than copies.
  const auto answer = std::make_shared<const HeldUdpAnswer>(std::move(*held));
  const DnsMessage& message = answer->message;
  auto decision = decide(header.identity, message);
  const std::span<const std::uint8_t> asked_section{
      header.question, std::min<std::size_t>(header.question_len, sizeof(header.question))};
  if (decision.verdict != AnswerVerdict::kMalformed &&
      !answersTheQuestion(message, asked_section)) {
    // The datapath matched the id and port; the question must match too, byte for
    // byte, or this is a spoofed answer that guessed them. The query stays recorded
    // for the real answer.
    ++stats_.question_mismatch;
    if (reporter_) {
      reporter_(header.identity, answer->packet.client, decision, AnswerOutcome::kQuestionMismatch);
    }
    const auto asked = parseQuestionSection(asked_section);
    trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                     "dropped an answer for {} to {}: the query asked for {}", decision.question,
                     answer->packet.client.toString(),
                     asked ? asked->name : "(unreadable question)");
    return;
  }
  if (decision.verdict != AnswerVerdict::kMalformed && queries_.forget &&
      !queries_.forget(queryKeyOf(answer->packet))) {
    // Punted while an answer to the same query was on its way here: only the first
    // answer installs.
    ++stats_.already_answered;
    trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                     "dropped a second answer for {} to {}: its query was answered already",
                     decision.question, answer->packet.client.toString());
    return;
  }
  const auto link_header = linkHeaderOf(frame, header);
  if (answersOwnLookup(header, clientPortOf(answer->packet))) {
    // The answer to one of the daemon's own lookups: the verifier or the lookup's
    // callback judges it. Judged here, it would install for the host what a workload
    // was answered.
    ++stats_.own_lookups;
    deliver(answer->packet.ip_packet, answer->packet.client, header, link_header);
    return;
  }
  confirmThen(header.identity, resolverOf(answer->packet), questionWireOf(message),
              std::move(decision),
              [this, header, answer,
               link_header = std::vector<std::uint8_t>(link_header.begin(), link_header.end())](
                  AnswerDecision decision, std::vector<IpAddress> unconfirmed) {
                finishUdpAnswer(header, decision, *answer, link_header, unconfirmed);
              });
}

void AnswerPipeline::finishUdpAnswer(const skouter_answer_header& header, AnswerDecision& decision,
                                     const HeldUdpAnswer& answer,
                                     std::span<const std::uint8_t> link_header,
                                     const std::vector<IpAddress>& unconfirmed) {
  static const std::vector<policy::StaticEntry> kNoStaticEntries;
  const auto* policy = policy_(header.identity);
  const HeldPacket& held = answer.packet;
  const auto rewritten =
      rewriteAnswer(answer.message, decision, rewriteSettingsFor(policy),
                    policy ? policy->static_entries : kNoStaticEntries, unconfirmed);
  // What the delivered answer no longer holds is not installed either.
  forgetRemoved(decision, rewritten);
  // When a table is full the client retries, by which time it may have room.
  if (!installAndReport(header.identity, held.client, decision)) return;
  if (rewritten.changed) {
    ++stats_.rewritten;
    stats_.private_removed += rewritten.removed_private.size();
    for (const auto& address : rewritten.removed_private) {
      decision_log_.log(datapathNowNs(), spdlog::level::info,
                        "removed private address {} from the answer for {}", address.toString(),
                        decision.question);
    }
  }
  auto packet = rewritten.changed ? rebuildUdpPacket(held, rewritten.dns) : held.ip_packet;
  if (decision.verdict == AnswerVerdict::kAllowed && isTruncated(answer.message) && dns_client_) {
    if (pending_lookups_ < limits_.max_pending_lookups) {
      completeThenDeliver(header, decision, std::move(packet), held.client,
                          {link_header.begin(), link_header.end()});
      return;
    }
    // The client falls back to TCP, whose answer is held and installed in full.
    ++stats_.truncated_over_limit;
    limit_log_.log(datapathNowNs(), spdlog::level::warn,
                   "truncated answer for {}: {} lookups over TCP are under way already "
                   "(--max-pending-lookups); delivering the partial answer",
                   decision.question, pending_lookups_);
  }
  deliver(packet, held.client, header, link_header);
}

bool AnswerPipeline::answersOwnLookup(const skouter_answer_header& header,
                                      std::uint16_t client_port) const {
  if (header.identity != SKOUTER_HOST_IDENTITY) return false;
  if (verifier_ && verifier_->ownsPort(client_port)) return true;
  if (!dns_client_ || dns_client_->pendingQueries() == 0) return false;
  const auto ports = dns_client_->localPorts();
  return std::find(ports.begin(), ports.end(), client_port) != ports.end();
}

void AnswerPipeline::verifyAnswers(VerifySettings settings) {
  verifier_ = std::make_unique<AnswerVerifier>(io_, settings);
}

void AnswerPipeline::confirmThen(std::uint32_t identity, const ResolverAddress& resolver,
                                 std::vector<std::uint8_t> question, AnswerDecision decision,
                                 Confirmed then) {
  std::set<IpAddress> wanted;
  VerifyQuestion asked{resolver, decision.question, decision.question_type, std::move(question)};
  if (verifier_ && decision.verdict == AnswerVerdict::kAllowed) {
    const auto now = datapathNowNs();
    for (const auto& learned : decision.addresses) {
      if (table_.holds(identity, decision.question, learned.ip)) continue;
      if (!verifier_->cached(asked, learned.ip, now)) wanted.insert(learned.ip);
    }
  }
  if (wanted.empty()) return then(std::move(decision), {});
  if (pending_lookups_ >= limits_.max_pending_lookups || asked.wire.empty()) {
    ++stats_.verify_over_limit;
    limit_log_.log(datapathNowNs(), spdlog::level::warn,
                   "answer for {} to identity {}: {} lookups are under way already "
                   "(--max-pending-lookups); its {} new address(es) go unconfirmed and are "
                   "removed",
                   decision.question, identity, pending_lookups_, wanted.size());
    return then(std::move(decision), {wanted.begin(), wanted.end()});
  }
  ++pending_lookups_;
  verifier_->confirm(
      std::move(asked), wanted,
      [this, alive = std::weak_ptr<char>(alive_), identity, decision = std::move(decision), wanted,
       then = std::move(then)](std::set<IpAddress> confirmed) mutable {
        if (alive.expired()) return;
        --pending_lookups_;
        std::vector<IpAddress> unconfirmed;
        for (const auto& address : wanted) {
          if (!confirmed.contains(address)) unconfirmed.push_back(address);
        }
        if (!unconfirmed.empty()) {
          trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                           "the resolver did not confirm {} of {} new address(es) of {} for "
                           "identity {} (first: {}): removed, not installed",
                           unconfirmed.size(), wanted.size(), decision.question, identity,
                           unconfirmed.front().toString());
        }
        then(std::move(decision), std::move(unconfirmed));
      });
}

void AnswerPipeline::completeThenDeliver(const skouter_answer_header& header,
                                         const AnswerDecision& decision,
                                         std::vector<std::uint8_t> ip_packet, IpAddress client,
                                         std::vector<std::uint8_t> link_header) {
  // The header is copied: the ring buffer's record is gone once this returns.
  ++pending_lookups_;
  dns_client_->query(decision.question, decision.question_type, DnsClient::Transport::kTcp,
                     [this, header, question = decision.question, packet = std::move(ip_packet),
                      client, link_header = std::move(link_header)](
                         const std::string& error, const std::vector<std::uint8_t>& answer) {
                       --pending_lookups_;
                       if (error.empty()) {
                         ++stats_.truncated_resolved;
                         installAndReport(header.identity, client,
                                          decide(header.identity, DnsMessage::read(answer)));
                       } else {
                         ++stats_.truncated_failed;
                         trouble_log_.log(
                             datapathNowNs(), spdlog::level::warn,
                             "truncated answer for {}: the lookup over TCP failed ({}); delivering "
                             "the partial answer",
                             question, error);
                       }
                       deliver(packet, client, header, link_header);
                     });
}

std::size_t AnswerPipeline::installOwnAnswer(std::uint32_t identity,
                                             std::span<const std::uint8_t> dns) {
  const auto decision = decide(identity, DnsMessage::read(dns));
  if (decision.verdict != AnswerVerdict::kAllowed || !install(identity, decision)) return 0;
  return decision.addresses.size();
}

// A held segment's answers, kept while their addresses are confirmed.
struct AnswerPipeline::HeldTcpAnswers {
  skouter_answer_header header{};
  HeldSegment segment;
  std::vector<std::uint8_t> link_header;
  std::vector<AnswerDecision> decisions;
  std::vector<std::vector<std::uint8_t>> questions;  // of each decision, as answered
};

void AnswerPipeline::handleTcpSegment(const skouter_answer_header& header,
                                      std::span<const std::uint8_t> frame) {
  std::string error;
  auto segment = extractHeldSegment(frame, header.l3_offset, header.l4_offset, error);
  if (!segment) {
    ++stats_.malformed;
    trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                     "dropped a held segment that is not TCP: {}", error);
    return;
  }
  if (completeTcpChecksum(*segment) == TcpChecksum::kCorrupt) {
    // Dropped like a damaged segment on the wire: the resolver retransmits it.
    ++stats_.malformed;
    trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                     "dropped a held segment to {} with a wrong TCP checksum",
                     segment->client.toString());
    return;
  }
  // Over TCP only edits that keep a message's size are possible (the client's stream
  // offsets must not move): TTL capping, in messages that lie wholly in this segment.
  const RewriteSettings in_place{DenyResponse::kPassthrough, rewrite_.max_ttl_s, false};
  static const std::vector<policy::StaticEntry> kNoStaticEntries;
  if (answersOwnLookup(header, segment->client_port)) {
    // A confirmation completed over TCP (its answer did not fit in UDP): judged, it
    // would wait on a confirmation of its own, and that one on another.
    ++stats_.own_lookups;
    ++stats_.tcp_segments;
    deliverSegment(*segment, header, linkHeaderOf(frame, header));
    return;
  }
  if (header.flags & SKOUTER_CONNECTION_STARTED) {
    std::uint32_t initial_sequence = 0;
    std::memcpy(&initial_sequence, header.question, sizeof(initial_sequence));
    segment->stream_start = ntohl(initial_sequence) + 1;
  }
  const std::uint64_t forgotten_before = tcp_streams_.forgottenForRoom();
  const auto accepted = tcp_streams_.accept(*segment, datapathNowNs());
  if (const std::uint64_t forgotten = tcp_streams_.forgottenForRoom() - forgotten_before;
      forgotten > 0) {
    stats_.tcp_streams_forgotten += forgotten;
    limit_log_.log(datapathNowNs(), spdlog::level::warn,
                   "TCP connections to resolvers at their limit ({} of --max-tcp-streams {}, {} "
                   "of --tcp-buffer-size {} bytes): forgot the {} least recently active; "
                   "their later segments pass unread, installing nothing",
                   tcp_streams_.size(), limits_.tcp.max_streams, tcp_streams_.bufferedBytes(),
                   limits_.tcp.max_buffered_bytes, forgotten);
  }
  if (!accepted.release) {
    // TCP sends it again once the gap is filled.
    ++stats_.tcp_segments_dropped;
    limit_log_.log(datapathNowNs(), spdlog::level::warn,
                   "dropped a held TCP segment to {}:{}: it came after a gap with no room to "
                   "keep it",
                   segment->client.toString(), segment->client_port);
    return;
  }
  if (accepted.picked_up) {
    ++stats_.tcp_picked_up;
    limit_log_.log(datapathNowNs(), spdlog::level::info,
                   "passed a TCP segment to {}:{} unread: its connection was not followed from "
                   "its start (open before skouterd saw it, or forgotten); what it answers stays "
                   "closed",
                   segment->client.toString(), segment->client_port);
    ++stats_.tcp_segments;
    deliverSegment(*segment, header, linkHeaderOf(frame, header));
    return;
  }
  auto held = std::make_shared<HeldTcpAnswers>();
  held->header = header;
  const auto link_header = linkHeaderOf(frame, header);
  held->link_header.assign(link_header.begin(), link_header.end());
  bool edited = false;
  for (const auto& message : accepted.messages) {
    ++stats_.tcp_messages;
    const auto dns = DnsMessage::read(message.dns);
    if (!answersATcpQuery(header.identity, *segment, dns)) {
      ++stats_.tcp_unmatched;
      trouble_log_.log(datapathNowNs(), spdlog::level::warn,
                       "a DNS message over TCP to {}:{} answers no query sent on its "
                       "connection: delivered, installing nothing",
                       segment->client.toString(), segment->client_port);
      continue;
    }
    auto decision = decide(header.identity, dns);
    if (message.offset_in_segment && in_place.max_ttl_s) {
      const auto rewritten = rewriteAnswer(dns, decision, in_place, kNoStaticEntries);
      if (rewritten.changed && rewritten.dns.size() == message.dns.size()) {
        std::copy(
            rewritten.dns.begin(), rewritten.dns.end(),
            segment->ip_packet.begin() +
                static_cast<std::ptrdiff_t>(segment->payload_offset + *message.offset_in_segment));
        edited = true;
        ++stats_.rewritten;
      }
    }
    held->questions.push_back(questionWireOf(dns));
    held->decisions.push_back(std::move(decision));
  }
  if (edited) recomputeTcpChecksum(*segment);
  held->segment = std::move(*segment);
  installThenDeliver(held, 0);
}

void AnswerPipeline::installThenDeliver(const std::shared_ptr<HeldTcpAnswers>& held,
                                        std::size_t next) {
  if (next == held->decisions.size()) {
    ++stats_.tcp_segments;
    deliverSegment(held->segment, held->header, held->link_header);
    return;
  }
  const ResolverAddress resolver{held->segment.server, held->segment.server_port};
  confirmThen(held->header.identity, resolver, std::move(held->questions[next]),
              std::move(held->decisions[next]),
              [this, held, next](AnswerDecision decision, std::vector<IpAddress> unconfirmed) {
                // The stream's length cannot change: unconfirmed addresses stay in the
                // answer, uninstalled.
                std::erase_if(decision.addresses, [&](const LearnedAddress& learned) {
                  return std::ranges::find(unconfirmed, learned.ip) != unconfirmed.end();
                });
                // A TCP segment cannot be withheld for good (the retransmission would
                // pass as already seen), so a full table is logged and counted, and the
                // segment goes on.
                installAndReport(held->header.identity, held->segment.client, decision);
                installThenDeliver(held, next + 1);
              });
}

bool AnswerPipeline::answersATcpQuery(std::uint32_t identity, const HeldSegment& connection,
                                      const DnsMessage& dns) {
  if (!queries_.find || !queries_.forget || !dns.hasHeader()) return false;
  const auto key = tcpQueryKeyOf(connection, dns);
  const auto query = queries_.find(key);
  if (!query || query->identity != identity) return false;
  const std::span<const std::uint8_t> asked{
      query->question, std::min<std::size_t>(query->question_len, sizeof(query->question))};
  return answersTheQuestion(dns, asked) && queries_.forget(key);
}

void AnswerPipeline::forgetIdleTcpStreams(std::uint64_t now_ns, std::uint64_t idle_ns) {
  if (now_ns > idle_ns) tcp_streams_.forgetIdle(now_ns - idle_ns);
}

}  // namespace skouter::resolver
