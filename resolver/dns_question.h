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

#include "resolver/dns_message.h"

namespace skouter::resolver {

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

}  // namespace skouter::resolver
