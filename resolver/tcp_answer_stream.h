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
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
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

// What became of one held segment.
struct AcceptedSegment {
  // The DNS messages the segment completes, in stream order.
  std::vector<StreamMessage> messages;
  // False: the segment must be dropped, not delivered. Its stream was forgotten (the
  // bytes before it are gone, so nothing after them can be read at the right offset)
  // or it came after a gap with no room left to keep it: the resolver sends it again,
  // as after any loss.
  bool release = true;
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
  // How far from where a forgotten connection stood a segment must lie to be taken for
  // a new connection on the same addresses and ports (a new initial sequence number).
  static constexpr std::uint32_t kForgottenWindow = 1u << 24;

  explicit TcpAnswerStreams(TcpStreamLimits limits = {});

  // The first segment seen on a connection is taken to start a message. A forgotten
  // connection (by a limit, by silence, or after its FIN or RST) is remembered, as
  // many of them as max_streams, so that its later segments are dropped rather than
  // read from a wrong offset.
  AcceptedSegment accept(const HeldSegment& segment, std::uint64_t now_ns);

  // Forgets connections silent since before `cutoff_ns`; returns how many.
  std::size_t forgetIdle(std::uint64_t cutoff_ns);
  std::size_t size() const { return streams_.size(); }
  std::size_t bufferedBytes() const { return buffered_bytes_; }
  const TcpStreamLimits& limits() const { return limits_; }
  // Connections forgotten to stay within the limits.
  std::uint64_t forgottenForRoom() const { return forgotten_for_room_; }
  // Segments dropped: of forgotten connections, or after a gap with no room for them.
  std::uint64_t segmentsDropped() const { return segments_dropped_; }
  // Forgotten connections remembered, at most max_streams.
  std::size_t forgottenRemembered() const { return forgotten_.size(); }

 private:
  using Key = std::tuple<IpAddress, std::uint16_t, IpAddress, std::uint16_t>;
  struct Stream {
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
  // Where a forgotten connection stood, and which entry of forgotten_order_ it is.
  struct Forgotten {
    std::uint32_t next_sequence = 0;
    std::uint64_t generation = 0;
  };

  static void append(Stream& stream, std::uint32_t sequence, std::span<const std::uint8_t> data);
  // Moves the stream to the back of the list its bytes put it in.
  void touch(Streams::iterator stream);
  // The stream goes; its later segments are dropped while they lie near where it stood.
  void forget(Streams::iterator stream);
  // Forgets the least recently active streams keeping bytes, other than `keep`, until
  // `more` bytes fit; false when they cannot.
  bool makeRoom(std::size_t more, Streams::iterator keep);
  // A segment of a forgotten connection, which is then remembered as far as it goes.
  bool isOfForgotten(const HeldSegment& segment, std::uint64_t key_hash);
  std::uint64_t hashOf(const Key& key) const;

  TcpStreamLimits limits_;
  Streams streams_;
  // The keys of the streams keeping no bytes, and of those keeping some, each least
  // recently active first: room is made from the second alone, in time independent of
  // how many connections are quiet.
  std::list<const Key*> quiet_;
  std::list<const Key*> holding_;
  std::size_t buffered_bytes_ = 0;
  // Forgotten connections by a keyed hash of their addresses and ports (a collision
  // drops a segment: TCP sends it again), oldest first in forgotten_order_.
  std::uint64_t hash_key_;
  std::unordered_map<std::uint64_t, Forgotten> forgotten_;
  std::deque<std::pair<std::uint64_t, std::uint64_t>> forgotten_order_;  // hash, generation
  std::uint64_t generation_ = 0;
  std::uint64_t forgotten_for_room_ = 0;
  std::uint64_t segments_dropped_ = 0;
};

}  // namespace skouter::resolver
