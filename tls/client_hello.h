// The TLS server name (SNI) a client asks for, read from its ClientHello: from the
// first bytes of a TLS-over-TCP stream or from the handshake bytes QUIC carries in
// CRYPTO frames. The daemon checks it against the policy of the workload opening the
// flow. Input comes from whoever opens the flow, so nothing here trusts a length: every
// parser is bounds-checked, reports broken input as a status and buffers at most
// kMaxClientHelloBytes. Also a builder of plausible ClientHellos for tests and tools.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace skouter::tls {

// The largest ClientHello handshake message (its 4-byte header included) accepted.
// Browsers send 500 to 2000 bytes (post-quantum key shares such as X25519MLKEM768 add
// about 1.2 KB); 16 KiB, one full TLS record, leaves room for that and more while
// bounding what a flow makes the daemon hold before it can decide.
inline constexpr std::size_t kMaxClientHelloBytes = 16384;

enum class HelloStatus { kComplete, kNeedMore, kNotTls, kMalformed };

struct ClientHelloInfo {
  // The host_name of the server_name extension, lower-cased, trailing dot removed;
  // nullopt when the client sent none (as for an IP literal).
  std::optional<std::string> server_name{};
  // An encrypted_client_hello extension (0xfe0d) is present: server_name is then the
  // outer (public) name, not the one the client is after.
  bool encrypted_client_hello = false;
};

struct HelloParse {
  HelloStatus status = HelloStatus::kNeedMore;
  ClientHelloInfo info;
  // For kNotTls and kMalformed: why, in one short phrase.
  std::string error;
};

// The client's first bytes of a TLS-over-TCP stream: TLS handshake records (content
// type 22, legacy version 0x0301..0x0304) carrying a ClientHello, which may span
// several records and arrive in pieces. kNeedMore while the ClientHello is incomplete;
// kNotTls as soon as the first bytes cannot start a TLS handshake; kMalformed for a
// broken record, handshake or extension structure, a first handshake message other
// than a ClientHello, a ClientHello over kMaxClientHelloBytes or a bad server name.
HelloParse parseTlsClientHello(std::span<const std::uint8_t> stream);

// A handshake message without record layer (QUIC carries it in CRYPTO frames), maybe
// a prefix of one: the same results, but never kNotTls. Bytes after the message are
// ignored.
HelloParse parseClientHelloMessage(std::span<const std::uint8_t> handshake);

struct ClientHelloOptions {
  std::optional<std::string> server_name{};
  // Adds an encrypted_client_hello extension with opaque bytes.
  bool encrypted_client_hello = false;
  // Bytes in a padding extension (21), to make big hellos; at most 65535.
  std::size_t padding = 0;
};

// A plausible TLS 1.3 ClientHello handshake message (header included) with random
// bytes where a client has them. Throws std::length_error when the options cannot be
// encoded (a server name over 65535 bytes, padding over 65535).
std::vector<std::uint8_t> buildClientHello(const ClientHelloOptions& options);

// `handshake` in TLS handshake records of at most `max_record_payload` bytes each.
std::vector<std::uint8_t> inTlsRecords(std::span<const std::uint8_t> handshake,
                                       std::size_t max_record_payload = 16384);

}  // namespace skouter::tls
