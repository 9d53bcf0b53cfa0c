// One validated view of a DNS message, built by a single walk over its bytes: the
// header, the question, and where each record's owner name, TTL and RDATA lie. The
// answer handler decides on it, the rewriter edits from it, and the TCP path matches
// queries with it, so an answer is read once however many of them look at it. Also
// the DNS wire primitives (network byte order, names) everything else uses.
// Pure: a function of the bytes, no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/ip_address.h"

namespace skouter::resolver {

// The fixed header of every DNS message (RFC 1035 section 4.1.1): id, flags, counts.
inline constexpr std::size_t kDnsHeaderSize = 12;

inline constexpr std::uint16_t kDnsTypeA = 1;
inline constexpr std::uint16_t kDnsTypeCname = 5;
inline constexpr std::uint16_t kDnsTypeAaaa = 28;
inline constexpr std::uint16_t kDnsTypeOpt = 41;
inline constexpr std::uint16_t kDnsTypeTsig = 250;
inline constexpr std::uint16_t kDnsClassIn = 1;

// Network byte order, as every field of DNS, IP, UDP and TCP headers is written.
std::uint16_t read16(std::span<const std::uint8_t> bytes, std::size_t at);
std::uint32_t read32(std::span<const std::uint8_t> bytes, std::size_t at);
void write16(std::span<std::uint8_t> bytes, std::size_t at, std::uint16_t value);
void write32(std::span<std::uint8_t> bytes, std::size_t at, std::uint32_t value);

// A name's label byte that is a compression pointer (RFC 1035 section 4.1.4), and
// the offset the pointer at `at` leads to.
inline bool isCompressionPointer(std::uint8_t label) { return (label & 0xc0) == 0xc0; }
std::size_t pointerTarget(std::span<const std::uint8_t> dns, std::size_t at);

enum class DnsSection : std::uint8_t { kAnswer, kAuthority, kAdditional };

// A name as ldns and the policy read it: uncompressed wire form, labels then the root.
struct WireName {
  std::array<std::uint8_t, 255> bytes{};
  std::size_t size = 0;
  std::span<const std::uint8_t> wire() const { return {bytes.data(), size}; }
};

// One record after the question. Offsets are into the message.
struct DnsRecord {
  DnsSection section = DnsSection::kAnswer;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::size_t owner = 0;       // where the record (its owner name) starts
  std::size_t ttl_offset = 0;  // type and class precede it, RDLENGTH follows
  std::size_t rdata_offset = 0;
  std::size_t rdata_length = 0;
  // Names inside the RDATA (CNAME target, SOA names, ...): DnsMessage::rdataNamesOf.
  std::uint32_t first_rdata_name = 0;
  std::uint32_t rdata_names = 0;

  std::size_t end() const { return rdata_offset + rdata_length; }
};

// Where a record's TTL is, and the record's type (an OPT record's TTL field holds
// EDNS flags).
struct TtlField {
  std::size_t offset = 0;
  std::uint16_t type = 0;
};

// Why a message is not a DNS message skouter reads; each is a `malformed` answer.
enum class DnsMessageFault {
  kNone,
  // Shorter than its header or counts say, a name that leaves the message, points
  // forwards or at itself, uses another label type or exceeds 255 bytes, or RDATA
  // shorter than the fields of its type.
  kUnreadable,
  // A TSIG record that is not the last one (RFC 8945 section 5.1).
  kTsigNotLast,
  // RDATA longer than the fields of its type: a client that skips RDLENGTH bytes would
  // read other records than a reader that follows the fields.
  kRdataNotAtRdlength,
};

class DnsMessage {
 public:
  // Walks `bytes` once. Every name (question, owners, and the names the RDATA of the
  // record's type holds, as ldns's descriptors lay them out) must be sound: compression
  // pointers strictly backwards and not to offset 0, labels of length or pointer type,
  // at most 255 bytes uncompressed, at most 128 labels and pointers. The question,
  // counts and header are read even when a record is faulty, so a TCP message can be
  // matched against its query before it is judged. Bytes after the last record are
  // ignored. `bytes` must outlive the view.
  static DnsMessage read(std::span<const std::uint8_t> bytes);

  std::span<const std::uint8_t> bytes() const { return bytes_; }
  DnsMessageFault fault() const { return fault_; }
  bool valid() const { return fault_ == DnsMessageFault::kNone; }

  // Header fields; only with at least kDnsHeaderSize bytes.
  bool hasHeader() const { return bytes_.size() >= kDnsHeaderSize; }
  std::uint16_t id() const { return read16(bytes_, 0); }
  std::uint16_t flags() const { return read16(bytes_, 2); }
  bool isResponse() const { return flags() & 0x8000; }
  unsigned opcode() const { return (flags() >> 11) & 0x0f; }
  bool truncated() const { return flags() & 0x0200; }
  std::uint16_t questionCount() const { return read16(bytes_, 4); }

  // The first question, once its name, type and class were read.
  struct Question {
    std::size_t name = 0;
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
    bool compressed = false;             // its name uses a compression pointer
    std::span<const std::uint8_t> wire;  // name, type and class as sent
  };
  const std::optional<Question>& question() const { return question_; }

  // Every record of the answer, authority and additional sections, in order; empty
  // unless valid().
  const std::vector<DnsRecord>& records() const { return records_; }
  // Where the names inside a record's RDATA start, in order.
  std::span<const std::size_t> rdataNamesOf(const DnsRecord& record) const {
    return std::span(rdata_names_).subspan(record.first_rdata_name, record.rdata_names);
  }

  // The address an A or AAAA record of class IN holds (its RDATA 4 or 16 bytes), for
  // the answer handler to learn and the rewriter to remove.
  std::optional<IpAddress> addressOf(const DnsRecord& record) const;

  // The name at `at` (a name the walk read), pointers followed.
  WireName name(std::size_t at) const;
  // Whether the names at `a` and `b` are the same name: labels equal, ASCII letters in
  // either case (as canonicalName compares them).
  bool sameName(std::size_t a, std::size_t b) const;

  // The message without the records at `dropped` (indices into records(), ascending),
  // the counts of their sections lowered. Names of kept records that were compressed
  // against a dropped record's bytes are written out where they stand; every other
  // pointer is moved to where its target went. Throws std::length_error when the
  // message or a record's RDATA would exceed 65535 bytes. Expects valid().
  struct Edited {
    std::vector<std::uint8_t> bytes;
    std::vector<TtlField> ttls;  // of each kept record, in order, where it went
  };
  Edited without(std::span<const std::size_t> dropped) const;

 private:
  explicit DnsMessage(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  DnsMessageFault walk();

  std::span<const std::uint8_t> bytes_;
  DnsMessageFault fault_ = DnsMessageFault::kUnreadable;
  std::optional<Question> question_;
  std::vector<DnsRecord> records_;
  std::vector<std::size_t> rdata_names_;
};

}  // namespace skouter::resolver
