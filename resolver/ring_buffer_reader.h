// A BPF ring buffer read on an Asio event loop: each record is handed to the callback
// as it arrives, on the loop's thread. The answer path and the deny/audit events use
// one each.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

struct ring_buffer;

namespace skouter::resolver {

class RingBufferReader {
 public:
  using Handler = std::function<void(std::span<const std::uint8_t> record)>;

  // `what` names the ring in errors; `after_turn` (may be empty) is called once the
  // records of a turn are handled. Throws std::runtime_error when libbpf cannot open
  // the ring.
  RingBufferReader(boost::asio::io_context& io, int ring_fd, const std::string& what,
                   Handler handler, std::function<void()> after_turn = {});
  ~RingBufferReader();
  RingBufferReader(const RingBufferReader&) = delete;
  RingBufferReader& operator=(const RingBufferReader&) = delete;

  // Handles what the ring already holds (records left while no daemon ran), then
  // every record as it comes.
  void start();

  // Records handled in one turn of the event loop at most: under a sustained flood
  // the heartbeat, the timers and the admin API still get their turns between.
  static constexpr std::size_t kRecordsPerTurn = 256;

 private:
  static int onRecord(void* self, void* data, std::size_t size);
  void waitForRecords();
  void consume();

  Handler handler_;
  std::function<void()> after_turn_;
  std::size_t handled_this_turn_ = 0;
  ring_buffer* ring_ = nullptr;
  boost::asio::posix::stream_descriptor readiness_;
};

}  // namespace skouter::resolver
