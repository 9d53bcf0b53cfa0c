// DNS over TCP from a trusted resolver. The datapath holds every segment with data on
// a connection a policed workload opened; this reassembles each connection's stream
// into DNS messages (RFC 1035 4.2.2: a two-byte length, then the message).
//
// A held segment may be released as soon as the messages it completes are decided
// and installed: bytes before a gap are useless to the client until the gap is
// filled, and the segment filling it is held until everything it makes contiguous is
// processed. So no address reaches the client before it is installed, and segments
// go back to the client unchanged, keeping its TCP stream valid.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "common/ip_address.h"

namespace skouter::resolver {

// A TCP segment of a held frame, ready for re-injection.
struct HeldSegment {
  std::vector<std::uint8_t> ip_packet;  // IP header to the end of the datagram
  IpAddress client;                     // destination
  IpAddress server;                     // source: the resolver
  std::uint16_t client_port = 0;
  std::uint16_t server_port = 0;
  std::uint32_t sequence = 0;
  std::uint8_t flags = 0;
  std::size_t tcp_offset = 0;
  std::size_t payload_offset = 0;
  std::size_t payload_length = 0;

  std::span<const std::uint8_t> payload() const {
    return std::span<const std::uint8_t>(ip_packet).subspan(payload_offset, payload_length);
  }
};

// Returns nullopt with `error` set when the frame is not a well-formed IPv4/IPv6 TCP
// segment at the offsets the datapath reported.
std::optional<HeldSegment> extractHeldSegment(std::span<const std::uint8_t> frame,
                                              std::uint32_t l3_offset, std::uint32_t l4_offset,
                                              std::string& error);

enum class TcpChecksum { kValid, kCompleted, kCorrupt };

// As completeUdpChecksum: a checksum left for offload is completed; a wrong one is
// reported corrupt.
TcpChecksum completeTcpChecksum(HeldSegment& segment);

// Writes the TCP checksum of a segment whose bytes the daemon changed.
void recomputeTcpChecksum(HeldSegment& segment);

// A DNS message reassembled from a stream (without its length prefix).
struct StreamMessage {
  std::vector<std::uint8_t> dns;
  // Where the message lies in the payload of the segment that completed it, when the
  // whole of it does: only then can it be edited in place before release.
  std::optional<std::size_t> offset_in_segment;
};

class TcpAnswerStreams {
 public:
  // Bytes buffered out of order per connection before later ones are ignored; a
  // connection the limit cuts short yields malformed messages, never a crash.
  static constexpr std::size_t kMaxOutOfOrderBytes = 256 * 1024;

  // The DNS messages this segment completes, in stream order. The first segment
  // seen on a connection is taken to start a message.
  std::vector<StreamMessage> accept(const HeldSegment& segment, std::uint64_t now_ns);

  // Forgets connections silent since before `cutoff_ns`; returns how many.
  std::size_t forgetIdle(std::uint64_t cutoff_ns);
  std::size_t size() const { return streams_.size(); }

 private:
  using Key = std::tuple<IpAddress, std::uint16_t, IpAddress, std::uint16_t>;
  struct Stream {
    std::uint32_t next_sequence = 0;
    std::vector<std::uint8_t> buffer;  // in order, not yet a whole message
    std::map<std::uint32_t, std::vector<std::uint8_t>> out_of_order;
    std::size_t out_of_order_bytes = 0;
    std::uint64_t last_seen_ns = 0;
  };

  static void append(Stream& stream, std::uint32_t sequence, std::span<const std::uint8_t> data);

  std::map<Key, Stream> streams_;
};

}  // namespace skouter::resolver
