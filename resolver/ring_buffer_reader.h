// A BPF ring buffer read on an Asio event loop: each record is handed to a callback
// as it arrives, on the loop's thread. The answer path and the deny/audit events use
// one each.
//
// The reader maps the ring itself rather than going through libbpf's ring_buffer, so
// that it can hand a whole turn's records over before any of them is handled and
// release their space only after the last: the answers' ring quota counts a turn's
// reads with one map write per workload, and still before the ring can reuse them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace skouter::resolver {

using RingRecord = std::span<const std::uint8_t>;

struct RingHandlers {
  // The records of a turn, before the first is handled and while the ring still holds
  // them (a daemon killed meanwhile has seen them here and not yet freed them). May be
  // empty.
  std::function<void(const std::vector<RingRecord>& records)> before_turn;
  // Each record, in order; it is valid during the call only.
  std::function<void(RingRecord record)> record;
  // Once the turn's records are handled, before their space is freed. May be empty.
  std::function<void()> after_turn;
};

class RingBufferReader {
 public:
  // `what` names the ring in errors. Throws std::runtime_error when the ring cannot be
  // mapped.
  RingBufferReader(boost::asio::io_context& io, int ring_fd, const std::string& what,
                   RingHandlers handlers);
  ~RingBufferReader();
  RingBufferReader(const RingBufferReader&) = delete;
  RingBufferReader& operator=(const RingBufferReader&) = delete;

  // Handles what the ring already holds (records left while no daemon ran), then
  // every record as it comes.
  void start();
  // Handles no more records; those in the ring stay there, for the next reader.
  void stop();

  // Records handled in one turn of the event loop at most: under a sustained flood
  // the heartbeat, the timers and the admin API still get their turns between.
  static constexpr std::size_t kRecordsPerTurn = 256;

 private:
  void waitForRecords();
  void consume();

  RingHandlers handlers_;
  std::size_t page_size_ = 0;
  std::size_t data_size_ = 0;  // the ring's size, a power of two
  // The kernel's positions, and the data (mapped twice over, so that a record that
  // wraps around the end reads as one span).
  void* consumer_page_ = nullptr;
  void* producer_pages_ = nullptr;
  std::vector<RingRecord> turn_;
  bool stopped_ = false;
  boost::asio::posix::stream_descriptor readiness_;
};

}  // namespace skouter::resolver
