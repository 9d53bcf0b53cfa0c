#include "resolver/answer_pipeline.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace skouter::resolver {

std::uint64_t monotonicNowNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(now.tv_nsec);
}

AnswerPipeline::AnswerPipeline(boost::asio::io_context& io, int ring_fd, AllowedIpTable& table,
                               AnswerInjector& injector, PolicyLookup policy, TtlSettings ttl)
    : table_(table), injector_(injector), policy_(std::move(policy)), ttl_(ttl), readiness_(io) {
  ring_ = ring_buffer__new(ring_fd, &AnswerPipeline::onRecord, this, nullptr);
  if (!ring_) {
    throw std::runtime_error(std::string("cannot open the answers ring buffer: ") +
                             std::strerror(errno));
  }
  // Asio closes the descriptor it is given; the ring buffer closes its own.
  readiness_.assign(dup(ring_buffer__epoll_fd(ring_)));
}

AnswerPipeline::~AnswerPipeline() {
  readiness_.close();
  ring_buffer__free(ring_);
}

void AnswerPipeline::start() {
  // Answers held while no daemon ran are still in the pinned ring: handle them now.
  ring_buffer__consume(ring_);
  waitForAnswers();
}

void AnswerPipeline::waitForAnswers() {
  readiness_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& error) {
                          if (error) return;
                          ring_buffer__consume(ring_);
                          waitForAnswers();
                        });
}

int AnswerPipeline::onRecord(void* self, void* data, std::size_t size) {
  auto* pipeline = static_cast<AnswerPipeline*>(self);
  if (size < sizeof(skouter_answer_header)) return 0;
  skouter_answer_header header;
  std::memcpy(&header, data, sizeof(header));
  const auto* bytes = static_cast<const std::uint8_t*>(data) + sizeof(header);
  const std::size_t available = size - sizeof(header);
  pipeline->handle(header, {bytes, std::min<std::size_t>(header.frame_len, available)});
  return 0;
}

void AnswerPipeline::handle(const skouter_answer_header& header,
                            std::span<const std::uint8_t> frame) {
  std::string error;
  auto held = extractHeldPacket(frame, header.l3_offset, header.l4_offset, error);
  if (!held) {
    // Nothing sensible can be delivered; the client's retry gets a fresh chance.
    ++stats_.malformed;
    spdlog::warn("dropped a held answer that is not a UDP datagram: {}", error);
    return;
  }

  if (completeUdpChecksum(*held) == UdpChecksum::kCorrupt) {
    ++stats_.malformed;
    spdlog::warn("dropped a held answer to {} with a wrong UDP checksum", held->client.toString());
    return;
  }

  const std::uint64_t now = monotonicNowNs();
  const auto* policy = policy_(header.identity);
  static const policy::NameMatcher kNothingAllowed;
  const auto decision =
      decideAnswer(held->dns(), policy ? policy->names : kNothingAllowed, now, ttl_);

  switch (decision.verdict) {
    case AnswerVerdict::kAllowed: {
      const auto result =
          table_.install(header.identity, decision.addresses, decision.question, *decision.rule);
      stats_.addresses_installed += result.installed;
      if (result.failed > 0) {
        ++stats_.dropped_install_failed;
        spdlog::error(
            "allowed-IP table full: dropped the answer for {} ({} of {} addresses "
            "not installed); the client will retry",
            decision.question, result.failed, decision.addresses.size());
        return;
      }
      ++stats_.allowed;
      spdlog::debug("allowed {} for identity {}: {} address(es)", decision.question,
                    header.identity, decision.addresses.size());
      break;
    }
    case AnswerVerdict::kDenied:
      ++stats_.denied;
      spdlog::info("denied name {} (type {}) for identity {}", decision.question,
                   decision.question_type, header.identity);
      break;
    case AnswerVerdict::kMalformed:
      ++stats_.malformed;
      spdlog::debug("answer not understood ({}); delivered without installing", decision.error);
      break;
  }

  if (auto failure = injector_.deliverToHost(held->ip_packet, held->client); !failure.empty()) {
    ++stats_.inject_failed;
    spdlog::warn("cannot re-inject the answer to {}: {}", held->client.toString(), failure);
    return;
  }
  stats_.max_hold_ns = std::max(stats_.max_hold_ns, monotonicNowNs() - header.received_ns);
}

}  // namespace skouter::resolver
