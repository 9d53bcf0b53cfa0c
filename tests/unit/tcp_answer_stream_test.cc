// DNS over TCP from a trusted resolver: held segments read back out of their frames,
// their checksums completed, and each connection's stream reassembled into the DNS
// messages (captured answers from tests/unit/data/answers) it carries.
#include "resolver/tcp_answer_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/unit/answer_test_util.h"

namespace skouter::resolver {

void PrintTo(TcpChecksum checksum, std::ostream* out) {
  switch (checksum) {
    case TcpChecksum::kValid:
      *out << "kValid";
      return;
    case TcpChecksum::kCompleted:
      *out << "kCompleted";
      return;
    case TcpChecksum::kCorrupt:
      *out << "kCorrupt";
      return;
  }
  *out << "TcpChecksum(" << static_cast<int>(checksum) << ")";
}

namespace {

using skouter::testing::Bytes;
using skouter::testing::ip;
using skouter::testing::onesComplementSum;
using skouter::testing::put16;
using skouter::testing::readAnswer;
using Messages = std::vector<Bytes>;

constexpr std::uint8_t kFin = 0x01;
constexpr std::uint8_t kRst = 0x04;
constexpr std::uint8_t kPsh = 0x08;
constexpr std::uint8_t kAck = 0x10;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kNextHeaderDestinationOptions = 60;
constexpr std::uint16_t kClientPort = 41000;

enum class ChecksumField { kCorrect, kPartial, kWrong };

struct TcpFrameSpec {
  IpAddress server{};  // the resolver: the source
  IpAddress client{};
  Bytes payload{};
  std::uint32_t sequence = 1;
  std::uint8_t flags = kPsh | kAck;
  std::uint16_t server_port = 53;
  std::uint16_t client_port = kClientPort;
  Bytes tcp_options{};  // a whole number of words
  ChecksumField checksum = ChecksumField::kCorrect;
  bool vlan_tag = false;
  std::size_t ipv4_option_words = 0;
  bool ipv6_destination_options = false;  // an 8-byte extension header before TCP
  std::size_t padding = 0;                // bytes after the IP datagram
};

struct TcpFrame {
  Bytes bytes;
  std::uint32_t l3_offset = 0;
  std::uint32_t l4_offset = 0;
  Bytes ip_packet;  // l3_offset to the end of the datagram
};

void put32(Bytes& bytes, std::size_t at, std::uint32_t value) {
  put16(bytes, at, static_cast<std::uint16_t>(value >> 16));
  put16(bytes, at + 2, static_cast<std::uint16_t>(value & 0xffff));
}

// The pseudo-header of RFC 793 / RFC 8200 8.1 for a TCP segment of `length` bytes.
Bytes tcpPseudoHeader(const IpAddress& source, const IpAddress& destination, std::size_t length) {
  Bytes pseudo(source.bytes.begin(), source.bytes.begin() + source.size());
  pseudo.insert(pseudo.end(), destination.bytes.begin(),
                destination.bytes.begin() + destination.size());
  if (source.family == IpFamily::kV4) {
    pseudo.insert(pseudo.end(), {0, kProtoTcp, static_cast<std::uint8_t>(length >> 8),
                                 static_cast<std::uint8_t>(length & 0xff)});
  } else {
    pseudo.insert(pseudo.end(), {0, 0, static_cast<std::uint8_t>(length >> 8),
                                 static_cast<std::uint8_t>(length & 0xff), 0, 0, 0, kProtoTcp});
  }
  return pseudo;
}

// What a receiver checks: pseudo-header and segment, checksum included, sum to 0xffff.
bool tcpChecksumVerifies(const IpAddress& source, const IpAddress& destination,
                         const Bytes& segment) {
  Bytes all = tcpPseudoHeader(source, destination, segment.size());
  all.insert(all.end(), segment.begin(), segment.end());
  return onesComplementSum(all) == 0xffff;
}

// An Ethernet frame carrying a TCP segment from the resolver, consistent in every
// length field.
TcpFrame buildTcpFrame(const TcpFrameSpec& spec) {
  const bool v6 = spec.server.family == IpFamily::kV6;
  TcpFrame frame;
  Bytes& b = frame.bytes;
  b = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};  // destination, source MAC
  if (spec.vlan_tag) b.insert(b.end(), {0x81, 0x00, 0x00, 0x2a});
  b.insert(b.end(), {static_cast<std::uint8_t>(v6 ? 0x86 : 0x08),
                     static_cast<std::uint8_t>(v6 ? 0xdd : 0x00)});
  frame.l3_offset = static_cast<std::uint32_t>(b.size());

  Bytes tcp(20, 0);
  put16(tcp, 0, spec.server_port);
  put16(tcp, 2, spec.client_port);
  put32(tcp, 4, spec.sequence);
  put32(tcp, 8, 0x00abcdef);  // acknowledgement
  tcp[12] = static_cast<std::uint8_t>((5 + spec.tcp_options.size() / 4) << 4);
  tcp[13] = spec.flags;
  put16(tcp, 14, 64240);  // window
  tcp.insert(tcp.end(), spec.tcp_options.begin(), spec.tcp_options.end());
  tcp.insert(tcp.end(), spec.payload.begin(), spec.payload.end());
  Bytes pseudo = tcpPseudoHeader(spec.server, spec.client, tcp.size());
  switch (spec.checksum) {
    case ChecksumField::kCorrect:
    case ChecksumField::kWrong: {
      Bytes all = pseudo;
      all.insert(all.end(), tcp.begin(), tcp.end());
      std::uint16_t checksum = static_cast<std::uint16_t>(~onesComplementSum(all));
      if (spec.checksum == ChecksumField::kWrong) checksum ^= 0x0101;
      put16(tcp, 16, checksum);
      break;
    }
    case ChecksumField::kPartial:
      // What Linux leaves for checksum offload: the folded pseudo-header sum.
      put16(tcp, 16, onesComplementSum(pseudo));
      break;
  }

  Bytes ip_header;
  if (v6) {
    Bytes extension;
    if (spec.ipv6_destination_options) extension = {kProtoTcp, 0, 1, 4, 0, 0, 0, 0};  // PadN
    ip_header.assign(40, 0);
    ip_header[0] = 0x60;
    put16(ip_header, 4, static_cast<std::uint16_t>(extension.size() + tcp.size()));
    ip_header[6] = spec.ipv6_destination_options ? kNextHeaderDestinationOptions : kProtoTcp;
    ip_header[7] = 64;
    std::copy_n(spec.server.bytes.begin(), 16, ip_header.begin() + 8);
    std::copy_n(spec.client.bytes.begin(), 16, ip_header.begin() + 24);
    ip_header.insert(ip_header.end(), extension.begin(), extension.end());
  } else {
    const std::size_t header_length = 20 + 4 * spec.ipv4_option_words;
    ip_header.assign(header_length, 0x01);  // options: NOP
    std::fill_n(ip_header.begin(), 20, 0);
    ip_header[0] = static_cast<std::uint8_t>(0x40 | (header_length / 4));
    put16(ip_header, 2, static_cast<std::uint16_t>(header_length + tcp.size()));
    ip_header[6] = 0x40;  // DF
    ip_header[8] = 64;
    ip_header[9] = kProtoTcp;
    std::copy_n(spec.server.bytes.begin(), 4, ip_header.begin() + 12);
    std::copy_n(spec.client.bytes.begin(), 4, ip_header.begin() + 16);
    put16(ip_header, 10, static_cast<std::uint16_t>(~onesComplementSum(ip_header)));
  }
  frame.ip_packet = ip_header;
  frame.ip_packet.insert(frame.ip_packet.end(), tcp.begin(), tcp.end());
  frame.l4_offset = static_cast<std::uint32_t>(frame.l3_offset + ip_header.size());
  b.insert(b.end(), frame.ip_packet.begin(), frame.ip_packet.end());
  b.insert(b.end(), spec.padding, 0);
  return frame;
}

const IpAddress& resolverV4() {
  static const IpAddress address = ip("192.0.2.53");
  return address;
}
const IpAddress& clientV4() {
  static const IpAddress address = ip("192.0.2.10");
  return address;
}
const IpAddress& resolverV6() {
  static const IpAddress address = ip("2001:db8::53");
  return address;
}
const IpAddress& clientV6() {
  static const IpAddress address = ip("2001:db8::10");
  return address;
}

std::optional<HeldSegment> extract(const TcpFrame& frame, std::string& error) {
  return extractHeldSegment(frame.bytes, frame.l3_offset, frame.l4_offset, error);
}

HeldSegment extractOrFail(const TcpFrame& frame) {
  std::string error;
  auto segment = extract(frame, error);
  EXPECT_TRUE(segment.has_value()) << error;
  return segment.value_or(HeldSegment{});
}

Bytes tcpFramed(const Bytes& message) {
  Bytes out = {static_cast<std::uint8_t>(message.size() >> 8),
               static_cast<std::uint8_t>(message.size() & 0xff)};
  out.insert(out.end(), message.begin(), message.end());
  return out;
}

Bytes slice(const Bytes& bytes, std::size_t begin, std::size_t end) {
  return Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(begin),
               bytes.begin() + static_cast<std::ptrdiff_t>(std::min(end, bytes.size())));
}

// ---------------------------------------------------------------------------------------
// extractHeldSegment

TEST(ExtractHeldSegmentTest, ReadsAnIpv4Segment) {
  const Bytes payload = tcpFramed(readAnswer("example.com-A.bin"));
  const TcpFrame frame = buildTcpFrame(
      {.server = resolverV4(), .client = clientV4(), .payload = payload, .sequence = 0x89abcdef});
  std::string error;
  const auto segment = extract(frame, error);
  ASSERT_TRUE(segment.has_value()) << error;
  EXPECT_EQ(segment->server, resolverV4());
  EXPECT_EQ(segment->client, clientV4());
  EXPECT_EQ(segment->server_port, 53);
  EXPECT_EQ(segment->client_port, kClientPort);
  EXPECT_EQ(segment->sequence, 0x89abcdefu);
  EXPECT_EQ(segment->flags, kPsh | kAck);
  EXPECT_EQ(segment->tcp_offset, 20u);
  EXPECT_EQ(segment->payload_offset, 40u);
  EXPECT_EQ(segment->payload_length, payload.size());
  EXPECT_EQ(Bytes(segment->payload().begin(), segment->payload().end()), payload);
  EXPECT_EQ(segment->ip_packet, frame.ip_packet);
}

TEST(ExtractHeldSegmentTest, ReadsAnIpv6SegmentBehindAnExtensionHeader) {
  const Bytes payload = tcpFramed(readAnswer("example.com-AAAA.bin"));
  const TcpFrame frame = buildTcpFrame({.server = resolverV6(),
                                        .client = clientV6(),
                                        .payload = payload,
                                        .ipv6_destination_options = true});
  const HeldSegment segment = extractOrFail(frame);
  EXPECT_EQ(segment.server, resolverV6());
  EXPECT_EQ(segment.client, clientV6());
  EXPECT_EQ(segment.tcp_offset, 48u);
  EXPECT_EQ(segment.payload_offset, 68u);
  EXPECT_EQ(Bytes(segment.payload().begin(), segment.payload().end()), payload);
  EXPECT_EQ(segment.ip_packet, frame.ip_packet);
}

TEST(ExtractHeldSegmentTest, FollowsVlanTagsIpOptionsAndTcpOptions) {
  const Bytes payload = tcpFramed(readAnswer("example.com-A.bin"));
  const Bytes timestamps = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
  const TcpFrame frame = buildTcpFrame({.server = resolverV4(),
                                        .client = clientV4(),
                                        .payload = payload,
                                        .tcp_options = timestamps,
                                        .vlan_tag = true,
                                        .ipv4_option_words = 2});
  ASSERT_EQ(frame.l3_offset, 18u);
  const HeldSegment segment = extractOrFail(frame);
  EXPECT_EQ(segment.tcp_offset, 28u);
  EXPECT_EQ(segment.payload_offset, 28u + 32u);
  EXPECT_EQ(Bytes(segment.payload().begin(), segment.payload().end()), payload);
  EXPECT_EQ(segment.ip_packet, frame.ip_packet);
}

TEST(ExtractHeldSegmentTest, LeavesEthernetPaddingOut) {
  // One byte of data: the IPv4 frame is padded to Ethernet's 60-byte minimum.
  const TcpFrame frame = buildTcpFrame(
      {.server = resolverV4(), .client = clientV4(), .payload = {0x00}, .padding = 5});
  ASSERT_EQ(frame.bytes.size(), 60u);
  const HeldSegment segment = extractOrFail(frame);
  EXPECT_EQ(segment.payload_length, 1u);
  EXPECT_EQ(segment.ip_packet, frame.ip_packet);
}

TEST(ExtractHeldSegmentTest, ASegmentWithoutDataHasAnEmptyPayload) {
  const TcpFrame frame =
      buildTcpFrame({.server = resolverV6(), .client = clientV6(), .flags = kFin | kAck});
  const HeldSegment segment = extractOrFail(frame);
  EXPECT_EQ(segment.payload_length, 0u);
  EXPECT_EQ(segment.flags, kFin | kAck);
}

struct BrokenFrame {
  std::string description;
  std::function<void(TcpFrame&)> breaks;
};

void PrintTo(const BrokenFrame& broken, std::ostream* out) { *out << broken.description; }

class ExtractHeldSegmentErrorTest : public ::testing::TestWithParam<BrokenFrame> {};

TEST_P(ExtractHeldSegmentErrorTest, IsRefusedWithAReason) {
  for (const bool v6 : {false, true}) {
    TcpFrame frame = buildTcpFrame({.server = v6 ? resolverV6() : resolverV4(),
                                    .client = v6 ? clientV6() : clientV4(),
                                    .payload = tcpFramed(readAnswer("example.com-A.bin"))});
    GetParam().breaks(frame);
    std::string error;
    EXPECT_EQ(extract(frame, error), std::nullopt) << (v6 ? "IPv6" : "IPv4");
    EXPECT_FALSE(error.empty()) << (v6 ? "IPv6" : "IPv4");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Frames, ExtractHeldSegmentErrorTest,
    ::testing::Values(
        BrokenFrame{"IP header offset past the frame",
                    [](TcpFrame& f) { f.l3_offset = static_cast<std::uint32_t>(f.bytes.size()); }},
        BrokenFrame{"TCP header offset before the IP header",
                    [](TcpFrame& f) { f.l4_offset = f.l3_offset - 1; }},
        BrokenFrame{"TCP header offset past the frame",
                    [](TcpFrame& f) { f.l4_offset = static_cast<std::uint32_t>(f.bytes.size()); }},
        BrokenFrame{"TCP header offset inside the IP header",
                    [](TcpFrame& f) { f.l4_offset = f.l3_offset + 16; }},
        BrokenFrame{"IP version neither 4 nor 6",
                    [](TcpFrame& f) {
                      f.bytes[f.l3_offset] =
                          static_cast<std::uint8_t>(0x50 | (f.bytes[f.l3_offset] & 0x0f));
                    }},
        BrokenFrame{"frame ends inside the IP header",
                    [](TcpFrame& f) {
                      f.bytes.resize(f.l3_offset + 19);
                      f.l4_offset = f.l3_offset + 18;
                    }},
        BrokenFrame{"IP length beyond the frame (a truncated capture)",
                    [](TcpFrame& f) { f.bytes.resize(f.bytes.size() - 1); }},
        BrokenFrame{"IP length ends inside the TCP header",
                    [](TcpFrame& f) {
                      const bool v6 = (f.bytes[f.l3_offset] >> 4) == 6;
                      const std::size_t tcp_in_ip = 10;
                      put16(f.bytes, f.l3_offset + (v6 ? 4 : 2),
                            static_cast<std::uint16_t>(f.l4_offset - f.l3_offset - (v6 ? 40 : 0) +
                                                       tcp_in_ip));
                    }},
        BrokenFrame{"TCP data offset below five words",
                    [](TcpFrame& f) { f.bytes[f.l4_offset + 12] = 4 << 4; }},
        BrokenFrame{"TCP data offset past the datagram",
                    [](TcpFrame& f) {
                      const bool v6 = (f.bytes[f.l3_offset] >> 4) == 6;
                      // 24 bytes of TCP in the datagram, a data offset of 28.
                      put16(f.bytes, f.l3_offset + (v6 ? 4 : 2),
                            static_cast<std::uint16_t>(f.l4_offset - f.l3_offset - (v6 ? 40 : 0) +
                                                       24));
                      f.bytes[f.l4_offset + 12] = 7 << 4;
                    }}),
    [](const auto& info) {
      std::string name;
      bool upper = true;
      for (const char c : info.param.description) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
          upper = true;
          continue;
        }
        name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
        upper = false;
      }
      return name;
    });

TEST(ExtractHeldSegmentTest, Ipv4HeaderLengthBelowFiveWordsIsRefused) {
  TcpFrame frame = buildTcpFrame({.server = resolverV4(), .client = clientV4(), .payload = {1}});
  frame.bytes[frame.l3_offset] = 0x44;
  frame.l4_offset = frame.l3_offset + 16;
  std::string error;
  EXPECT_EQ(extract(frame, error), std::nullopt);
  EXPECT_FALSE(error.empty());
}

// ---------------------------------------------------------------------------------------
// completeTcpChecksum

struct ChecksumCase {
  const char* name;
  bool v6;
  bool extension_header;
};

void PrintTo(const ChecksumCase& c, std::ostream* out) { *out << c.name; }

class CompleteTcpChecksumTest : public ::testing::TestWithParam<ChecksumCase> {
 protected:
  TcpFrame frame(ChecksumField checksum, const Bytes& payload) const {
    const ChecksumCase& c = GetParam();
    return buildTcpFrame({.server = c.v6 ? resolverV6() : resolverV4(),
                          .client = c.v6 ? clientV6() : clientV4(),
                          .payload = payload,
                          .checksum = checksum,
                          .ipv6_destination_options = c.extension_header});
  }
  // Odd and even lengths: an odd last byte is summed as a word padded with zero.
  static std::vector<Bytes> payloads() {
    const Bytes odd = tcpFramed(readAnswer("example.com-A.bin"));
    EXPECT_EQ(odd.size() % 2, 1u);
    // A message and the first byte of the next.
    Bytes even = tcpFramed(readAnswer("example.com-AAAA.bin"));
    even.push_back(0);
    EXPECT_EQ(even.size() % 2, 0u);
    return {odd, even, {}};
  }
  static bool verifies(const HeldSegment& segment) {
    return tcpChecksumVerifies(
        segment.server, segment.client,
        slice(segment.ip_packet, segment.tcp_offset, segment.ip_packet.size()));
  }
};

TEST_P(CompleteTcpChecksumTest, ACorrectChecksumIsValidAndLeftAlone) {
  for (const Bytes& payload : payloads()) {
    HeldSegment segment = extractOrFail(frame(ChecksumField::kCorrect, payload));
    const Bytes before = segment.ip_packet;
    EXPECT_EQ(completeTcpChecksum(segment), TcpChecksum::kValid);
    EXPECT_EQ(segment.ip_packet, before);
  }
}

TEST_P(CompleteTcpChecksumTest, AChecksumLeftForOffloadIsCompleted) {
  for (const Bytes& payload : payloads()) {
    HeldSegment segment = extractOrFail(frame(ChecksumField::kPartial, payload));
    ASSERT_FALSE(verifies(segment));
    EXPECT_EQ(completeTcpChecksum(segment), TcpChecksum::kCompleted);
    EXPECT_TRUE(verifies(segment));
    // Exactly what a sender computing it would have sent, and nothing else changed.
    EXPECT_EQ(segment.ip_packet, frame(ChecksumField::kCorrect, payload).ip_packet);
    EXPECT_EQ(completeTcpChecksum(segment), TcpChecksum::kValid);
  }
}

TEST_P(CompleteTcpChecksumTest, AWrongChecksumIsCorrupt) {
  for (const Bytes& payload : payloads()) {
    HeldSegment segment = extractOrFail(frame(ChecksumField::kWrong, payload));
    const Bytes before = segment.ip_packet;
    EXPECT_EQ(completeTcpChecksum(segment), TcpChecksum::kCorrupt);
    EXPECT_EQ(segment.ip_packet, before);
  }
}

TEST_P(CompleteTcpChecksumTest, RecomputedAfterAnEditTheChecksumVerifies) {
  for (const Bytes& payload : payloads()) {
    if (payload.empty()) continue;
    HeldSegment segment = extractOrFail(frame(ChecksumField::kCorrect, payload));
    // An edit of the payload in place, as a TTL capped in a held message.
    Bytes edited = payload;
    edited.back() ^= 0x5a;
    segment.ip_packet[segment.payload_offset + payload.size() - 1] = edited.back();
    ASSERT_FALSE(verifies(segment));
    recomputeTcpChecksum(segment);
    EXPECT_TRUE(verifies(segment));
    EXPECT_EQ(segment.ip_packet, frame(ChecksumField::kCorrect, edited).ip_packet);
    EXPECT_EQ(completeTcpChecksum(segment), TcpChecksum::kValid);
  }
}

TEST_P(CompleteTcpChecksumTest, DataDamagedAfterTheChecksumIsCorrupt) {
  const Bytes payload = tcpFramed(readAnswer("example.com-A.bin"));
  TcpFrame damaged = frame(ChecksumField::kCorrect, payload);
  damaged.bytes.back() ^= 0x40;
  HeldSegment segment = extractOrFail(damaged);
  EXPECT_EQ(completeTcpChecksum(segment), TcpChecksum::kCorrupt);
}

INSTANTIATE_TEST_SUITE_P(Families, CompleteTcpChecksumTest,
                         ::testing::Values(ChecksumCase{"IPv4", false, false},
                                           ChecksumCase{"IPv6", true, false},
                                           ChecksumCase{"IPv6ExtensionHeader", true, true}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------
// TcpAnswerStreams

// Where the test connections' data starts, as a SYN-ACK would have told.
constexpr std::uint32_t kIsn = 0x10000000;
constexpr std::uint32_t kStreamStart = kIsn;

class TcpAnswerStreamsTest : public ::testing::Test {
 protected:
  // Captured answers of several sizes, odd and even.
  const Bytes m1_ = readAnswer("example.com-A.bin");
  const Bytes m2_ = readAnswer("multi.wikipedia.org-A.bin");
  const Bytes m3_ = readAnswer("example.com-AAAA.bin");
  const Bytes m4_ = readAnswer("httpbin.org-A-edns.bin");

  // The stream of DNS over TCP that carries `messages` back to back.
  static Bytes streamOf(const Messages& messages) {
    Bytes out;
    for (const Bytes& message : messages) {
      const Bytes framed = tcpFramed(message);
      out.insert(out.end(), framed.begin(), framed.end());
    }
    return out;
  }

  // A held segment of the connection to `client_port`: `data` at `sequence`.
  // The connection's data starts at `start` (kIsn unless told), as the datapath saw
  // in its SYN-ACK.
  static HeldSegment segment(std::uint32_t sequence, const Bytes& data,
                             std::uint8_t flags = kPsh | kAck,
                             std::uint16_t client_port = kClientPort, bool v6 = false,
                             std::optional<std::uint32_t> start = kStreamStart) {
    HeldSegment held = extractOrFail(buildTcpFrame({.server = v6 ? resolverV6() : resolverV4(),
                                                    .client = v6 ? clientV6() : clientV4(),
                                                    .payload = data,
                                                    .sequence = sequence,
                                                    .flags = flags,
                                                    .client_port = client_port}));
    held.stream_start = start;
    return held;
  }

  // Bytes [begin, end) of `stream` as the segment that carries them, the stream
  // starting at `isn`.
  static HeldSegment part(const Bytes& stream, std::uint32_t isn, std::size_t begin,
                          std::size_t end, std::uint8_t flags = kPsh | kAck) {
    return segment(isn + static_cast<std::uint32_t>(begin), slice(stream, begin, end), flags,
                   kClientPort, false, isn);
  }

  // The DNS messages `held` completes, checking where each is said to lie in it.
  Messages accept(const HeldSegment& held, std::uint64_t now_ns = 1) {
    const AcceptedSegment accepted = streams_.accept(held, now_ns);
    EXPECT_TRUE(accepted.release) << "a segment of a followed connection is delivered";
    return checked(held, accepted.messages);
  }

  // Only a message wholly in the segment has an offset there, and the payload holds
  // exactly the message at that offset, so it can be edited in place.
  static Messages checked(const HeldSegment& held, const std::vector<StreamMessage>& messages) {
    Messages out;
    for (const StreamMessage& message : messages) {
      if (message.offset_in_segment) {
        const std::size_t offset = *message.offset_in_segment;
        EXPECT_GE(offset, 2u);
        EXPECT_LE(offset + message.dns.size(), held.payload_length);
        if (offset >= 2 && offset + message.dns.size() <= held.payload_length) {
          const auto payload = held.payload();
          EXPECT_EQ(Bytes(payload.begin() + static_cast<std::ptrdiff_t>(offset - 2),
                          payload.begin() + static_cast<std::ptrdiff_t>(offset)),
                    slice(tcpFramed(message.dns), 0, 2))
              << "the length prefix precedes the message";
          EXPECT_EQ(
              Bytes(payload.begin() + static_cast<std::ptrdiff_t>(offset),
                    payload.begin() + static_cast<std::ptrdiff_t>(offset + message.dns.size())),
              message.dns);
        }
      }
      out.push_back(message.dns);
    }
    return out;
  }

  // Where the messages `held` completes lie in it (nullopt: not wholly in it).
  std::vector<std::optional<std::size_t>> offsets(const HeldSegment& held) {
    std::vector<std::optional<std::size_t>> out;
    const auto messages = streams_.accept(held, 1).messages;
    checked(held, messages);
    for (const StreamMessage& message : messages) out.push_back(message.offset_in_segment);
    return out;
  }

  TcpAnswerStreams streams_;
};

TEST_F(TcpAnswerStreamsTest, AWholeMessageInOneSegment) {
  EXPECT_EQ(accept(segment(kIsn, tcpFramed(m1_))), (Messages{m1_}));
  EXPECT_EQ(streams_.size(), 1u) << "the connection stays open for the next answer";
  EXPECT_EQ(accept(segment(kIsn + tcpFramed(m1_).size(), tcpFramed(m2_))), (Messages{m2_}));
}

TEST_F(TcpAnswerStreamsTest, AMessageSplitAtAnyByteCompletesWithItsLastPart) {
  const Bytes stream = tcpFramed(m2_);
  // Split 1 divides the length prefix itself.
  for (std::size_t split = 1; split < stream.size(); ++split) {
    TcpAnswerStreams streams;
    EXPECT_TRUE(streams.accept(part(stream, kIsn, 0, split), 1).messages.empty())
        << "split " << split;
    const auto messages = streams.accept(part(stream, kIsn, split, stream.size()), 2).messages;
    ASSERT_EQ(messages.size(), 1u) << "split " << split;
    EXPECT_EQ(messages[0].dns, m2_) << "split " << split;
    EXPECT_EQ(messages[0].offset_in_segment, std::nullopt) << "not wholly in the last part";
  }
}

TEST_F(TcpAnswerStreamsTest, AMessageByteByByte) {
  const Bytes stream = tcpFramed(m1_);
  for (std::size_t at = 0; at + 1 < stream.size(); ++at) {
    EXPECT_EQ(accept(part(stream, kIsn, at, at + 1)), Messages{}) << "byte " << at;
  }
  EXPECT_EQ(accept(part(stream, kIsn, stream.size() - 1, stream.size())), (Messages{m1_}));
}

TEST_F(TcpAnswerStreamsTest, MessagesCoalescedInOneSegmentComeOutInOrder) {
  EXPECT_EQ(accept(segment(kIsn, streamOf({m1_, m2_, m3_}))), (Messages{m1_, m2_, m3_}));
}

TEST_F(TcpAnswerStreamsTest, PipelinedMessagesAcrossSegmentBoundaries) {
  const Bytes stream = streamOf({m1_, m2_, m3_, m4_});
  const std::size_t end1 = tcpFramed(m1_).size();
  const std::size_t end2 = end1 + tcpFramed(m2_).size();
  const std::size_t end3 = end2 + tcpFramed(m3_).size();
  // The first segment ends inside m2, the second completes m2 and m3 and starts m4.
  EXPECT_EQ(accept(part(stream, kIsn, 0, end1 + 5)), (Messages{m1_}));
  EXPECT_EQ(accept(part(stream, kIsn, end1 + 5, end3 + 1)), (Messages{m2_, m3_}));
  EXPECT_EQ(accept(part(stream, kIsn, end3 + 1, stream.size())), (Messages{m4_}));
  // Whatever the cut points, the messages come out once each, in order.
  for (std::size_t size = 1; size < stream.size(); size += 7) {
    TcpAnswerStreams streams;
    Messages out;
    for (std::size_t at = 0; at < stream.size(); at += size) {
      const HeldSegment held = part(stream, kIsn, at, at + size);
      for (Bytes& message : checked(held, streams.accept(held, 1).messages)) {
        out.push_back(std::move(message));
      }
    }
    EXPECT_EQ(out, (Messages{m1_, m2_, m3_, m4_})) << "segments of " << size;
  }
}

TEST_F(TcpAnswerStreamsTest, SegmentsOutOfOrderWaitForTheGap) {
  const Bytes stream = streamOf({m1_, m2_, m3_});
  const std::size_t end1 = tcpFramed(m1_).size();
  const std::size_t end2 = end1 + tcpFramed(m2_).size();
  EXPECT_EQ(accept(part(stream, kIsn, 0, 10)), Messages{});
  // m3 whole and the end of m2 arrive before the rest of m1.
  EXPECT_EQ(accept(part(stream, kIsn, end2, stream.size())), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, end1 + 3, end2)), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, end1, end1 + 3)), Messages{});
  // The gap filled: everything after it completes at once.
  EXPECT_EQ(accept(part(stream, kIsn, 10, end1)), (Messages{m1_, m2_, m3_}));
}

TEST_F(TcpAnswerStreamsTest, ARetransmittedSegmentYieldsNothingTwice) {
  const Bytes stream = streamOf({m1_, m2_});
  const std::size_t end1 = tcpFramed(m1_).size();
  EXPECT_EQ(accept(part(stream, kIsn, 0, end1)), (Messages{m1_}));
  EXPECT_EQ(accept(part(stream, kIsn, 0, end1)), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, 0, 4)), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, end1, stream.size())), (Messages{m2_}));
  EXPECT_EQ(accept(part(stream, kIsn, end1, stream.size())), Messages{});
}

TEST_F(TcpAnswerStreamsTest, AnOutOfOrderSegmentRetransmittedIsKeptOnce) {
  const Bytes stream = streamOf({m1_, m2_});
  const std::size_t end1 = tcpFramed(m1_).size();
  EXPECT_EQ(accept(part(stream, kIsn, 0, 2)), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, end1, stream.size())), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, end1, stream.size())), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, 2, end1)), (Messages{m1_, m2_}));
}

TEST_F(TcpAnswerStreamsTest, OverlappingSegmentsAddOnlyTheirNewBytes) {
  const Bytes stream = streamOf({m1_, m2_, m3_});
  EXPECT_EQ(accept(part(stream, kIsn, 0, 30)), Messages{});
  // Repacketized on retransmission: bytes 20..70 (the first 10 already seen).
  EXPECT_EQ(accept(part(stream, kIsn, 20, 70)), (Messages{m1_}));
  // Out of order, and overlapping each other and what is already in.
  EXPECT_EQ(accept(part(stream, kIsn, 120, stream.size())), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, 90, 130)), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, 60, 100)), (Messages{m2_, m3_}));
}

TEST_F(TcpAnswerStreamsTest, FinEndsTheConnectionAfterItsLastMessages) {
  const Bytes stream = streamOf({m1_, m2_});
  EXPECT_EQ(accept(part(stream, kIsn, 0, 10)), Messages{});
  EXPECT_EQ(accept(part(stream, kIsn, 10, stream.size(), kFin | kPsh | kAck)),
            (Messages{m1_, m2_}));
  EXPECT_EQ(streams_.size(), 0u);
}

TEST_F(TcpAnswerStreamsTest, RstForgetsTheConnectionAndItsPartialMessage) {
  const Bytes stream = streamOf({m1_, m2_});
  EXPECT_EQ(accept(part(stream, kIsn, 0, 10)), Messages{});
  EXPECT_EQ(accept(segment(kIsn + 10, {}, kRst | kAck)), Messages{});
  EXPECT_EQ(streams_.size(), 0u);
  // A new connection on the same ports starts afresh.
  EXPECT_EQ(accept(segment(0x7000, tcpFramed(m2_), kPsh | kAck, kClientPort, false, 0x7000)),
            (Messages{m2_}));
  EXPECT_EQ(streams_.size(), 1u);
}

TEST_F(TcpAnswerStreamsTest, ConnectionsAreReassembledApart) {
  const Bytes a = streamOf({m1_, m3_});
  const Bytes b = streamOf({m2_});
  const std::size_t split = 7;
  // Same sequence numbers, other client port or other family: other connections.
  EXPECT_EQ(accept(segment(kIsn, slice(a, 0, split))), Messages{});
  EXPECT_EQ(accept(segment(kIsn, slice(b, 0, split), kPsh | kAck, kClientPort + 1)), Messages{});
  EXPECT_EQ(accept(segment(kIsn, slice(b, 0, split), kPsh | kAck, kClientPort, true)), Messages{});
  EXPECT_EQ(streams_.size(), 3u);
  EXPECT_EQ(accept(segment(kIsn + split, slice(b, split, b.size()), kPsh | kAck, kClientPort + 1)),
            (Messages{m2_}));
  EXPECT_EQ(
      accept(segment(kIsn + split, slice(b, split, b.size()), kPsh | kAck, kClientPort, true)),
      (Messages{m2_}));
  EXPECT_EQ(accept(segment(kIsn + split, slice(a, split, a.size()))), (Messages{m1_, m3_}));
}

TEST_F(TcpAnswerStreamsTest, ForgetIdleForgetsOnlyConnectionsSilentSinceBeforeTheCutoff) {
  const Bytes stream = tcpFramed(m1_);
  streams_.accept(segment(kIsn, slice(stream, 0, 5), kPsh | kAck, kClientPort), 100);
  streams_.accept(segment(kIsn, slice(stream, 0, 5), kPsh | kAck, kClientPort + 1), 200);
  streams_.accept(segment(kIsn, slice(stream, 0, 5), kPsh | kAck, kClientPort + 2), 300);
  EXPECT_EQ(streams_.forgetIdle(100), 0u) << "a connection seen at the cutoff is not idle";
  EXPECT_EQ(streams_.forgetIdle(201), 2u);
  EXPECT_EQ(streams_.size(), 1u);
  // The one left carries on; a forgotten one is not read from the middle of a message:
  // its segments pass unread.
  const Bytes rest = slice(stream, 5, stream.size());
  EXPECT_EQ(accept(segment(kIsn + 5, rest, kPsh | kAck, kClientPort + 2), 400), (Messages{m1_}));
  const AcceptedSegment late =
      streams_.accept(segment(kIsn + 5, rest, kPsh | kAck, kClientPort), 400);
  EXPECT_TRUE(late.picked_up);
  EXPECT_EQ(late.messages.size(), 0u);
  EXPECT_EQ(streams_.pickedUp(), 1u);
  EXPECT_EQ(streams_.size(), 1u);
}

TEST_F(TcpAnswerStreamsTest, OutOfOrderSegmentsBeyondTheLimitAreDroppedToBeSentAgain) {
  // Large messages of 40000 bytes each, far more of them after a gap than the limit
  // lets the daemon keep.
  Messages messages;
  for (int i = 0; i < 9; ++i) {
    Bytes message = m1_;
    message.resize(40000, static_cast<std::uint8_t>(i));
    messages.push_back(message);
  }
  const Bytes stream = streamOf(messages);
  const std::size_t chunk = 40000;
  EXPECT_EQ(accept(part(stream, kIsn, 0, 1)), Messages{});
  // After the gap [1, chunk): chunks are kept while they fit, the others dropped.
  std::size_t kept_until = chunk;  // where what was kept stops being contiguous
  std::size_t kept = 0;
  std::uint64_t dropped = 0;
  for (std::size_t at = chunk; at < stream.size(); at += chunk) {
    const std::size_t size = std::min(chunk, stream.size() - at);
    const std::size_t cost = size + TcpAnswerStreams::kOutOfOrderEntryCost;
    const AcceptedSegment accepted = streams_.accept(part(stream, kIsn, at, at + size), 1);
    EXPECT_EQ(accepted.messages.size(), 0u);
    if (kept + cost <= TcpAnswerStreams::kMaxOutOfOrderBytes) {
      EXPECT_TRUE(accepted.release) << "kept, so delivered at once";
      kept += cost;
      if (kept_until == at) kept_until = at + size;
    } else {
      EXPECT_FALSE(accepted.release) << "neither kept nor delivered";
      ++dropped;
    }
  }
  ASSERT_GT(dropped, 0u) << "the test must overflow the limit";
  EXPECT_EQ(streams_.segmentsDropped(), dropped);
  EXPECT_EQ(streams_.bufferedBytes(), 1 + kept) << "the byte before the gap, and what came after";

  // The gap filled: the messages within what was kept come out, no more.
  Messages out = accept(part(stream, kIsn, 1, chunk));
  Messages expected;
  std::size_t end = 0;
  for (const Bytes& message : messages) {
    end += 2 + message.size();
    if (end <= kept_until) expected.push_back(message);
  }
  EXPECT_EQ(out, expected);
  ASSERT_LT(expected.size(), messages.size());

  // The resolver sends the dropped segments again: the stream completes with the
  // messages left, undamaged.
  for (std::size_t at = kept_until; at < stream.size(); at += chunk) {
    for (Bytes& message : accept(part(stream, kIsn, at, at + chunk))) out.push_back(message);
  }
  EXPECT_EQ(out, messages);
  EXPECT_EQ(streams_.bufferedBytes(), 0u);
}

// Bounds: however many connections and bytes arrive, the streams stay within their
// limits, the least recently active go first, and a forgotten connection is never read
// from a wrong offset.

class TcpStreamLimitsTest : public TcpAnswerStreamsTest {
 protected:
  // A DNS message whose bytes, read from `inner_at`, are a whole framed `inner`
  // message: what a zone's TXT data could carry to a reader that lost its place.
  static Bytes carrying(const Bytes& inner, std::size_t inner_at, std::size_t size) {
    Bytes outer(size, 0x20);
    const Bytes framed = tcpFramed(inner);
    std::copy(framed.begin(), framed.end(), outer.begin() + static_cast<std::ptrdiff_t>(inner_at));
    return outer;
  }
  static HeldSegment on(std::uint16_t port, std::uint32_t sequence, const Bytes& data,
                        std::uint8_t flags = kPsh | kAck, std::uint32_t start = kStreamStart) {
    return segment(sequence, data, flags, port, false, start);
  }
};

TEST_F(TcpStreamLimitsTest, BeyondMaxStreamsTheLeastRecentlyActiveConnectionIsForgotten) {
  TcpAnswerStreams streams({.max_streams = 3, .max_buffered_bytes = 1 << 20});
  const Bytes stream = tcpFramed(m1_);
  // Four connections, each with the first 5 bytes of a message; the first is the
  // least recently active when the fourth arrives.
  for (std::uint16_t port = 1000; port < 1004; ++port) {
    EXPECT_TRUE(streams.accept(on(port, kIsn, slice(stream, 0, 5)), port).release);
  }
  EXPECT_EQ(streams.size(), 3u);
  EXPECT_EQ(streams.forgottenForRoom(), 1u);
  // The rest of the first connection's message passes unread, not read as a new stream.
  const AcceptedSegment forgotten =
      streams.accept(on(1000, kIsn + 5, slice(stream, 5, stream.size())), 2000);
  EXPECT_TRUE(forgotten.picked_up);
  EXPECT_TRUE(forgotten.messages.empty());
  EXPECT_EQ(streams.pickedUp(), 1u);
  // The others complete theirs.
  for (std::uint16_t port = 1001; port < 1004; ++port) {
    const AcceptedSegment rest =
        streams.accept(on(port, kIsn + 5, slice(stream, 5, stream.size())), 3000);
    EXPECT_TRUE(rest.release);
    ASSERT_EQ(rest.messages.size(), 1u);
    EXPECT_EQ(rest.messages[0].dns, m1_);
  }
}

TEST_F(TcpStreamLimitsTest, AConnectionActiveLastIsKeptOverAnOlderOne) {
  TcpAnswerStreams streams({.max_streams = 2, .max_buffered_bytes = 1 << 20});
  const Bytes stream = streamOf({m1_, m2_});
  streams.accept(on(1000, kIsn, slice(stream, 0, 5)), 1);
  streams.accept(on(1001, kIsn, slice(stream, 0, 5)), 2);
  // 1000 speaks again: 1001 is now the least recently active.
  streams.accept(on(1000, kIsn + 5, slice(stream, 5, 10)), 3);
  streams.accept(on(1002, kIsn, slice(stream, 0, 5)), 4);
  EXPECT_TRUE(streams.accept(on(1001, kIsn + 5, slice(stream, 5, stream.size())), 5).picked_up);
  const AcceptedSegment kept =
      streams.accept(on(1000, kIsn + 10, slice(stream, 10, stream.size())), 6);
  EXPECT_TRUE(kept.release);
  EXPECT_EQ(kept.messages.size(), 2u);
}

TEST_F(TcpStreamLimitsTest, ManyConnectionsNeverGrowPastTheLimits) {
  const TcpStreamLimits limits{.max_streams = 100, .max_buffered_bytes = 64 * 1024};
  TcpAnswerStreams streams(limits);
  const Bytes stream = tcpFramed(m2_);
  for (std::uint32_t i = 0; i < 20000; ++i) {
    const auto port = static_cast<std::uint16_t>(1024 + i % 60000);
    // Each connection keeps an unfinished message (and some keep a segment after a gap).
    // A port used again is a new connection, with a start of its own.
    streams.accept(on(port, kIsn + i, slice(stream, 0, stream.size() - 1), kPsh | kAck, kIsn + i),
                   i);
    if (i % 3 == 0) {
      streams.accept(on(port, kIsn + i + 4000, slice(stream, 0, 40), kPsh | kAck, kIsn + i), i);
    }
    ASSERT_LE(streams.size(), limits.max_streams) << i;
    ASSERT_LE(streams.bufferedBytes(), limits.max_buffered_bytes) << i;
  }
  EXPECT_GE(streams.forgottenForRoom(), 20000u - limits.max_streams);
}

TEST_F(TcpStreamLimitsTest, BeyondTheBufferTheLeastRecentlyActiveConnectionsKeepingBytesGo) {
  // Room for five heads of 30000 bytes of messages of 40002, and for one of them to
  // grow to its whole message.
  TcpAnswerStreams streams({.max_streams = 100, .max_buffered_bytes = 165000});
  Bytes big = m1_;
  big.resize(40000, 0x11);
  const Bytes stream = tcpFramed(big);
  const std::size_t head = 30000;
  // A quiet connection (its answer complete) is not forgotten for bytes it does not keep.
  EXPECT_EQ(streams.accept(on(999, kIsn, tcpFramed(m1_)), 0).messages.size(), 1u);
  for (std::uint16_t port = 1000; port < 1006; ++port) {
    EXPECT_TRUE(streams.accept(on(port, kIsn, slice(stream, 0, head)), port).release);
    EXPECT_LE(streams.bufferedBytes(), 165000u);
  }
  EXPECT_GT(streams.forgottenForRoom(), 0u);
  const std::uint64_t forgotten = streams.forgottenForRoom();
  EXPECT_EQ(streams.size(), 7u - forgotten);
  // The oldest were forgotten: their rest passes unread; the newest complete.
  for (std::uint16_t port = 1000; port < 1006; ++port) {
    const AcceptedSegment rest =
        streams.accept(on(port, kIsn + head, slice(stream, head, stream.size())), 2000 + port);
    const bool was_forgotten = port < 1000 + forgotten;
    EXPECT_EQ(rest.picked_up, was_forgotten) << port;
    EXPECT_EQ(rest.messages.size(), was_forgotten ? 0u : 1u) << port;
  }
  EXPECT_EQ(
      streams.accept(on(999, kIsn + tcpFramed(m1_).size(), tcpFramed(m2_)), 3000).messages.size(),
      1u);
  EXPECT_EQ(streams.bufferedBytes(), 0u);
}

TEST_F(TcpStreamLimitsTest, AForgottenConnectionIsNeverReadFromTheMiddleOfAMessage) {
  // The outer message carries, 10 bytes in, bytes that read as a whole answer for
  // example.com: read from there on, they would install its addresses.
  const Bytes outer = tcpFramed(carrying(m1_, 10, 400));
  TcpAnswerStreams streams({.max_streams = 1, .max_buffered_bytes = 1 << 20});
  EXPECT_TRUE(streams.accept(on(1000, kIsn, slice(outer, 0, 12)), 1).messages.empty());
  // Another connection takes the only place.
  streams.accept(on(1001, kIsn, tcpFramed(m2_)), 2);
  const AcceptedSegment rest =
      streams.accept(on(1000, kIsn + 12, slice(outer, 12, outer.size())), 3);
  EXPECT_TRUE(rest.picked_up);
  EXPECT_TRUE(rest.messages.empty());
  // Nor when the resolver sends it again, split otherwise, or after the FIN.
  EXPECT_TRUE(streams.accept(on(1000, kIsn + 12, slice(outer, 12, 100)), 4).messages.empty());
  EXPECT_TRUE(streams.accept(on(1000, kIsn + 100, slice(outer, 100, outer.size()), kFin | kAck), 5)
                  .messages.empty());
  EXPECT_EQ(streams.pickedUp(), 3u);
}

TEST_F(TcpStreamLimitsTest, AFinishedConnectionsRetransmissionPassesUnreadANewOneOnItsPortsIsRead) {
  const Bytes stream = streamOf({m1_, m2_});
  const std::size_t end1 = tcpFramed(m1_).size();
  EXPECT_EQ(accept(part(stream, kIsn, 0, end1)), (Messages{m1_}));
  EXPECT_EQ(accept(part(stream, kIsn, end1, stream.size(), kFin | kPsh | kAck)), (Messages{m2_}));
  EXPECT_EQ(streams_.size(), 0u);
  // The last segment again (its ACK was lost), and a part of it from its middle.
  EXPECT_TRUE(streams_.accept(part(stream, kIsn, end1, stream.size(), kFin | kAck), 1).picked_up);
  EXPECT_TRUE(streams_.accept(part(stream, kIsn, end1 + 7, stream.size()), 1).picked_up);
  // A new connection on the same addresses and ports starts at its own sequence number.
  EXPECT_EQ(accept(segment(kIsn + 0x40000000, tcpFramed(m3_), kPsh | kAck, kClientPort, false,
                           kIsn + 0x40000000)),
            (Messages{m3_}));
  EXPECT_EQ(streams_.size(), 1u);
}

TEST_F(TcpAnswerStreamsTest, MessagesWhollyInTheSegmentThatCompletesThemHaveTheirOffset) {
  using Offsets = std::vector<std::optional<std::size_t>>;
  const Bytes stream = streamOf({m1_, m2_, m3_, m4_});
  const std::size_t end1 = tcpFramed(m1_).size();
  const std::size_t end2 = end1 + tcpFramed(m2_).size();
  const std::size_t end3 = end2 + tcpFramed(m3_).size();
  // m1 and m2 whole in the first segment, m3 starting in it.
  EXPECT_EQ(offsets(part(stream, kIsn, 0, end2 + 1)), (Offsets{2, end1 + 2}));
  // m3 completed by the second segment but begun in the first; m4 whole in it.
  EXPECT_EQ(offsets(part(stream, kIsn, end2 + 1, stream.size())),
            (Offsets{std::nullopt, end3 - (end2 + 1) + 2}));
}

TEST_F(TcpAnswerStreamsTest, MessagesCompletedFromSegmentsHeldOutOfOrderHaveNoOffset) {
  using Offsets = std::vector<std::optional<std::size_t>>;
  const Bytes stream = streamOf({m1_, m2_, m3_});
  const std::size_t end1 = tcpFramed(m1_).size();
  EXPECT_EQ(offsets(part(stream, kIsn, 0, 5)), Offsets{});
  EXPECT_EQ(offsets(part(stream, kIsn, end1, stream.size())), Offsets{});
  // m1 ends in this segment; m2 and m3 lie in the one that came early, not in this.
  EXPECT_EQ(offsets(part(stream, kIsn, 5, end1)),
            (Offsets{std::nullopt, std::nullopt, std::nullopt}));
}

// THREATS.md, known paths: TCP streams picked up mid-message. A connection whose start
// the datapath did not see (open before the pod was attached, or before skouterd ran)
// is never read: any byte of it could be taken for a length, and TXT data an
// accomplice chose could then read as an answer.
TEST_F(TcpAnswerStreamsTest, AConnectionWhoseStartIsUnknownIsNeverRead) {
  const Bytes stream = streamOf({m1_, m2_});
  for (const std::optional<std::uint32_t> start : {std::optional<std::uint32_t>{}, {kIsn}}) {
    TcpAnswerStreams streams;
    // Unknown start, or a segment from after the start: passed unread.
    const AcceptedSegment later =
        streams.accept(segment(kIsn + tcpFramed(m1_).size(), tcpFramed(m2_), kPsh | kAck,
                               kClientPort, false, start),
                       1);
    EXPECT_TRUE(later.picked_up);
    EXPECT_TRUE(later.release);
    EXPECT_TRUE(later.messages.empty());
    EXPECT_EQ(streams.size(), 0u);
    EXPECT_EQ(streams.pickedUp(), 1u);
  }
}

TEST_F(TcpAnswerStreamsTest, ANewStartOnTheSamePortsIsANewConnection) {
  const Bytes stream = tcpFramed(m2_);
  EXPECT_EQ(accept(part(stream, kIsn, 0, 10)), Messages{});
  // The port is used again: another SYN-ACK, another start; the old half message goes.
  const std::uint32_t other = kIsn + 0x20000000;
  EXPECT_EQ(accept(segment(other, tcpFramed(m1_), kPsh | kAck, kClientPort, false, other)),
            (Messages{m1_}));
  EXPECT_EQ(streams_.size(), 1u);
  EXPECT_EQ(streams_.bufferedBytes(), 0u);
}

TEST_F(TcpAnswerStreamsTest, SequenceNumbersWrapAroundInOrder) {
  const Bytes stream = streamOf({m1_, m2_});
  const std::uint32_t isn = 0xffffffff - 20;  // the wrap falls inside m1
  EXPECT_EQ(accept(part(stream, isn, 0, 10)), Messages{});
  EXPECT_EQ(accept(part(stream, isn, 10, 30)), Messages{});
  ASSERT_LT(isn + 30u, isn) << "the segment starts past the wrap";
  EXPECT_EQ(accept(part(stream, isn, 30, stream.size())), (Messages{m1_, m2_}));
  // A retransmission from before the wrap is still recognised as old.
  EXPECT_EQ(accept(part(stream, isn, 0, 30)), Messages{});
}

TEST_F(TcpAnswerStreamsTest, SequenceNumbersWrapAroundOutOfOrder) {
  const Bytes stream = streamOf({m1_, m2_, m3_});
  const std::uint32_t isn = 0xfffffff0;  // 16 bytes before the wrap
  EXPECT_EQ(accept(part(stream, isn, 0, 4)), Messages{});
  // Waiting after the gap [4, 8): segments on both sides of the wrap, so that the
  // later ones have the lower sequence numbers.
  EXPECT_EQ(accept(part(stream, isn, 20, stream.size())), Messages{});
  EXPECT_EQ(accept(part(stream, isn, 16, 20)), Messages{});
  EXPECT_EQ(accept(part(stream, isn, 12, 16)), Messages{});
  EXPECT_EQ(accept(part(stream, isn, 8, 12)), Messages{});
  EXPECT_EQ(accept(part(stream, isn, 4, 8)), (Messages{m1_, m2_, m3_}));
}

}  // namespace
}  // namespace skouter::resolver
