// Reads the answers the datapath holds, decides each one, installs the addresses of
// allowed answers and only then re-injects the answer. Runs on the daemon's Asio
// event loop; every step for one answer happens before the next is read.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <span>

#include "bpf/skouter_abi.h"
#include "policy/compiled_policy.h"
#include "resolver/allowed_ip_table.h"
#include "resolver/answer_handler.h"
#include "resolver/answer_injector.h"

struct ring_buffer;

namespace skouter::resolver {

struct AnswerStats {
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::uint64_t malformed = 0;
  std::uint64_t dropped_install_failed = 0;  // a map was full: the client retries
  std::uint64_t inject_failed = 0;
  std::uint64_t addresses_installed = 0;
  std::uint64_t max_hold_ns = 0;  // longest time from interception to re-injection
};

class AnswerPipeline {
 public:
  // The name policy of an identity, or nullptr when nothing polices it.
  using PolicyLookup = std::function<const policy::CompiledPolicy*(std::uint32_t identity)>;

  AnswerPipeline(boost::asio::io_context& io, int ring_fd, AllowedIpTable& table,
                 AnswerInjector& injector, PolicyLookup policy, TtlSettings ttl);
  ~AnswerPipeline();
  AnswerPipeline(const AnswerPipeline&) = delete;
  AnswerPipeline& operator=(const AnswerPipeline&) = delete;

  void start();
  const AnswerStats& stats() const { return stats_; }

 private:
  static int onRecord(void* self, void* data, std::size_t size);
  void handle(const skouter_answer_header& header, std::span<const std::uint8_t> frame);
  void waitForAnswers();

  AllowedIpTable& table_;
  AnswerInjector& injector_;
  PolicyLookup policy_;
  TtlSettings ttl_;
  ring_buffer* ring_ = nullptr;
  boost::asio::posix::stream_descriptor readiness_;
  AnswerStats stats_;
};

std::uint64_t monotonicNowNs();

}  // namespace skouter::resolver
