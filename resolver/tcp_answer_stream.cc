#include "resolver/tcp_answer_stream.h"

#include <algorithm>

#include "resolver/dns_message.h"

namespace skouter::resolver {
namespace {

// Sequence-space distance from `from` to `to` (RFC 793 arithmetic, modulo 2^32).
std::int32_t distance(std::uint32_t from, std::uint32_t to) {
  return static_cast<std::int32_t>(to - from);
}

}  // namespace

TcpAnswerStreams::TcpAnswerStreams(TcpStreamLimits limits) : limits_(limits) {}

void TcpAnswerStreams::append(Stream& stream, std::uint32_t sequence,
                              std::span<const std::uint8_t> data) {
  const std::int32_t behind = distance(sequence, stream.next_sequence);
  if (behind > 0) {
    // Partly or wholly seen before (a retransmission): keep only what is new.
    if (static_cast<std::size_t>(behind) >= data.size()) return;
    data = data.subspan(static_cast<std::size_t>(behind));
  }
  stream.buffer.insert(stream.buffer.end(), data.begin(), data.end());
  stream.next_sequence += static_cast<std::uint32_t>(data.size());
}

void TcpAnswerStreams::touch(Streams::iterator stream) {
  Stream& state = stream->second;
  auto& from = state.holding ? holding_ : quiet_;
  state.holding = state.bytes() > 0;
  auto& to = state.holding ? holding_ : quiet_;
  to.splice(to.end(), from, state.position);
}

void TcpAnswerStreams::forget(Streams::iterator stream) {
  buffered_bytes_ -= stream->second.bytes();
  (stream->second.holding ? holding_ : quiet_).erase(stream->second.position);
  streams_.erase(stream);
}

bool TcpAnswerStreams::makeRoom(std::size_t more, Streams::iterator keep) {
  while (buffered_bytes_ + more > limits_.max_buffered_bytes && !holding_.empty()) {
    const auto oldest = streams_.find(*holding_.front());
    if (oldest == keep) break;  // touched last, so every other one is gone already
    forget(oldest);
    ++forgotten_for_room_;
  }
  return buffered_bytes_ + more <= limits_.max_buffered_bytes;
}

AcceptedSegment TcpAnswerStreams::accept(const HeldSegment& segment, std::uint64_t now_ns) {
  const Key key{segment.client, segment.client_port, segment.server, segment.server_port};
  auto found = streams_.find(key);
  if (found != streams_.end() && found->second.first_sequence != segment.stream_start) {
    // A new connection on the same addresses and ports (its SYN-ACK told another
    // initial sequence number), or one whose start is unknown.
    forget(found);
    found = streams_.end();
  }
  if (found == streams_.end()) {
    if (!segment.stream_start || segment.sequence != *segment.stream_start) {
      // Not from its first byte: where its messages begin is unknown, and any byte
      // could be taken for a length. It passes unread.
      ++picked_up_;
      return {{}, true, true};
    }
    if (streams_.size() >= limits_.max_streams) {
      // The least recently active connection, quiet or keeping bytes.
      auto oldest = streams_.end();
      for (const auto* streams : {&quiet_, &holding_}) {
        if (streams->empty()) continue;
        const auto front = streams_.find(*streams->front());
        if (oldest == streams_.end() || front->second.last_seen_ns < oldest->second.last_seen_ns) {
          oldest = front;
        }
      }
      if (oldest != streams_.end()) {
        forget(oldest);
        ++forgotten_for_room_;
      }
    }
    found = streams_.try_emplace(key).first;
    found->second.first_sequence = segment.stream_start;
    found->second.next_sequence = segment.sequence;
    found->second.position = quiet_.insert(quiet_.end(), &found->first);
  }
  Stream& stream = found->second;
  stream.last_seen_ns = now_ns;
  touch(found);

  const auto data = segment.payload();
  if (distance(stream.next_sequence, segment.sequence) > 0) {
    // After a gap: nothing completes until the gap is filled. Beyond the room for it,
    // the segment is lost rather than kept: TCP sends it again once the gap is filled.
    if (stream.out_of_order.contains(segment.sequence)) return {};
    const std::size_t cost = data.size() + kOutOfOrderEntryCost;
    if (stream.out_of_order_bytes + cost > kMaxOutOfOrderBytes || !makeRoom(cost, found)) {
      ++segments_dropped_;
      return {{}, false};
    }
    stream.out_of_order.emplace(segment.sequence,
                                std::vector<std::uint8_t>(data.begin(), data.end()));
    stream.out_of_order_bytes += cost;
    buffered_bytes_ += cost;
    touch(found);
    return {};
  }

  const std::int32_t behind = distance(segment.sequence, stream.next_sequence);
  const std::size_t fresh =
      data.size() - std::min<std::size_t>(data.size(), behind > 0 ? behind : 0);
  const std::size_t capacity = stream.buffer.capacity();
  const std::size_t needed = stream.buffer.size() + fresh;
  std::size_t grown = std::max(needed, capacity);
  if (needed > capacity && stream.buffer.size() >= 2) {
    // Room for the whole unfinished message at once, its length being known: a message
    // in many small segments is copied once, not once per segment. The whole
    // allocation counts against the room.
    grown = std::max(needed, 2 + std::size_t{read16(stream.buffer, 0)});
  }
  if (!makeRoom(grown - capacity, found)) {
    // Only this connection keeps bytes and they do not fit: it cannot be read on.
    forget(found);
    ++forgotten_for_room_;
    ++segments_dropped_;
    return {{}, false};
  }
  const std::size_t before = stream.bytes();
  stream.buffer.reserve(grown);
  append(stream, segment.sequence, data);
  // Segments that arrived early and are now contiguous.
  while (!stream.out_of_order.empty()) {
    auto next = stream.out_of_order.begin();
    // The map orders by raw number; a wrapped sequence space may put a later one first.
    for (auto candidate = stream.out_of_order.begin(); candidate != stream.out_of_order.end();
         ++candidate) {
      if (distance(candidate->first, next->first) > 0) next = candidate;
    }
    if (distance(stream.next_sequence, next->first) > 0) break;
    stream.out_of_order_bytes -= next->second.size() + kOutOfOrderEntryCost;
    append(stream, next->first, next->second);
    stream.out_of_order.erase(next);
  }

  AcceptedSegment accepted;
  // The sequence number of the buffer's first byte.
  const std::uint32_t buffer_start =
      stream.next_sequence - static_cast<std::uint32_t>(stream.buffer.size());
  const std::uint32_t segment_end =
      segment.sequence + static_cast<std::uint32_t>(segment.payload_length);
  std::size_t consumed = 0;
  while (stream.buffer.size() - consumed >= 2) {
    const std::size_t length = read16(stream.buffer, consumed);
    if (stream.buffer.size() - consumed - 2 < length) break;
    const auto begin = stream.buffer.begin() + static_cast<std::ptrdiff_t>(consumed + 2);
    StreamMessage message{{begin, begin + static_cast<std::ptrdiff_t>(length)}, std::nullopt};
    const std::uint32_t message_start = buffer_start + static_cast<std::uint32_t>(consumed);
    const std::uint32_t message_end = message_start + static_cast<std::uint32_t>(2 + length);
    if (distance(segment.sequence, message_start) >= 0 && distance(message_end, segment_end) >= 0) {
      message.offset_in_segment =
          static_cast<std::size_t>(distance(segment.sequence, message_start)) + 2;
    }
    accepted.messages.push_back(std::move(message));
    consumed += 2 + length;
  }
  stream.buffer.erase(stream.buffer.begin(),
                      stream.buffer.begin() + static_cast<std::ptrdiff_t>(consumed));
  // What is left is at most an unfinished message: it keeps no more than it needs.
  if (stream.buffer.capacity() > 2 * stream.buffer.size()) stream.buffer.shrink_to_fit();
  buffered_bytes_ = buffered_bytes_ - before + stream.bytes();
  if (segment.flags & (kTcpFin | kTcpRst)) {
    forget(found);
  } else {
    touch(found);
  }
  return accepted;
}

std::size_t TcpAnswerStreams::forgetIdle(std::uint64_t cutoff_ns) {
  std::size_t forgotten = 0;
  for (auto stream = streams_.begin(); stream != streams_.end();) {
    const auto next = std::next(stream);
    if (stream->second.last_seen_ns < cutoff_ns) {
      forget(stream);
      ++forgotten;
    }
    stream = next;
  }
  return forgotten;
}

}  // namespace skouter::resolver
