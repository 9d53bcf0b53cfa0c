// QUIC Initial packet protection (RFC 9001 section 5, RFC 9369 section 3.3) with
// libcrypto's EVP interfaces, the Initial packet and frame layouts of RFC 9000, and
// CRYPTO stream reassembly.
#include "tls/quic_initial.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "tls/byte_reader.h"

namespace skouter::tls {
namespace {

// What differs between the versions' Initial packets (RFC 9369 section 3).
struct VersionConstants {
  std::uint32_t version;
  std::array<std::uint8_t, 20> initial_salt;
  std::string_view key_label, iv_label, hp_label;
  std::uint8_t initial_type;  // the long header's packet type bits of an Initial
};

constexpr VersionConstants kVersions[] = {
    {kQuicVersion1,
     {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
      0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a},
     "quic key",
     "quic iv",
     "quic hp",
     0b00},
    {kQuicVersion2,
     {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
      0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9},
     "quicv2 key",
     "quicv2 iv",
     "quicv2 hp",
     0b01},
};

const VersionConstants* versionConstants(std::uint32_t version) {
  for (const VersionConstants& constants : kVersions) {
    if (constants.version == version) return &constants;
  }
  return nullptr;
}

constexpr std::size_t kSecretBytes = 32;  // SHA-256
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kSampleBytes = 16;
// Header protection samples 16 bytes from 4 bytes after the packet number's start,
// whatever its length (RFC 9001 section 5.4.2).
constexpr std::size_t kSampleOffset = 4;
constexpr std::uint64_t kMaxVarint = (std::uint64_t{1} << 62) - 1;
constexpr std::uint8_t kLongHeaderBit = 0x80;
// Bounds what one call decrypts and copies, and keeps lengths within libcrypto's int.
constexpr std::size_t kMaxUdpPayloadBytes = 65535 - 8;

struct KdfFree {
  void operator()(EVP_KDF* kdf) const { EVP_KDF_free(kdf); }
};
struct KdfContextFree {
  void operator()(EVP_KDF_CTX* context) const { EVP_KDF_CTX_free(context); }
};
struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;

// HKDF-Expand with SHA-256 of `secret` and `info` into `out`.
bool hkdfExpand(std::span<const std::uint8_t> secret, std::span<const std::uint8_t> info,
                std::span<std::uint8_t> out) {
  const std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return false;
  const std::unique_ptr<EVP_KDF_CTX, KdfContextFree> context(EVP_KDF_CTX_new(kdf.get()));
  if (!context) return false;
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                        const_cast<std::uint8_t*>(secret.data()), secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<std::uint8_t*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end(),
  };
  return EVP_KDF_derive(context.get(), out.data(), out.size(), params) == 1;
}

// HKDF-Extract with SHA-256, which is HMAC-SHA256 keyed with the salt (RFC 5869
// section 2.2). Computed as that HMAC, not with the "HKDF" KDF: OpenSSL's HKDF refuses
// empty input keying material, and an empty DCID is one.
bool hkdfExtract(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> input,
                 std::array<std::uint8_t, kSecretBytes>& out) {
  std::size_t written = 0;
  return EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, salt.data(), salt.size(),
                   input.data(), input.size(), out.data(), out.size(), &written) != nullptr &&
         written == out.size();
}

// HKDF-Expand-Label of TLS 1.3 (RFC 8446 section 7.1) with an empty context.
bool expandLabel(std::span<const std::uint8_t> secret, std::string_view label,
                 std::span<std::uint8_t> out) {
  constexpr std::string_view kPrefix = "tls13 ";
  std::vector<std::uint8_t> info{static_cast<std::uint8_t>(out.size() >> 8),
                                 static_cast<std::uint8_t>(out.size()),
                                 static_cast<std::uint8_t>(kPrefix.size() + label.size())};
  info.insert(info.end(), kPrefix.begin(), kPrefix.end());
  info.insert(info.end(), label.begin(), label.end());
  info.push_back(0);
  return hkdfExpand(secret, info, out);
}

// The header protection mask: AES-128 of the sample (RFC 9001 section 5.4.3).
bool headerProtectionMask(const InitialKeys& keys, std::span<const std::uint8_t> sample,
                          std::array<std::uint8_t, kSampleBytes>& mask) {
  const CipherContext context(EVP_CIPHER_CTX_new());
  int written = 0;
  return context &&
         EVP_EncryptInit_ex(context.get(), EVP_aes_128_ecb(), nullptr, keys.hp.data(), nullptr) ==
             1 &&
         EVP_CIPHER_CTX_set_padding(context.get(), 0) == 1 &&
         EVP_EncryptUpdate(context.get(), mask.data(), &written, sample.data(),
                           static_cast<int>(kSampleBytes)) == 1 &&
         written == static_cast<int>(kSampleBytes);
}

// The AEAD nonce: the IV with the packet number XORed into its low bytes.
std::array<std::uint8_t, 12> nonceFor(const InitialKeys& keys, std::uint64_t packet_number) {
  std::array<std::uint8_t, 12> nonce = keys.iv;
  for (std::size_t i = 0; i < 8; ++i) {
    nonce[nonce.size() - 1 - i] ^= static_cast<std::uint8_t>(packet_number >> (8 * i));
  }
  return nonce;
}

// AES-128-GCM open of `sealed` (ciphertext, then the 16-byte tag).
bool aeadOpen(const InitialKeys& keys, std::uint64_t packet_number,
              std::span<const std::uint8_t> header, std::span<const std::uint8_t> sealed,
              std::vector<std::uint8_t>& plaintext) {
  const auto ciphertext = sealed.first(sealed.size() - kTagBytes);
  const auto tag = sealed.last(kTagBytes);
  const auto nonce = nonceFor(keys, packet_number);
  // One spare byte: EVP wants a valid pointer even for an empty plaintext.
  plaintext.resize(ciphertext.size() + 1);
  const CipherContext context(EVP_CIPHER_CTX_new());
  int written = 0, header_written = 0, final_written = 0;
  const bool opened =
      context &&
      EVP_DecryptInit_ex(context.get(), EVP_aes_128_gcm(), nullptr, keys.key.data(),
                         nonce.data()) == 1 &&
      EVP_DecryptUpdate(context.get(), nullptr, &header_written, header.data(),
                        static_cast<int>(header.size())) == 1 &&
      EVP_DecryptUpdate(context.get(), plaintext.data(), &written, ciphertext.data(),
                        static_cast<int>(ciphertext.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                          const_cast<std::uint8_t*>(tag.data())) == 1 &&
      EVP_DecryptFinal_ex(context.get(), plaintext.data() + written, &final_written) == 1;
  plaintext.resize(ciphertext.size());
  return opened;
}

// AES-128-GCM seal of `plaintext`, ciphertext and tag appended to `out`.
bool aeadSeal(const InitialKeys& keys, std::uint64_t packet_number,
              std::span<const std::uint8_t> header, std::span<const std::uint8_t> plaintext,
              std::vector<std::uint8_t>& out) {
  const auto nonce = nonceFor(keys, packet_number);
  const std::size_t start = out.size();
  out.resize(start + plaintext.size() + kTagBytes);
  const CipherContext context(EVP_CIPHER_CTX_new());
  int written = 0, header_written = 0, final_written = 0;
  return context &&
         EVP_EncryptInit_ex(context.get(), EVP_aes_128_gcm(), nullptr, keys.key.data(),
                            nonce.data()) == 1 &&
         EVP_EncryptUpdate(context.get(), nullptr, &header_written, header.data(),
                           static_cast<int>(header.size())) == 1 &&
         EVP_EncryptUpdate(context.get(), out.data() + start, &written, plaintext.data(),
                           static_cast<int>(plaintext.size())) == 1 &&
         EVP_EncryptFinal_ex(context.get(), out.data() + start + written, &final_written) == 1 &&
         EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                             out.data() + start + plaintext.size()) == 1;
}

// A long header Initial packet of version 1 or 2 at the start of `bytes`, still
// protected: offsets are from the packet's first byte.
struct InitialHeader {
  const VersionConstants* constants = nullptr;
  std::span<const std::uint8_t> dcid;
  std::size_t packet_number_offset = 0;
  std::size_t end = 0;
};

struct Outcome {
  QuicStatus status;
  std::string error;
};
const Outcome kOk{QuicStatus::kOk, {}};

// The packet type bits and the fields up to the packet number (RFC 9000 section
// 17.2.2); the type is checked right after the version, so a first packet of another
// type is kNotInitial even if the rest would not parse.
Outcome readInitialHeader(std::span<const std::uint8_t> bytes, InitialHeader& header) {
  ByteReader reader(bytes);
  std::uint8_t first = 0;
  std::uint32_t version = 0;
  // The fixed bit (0x40) is not checked: a client may grease it (RFC 9287).
  if (!reader.u8(first) || (first & kLongHeaderBit) == 0) {
    return {QuicStatus::kNotInitial, "short header packet"};
  }
  if (!reader.u32(version)) return {QuicStatus::kMalformed, "truncated long header"};
  if (version == 0) return {QuicStatus::kUnsupportedVersion, "version negotiation packet"};
  header.constants = versionConstants(version);
  if (header.constants == nullptr) return {QuicStatus::kUnsupportedVersion, "unknown version"};
  if (((first >> 4) & 0b11) != header.constants->initial_type) {
    return {QuicStatus::kNotInitial, "long header packet other than Initial"};
  }
  std::span<const std::uint8_t> scid;
  std::uint64_t token_length = 0, length = 0;
  if (!reader.prefixed(1, header.dcid) || !reader.prefixed(1, scid) ||
      !reader.varint(token_length) || !reader.skip(token_length) || !reader.varint(length)) {
    return {QuicStatus::kMalformed, "truncated Initial header"};
  }
  if (header.dcid.size() > kMaxConnectionIdBytes || scid.size() > kMaxConnectionIdBytes) {
    return {QuicStatus::kMalformed, "connection ID over 20 bytes"};
  }
  if (length > reader.remaining()) return {QuicStatus::kMalformed, "Length past the datagram"};
  if (length < kSampleOffset + kSampleBytes) return {QuicStatus::kMalformed, "packet too short"};
  header.packet_number_offset = reader.position();
  header.end = reader.position() + length;
  return kOk;
}

// Removes header protection and decrypts the payload of `packet` (the bytes of one
// Initial) into `plaintext`.
Outcome openInitial(std::span<const std::uint8_t> packet, const InitialHeader& header,
                    const InitialKeys& keys, std::vector<std::uint8_t>& plaintext) {
  const std::size_t pn_offset = header.packet_number_offset;
  std::array<std::uint8_t, kSampleBytes> mask{};
  if (!headerProtectionMask(keys, packet.subspan(pn_offset + kSampleOffset, kSampleBytes), mask)) {
    return {QuicStatus::kUndecryptable, "header protection failed"};
  }
  const std::uint8_t first = packet[0] ^ (mask[0] & 0x0f);
  const std::size_t pn_length = (first & 0b11) + 1;
  // The unprotected header is the associated data: a copy, the datagram is read-only.
  std::vector<std::uint8_t> header_bytes(packet.begin(), packet.begin() + pn_offset + pn_length);
  header_bytes[0] = first;
  // An Initial's packet number decodes against none received yet (RFC 9000 appendix
  // A.3): the truncated value is the packet number.
  std::uint64_t packet_number = 0;
  for (std::size_t i = 0; i < pn_length; ++i) {
    header_bytes[pn_offset + i] ^= mask[1 + i];
    packet_number = (packet_number << 8) | header_bytes[pn_offset + i];
  }
  if (!aeadOpen(keys, packet_number, header_bytes,
                packet.subspan(pn_offset + pn_length, header.end - pn_offset - pn_length),
                plaintext)) {
    return {QuicStatus::kUndecryptable, "AEAD authentication failed"};
  }
  // Reserved bits are checked only once the packet is authentic (RFC 9000 17.2).
  if ((first & 0x0c) != 0) return {QuicStatus::kMalformed, "reserved bits set"};
  return kOk;
}

bool skipAck(ByteReader& reader, bool with_ecn) {
  std::uint64_t largest = 0, delay = 0, range_count = 0, first_range = 0;
  if (!reader.varint(largest) || !reader.varint(delay) || !reader.varint(range_count) ||
      !reader.varint(first_range)) {
    return false;
  }
  // Each range takes at least two bytes: a huge count ends at the payload's end.
  for (std::uint64_t i = 0; i < range_count; ++i) {
    std::uint64_t gap = 0, range = 0;
    if (!reader.varint(gap) || !reader.varint(range)) return false;
  }
  std::uint64_t count = 0;
  return !with_ecn || (reader.varint(count) && reader.varint(count) && reader.varint(count));
}

bool readCrypto(ByteReader& reader, std::vector<CryptoFragment>& crypto) {
  std::uint64_t offset = 0, length = 0;
  std::span<const std::uint8_t> data;
  if (!reader.varint(offset) || !reader.varint(length) || !reader.bytes(length, data) ||
      offset > kMaxVarint - length) {
    return false;
  }
  crypto.push_back(CryptoFragment{offset, {data.begin(), data.end()}});
  return true;
}

bool skipConnectionClose(ByteReader& reader) {
  std::uint64_t error_code = 0, frame_type = 0, reason_length = 0;
  return reader.varint(error_code) && reader.varint(frame_type) && reader.varint(reason_length) &&
         reader.skip(reason_length);
}

// The frames an Initial may carry (RFC 9000 section 12.4, table 3).
Outcome readFrames(std::span<const std::uint8_t> plaintext, std::vector<CryptoFragment>& crypto) {
  if (plaintext.empty()) return {QuicStatus::kMalformed, "packet without frames"};
  ByteReader reader(plaintext);
  while (!reader.empty()) {
    std::uint64_t type = 0;
    if (!reader.varint(type)) return {QuicStatus::kMalformed, "truncated frame type"};
    bool read = true;
    switch (type) {
      case 0x00:  // PADDING
      case 0x01:  // PING
        break;
      case 0x02:  // ACK
      case 0x03:  // ACK with ECN counts
        read = skipAck(reader, type == 0x03);
        break;
      case 0x06:
        read = readCrypto(reader, crypto);
        break;
      case 0x1c:  // CONNECTION_CLOSE of the transport
        read = skipConnectionClose(reader);
        break;
      default:
        return {QuicStatus::kMalformed, "frame type not allowed in an Initial"};
    }
    if (!read) return {QuicStatus::kMalformed, "truncated frame"};
  }
  return kOk;
}

QuicInitialParse failedParse(QuicInitialParse parse, Outcome outcome) {
  parse.status = outcome.status;
  parse.error = std::move(outcome.error);
  parse.crypto.clear();
  return parse;
}

void appendBigEndian(std::vector<std::uint8_t>& out, std::uint64_t value, std::size_t length) {
  for (std::size_t i = length; i-- > 0;) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}
// `value` as a QUIC variable-length integer of `length` (1, 2, 4 or 8) bytes.
void appendVarint(std::vector<std::uint8_t>& out, std::uint64_t value, std::size_t length) {
  const std::size_t first = out.size();
  appendBigEndian(out, value, length);
  out[first] |= length == 1 ? 0x00 : length == 2 ? 0x40 : length == 4 ? 0x80 : 0xc0;
}
std::size_t varintLength(std::uint64_t value) {
  return value < (1u << 6) ? 1 : value < (1u << 14) ? 2 : value < (1u << 30) ? 4 : 8;
}

}  // namespace

std::optional<InitialKeys> clientInitialKeys(std::uint32_t version,
                                             std::span<const std::uint8_t> dcid) {
  const VersionConstants* constants = versionConstants(version);
  if (constants == nullptr) return std::nullopt;
  std::array<std::uint8_t, kSecretBytes> initial_secret{}, client_secret{};
  InitialKeys keys;
  if (!hkdfExtract(constants->initial_salt, dcid, initial_secret) ||
      !expandLabel(initial_secret, "client in", client_secret) ||
      !expandLabel(client_secret, constants->key_label, keys.key) ||
      !expandLabel(client_secret, constants->iv_label, keys.iv) ||
      !expandLabel(client_secret, constants->hp_label, keys.hp)) {
    return std::nullopt;
  }
  return keys;
}

QuicInitialParse decryptQuicInitials(std::span<const std::uint8_t> datagram) {
  QuicInitialParse parse;
  if (datagram.size() > kMaxUdpPayloadBytes) {
    return failedParse(std::move(parse), {QuicStatus::kMalformed, "larger than a UDP datagram"});
  }
  if (datagram.empty()) {
    return failedParse(std::move(parse), {QuicStatus::kNotInitial, "empty datagram"});
  }
  std::optional<InitialKeys> keys;
  std::size_t start = 0;
  while (start < datagram.size()) {
    const auto packet_bytes = datagram.subspan(start);
    InitialHeader header;
    Outcome outcome = readInitialHeader(packet_bytes, header);
    if (start == 0) {
      if (header.constants != nullptr) parse.version = header.constants->version;
      if (outcome.status != QuicStatus::kOk) return failedParse(std::move(parse), outcome);
      parse.dcid.assign(header.dcid.begin(), header.dcid.end());
      keys = clientInitialKeys(parse.version, header.dcid);
      if (!keys)
        return failedParse(std::move(parse), {QuicStatus::kUndecryptable, "key derivation failed"});
    } else if (outcome.status != QuicStatus::kOk || header.constants->version != parse.version ||
               !std::ranges::equal(header.dcid, parse.dcid)) {
      break;
    }
    const auto packet = packet_bytes.first(header.end);
    std::vector<std::uint8_t> plaintext;
    outcome = openInitial(packet, header, *keys, plaintext);
    if (outcome.status == QuicStatus::kOk) outcome = readFrames(plaintext, parse.crypto);
    if (outcome.status != QuicStatus::kOk) return failedParse(std::move(parse), outcome);
    start += header.end;
  }
  parse.status = QuicStatus::kOk;
  return parse;
}

bool CryptoStream::add(const CryptoFragment& fragment) {
  const bool within = fragment.offset <= kMaxClientHelloBytes &&
                      fragment.data.size() <= kMaxClientHelloBytes - fragment.offset;
  overflowed_ = overflowed_ || !within;
  if (fragment.offset >= kMaxClientHelloBytes) return within;
  const std::size_t begin = fragment.offset;
  const std::size_t end = begin + std::min(fragment.data.size(), kMaxClientHelloBytes - begin);
  if (bytes_.size() < end) {
    bytes_.resize(end);
    received_.resize(end);
  }
  bool agrees = true;
  for (std::size_t i = begin; i < end; ++i) {
    const std::uint8_t byte = fragment.data[i - begin];
    if (received_[i]) {
      agrees = agrees && bytes_[i] == byte;
    } else {
      bytes_[i] = byte;
      received_[i] = true;
    }
  }
  conflicting_ = conflicting_ || !agrees;
  while (contiguous_ < received_.size() && received_[contiguous_]) ++contiguous_;
  return within && agrees;
}

std::span<const std::uint8_t> CryptoStream::contiguous() const {
  return std::span<const std::uint8_t>(bytes_).first(contiguous_);
}

std::vector<std::uint8_t> buildQuicInitial(const QuicInitialOptions& options) {
  const VersionConstants* constants = versionConstants(options.version);
  if (constants == nullptr) throw std::invalid_argument("unsupported QUIC version");
  if (options.dcid.size() > kMaxConnectionIdBytes || options.scid.size() > kMaxConnectionIdBytes) {
    throw std::invalid_argument("connection ID over 20 bytes");
  }
  const std::optional<InitialKeys> keys = clientInitialKeys(options.version, options.dcid);
  if (!keys) throw std::runtime_error("initial key derivation failed");

  std::vector<std::uint8_t> frames{0x06};
  appendVarint(frames, options.crypto_offset, varintLength(options.crypto_offset));
  appendVarint(frames, options.crypto.size(), varintLength(options.crypto.size()));
  frames.insert(frames.end(), options.crypto.begin(), options.crypto.end());
  frames.insert(frames.end(), options.more_frames.begin(), options.more_frames.end());

  constexpr std::size_t kPacketNumberBytes = 4;
  std::vector<std::uint8_t> packet{
      static_cast<std::uint8_t>(0xc0 | (constants->initial_type << 4) | (kPacketNumberBytes - 1))};
  appendBigEndian(packet, options.version, 4);
  packet.push_back(static_cast<std::uint8_t>(options.dcid.size()));
  packet.insert(packet.end(), options.dcid.begin(), options.dcid.end());
  packet.push_back(static_cast<std::uint8_t>(options.scid.size()));
  packet.insert(packet.end(), options.scid.begin(), options.scid.end());
  packet.push_back(0);  // no token
  // PADDING frames bring the datagram to the minimum, assuming a 2-byte Length.
  const std::size_t unpadded = packet.size() + 2 + kPacketNumberBytes + frames.size() + kTagBytes;
  if (unpadded < kMinInitialDatagramBytes)
    frames.resize(frames.size() + kMinInitialDatagramBytes - unpadded, 0);
  const std::size_t length = kPacketNumberBytes + frames.size() + kTagBytes;
  appendVarint(packet, length, length < (1u << 14) ? 2 : 4);
  const std::size_t pn_offset = packet.size();
  appendBigEndian(packet, options.packet_number, kPacketNumberBytes);

  const std::vector<std::uint8_t> header = packet;
  if (!aeadSeal(*keys, options.packet_number, header, frames, packet)) {
    throw std::runtime_error("AEAD seal failed");
  }
  std::array<std::uint8_t, kSampleBytes> mask{};
  if (!headerProtectionMask(
          *keys,
          std::span<const std::uint8_t>(packet).subspan(pn_offset + kSampleOffset, kSampleBytes),
          mask)) {
    throw std::runtime_error("header protection failed");
  }
  packet[0] ^= mask[0] & 0x0f;
  for (std::size_t i = 0; i < kPacketNumberBytes; ++i) packet[pn_offset + i] ^= mask[1 + i];
  return packet;
}

}  // namespace skouter::tls
