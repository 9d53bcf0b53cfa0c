// The ClientHello parsers: the server name as policy will compare it, TLS records
// arriving in pieces, and the ways an attacker's bytes can be broken.
#include "tls/client_hello.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace skouter::tls {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytesOf(std::string_view text) { return Bytes(text.begin(), text.end()); }

void appendU16(Bytes& out, std::size_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

Bytes extension(std::uint16_t type, const Bytes& body) {
  Bytes out;
  appendU16(out, type);
  appendU16(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes serverNameExtension(const Bytes& name, std::uint8_t name_type = 0) {
  Bytes body;
  appendU16(body, name.size() + 3);
  body.push_back(name_type);
  appendU16(body, name.size());
  body.insert(body.end(), name.begin(), name.end());
  return extension(0, body);
}

// A ClientHello message with `extensions` as its raw extensions block and
// `extensions_length` in its length field (the block's size unless given).
Bytes helloWithExtensions(const Bytes& extensions,
                          std::optional<std::size_t> extensions_length = {}) {
  Bytes body{0x03, 0x03};
  body.resize(body.size() + 32, 0x11);  // random
  body.push_back(0);                    // no session id
  body.insert(body.end(), {0x00, 0x02, 0x13, 0x01, 0x01, 0x00});
  appendU16(body, extensions_length.value_or(extensions.size()));
  body.insert(body.end(), extensions.begin(), extensions.end());
  Bytes message{0x01, static_cast<std::uint8_t>(body.size() >> 16)};
  appendU16(message, body.size() & 0xffff);
  message.insert(message.end(), body.begin(), body.end());
  return message;
}

HelloParse parseRecords(const Bytes& handshake) {
  return parseTlsClientHello(inTlsRecords(handshake));
}

TEST(ClientHelloTest, ReadsTheServerNameFromOneRecord) {
  const HelloParse parse = parseRecords(buildClientHello({.server_name = "api.example.com"}));
  ASSERT_EQ(parse.status, HelloStatus::kComplete) << parse.error;
  EXPECT_EQ(parse.info.server_name, "api.example.com");
  EXPECT_FALSE(parse.info.encrypted_client_hello);
}

TEST(ClientHelloTest, LowerCasesTheNameAndDropsTheTrailingDot) {
  const HelloParse parse = parseRecords(buildClientHello({.server_name = "WWW.Example.COM."}));
  ASSERT_EQ(parse.status, HelloStatus::kComplete) << parse.error;
  EXPECT_EQ(parse.info.server_name, "www.example.com");
}

TEST(ClientHelloTest, NoServerNameExtensionIsCompleteWithoutName) {
  const HelloParse parse = parseRecords(buildClientHello({}));
  ASSERT_EQ(parse.status, HelloStatus::kComplete) << parse.error;
  EXPECT_FALSE(parse.info.server_name.has_value());
}

TEST(ClientHelloTest, EncryptedClientHelloKeepsTheOuterName) {
  const HelloParse parse = parseRecords(
      buildClientHello({.server_name = "public.example.net", .encrypted_client_hello = true}));
  ASSERT_EQ(parse.status, HelloStatus::kComplete) << parse.error;
  EXPECT_EQ(parse.info.server_name, "public.example.net");
  EXPECT_TRUE(parse.info.encrypted_client_hello);
}

TEST(ClientHelloTest, HelloWithoutExtensionsBlockIsComplete) {
  Bytes hello = helloWithExtensions({});
  hello.resize(hello.size() - 2);  // drop the extensions length: a TLS 1.1 style hello
  hello[3] -= 2;
  const HelloParse parse = parseClientHelloMessage(hello);
  ASSERT_EQ(parse.status, HelloStatus::kComplete) << parse.error;
  EXPECT_FALSE(parse.info.server_name.has_value());
}

TEST(ClientHelloTest, HelloOverManyRecordsByteByByteNeedsMoreUntilComplete) {
  const Bytes stream =
      inTlsRecords(buildClientHello({.server_name = "split.example.org", .padding = 700}), 100);
  for (std::size_t length = 0; length < stream.size(); ++length) {
    const HelloParse parse = parseTlsClientHello(std::span(stream).first(length));
    ASSERT_EQ(parse.status, HelloStatus::kNeedMore)
        << "after " << length << " bytes: " << parse.error;
  }
  const HelloParse parse = parseTlsClientHello(stream);
  ASSERT_EQ(parse.status, HelloStatus::kComplete) << parse.error;
  EXPECT_EQ(parse.info.server_name, "split.example.org");
}

TEST(ClientHelloTest, BytesAfterTheHelloAreIgnored) {
  Bytes stream = inTlsRecords(buildClientHello({.server_name = "a.example"}));
  const Bytes change_cipher_spec{0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
  stream.insert(stream.end(), change_cipher_spec.begin(), change_cipher_spec.end());
  EXPECT_EQ(parseTlsClientHello(stream).info.server_name, "a.example");
}

TEST(ClientHelloTest, HttpRequestIsNotTlsFromTheFirstByte) {
  EXPECT_EQ(parseTlsClientHello(bytesOf("GET / HTTP/1.1\r\n")).status, HelloStatus::kNotTls);
  EXPECT_EQ(parseTlsClientHello(bytesOf("G")).status, HelloStatus::kNotTls);
}

TEST(ClientHelloTest, SshBannerIsNotTls) {
  EXPECT_EQ(parseTlsClientHello(bytesOf("SSH-2.0-OpenSSH_9.2p1\r\n")).status, HelloStatus::kNotTls);
}

TEST(ClientHelloTest, RecordVersionOutsideTls10To13IsNotTls) {
  EXPECT_EQ(parseTlsClientHello(Bytes{0x16, 0x03, 0x05}).status, HelloStatus::kNotTls);
  EXPECT_EQ(parseTlsClientHello(Bytes{0x16, 0x02}).status, HelloStatus::kNotTls);
  EXPECT_EQ(parseTlsClientHello(Bytes{0x16, 0x03, 0x01}).status, HelloStatus::kNeedMore);
}

TEST(ClientHelloTest, HandshakeOtherThanClientHelloIsMalformed) {
  Bytes hello = buildClientHello({.server_name = "a.example"});
  hello[0] = 2;  // ServerHello
  EXPECT_EQ(parseRecords(hello).status, HelloStatus::kMalformed);
  // Known from the first handshake byte.
  const Bytes records = inTlsRecords(hello);
  EXPECT_EQ(parseTlsClientHello(std::span(records).first(6)).status, HelloStatus::kMalformed);
}

TEST(ClientHelloTest, OversizeHelloIsMalformedFromItsHeader) {
  const Bytes stream =
      inTlsRecords(buildClientHello({.server_name = "a.example", .padding = 17000}));
  EXPECT_EQ(parseTlsClientHello(stream).status, HelloStatus::kMalformed);
  EXPECT_EQ(parseTlsClientHello(std::span(stream).first(9)).status, HelloStatus::kMalformed);
}

TEST(ClientHelloTest, HelloJustUnderTheLimitIsComplete) {
  Bytes hello = buildClientHello({.server_name = "big.example", .padding = 1});
  hello = buildClientHello(
      {.server_name = "big.example", .padding = 1 + kMaxClientHelloBytes - hello.size()});
  ASSERT_EQ(hello.size(), kMaxClientHelloBytes);
  EXPECT_EQ(parseRecords(hello).status, HelloStatus::kComplete);
}

TEST(ClientHelloTest, BrokenRecordLayerIsMalformed) {
  Bytes stream = inTlsRecords(buildClientHello({.server_name = "a.example"}), 50);
  Bytes alert_second = stream;
  alert_second[55] = 21;  // the second record's content type
  EXPECT_EQ(parseTlsClientHello(alert_second).status, HelloStatus::kMalformed);
  const Bytes empty_record{0x16, 0x03, 0x01, 0x00, 0x00};
  EXPECT_EQ(parseTlsClientHello(empty_record).status, HelloStatus::kMalformed);
  const Bytes oversize_record{0x16, 0x03, 0x01, 0x40, 0x01};
  EXPECT_EQ(parseTlsClientHello(oversize_record).status, HelloStatus::kMalformed);
}

TEST(ClientHelloTest, TruncatedExtensionsAreMalformed) {
  const Bytes name = serverNameExtension(bytesOf("a.example"));
  // The block's length field claims more than the message holds.
  EXPECT_EQ(parseClientHelloMessage(helloWithExtensions(name, name.size() + 1)).status,
            HelloStatus::kMalformed);
  // An extension whose length runs past the block.
  Bytes cut = name;
  cut.resize(cut.size() - 1);
  EXPECT_EQ(parseClientHelloMessage(helloWithExtensions(cut)).status, HelloStatus::kMalformed);
  // Half an extension header.
  EXPECT_EQ(parseClientHelloMessage(helloWithExtensions(Bytes{0x00})).status,
            HelloStatus::kMalformed);
}

TEST(ClientHelloTest, ServerNameLengthsPastTheirExtensionAreMalformed) {
  Bytes list_too_long = serverNameExtension(bytesOf("a.example"));
  list_too_long[5] += 1;  // the list length
  EXPECT_EQ(parseClientHelloMessage(helloWithExtensions(list_too_long)).status,
            HelloStatus::kMalformed);
  Bytes name_too_long = serverNameExtension(bytesOf("a.example"));
  name_too_long[8] += 1;  // the host_name length
  EXPECT_EQ(parseClientHelloMessage(helloWithExtensions(name_too_long)).status,
            HelloStatus::kMalformed);
}

TEST(ClientHelloTest, BadNameBytesAreMalformed) {
  for (const std::string& name :
       {std::string("exa mple.com"), std::string("\x80.example"), std::string("a\0b", 3),
        std::string(""), std::string("."), std::string(254, 'a')}) {
    const HelloParse parse =
        parseClientHelloMessage(helloWithExtensions(serverNameExtension(bytesOf(name))));
    EXPECT_EQ(parse.status, HelloStatus::kMalformed) << "name of " << name.size() << " bytes";
  }
  const HelloParse longest = parseClientHelloMessage(
      helloWithExtensions(serverNameExtension(bytesOf(std::string(253, 'a') + "."))));
  ASSERT_EQ(longest.status, HelloStatus::kComplete) << longest.error;
  EXPECT_EQ(longest.info.server_name, std::string(253, 'a'));
}

TEST(ClientHelloTest, DuplicateServerNameIsMalformed) {
  Bytes twice = serverNameExtension(bytesOf("allowed.example"));
  const Bytes other = serverNameExtension(bytesOf("other.example"));
  twice.insert(twice.end(), other.begin(), other.end());
  EXPECT_EQ(parseClientHelloMessage(helloWithExtensions(twice)).status, HelloStatus::kMalformed);
}

TEST(ClientHelloTest, NameTypeOtherThanHostNameIsMalformed) {
  EXPECT_EQ(
      parseClientHelloMessage(helloWithExtensions(serverNameExtension(bytesOf("a.example"), 1)))
          .status,
      HelloStatus::kMalformed);
}

TEST(ClientHelloTest, UnknownExtensionsAreSkipped) {
  Bytes extensions = extension(0x7a7a, Bytes{});  // GREASE, empty
  const Bytes unknown = extension(0x1234, Bytes(40, 0xee));
  const Bytes name = serverNameExtension(bytesOf("after.example"));
  extensions.insert(extensions.end(), unknown.begin(), unknown.end());
  extensions.insert(extensions.end(), name.begin(), name.end());
  const HelloParse parse = parseClientHelloMessage(helloWithExtensions(extensions));
  ASSERT_EQ(parse.status, HelloStatus::kComplete) << parse.error;
  EXPECT_EQ(parse.info.server_name, "after.example");
}

TEST(ClientHelloTest, MessagePrefixNeedsMore) {
  const Bytes hello = buildClientHello({.server_name = "a.example"});
  EXPECT_EQ(parseClientHelloMessage({}).status, HelloStatus::kNeedMore);
  EXPECT_EQ(parseClientHelloMessage(std::span(hello).first(hello.size() - 1)).status,
            HelloStatus::kNeedMore);
}

}  // namespace
}  // namespace skouter::tls
