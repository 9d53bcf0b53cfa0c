#include "daemon/flow_event_reader.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "bpf/skouter_abi.h"

namespace skouter::daemon {
namespace {

IpAddress addressOf(std::uint8_t family, const std::uint8_t* bytes) {
  return family == SKOUTER_FAMILY_IPV4 ? IpAddress::fromV4(bytes) : IpAddress::fromV6(bytes);
}

}  // namespace

FlowEventReader::FlowEventReader(boost::asio::io_context& io, int ring_fd, Handler handler)
    : handler_(std::move(handler)), readiness_(io) {
  ring_ = ring_buffer__new(ring_fd, &FlowEventReader::onRecord, this, nullptr);
  if (!ring_) {
    throw std::runtime_error(std::string("cannot open the events ring buffer: ") +
                             std::strerror(errno));
  }
  // Asio closes the descriptor it is given; the ring buffer closes its own.
  readiness_.assign(dup(ring_buffer__epoll_fd(ring_)));
}

FlowEventReader::~FlowEventReader() {
  readiness_.close();
  ring_buffer__free(ring_);
}

void FlowEventReader::start() {
  ring_buffer__consume(ring_);
  waitForEvents();
}

void FlowEventReader::waitForEvents() {
  readiness_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& error) {
                          if (error) return;
                          ring_buffer__consume(ring_);
                          waitForEvents();
                        });
}

int FlowEventReader::onRecord(void* self, void* data, std::size_t size) {
  auto* reader = static_cast<FlowEventReader*>(self);
  skouter_flow_event event;
  if (size < sizeof(event)) {
    ++reader->malformed_;
    return 0;
  }
  std::memcpy(&event, data, sizeof(event));
  if ((event.family != SKOUTER_FAMILY_IPV4 && event.family != SKOUTER_FAMILY_IPV6) ||
      (event.verdict != SKOUTER_EVENT_DENIED && event.verdict != SKOUTER_EVENT_AUDITED)) {
    ++reader->malformed_;
    return 0;
  }
  DeniedFlow flow;
  flow.identity = event.identity;
  flow.source = addressOf(event.family, event.saddr);
  flow.destination = addressOf(event.family, event.daddr);
  flow.protocol = event.protocol;
  flow.port = ntohs(event.dport);
  flow.verdict =
      event.verdict == SKOUTER_EVENT_AUDITED ? AuditVerdict::kAudited : AuditVerdict::kDropped;
  reader->handler_(flow);
  return 0;
}

}  // namespace skouter::daemon
