#include "resolver/dns_question.h"

namespace skouter::resolver {
namespace {

constexpr std::uint8_t kMaxLabel = 63;

// What a name may show as it is: printable ASCII without the space. Everything else is
// written \DDD, as dig does, so that a name is valid UTF-8 wherever it goes (JSON,
// logs, tables, metric labels) and two different names never show alike.
bool isPrintable(std::uint8_t byte) { return byte > 0x20 && byte < 0x7f; }

void appendDecimalEscape(std::string& out, std::uint8_t byte) {
  out += '\\';
  out += static_cast<char>('0' + byte / 100);
  out += static_cast<char>('0' + byte / 10 % 10);
  out += static_cast<char>('0' + byte % 10);
}

}  // namespace

std::string printableName(std::string_view name) {
  std::string printable;
  printable.reserve(name.size());
  for (const char c : name) {
    const auto byte = static_cast<std::uint8_t>(c);
    if (isPrintable(byte)) {
      printable += c;
    } else {
      appendDecimalEscape(printable, byte);
    }
  }
  return printable;
}

std::optional<std::string> canonicalName(std::span<const std::uint8_t> wire,
                                         std::size_t* consumed) {
  std::string name;
  std::size_t offset = 0;
  while (offset < wire.size()) {
    const std::size_t label = wire[offset++];
    if (label == 0) {
      if (consumed) *consumed = offset;
      return name;
    }
    if (label > kMaxLabel || offset + label > wire.size()) return std::nullopt;
    if (!name.empty()) name += '.';
    for (std::size_t i = 0; i < label; ++i) {
      const std::uint8_t byte = wire[offset + i];
      if (byte == '.' || byte == '\\') {
        name += '\\';
        name += static_cast<char>(byte);
      } else if (!isPrintable(byte)) {
        appendDecimalEscape(name, byte);
      } else {
        name += static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte - 'A' + 'a' : byte);
      }
    }
    offset += label;
  }
  return std::nullopt;
}

std::optional<DnsQuestion> parseQuestionSection(std::span<const std::uint8_t> bytes) {
  std::size_t consumed = 0;
  auto name = canonicalName(bytes, &consumed);
  if (!name || consumed + 4 > bytes.size()) return std::nullopt;
  DnsQuestion question;
  question.name = std::move(*name);
  question.type = read16(bytes, consumed);
  question.klass = read16(bytes, consumed + 2);
  return question;
}

std::optional<std::span<const std::uint8_t>> questionBytes(std::span<const std::uint8_t> section) {
  std::size_t consumed = 0;
  if (!canonicalName(section, &consumed) || consumed + 4 > section.size()) return std::nullopt;
  return section.first(consumed + 4);
}

std::string dnsTypeName(std::uint16_t type) {
  switch (type) {
    case 1:
      return "A";
    case 2:
      return "NS";
    case 5:
      return "CNAME";
    case 6:
      return "SOA";
    case 12:
      return "PTR";
    case 15:
      return "MX";
    case 16:
      return "TXT";
    case 28:
      return "AAAA";
    case 33:
      return "SRV";
    case 64:
      return "SVCB";
    case 65:
      return "HTTPS";
    case 255:
      return "ANY";
  }
  return "TYPE" + std::to_string(type);
}

}  // namespace skouter::resolver
