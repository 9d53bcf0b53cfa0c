// Reads the datapath's events ring buffer (flows policy denied: dropped, or let
// through by audit) on the daemon's Asio loop and hands each one on.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>

#include "daemon/audit_table.h"

struct ring_buffer;

namespace skouter::daemon {

class FlowEventReader {
 public:
  using Handler = std::function<void(const DeniedFlow&)>;

  FlowEventReader(boost::asio::io_context& io, int ring_fd, Handler handler);
  ~FlowEventReader();
  FlowEventReader(const FlowEventReader&) = delete;
  FlowEventReader& operator=(const FlowEventReader&) = delete;

  void start();
  std::uint64_t malformed() const { return malformed_; }

 private:
  static int onRecord(void* self, void* data, std::size_t size);
  void waitForEvents();

  Handler handler_;
  ring_buffer* ring_ = nullptr;
  boost::asio::posix::stream_descriptor readiness_;
  std::uint64_t malformed_ = 0;
};

}  // namespace skouter::daemon
