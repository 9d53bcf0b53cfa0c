// QUIC client Initials: the key derivation and packets of the RFC 9001 and RFC 9369
// test vectors, round trips through buildQuicInitial, CRYPTO reassembly across
// datagrams, and the datagrams that must not yield a server name.
#include "tls/quic_initial.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace skouter::tls {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes fromHex(const std::string& hex) {
  Bytes bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

template <std::size_t N>
std::string toHex(const std::array<std::uint8_t, N>& bytes) {
  std::ostringstream out;
  for (const std::uint8_t byte : bytes) {
    out << "0123456789abcdef"[byte >> 4] << "0123456789abcdef"[byte & 0xf];
  }
  return out.str();
}

Bytes testVector(const std::string& file) {
  std::ifstream in(std::string(SKOUTER_TEST_DATA) + "/quic/" + file);
  return fromHex(std::string(std::istreambuf_iterator<char>(in), {}));
}

const Bytes kRfcDcid = fromHex("8394c8f03e515708");

// The server name in the CRYPTO fragments of one parse, reassembled.
std::optional<std::string> serverNameIn(const QuicInitialParse& parse) {
  CryptoStream stream;
  for (const CryptoFragment& fragment : parse.crypto) stream.add(fragment);
  const HelloParse hello = parseClientHelloMessage(stream.contiguous());
  EXPECT_EQ(hello.status, HelloStatus::kComplete) << hello.error;
  return hello.info.server_name;
}

Bytes initialFor(std::uint32_t version, const std::string& name) {
  return buildQuicInitial({.version = version,
                           .dcid = fromHex("0011223344556677"),
                           .scid = fromHex("a1a2a3a4"),
                           .packet_number = 1,
                           .crypto = buildClientHello({.server_name = name})});
}

TEST(QuicInitialTest, Rfc9001ClientKeys) {
  const std::optional<InitialKeys> keys = clientInitialKeys(kQuicVersion1, kRfcDcid);
  ASSERT_TRUE(keys.has_value());
  EXPECT_EQ(toHex(keys->key), "1f369613dd76d5467730efcbe3b1a22d");
  EXPECT_EQ(toHex(keys->iv), "fa044b2f42a3fd3b46fb255c");
  EXPECT_EQ(toHex(keys->hp), "9f50449e04a0e810283a1e9933adedd2");
}

TEST(QuicInitialTest, Rfc9369ClientKeys) {
  const std::optional<InitialKeys> keys = clientInitialKeys(kQuicVersion2, kRfcDcid);
  ASSERT_TRUE(keys.has_value());
  EXPECT_EQ(toHex(keys->key), "8b1a0bc121284290a29e0971b5cd045d");
  EXPECT_EQ(toHex(keys->iv), "91f73e2351d8fa91660e909f");
  EXPECT_EQ(toHex(keys->hp), "45b95e15235d6f45a6b19cbcb0294ba9");
}

TEST(QuicInitialTest, NoKeysForOtherVersions) {
  EXPECT_FALSE(clientInitialKeys(0xff00001d, kRfcDcid).has_value());
}

TEST(QuicInitialTest, Rfc9001ClientInitialNamesExampleCom) {
  const Bytes datagram = testVector("rfc9001_a2_client_initial.hex");
  ASSERT_EQ(datagram.size(), 1200u);
  const QuicInitialParse parse = decryptQuicInitials(datagram);
  ASSERT_EQ(parse.status, QuicStatus::kOk) << parse.error;
  EXPECT_EQ(parse.version, kQuicVersion1);
  EXPECT_EQ(parse.dcid, kRfcDcid);
  ASSERT_EQ(parse.crypto.size(), 1u);
  EXPECT_EQ(parse.crypto[0].offset, 0u);
  EXPECT_EQ(parse.crypto[0].data.size(), 241u);
  EXPECT_EQ(serverNameIn(parse), "example.com");
}

TEST(QuicInitialTest, Rfc9369ClientInitialNamesExampleCom) {
  const Bytes datagram = testVector("rfc9369_a2_client_initial.hex");
  ASSERT_EQ(datagram.size(), 1200u);
  const QuicInitialParse parse = decryptQuicInitials(datagram);
  ASSERT_EQ(parse.status, QuicStatus::kOk) << parse.error;
  EXPECT_EQ(parse.version, kQuicVersion2);
  EXPECT_EQ(serverNameIn(parse), "example.com");
}

TEST(QuicInitialTest, RoundTripsBothVersions) {
  for (const std::uint32_t version : {kQuicVersion1, kQuicVersion2}) {
    const Bytes datagram = initialFor(version, "Video.Example.ORG");
    EXPECT_GE(datagram.size(), kMinInitialDatagramBytes);
    const QuicInitialParse parse = decryptQuicInitials(datagram);
    ASSERT_EQ(parse.status, QuicStatus::kOk) << parse.error;
    EXPECT_EQ(parse.version, version);
    EXPECT_EQ(parse.dcid, fromHex("0011223344556677"));
    EXPECT_EQ(serverNameIn(parse), "video.example.org");
  }
}

TEST(QuicInitialTest, EmptyAndLongestConnectionIdsRoundTrip) {
  for (const std::size_t dcid_length : {std::size_t{0}, kMaxConnectionIdBytes}) {
    const QuicInitialParse parse = decryptQuicInitials(
        buildQuicInitial({.dcid = Bytes(dcid_length, 0x42),
                          .crypto = buildClientHello({.server_name = "c.example"})}));
    ASSERT_EQ(parse.status, QuicStatus::kOk) << parse.error;
    EXPECT_EQ(parse.dcid.size(), dcid_length);
    EXPECT_EQ(serverNameIn(parse), "c.example");
  }
}

TEST(QuicInitialTest, HelloWithoutServerName) {
  const QuicInitialParse parse = decryptQuicInitials(
      buildQuicInitial({.dcid = fromHex("0102030405060708"), .crypto = buildClientHello({})}));
  ASSERT_EQ(parse.status, QuicStatus::kOk) << parse.error;
  EXPECT_FALSE(serverNameIn(parse).has_value());
}

TEST(QuicInitialTest, HelloOverTwoDatagramsReassemblesOutOfOrder) {
  const Bytes hello = buildClientHello({.server_name = "two.example", .padding = 2300});
  const std::size_t split = 1100;
  const Bytes dcid = fromHex("0102030405060708");
  // The second datagram repeats 100 bytes of the first: an overlap.
  const Bytes second =
      buildQuicInitial({.dcid = dcid,
                        .packet_number = 1,
                        .crypto_offset = split - 100,
                        .crypto = Bytes(hello.begin() + split - 100, hello.end())});
  const Bytes first =
      buildQuicInitial({.dcid = dcid, .crypto = Bytes(hello.begin(), hello.begin() + split)});
  CryptoStream stream;
  for (const Bytes& datagram : {second, first}) {
    const QuicInitialParse parse = decryptQuicInitials(datagram);
    ASSERT_EQ(parse.status, QuicStatus::kOk) << parse.error;
    for (const CryptoFragment& fragment : parse.crypto) EXPECT_TRUE(stream.add(fragment));
    if (&datagram == &second) {
      EXPECT_TRUE(stream.contiguous().empty());
    }
  }
  ASSERT_EQ(stream.contiguous().size(), hello.size());
  const HelloParse parse = parseClientHelloMessage(stream.contiguous());
  ASSERT_EQ(parse.status, HelloStatus::kComplete) << parse.error;
  EXPECT_EQ(parse.info.server_name, "two.example");
}

TEST(QuicInitialTest, CryptoStreamPrefixHasNoGaps) {
  CryptoStream stream;
  EXPECT_TRUE(stream.add({.offset = 4, .data = {4, 5}}));
  EXPECT_TRUE(stream.add({.offset = 0, .data = {0, 1}}));
  EXPECT_EQ(stream.contiguous().size(), 2u);
  EXPECT_TRUE(stream.add({.offset = 1, .data = {1, 2, 3, 4}}));
  EXPECT_EQ(stream.contiguous().size(), 6u);
  EXPECT_TRUE(stream.add({.offset = 0, .data = {0, 1, 2}}));  // a repeat
  EXPECT_FALSE(stream.conflicting());
}

TEST(QuicInitialTest, CryptoStreamRefusesContradictingBytes) {
  CryptoStream stream;
  EXPECT_TRUE(stream.add({.offset = 0, .data = {1, 2, 3}}));
  EXPECT_FALSE(stream.add({.offset = 2, .data = {9, 4}}));
  EXPECT_TRUE(stream.conflicting());
  EXPECT_EQ(Bytes(stream.contiguous().begin(), stream.contiguous().end()), (Bytes{1, 2, 3, 4}));
}

TEST(QuicInitialTest, CryptoStreamStopsAtTheLimit) {
  CryptoStream stream;
  EXPECT_TRUE(stream.add({.offset = 0, .data = Bytes(kMaxClientHelloBytes - 10, 7)}));
  EXPECT_FALSE(stream.add({.offset = kMaxClientHelloBytes - 10, .data = Bytes(20, 7)}));
  EXPECT_TRUE(stream.overflowed());
  EXPECT_EQ(stream.contiguous().size(), kMaxClientHelloBytes);
  EXPECT_FALSE(stream.add({.offset = ~std::uint64_t{0}, .data = Bytes(20, 7)}));
  EXPECT_FALSE(stream.add({.offset = kMaxClientHelloBytes + 1, .data = {}}));
}

QuicStatus statusWithFrames(const Bytes& frames) {
  return decryptQuicInitials(buildQuicInitial({.dcid = fromHex("0102030405060708"),
                                               .crypto = buildClientHello({}),
                                               .more_frames = frames}))
      .status;
}

TEST(QuicInitialTest, FramesAnInitialMayCarryAreSkipped) {
  // PING; ACK of 0..2 with one more range; ACK_ECN with counts; CONNECTION_CLOSE with a
  // 2-byte reason.
  EXPECT_EQ(statusWithFrames({0x01, 0x02, 0x05, 0x00, 0x01, 0x01, 0x00, 0x00, 0x03, 0x02, 0x00,
                              0x00, 0x00, 0x07, 0x08, 0x09, 0x1c, 0x0a, 0x06, 0x02, 'h',  'i'}),
            QuicStatus::kOk);
}

TEST(QuicInitialTest, OtherFramesAreMalformed) {
  EXPECT_EQ(statusWithFrames({0x08, 0x00, 0x01, 0x61}), QuicStatus::kMalformed);  // STREAM
  EXPECT_EQ(statusWithFrames({0x1d, 0x00, 0x00, 0x00}), QuicStatus::kMalformed);  // app close
  EXPECT_EQ(statusWithFrames({0x1e}), QuicStatus::kMalformed);                    // HANDSHAKE_DONE
  // A CRYPTO frame whose end is past 2^62 - 1.
  EXPECT_EQ(statusWithFrames({0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00}),
            QuicStatus::kMalformed);
  // A CRYPTO frame longer than the packet.
  EXPECT_EQ(statusWithFrames({0x06, 0x00, 0x80, 0x01, 0x00, 0x00}), QuicStatus::kMalformed);
}

TEST(QuicInitialTest, CorruptedCiphertextIsUndecryptable) {
  Bytes datagram = initialFor(kQuicVersion1, "a.example");
  datagram[200] ^= 0x01;
  EXPECT_EQ(decryptQuicInitials(datagram).status, QuicStatus::kUndecryptable);
  Bytes other_dcid = initialFor(kQuicVersion1, "a.example");
  other_dcid[6] ^= 0x01;  // keys of another connection ID
  EXPECT_EQ(decryptQuicInitials(other_dcid).status, QuicStatus::kUndecryptable);
}

TEST(QuicInitialTest, ShortHeaderIsNotInitial) {
  Bytes datagram(1200, 0x5a);
  datagram[0] = 0x41;
  EXPECT_EQ(decryptQuicInitials(datagram).status, QuicStatus::kNotInitial);
}

TEST(QuicInitialTest, OtherLongHeaderTypeFirstIsNotInitial) {
  Bytes handshake = initialFor(kQuicVersion1, "a.example");
  handshake[0] = (handshake[0] & 0xcf) | 0x20;  // v1 Handshake
  EXPECT_EQ(decryptQuicInitials(handshake).status, QuicStatus::kNotInitial);
  Bytes v2_zero_rtt = initialFor(kQuicVersion2, "a.example");
  v2_zero_rtt[0] = (v2_zero_rtt[0] & 0xcf) | 0x20;  // v2 0-RTT
  EXPECT_EQ(decryptQuicInitials(v2_zero_rtt).status, QuicStatus::kNotInitial);
}

TEST(QuicInitialTest, VersionNegotiationAndUnknownVersionsAreUnsupported) {
  Bytes datagram = initialFor(kQuicVersion1, "a.example");
  for (const std::uint8_t last : {0x00, 0x02}) {
    datagram[4] = last;  // version 0x00000000, then 0x00000002
    if (last == 0) datagram[1] = datagram[2] = datagram[3] = 0;
    EXPECT_EQ(decryptQuicInitials(datagram).status, QuicStatus::kUnsupportedVersion);
  }
}

TEST(QuicInitialTest, CoalescedInitialThenGarbageYieldsTheInitial) {
  Bytes datagram = initialFor(kQuicVersion1, "coalesced.example");
  const std::string garbage = "garbage after the packet";
  datagram.insert(datagram.end(), garbage.begin(), garbage.end());
  const QuicInitialParse parse = decryptQuicInitials(datagram);
  ASSERT_EQ(parse.status, QuicStatus::kOk) << parse.error;
  EXPECT_EQ(serverNameIn(parse), "coalesced.example");
  // A long header that cannot be parsed ends the walk the same way.
  datagram.resize(datagram.size() - garbage.size());
  datagram.insert(datagram.end(), {0xc0, 0x00, 0x00, 0x00});
  EXPECT_EQ(decryptQuicInitials(datagram).status, QuicStatus::kOk);
}

TEST(QuicInitialTest, CoalescedInitialsAreAllRead) {
  const Bytes hello = buildClientHello({.server_name = "both.example"});
  const Bytes dcid = fromHex("0102030405060708");
  Bytes datagram =
      buildQuicInitial({.dcid = dcid, .crypto = Bytes(hello.begin(), hello.begin() + 50)});
  const Bytes second = buildQuicInitial({.dcid = dcid,
                                         .packet_number = 1,
                                         .crypto_offset = 50,
                                         .crypto = Bytes(hello.begin() + 50, hello.end())});
  datagram.insert(datagram.end(), second.begin(), second.end());
  const QuicInitialParse parse = decryptQuicInitials(datagram);
  ASSERT_EQ(parse.status, QuicStatus::kOk) << parse.error;
  ASSERT_EQ(parse.crypto.size(), 2u);
  EXPECT_EQ(serverNameIn(parse), "both.example");
  // A broken second Initial of the same connection spoils the datagram.
  datagram[datagram.size() - 1] ^= 0x01;
  EXPECT_EQ(decryptQuicInitials(datagram).status, QuicStatus::kUndecryptable);
}

TEST(QuicInitialTest, TruncatedOrOversizeFieldsAreMalformed) {
  const Bytes datagram = initialFor(kQuicVersion1, "a.example");
  EXPECT_EQ(decryptQuicInitials(std::span(datagram).first(3)).status, QuicStatus::kMalformed);
  EXPECT_EQ(decryptQuicInitials(std::span(datagram).first(20)).status, QuicStatus::kMalformed);
  EXPECT_EQ(decryptQuicInitials(std::span(datagram).first(1100)).status, QuicStatus::kMalformed);
  Bytes long_dcid = datagram;
  long_dcid[5] = 21;
  EXPECT_EQ(decryptQuicInitials(long_dcid).status, QuicStatus::kMalformed);
}

TEST(QuicInitialTest, MoreThanAUdpDatagramIsMalformed) {
  Bytes datagram = initialFor(kQuicVersion1, "a.example");
  datagram.resize(70000, 0);
  EXPECT_EQ(decryptQuicInitials(datagram).status, QuicStatus::kMalformed);
}

TEST(QuicInitialTest, EmptyDatagramIsNotInitial) {
  EXPECT_EQ(decryptQuicInitials({}).status, QuicStatus::kNotInitial);
}

}  // namespace
}  // namespace skouter::tls
