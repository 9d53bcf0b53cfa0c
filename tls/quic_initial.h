// The client's first QUIC packets (RFC 9000 section 17.2.2), opened as any on-path
// observer can: Initial packets are protected with keys derived from their
// Destination Connection ID alone (RFC 9001 section 5.2), so the daemon can read the
// CRYPTO frames carrying the ClientHello and check its server name. QUIC versions 1
// and 2 (RFC 9369). Input is whatever a workload sends: nothing here trusts a length,
// broken input is a status, and the crypto stream is held to kMaxClientHelloBytes.
// Also a builder of client Initial packets for tests and tools.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tls/client_hello.h"

namespace skouter::tls {

inline constexpr std::uint32_t kQuicVersion1 = 0x00000001;
inline constexpr std::uint32_t kQuicVersion2 = 0x6b3343cf;
inline constexpr std::size_t kMaxConnectionIdBytes = 20;
// RFC 9000 section 14.1: a server drops a client's Initial in a smaller datagram.
inline constexpr std::size_t kMinInitialDatagramBytes = 1200;

struct CryptoFragment {
  std::uint64_t offset = 0;
  std::vector<std::uint8_t> data{};
};

enum class QuicStatus {
  kOk,
  // A short header packet, or a long header packet of another type (0-RTT,
  // Handshake, Retry) first in the datagram.
  kNotInitial,
  // A version other than 1 and 2, version negotiation (version 0) included.
  kUnsupportedVersion,
  kMalformed,
  // Header protection or AEAD authentication failed: not a packet protected with the
  // initial keys of its connection ID.
  kUndecryptable,
};

struct QuicInitialParse {
  QuicStatus status = QuicStatus::kMalformed;
  std::uint32_t version = 0;
  std::vector<std::uint8_t> dcid{};
  // The CRYPTO frames of every Initial in the datagram, in packet and frame order.
  std::vector<CryptoFragment> crypto;
  // For any status but kOk: why, in one short phrase.
  std::string error;
};

// One UDP datagram from a client: the Initial packets at its start, header protection
// removed and payload decrypted with the client initial keys of the first one's DCID,
// frames read (PADDING, PING, ACK, CONNECTION_CLOSE skipped, CRYPTO collected, any
// other kMalformed). The walk stops at the first packet that is not an Initial of the
// same version and DCID (RFC 9000 section 12.2: the server ignores such a coalesced
// packet) or at padding.
QuicInitialParse decryptQuicInitials(std::span<const std::uint8_t> datagram);

// The client initial packet protection keys (RFC 9001 section 5.2) of a version.
struct InitialKeys {
  std::array<std::uint8_t, 16> key{};
  std::array<std::uint8_t, 12> iv{};
  std::array<std::uint8_t, 16> hp{};
};
// nullopt for a version other than 1 and 2 or when libcrypto fails.
std::optional<InitialKeys> clientInitialKeys(std::uint32_t version,
                                             std::span<const std::uint8_t> dcid);

// The start of a client's crypto stream rebuilt from CRYPTO fragments arriving in any
// order, overlapping or repeated, held to kMaxClientHelloBytes.
class CryptoStream {
 public:
  // Takes in what of `fragment` lies below the limit. False when the fragment reaches
  // past the limit (overflowed()) or contradicts bytes already received
  // (conflicting()): either way the caller cannot know what the server will read.
  bool add(const CryptoFragment& fragment);
  // The bytes from offset 0 up to the first gap.
  std::span<const std::uint8_t> contiguous() const;
  bool overflowed() const { return overflowed_; }
  bool conflicting() const { return conflicting_; }

 private:
  std::vector<std::uint8_t> bytes_;
  std::vector<bool> received_;
  std::size_t contiguous_ = 0;
  bool overflowed_ = false;
  bool conflicting_ = false;
};

struct QuicInitialOptions {
  std::uint32_t version = kQuicVersion1;
  std::vector<std::uint8_t> dcid{};
  std::vector<std::uint8_t> scid{};
  std::uint32_t packet_number = 0;
  std::uint64_t crypto_offset = 0;
  std::vector<std::uint8_t> crypto{};
  // Frames, encoded, to follow the CRYPTO frame: for tests of the frame parser.
  std::vector<std::uint8_t> more_frames{};
};

// One client Initial packet carrying `crypto` at `crypto_offset` in a CRYPTO frame,
// then `more_frames`, padded with PADDING frames to a datagram of at least
// kMinInitialDatagramBytes, encrypted and header-protected. Throws std::invalid_argument for
// options that make no valid packet (an unsupported version, a connection ID over 20 bytes).
std::vector<std::uint8_t> buildQuicInitial(const QuicInitialOptions& options);

}  // namespace skouter::tls
