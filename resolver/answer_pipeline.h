// Reads the answers the datapath holds, decides each one, installs the addresses of
// allowed answers and only then re-injects the answer. Runs on the daemon's Asio
// event loop; every step for one answer happens before the next is read.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "bpf/maps/allowed_ip_table.h"
#include "bpf/maps/answer_ring_quota.h"
#include "bpf/skouter_abi.h"
#include "common/histogram.h"
#include "common/rate_limited_log.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_handler.h"
#include "resolver/answer_injector.h"
#include "resolver/answer_rewriter.h"
#include "resolver/answer_verifier.h"
#include "resolver/dns_client.h"
#include "resolver/dns_message.h"
#include "resolver/ip_frame.h"
#include "resolver/observed_names.h"
#include "resolver/ring_buffer_reader.h"
#include "resolver/tcp_answer_stream.h"

namespace skouter::resolver {

struct AnswerStats {
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::uint64_t malformed = 0;
  std::uint64_t question_mismatch = 0;  // not the question that was asked: dropped
  // A second answer to a query whose first was installed (punted before the first
  // made the datapath forget the query): dropped.
  std::uint64_t already_answered = 0;
  std::uint64_t tcp_segments = 0;  // held TCP segments released
  std::uint64_t tcp_messages = 0;  // DNS messages reassembled from them
  // Connections forgotten to stay within --max-tcp-streams and --tcp-buffer-size.
  std::uint64_t tcp_streams_forgotten = 0;
  // Held TCP segments dropped, not delivered: of a forgotten connection, or after a gap
  // with no room to keep them (the resolver sends them again).
  std::uint64_t tcp_segments_dropped = 0;
  // Held TCP segments of connections not followed from their first byte (open before
  // the daemon or the datapath saw their start, or forgotten): delivered unread.
  std::uint64_t tcp_picked_up = 0;
  // DNS messages over TCP that answer no query sent on their connection (id and
  // question): delivered as they are, installing nothing.
  std::uint64_t tcp_unmatched = 0;
  std::uint64_t dropped_install_failed = 0;  // a map was full: the client retries
  std::uint64_t inject_failed = 0;
  std::uint64_t addresses_installed = 0;
  std::uint64_t addresses_evicted = 0;           // beyond --max-ips-per-name
  std::uint64_t names_evicted = 0;               // names of an address beyond --max-names-per-ip
  std::uint64_t workload_addresses_evicted = 0;  // beyond --max-ips-per-workload
  std::uint64_t rewritten = 0;                   // denied, capped or filtered before delivery
  std::uint64_t private_removed = 0;             // --block-private-answers
  std::uint64_t truncated_resolved = 0;          // truncated answers completed over TCP first
  std::uint64_t truncated_failed = 0;            // ... whose TCP lookup failed (delivered anyway)
  // ... delivered at once: --max-pending-lookups were under way already.
  std::uint64_t truncated_over_limit = 0;
  std::uint64_t max_hold_ns = 0;          // longest time from interception to re-injection
  std::uint64_t deferred = 0;             // waited for their workload's policy to be known
  std::uint64_t deferred_over_limit = 0;  // judged at once: the waiting room was full
  // --verify-answers: answers whose new addresses were not confirmed because
  // --max-pending-lookups were under way (those addresses are removed, not installed).
  std::uint64_t verify_over_limit = 0;
  // Answers to the daemon's own lookups (confirmations, pre-warming), delivered to it
  // unjudged.
  std::uint64_t own_lookups = 0;
};

// What became of one held answer, as `skouterctl monitor` shows it.
enum class AnswerOutcome { kAllowed, kDenied, kMalformed, kQuestionMismatch, kInstallFailed };
const char* toString(AnswerOutcome outcome);

// Told of every held answer's outcome, after its addresses are installed: the
// decision as judged (for kDenied its denied_addresses, never installed).
using AnswerReporter = std::function<void(std::uint32_t identity, const IpAddress& client,
                                          const AnswerDecision& decision, AnswerOutcome outcome)>;

// The datapath's record of the queries workloads sent (dns_queries), as answers are
// matched against it.
struct RecordedQueries {
  // The query `key`, while it is recorded.
  std::function<std::optional<skouter_dns_query_value>(const skouter_dns_query_key&)> find;
  // Forgets the query `key`; false when it was gone already (answered, or pushed out).
  std::function<bool(const skouter_dns_query_key&)> forget;
};

// How much one pipeline holds at once, whatever workloads and resolvers send.
struct AnswerPipelineLimits {
  TcpStreamLimits tcp;
  // Answers held while the daemon looks them up itself (--max-pending-lookups): truncated
  // ones completed over TCP, and with --verify-answers those with addresses to confirm.
  // Beyond it a truncated answer is delivered as it is, and an answer to confirm loses
  // its unconfirmed addresses.
  std::size_t max_pending_lookups = 256;
};

// Seconds from interception to re-injection; the buckets span a fast local resolver's
// reply being judged (~100 µs) to a truncated answer completed over TCP (seconds).
Histogram makeHoldTimeHistogram();

class AnswerPipeline {
 public:
  // The name policy of an identity, or nullptr when nothing polices it.
  using PolicyLookup = std::function<const policy::CompiledPolicy*(std::uint32_t identity)>;

  // `dns_client` (may be null) re-resolves truncated answers over TCP. `observed`
  // (may be null) is told what every allowed and denied answer said. The policy's
  // denyResponse overrides rewrite.deny_response; a policy in audit mode rewrites
  // no denied answer.
  AnswerPipeline(boost::asio::io_context& io, int ring_fd, maps::AllowedIpTable& table,
                 AnswerInjector& injector, PolicyLookup policy, TtlSettings ttl,
                 RewriteSettings rewrite, DnsClient* dns_client, ObservedNames* observed,
                 AnswerPipelineLimits limits = {});
  ~AnswerPipeline();
  AnswerPipeline(const AnswerPipeline&) = delete;
  AnswerPipeline& operator=(const AnswerPipeline&) = delete;

  void start();
  // Reads no more from the ring: what it holds stays there for the next reader (a
  // restarted daemon). Answers already read are still answered.
  void stopReading();
  // While `pending(identity)` holds, answers for that identity wait (at most
  // kMaxDeferredAnswers of them, kMaxDeferredBytes in all) instead of being judged: a
  // restarted daemon knows its pods' identities from the pinned maps before it knows
  // their policies.
  void deferWhile(std::function<bool(std::uint32_t identity)> pending);
  // Judges the answers that waited, in the order they came.
  void releaseDeferred();
  const AnswerStats& stats() const { return stats_; }
  const TcpAnswerStreams& tcpStreams() const { return tcp_streams_; }
  // Answers held while the daemon's own lookup for them is under way: a truncated
  // answer's over TCP, or with --verify-answers a confirmation.
  std::size_t pendingLookups() const { return pending_lookups_; }
  const AnswerPipelineLimits& limits() const { return limits_; }
  const Histogram& holdTimes() const { return hold_times_; }
  void reportTo(AnswerReporter reporter) { reporter_ = std::move(reporter); }
  // Where the records that are not answers go: a workload's first data held for the
  // server name check (SKOUTER_HELLO_FROM_HOST, SKOUTER_HELLO_FROM_POD), and its
  // queries held to be judged (SKOUTER_QUERY_FROM_HOST, SKOUTER_QUERY_FROM_POD).
  // Without a handler they are dropped (the workload sends them again).
  using HeldFrameHandler =
      std::function<void(const skouter_answer_header& header, std::span<const std::uint8_t> frame)>;
  void sendHellosTo(HeldFrameHandler handler) { hello_handler_ = std::move(handler); }
  void sendQueriesTo(HeldFrameHandler handler) { query_handler_ = std::move(handler); }
  // Where the queries the datapath recorded are: an answer installs only when it
  // answers one (over TCP, one sent on its connection), and then makes the datapath
  // forget it, so that no later answer to it installs anything. The datapath keeps a
  // query until then, so an answer that does not match never costs the client the
  // real one. Without them, no answer over TCP installs.
  void matchQueriesIn(RecordedQueries queries) { queries_ = std::move(queries); }
  // Counts every record read from the ring in `quota`, as it is read (before start()).
  void countReadsIn(maps::AnswerRingQuota& quota) { ring_quota_ = &quota; }
  // --verify-answers: an allowed answer's addresses that its workload was never given
  // for its name are confirmed with the daemon's own lookup to the resolver that
  // answered (AnswerVerifier) before anything is installed; those not confirmed are
  // removed from the answer (over TCP, where the stream's length cannot change, they
  // stay in it) and never installed.
  void verifyAnswers(VerifySettings settings);
  const AnswerVerifier* verifier() const { return verifier_.get(); }
  // Installs what an answer to the daemon's own query allows for `identity` (the
  // pre-warming of literal names at start). Returns the addresses installed.
  std::size_t installOwnAnswer(std::uint32_t identity, std::span<const std::uint8_t> dns);
  // Forgets TCP connections to resolvers that have been silent for `idle_ns`.
  void forgetIdleTcpStreams(std::uint64_t now_ns, std::uint64_t idle_ns);

 private:
  void handleRecord(std::span<const std::uint8_t> record);
  void handle(const skouter_answer_header& header, std::span<const std::uint8_t> frame);
  void handleUdpAnswer(const skouter_answer_header& header, std::span<const std::uint8_t> frame);
  // Whether `dns`, reassembled from `connection`, answers a query `identity` sent on it
  // (id and question); the query is then forgotten.
  bool answersATcpQuery(std::uint32_t identity, const HeldSegment& connection,
                        const DnsMessage& dns);
  void handleTcpSegment(const skouter_answer_header& header, std::span<const std::uint8_t> frame);
  // A held UDP answer and the view of its DNS message, kept together while its
  // addresses are confirmed.
  struct HeldUdpAnswer {
    explicit HeldUdpAnswer(HeldPacket held)
        : packet(std::move(held)), message(DnsMessage::read(packet.dns())) {}
    // A copy's view would read the original's bytes.
    HeldUdpAnswer(const HeldUdpAnswer&) = delete;
    HeldUdpAnswer& operator=(const HeldUdpAnswer&) = delete;
    HeldPacket packet;
    DnsMessage message;  // reads packet's bytes
  };
  // Rewrites, installs and delivers a UDP answer whose addresses `unconfirmed` stayed
  // unconfirmed (removed from it).
  void finishUdpAnswer(const skouter_answer_header& header, AnswerDecision& decision,
                       const HeldUdpAnswer& answer, std::span<const std::uint8_t> link_header,
                       const std::vector<IpAddress>& unconfirmed);
  // Whether a held answer goes to one of the daemon's own sockets: a confirmation's
  // answer (the verifier's), or one to the pre-warming of a policy's names or to the
  // completion of a truncated answer (dns_client's), handed to the daemon unjudged.
  // Judged as the host's, it would install for the host what a pod's policy allows.
  bool answersOwnLookup(const skouter_answer_header& header, std::uint16_t client_port) const;
  struct HeldTcpAnswers;
  // Installs the decisions of a held segment from `next` on, each once confirmed, then
  // delivers the segment.
  void installThenDeliver(const std::shared_ptr<HeldTcpAnswers>& held, std::size_t next);
  // With --verify-answers, confirms the addresses of `decision` that `identity` was
  // never given for its name, then calls `then` with those left unconfirmed (at once
  // when none needs confirming). `question`: the question's wire bytes as answered.
  using Confirmed =
      std::function<void(AnswerDecision decision, std::vector<IpAddress> unconfirmed)>;
  void confirmThen(std::uint32_t identity, const ResolverAddress& resolver,
                   std::vector<std::uint8_t> question, AnswerDecision decision, Confirmed then);
  AnswerDecision decide(std::uint32_t identity, const DnsMessage& dns) const;
  RewriteSettings rewriteSettingsFor(const policy::CompiledPolicy* policy) const;
  // Installs what the decision allows. False when an allowed address could not be
  // installed (a table is full).
  bool install(std::uint32_t identity, const AnswerDecision& decision);
  // install(), then the outcome to the reporter.
  bool installAndReport(std::uint32_t identity, const IpAddress& client,
                        const AnswerDecision& decision);
  // To a client on this host (SKOUTER_ANSWER_TO_HOST) the IP packet alone; to a
  // pod (SKOUTER_ANSWER_TO_POD) `link_header`, the frame's own bytes before the IP
  // header, then the IP packet, out of the interface pod_egress held it on. While a
  // turn of the ring is read, the answer waits in the outbox, sent with the others at
  // the end of the turn or when kAnswersPerSend are ready; otherwise it goes at once.
  void deliver(std::span<const std::uint8_t> ip_packet, const IpAddress& client,
               const skouter_answer_header& header, std::span<const std::uint8_t> link_header);
  // Sends what deliver() queued.
  void sendOutbox();
  void countInjectFailure(const IpAddress& client, const std::string& failure);
  // As deliver; a segment larger than the pod interface's MTU (merged by GRO or TSO
  // before pod_egress held it) goes as several.
  void deliverSegment(const HeldSegment& segment, const skouter_answer_header& header,
                      std::span<const std::uint8_t> link_header);
  // Delivers `answer` (a truncated allowed answer) once the complete answer, looked up
  // over TCP, is installed: a client that connects to an address missing from the
  // partial answer is not dropped.
  void completeThenDeliver(const skouter_answer_header& header, const AnswerDecision& decision,
                           std::vector<std::uint8_t> ip_packet, IpAddress client,
                           std::vector<std::uint8_t> link_header);

  boost::asio::io_context& io_;
  maps::AllowedIpTable& table_;
  AnswerInjector& injector_;
  PolicyLookup policy_;
  TtlSettings ttl_;
  RewriteSettings rewrite_;
  DnsClient* dns_client_;
  ObservedNames* observed_;
  AnswerPipelineLimits limits_;
  TcpAnswerStreams tcp_streams_;
  std::size_t pending_lookups_ = 0;
  AnswerStats stats_;
  Histogram hold_times_ = makeHoldTimeHistogram();
  AnswerReporter reporter_;
  HeldFrameHandler hello_handler_;
  HeldFrameHandler query_handler_;
  RecordedQueries queries_;
  maps::AnswerRingQuota* ring_quota_ = nullptr;
  std::unique_ptr<AnswerVerifier> verifier_;
  // Confirmations finishing after the pipeline is gone find this expired.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
  std::function<bool(std::uint32_t identity)> pending_;
  std::deque<std::vector<std::uint8_t>> deferred_;
  std::size_t deferred_bytes_ = 0;
  // Separate budgets, so a flood of denied lookups cannot hide a malformed answer.
  RateLimitedLog trouble_log_;
  RateLimitedLog decision_log_;
  // What a bound forgot or dropped.
  RateLimitedLog limit_log_;
  // Answers ready to send, with their client and when the datapath held them. One
  // sendmmsg for many: the daemon makes one system call, and is woken and preempted
  // by the clients it wakes once, not once per answer.
  std::vector<OutgoingAnswer> outbox_;
  std::vector<std::pair<IpAddress, std::uint64_t>> outbox_held_;
  bool reading_ring_ = false;
  // Last: its callback uses everything above.
  RingBufferReader ring_;
};

// Answers sent with one system call at most: the first of them waits for the others to
// be judged (a few microseconds each).
inline constexpr std::size_t kAnswersPerSend = 32;

// Beyond this many, or this many bytes (the answers ring's size), answers are judged at
// once rather than wait.
inline constexpr std::size_t kMaxDeferredAnswers = 4096;
inline constexpr std::size_t kMaxDeferredBytes = 8 * 1024 * 1024;

}  // namespace skouter::resolver
