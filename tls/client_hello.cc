// ClientHello parsing (RFC 8446 section 4.1.2, server_name of RFC 6066 section 3,
// encrypted_client_hello of draft-ietf-tls-esni) and a builder of ClientHellos.
#include "tls/client_hello.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "tls/byte_reader.h"

namespace skouter::tls {
namespace {

constexpr std::uint8_t kHandshakeContentType = 22;
constexpr std::uint8_t kClientHelloType = 1;
constexpr std::size_t kRecordHeaderBytes = 5;
constexpr std::size_t kHandshakeHeaderBytes = 4;
// RFC 8446 section 5.1: a plaintext record carries at most 2^14 bytes.
constexpr std::size_t kMaxRecordPayload = 16384;
constexpr std::uint16_t kServerNameExtension = 0;
constexpr std::uint16_t kPaddingExtension = 21;
constexpr std::uint16_t kEncryptedClientHelloExtension = 0xfe0d;
constexpr std::uint8_t kHostNameType = 0;
constexpr std::size_t kMaxNameBytes = 253;

HelloParse failed(HelloStatus status, std::string error) {
  return HelloParse{status, {}, std::move(error)};
}
HelloParse malformed(std::string error) {
  return failed(HelloStatus::kMalformed, std::move(error));
}

// A server name as policy compares it, or nullopt when it is no host name at all.
// Bytes outside visible ASCII (0x21-0x7e) would print or compare differently in
// different places; a name a server would read other than we do must be a denial.
std::optional<std::string> normalizedName(std::span<const std::uint8_t> raw) {
  std::string name;
  name.reserve(raw.size());
  for (const std::uint8_t byte : raw) {
    if (byte < 0x21 || byte > 0x7e) return std::nullopt;
    name.push_back(static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte));
  }
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > kMaxNameBytes) return std::nullopt;
  return name;
}

// The server_name extension's body: a ServerNameList holding exactly one host_name.
// Other name types are refused rather than skipped: RFC 6066 defines no other, and
// servers disagree on how to skip one, so an attacker could hide a second name there.
bool readServerName(std::span<const std::uint8_t> body, HelloParse& parse) {
  ByteReader reader(body);
  std::span<const std::uint8_t> list;
  if (!reader.prefixed(2, list) || !reader.empty() || list.empty()) {
    parse.error = "bad server_name list";
    return false;
  }
  ByteReader entries(list);
  std::uint8_t name_type = 0;
  std::span<const std::uint8_t> raw_name;
  if (!entries.u8(name_type) || !entries.prefixed(2, raw_name) || !entries.empty()) {
    parse.error = "server_name list not one name";
    return false;
  }
  if (name_type != kHostNameType) {
    parse.error = "server_name of an unknown type";
    return false;
  }
  parse.info.server_name = normalizedName(raw_name);
  if (!parse.info.server_name) parse.error = "bad host_name";
  return parse.info.server_name.has_value();
}

// The extensions block; a duplicate server_name or ECH extension is malformed
// (RFC 8446 section 4.2) since the server might read the other copy.
bool readExtensions(std::span<const std::uint8_t> block, HelloParse& parse) {
  ByteReader reader(block);
  bool seen_server_name = false;
  while (!reader.empty()) {
    std::uint16_t type = 0;
    std::span<const std::uint8_t> body;
    if (!reader.u16(type) || !reader.prefixed(2, body)) {
      parse.error = "truncated extension";
      return false;
    }
    if (type == kServerNameExtension) {
      if (seen_server_name) {
        parse.error = "duplicate server_name";
        return false;
      }
      seen_server_name = true;
      if (!readServerName(body, parse)) return false;
    } else if (type == kEncryptedClientHelloExtension) {
      if (parse.info.encrypted_client_hello) {
        parse.error = "duplicate encrypted_client_hello";
        return false;
      }
      parse.info.encrypted_client_hello = true;
    }
  }
  return true;
}

// The ClientHello body after its handshake header, walked once.
HelloParse readClientHelloBody(std::span<const std::uint8_t> body) {
  ByteReader reader(body);
  std::span<const std::uint8_t> session_id, cipher_suites, compression_methods;
  if (!reader.skip(2 + 32) || !reader.prefixed(1, session_id) ||
      !reader.prefixed(2, cipher_suites) || !reader.prefixed(1, compression_methods)) {
    return malformed("truncated ClientHello");
  }
  if (session_id.size() > 32 || cipher_suites.empty() || cipher_suites.size() % 2 != 0 ||
      compression_methods.empty()) {
    return malformed("bad ClientHello fields");
  }
  HelloParse parse{HelloStatus::kComplete, {}, {}};
  // Before TLS 1.2 (RFC 5246 section 7.4.1.2) the extensions block may be absent.
  if (reader.empty()) return parse;
  std::span<const std::uint8_t> extensions;
  if (!reader.prefixed(2, extensions) || !reader.empty()) {
    return malformed("bad extensions length");
  }
  if (!readExtensions(extensions, parse)) {
    return malformed(parse.error);
  }
  return parse;
}

// The ClientHello that starts a handshake byte stream: kNeedMore until all of it is
// there, but a wrong type or a length over the limit is known from the first bytes.
HelloParse readHandshake(std::span<const std::uint8_t> handshake) {
  if (handshake.empty()) return failed(HelloStatus::kNeedMore, {});
  if (handshake[0] != kClientHelloType)
    return malformed("first handshake message not a ClientHello");
  ByteReader reader(handshake.subspan(1));
  std::uint32_t length = 0;
  if (!reader.u24(length)) return failed(HelloStatus::kNeedMore, {});
  if (length > kMaxClientHelloBytes - kHandshakeHeaderBytes)
    return malformed("ClientHello too big");
  std::span<const std::uint8_t> body;
  if (!reader.bytes(length, body)) return failed(HelloStatus::kNeedMore, {});
  return readClientHelloBody(body);
}

// Whether the first bytes of a stream can begin a TLS handshake record; known from
// its first byte, then the second and third.
bool canStartHandshakeRecord(std::span<const std::uint8_t> stream) {
  return (stream.size() < 1 || stream[0] == kHandshakeContentType) &&
         (stream.size() < 2 || stream[1] == 0x03) &&
         (stream.size() < 3 || (stream[2] >= 0x01 && stream[2] <= 0x04));
}

void append(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
void appendU8(std::vector<std::uint8_t>& out, std::size_t value) {
  out.push_back(static_cast<std::uint8_t>(value));
}
void appendU16(std::vector<std::uint8_t>& out, std::size_t value) {
  if (value > 0xffff) throw std::length_error("field over 65535");
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}
void appendU24(std::vector<std::uint8_t>& out, std::size_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 16));
  appendU16(out, value & 0xffff);
}
void appendRandom(std::vector<std::uint8_t>& out, std::size_t count) {
  const std::size_t start = out.size();
  out.resize(start + count);
  if (RAND_bytes(out.data() + start, static_cast<int>(count)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
}
void appendExtension(std::vector<std::uint8_t>& out, std::uint16_t type,
                     std::span<const std::uint8_t> body) {
  appendU16(out, type);
  appendU16(out, body.size());
  append(out, body);
}

std::vector<std::uint8_t> serverNameBody(std::string_view name) {
  std::vector<std::uint8_t> body;
  appendU16(body, name.size() + 3);
  appendU8(body, kHostNameType);
  appendU16(body, name.size());
  body.insert(body.end(), name.begin(), name.end());
  return body;
}

// An ECHClientHello of type outer (draft-ietf-tls-esni section 5): HPKE suite
// HKDF-SHA256/AES-128-GCM, a config id, a 32-byte encapsulated key and a payload, all
// random as far as anyone on the path can tell.
std::vector<std::uint8_t> echOuterBody() {
  std::vector<std::uint8_t> body{0x00, 0x00, 0x01, 0x00, 0x01};
  appendRandom(body, 1);
  appendU16(body, 32);
  appendRandom(body, 32);
  appendU16(body, 144);
  appendRandom(body, 144);
  return body;
}

std::vector<std::uint8_t> extensionsBlock(const ClientHelloOptions& options) {
  std::vector<std::uint8_t> out;
  if (options.server_name) {
    appendExtension(out, kServerNameExtension, serverNameBody(*options.server_name));
  }
  // supported_groups: x25519, secp256r1.
  appendExtension(out, 10, std::vector<std::uint8_t>{0x00, 0x04, 0x00, 0x1d, 0x00, 0x17});
  // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256.
  appendExtension(out, 13,
                  std::vector<std::uint8_t>{0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01});
  // supported_versions: TLS 1.3.
  appendExtension(out, 43, std::vector<std::uint8_t>{0x02, 0x03, 0x04});
  // psk_key_exchange_modes: psk_dhe_ke.
  appendExtension(out, 45, std::vector<std::uint8_t>{0x01, 0x01});
  // key_share: one x25519 share.
  std::vector<std::uint8_t> key_share{0x00, 0x24, 0x00, 0x1d, 0x00, 0x20};
  appendRandom(key_share, 32);
  appendExtension(out, 51, key_share);
  if (options.encrypted_client_hello) {
    appendExtension(out, kEncryptedClientHelloExtension, echOuterBody());
  }
  if (options.padding > 0) {
    appendExtension(out, kPaddingExtension, std::vector<std::uint8_t>(options.padding, 0));
  }
  return out;
}

}  // namespace

HelloParse parseClientHelloMessage(std::span<const std::uint8_t> handshake) {
  return readHandshake(handshake);
}

HelloParse parseTlsClientHello(std::span<const std::uint8_t> stream) {
  if (!canStartHandshakeRecord(stream)) return failed(HelloStatus::kNotTls, "not a TLS handshake");
  // The handshake bytes of the records so far, the last one maybe partial. At most
  // kMaxClientHelloBytes plus one record are ever copied: readHandshake stops at the
  // limit once it has the length.
  std::vector<std::uint8_t> handshake;
  ByteReader reader(stream);
  while (!reader.empty()) {
    std::uint8_t type = 0, major = 0, minor = 0;
    std::uint16_t length = 0;
    std::span<const std::uint8_t> header;
    if (!reader.bytes(kRecordHeaderBytes, header)) break;
    ByteReader fields(header);
    fields.u8(type);
    fields.u8(major);
    fields.u8(minor);
    fields.u16(length);
    if (type != kHandshakeContentType || major != 0x03 || minor < 0x01 || minor > 0x04) {
      return malformed("bad record header");
    }
    if (length == 0 || length > kMaxRecordPayload) return malformed("bad record length");
    std::span<const std::uint8_t> fragment;
    const bool whole = reader.bytes(length, fragment);
    if (!whole) reader.bytes(reader.remaining(), fragment);
    append(handshake, fragment);
    HelloParse parse = readHandshake(handshake);
    if (parse.status != HelloStatus::kNeedMore || !whole) return parse;
  }
  return failed(HelloStatus::kNeedMore, {});
}

std::vector<std::uint8_t> buildClientHello(const ClientHelloOptions& options) {
  std::vector<std::uint8_t> body{0x03, 0x03};  // legacy_version TLS 1.2
  appendRandom(body, 32);
  // A 32-byte legacy_session_id, as TLS 1.3 clients send for middlebox compatibility.
  appendU8(body, 32);
  appendRandom(body, 32);
  // TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256.
  append(body, std::vector<std::uint8_t>{0x00, 0x06, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03});
  append(body, std::vector<std::uint8_t>{0x01, 0x00});  // compression: null only
  const std::vector<std::uint8_t> extensions = extensionsBlock(options);
  appendU16(body, extensions.size());
  append(body, extensions);

  std::vector<std::uint8_t> message{kClientHelloType};
  appendU24(message, body.size());
  append(message, body);
  return message;
}

std::vector<std::uint8_t> inTlsRecords(std::span<const std::uint8_t> handshake,
                                       std::size_t max_record_payload) {
  max_record_payload = std::clamp<std::size_t>(max_record_payload, 1, kMaxRecordPayload);
  std::vector<std::uint8_t> records;
  for (std::size_t offset = 0; offset < handshake.size(); offset += max_record_payload) {
    const auto fragment =
        handshake.subspan(offset, std::min(max_record_payload, handshake.size() - offset));
    append(records, std::vector<std::uint8_t>{kHandshakeContentType, 0x03, 0x01});
    appendU16(records, fragment.size());
    append(records, fragment);
  }
  return records;
}

}  // namespace skouter::tls
