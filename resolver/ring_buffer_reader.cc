#include "resolver/ring_buffer_reader.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace skouter::resolver {

RingBufferReader::RingBufferReader(boost::asio::io_context& io, int ring_fd,
                                   const std::string& what, Handler handler,
                                   std::function<void()> after_turn)
    : handler_(std::move(handler)), after_turn_(std::move(after_turn)), readiness_(io) {
  ring_ = ring_buffer__new(ring_fd, &RingBufferReader::onRecord, this, nullptr);
  if (!ring_) {
    throw std::runtime_error("cannot open the " + what + " ring buffer: " + std::strerror(errno));
  }
  // Asio closes the descriptor it is given; the ring buffer closes its own.
  readiness_.assign(dup(ring_buffer__epoll_fd(ring_)));
}

RingBufferReader::~RingBufferReader() {
  readiness_.close();
  ring_buffer__free(ring_);
}

void RingBufferReader::start() { waitForRecords(); }

void RingBufferReader::consume() {
  handled_this_turn_ = 0;
  ring_buffer__consume(ring_);
  if (after_turn_) after_turn_();
}

void RingBufferReader::waitForRecords() {
  // Level-triggered: records left by a turn that stopped early make the descriptor
  // ready again at once, after whatever else was ready meanwhile.
  readiness_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& error) {
                          if (error) return;
                          consume();
                          waitForRecords();
                        });
}

int RingBufferReader::onRecord(void* self, void* data, std::size_t size) {
  auto* reader = static_cast<RingBufferReader*>(self);
  reader->handler_({static_cast<const std::uint8_t*>(data), size});
  // libbpf consumes the record whose callback stops the turn, and reads no further.
  return ++reader->handled_this_turn_ < kRecordsPerTurn ? 0 : -EAGAIN;
}

}  // namespace skouter::resolver
