// Reads the datapath's events ring buffer (flows policy denied: dropped, or let
// through by audit) on the daemon's Asio loop and hands each one on.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <span>

#include "daemon/audit_table.h"
#include "resolver/ring_buffer_reader.h"

namespace skouter::daemon {

class FlowEventReader {
 public:
  using Handler = std::function<void(const FlowEvent&)>;

  FlowEventReader(boost::asio::io_context& io, int ring_fd, Handler handler);

  void start() { ring_.start(); }
  std::uint64_t malformed() const { return malformed_; }

 private:
  void handleRecord(std::span<const std::uint8_t> record);

  Handler handler_;
  std::uint64_t malformed_ = 0;
  resolver::RingBufferReader ring_;
};

}  // namespace skouter::daemon
