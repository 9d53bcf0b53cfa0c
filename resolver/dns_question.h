// The question of a DNS message in the form skouter compares and shows names: lower
// case, no trailing dot, a dot or backslash inside a label escaped as in presentation
// format (so the one-label name "example\.com" never passes for example.com), and any
// byte that is not printable ASCII written \DDD (so a name is always valid UTF-8: a
// name is bytes, and JSON, logs and metric labels take only text).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace skouter::resolver {

// The fixed header of every DNS message (RFC 1035 section 4.1.1): id, flags, counts.
inline constexpr std::size_t kDnsHeaderSize = 12;

// A wire-format name without compression pointers (as in a question section or an
// ldns rdf). Returns nullopt when the labels run past `wire` or no root label ends it;
// `consumed` gets the bytes the name took.
std::optional<std::string> canonicalName(std::span<const std::uint8_t> wire,
                                         std::size_t* consumed = nullptr);

// `name` with every byte that is not printable ASCII written \DDD; a name in the form
// above is left as it is. For names read back from where an older daemon stored them.
std::string printableName(std::string_view name);

struct DnsQuestion {
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  auto operator<=>(const DnsQuestion&) const = default;
};

// The mnemonic of a record type ("A", "AAAA", ...), or "TYPE65280" as RFC 3597 writes
// the ones without one.
std::string dnsTypeName(std::uint16_t type);

// The first question of a question section as sent (what the datapath kept of a
// query: the bytes after its header).
std::optional<DnsQuestion> parseQuestionSection(std::span<const std::uint8_t> bytes);

// The bytes of the first question of a question section, name, type and class as
// sent: the form two questions are compared in, so a question that differs from the
// one asked only in case (0x20 randomization) or class is another question.
std::optional<std::span<const std::uint8_t>> questionBytes(std::span<const std::uint8_t> section);

// Whether every name of the message (question, record owners, and the names inside
// CNAME, NS, PTR, DNAME, MX, SRV and SOA data) stays inside it and compresses only
// backwards, as every real server writes them. Messages failing this are not handed
// to ldns at all: its error paths leak memory on some of them.
bool namesAreSound(std::span<const std::uint8_t> dns);

// Whether the message has no TSIG record but as its very last one (RFC 8945 section
// 5.1: at most one, last in the additional section). ldns 1.8.3 keeps only the last
// TSIG record of a message it reads and leaks each one before it, though it reports
// success: such messages are not handed to ldns either. Expects namesAreSound().
bool tsigIsLastIfPresent(std::span<const std::uint8_t> dns);

}  // namespace skouter::resolver
