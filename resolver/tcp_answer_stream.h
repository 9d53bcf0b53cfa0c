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
#include <list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/ip_address.h"
#include "resolver/ip_frame.h"

namespace skouter::resolver {

// A DNS message reassembled from a stream (without its length prefix).
struct StreamMessage {
  std::vector<std::uint8_t> dns;
  // Where the message lies in the payload of the segment that completed it, when the
  // whole of it does: only then can it be edited in place before release.
  std::optional<std::size_t> offset_in_segment;
};

// What became of one held segment.
struct AcceptedSegment {
  // The DNS messages the segment completes, in stream order.
  std::vector<StreamMessage> messages;
  // False: the segment must be dropped, not delivered: it came after a gap with no
  // room left to keep it, and the resolver sends it again, as after any loss.
  bool release = true;
  // Of a connection not followed from its first byte: delivered unread, so nothing in
  // it installs anything.
  bool picked_up = false;
};

// How much the daemon keeps for DNS over TCP, whatever workloads and resolvers send.
struct TcpStreamLimits {
  // Connections followed at once (--max-tcp-streams); a new one beyond them makes the
  // least recently active one forgotten.
  std::size_t max_streams = 65536;
  // Bytes kept across every connection (--tcp-buffer-size): the unfinished message of
  // each, and what came after a gap. Beyond them the least recently active connections
  // that keep bytes are forgotten first.
  std::size_t max_buffered_bytes = 16 * 1024 * 1024;
};

class TcpAnswerStreams {
 public:
  // Bytes kept after a gap in one connection; a segment beyond them is dropped.
  static constexpr std::size_t kMaxOutOfOrderBytes = 256 * 1024;
  // What keeping one such segment costs besides its bytes, counted against both limits
  // so that many tiny segments cost what they take.
  static constexpr std::size_t kOutOfOrderEntryCost = 96;

  explicit TcpAnswerStreams(TcpStreamLimits limits = {});

  // A connection is read only from its first byte of data (segment.stream_start): any
  // other segment of a connection not followed (its start unseen, or forgotten by a
  // limit, by silence, or after its FIN or RST) is picked up mid-stream, where no one
  // knows which byte starts a message, and passes unread.
  AcceptedSegment accept(const HeldSegment& segment, std::uint64_t now_ns);

  // Forgets connections silent since before `cutoff_ns`; returns how many.
  std::size_t forgetIdle(std::uint64_t cutoff_ns);
  std::size_t size() const { return streams_.size(); }
  std::size_t bufferedBytes() const { return buffered_bytes_; }
  const TcpStreamLimits& limits() const { return limits_; }
  // Connections forgotten to stay within the limits.
  std::uint64_t forgottenForRoom() const { return forgotten_for_room_; }
  // Segments dropped after a gap with no room for them.
  std::uint64_t segmentsDropped() const { return segments_dropped_; }
  // Segments of connections not followed from their first byte, passed unread.
  std::uint64_t pickedUp() const { return picked_up_; }

 private:
  using Key = std::tuple<IpAddress, std::uint16_t, IpAddress, std::uint16_t>;
  struct Stream {
    std::optional<std::uint32_t> first_sequence;  // the connection's stream_start
    std::uint32_t next_sequence = 0;
    std::vector<std::uint8_t> buffer;  // in order, not yet a whole message
    std::map<std::uint32_t, std::vector<std::uint8_t>> out_of_order;
    std::size_t out_of_order_bytes = 0;  // each segment's bytes and kOutOfOrderEntryCost
    std::uint64_t last_seen_ns = 0;
    bool holding = false;  // in holding_, else in quiet_
    std::list<const Key*>::iterator position;
    // What the stream holds on the heap, as counted against max_buffered_bytes.
    std::size_t bytes() const { return buffer.capacity() + out_of_order_bytes; }
  };
  using Streams = std::map<Key, Stream>;

  static void append(Stream& stream, std::uint32_t sequence, std::span<const std::uint8_t> data);
  // Moves the stream to the back of the list its bytes put it in.
  void touch(Streams::iterator stream);
  // The stream goes; its later segments are picked up mid-stream.
  void forget(Streams::iterator stream);
  // Forgets the least recently active streams keeping bytes, other than `keep`, until
  // `more` bytes fit; false when they cannot.
  bool makeRoom(std::size_t more, Streams::iterator keep);

  TcpStreamLimits limits_;
  Streams streams_;
  // The keys of the streams keeping no bytes, and of those keeping some, each least
  // recently active first: room is made from the second alone, in time independent of
  // how many connections are quiet.
  std::list<const Key*> quiet_;
  std::list<const Key*> holding_;
  std::size_t buffered_bytes_ = 0;
  std::uint64_t forgotten_for_room_ = 0;
  std::uint64_t segments_dropped_ = 0;
  std::uint64_t picked_up_ = 0;
};

}  // namespace skouter::resolver
