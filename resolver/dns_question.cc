#include "resolver/dns_question.h"

namespace skouter::resolver {
namespace {

constexpr std::uint8_t kMaxLabel = 63;

std::uint16_t read16(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

// Walks the name at `at` (inside [0, end)), advancing `at` past it. Pointers must
// lead strictly backwards, so every walk ends.
bool soundName(std::span<const std::uint8_t> dns, std::size_t& at, std::size_t end) {
  std::size_t position = at;
  bool jumped = false;
  for (int labels = 0; labels < 128; ++labels) {
    if (position >= end) return false;
    const std::uint8_t length = dns[position];
    if ((length & 0xc0) == 0xc0) {
      if (position + 1 >= end) return false;
      const std::size_t target = (static_cast<std::size_t>(length & 0x3f) << 8) | dns[position + 1];
      if (target >= position) return false;
      if (!jumped) at = position + 2;
      jumped = true;
      position = target;
      continue;
    }
    if ((length & 0xc0) != 0) return false;
    position += 1 + length;
    if (length == 0) {
      if (!jumped) at = position;
      return position <= end;
    }
  }
  return false;
}

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

bool namesAreSound(std::span<const std::uint8_t> dns) {
  if (dns.size() < kDnsHeaderSize) return false;
  std::size_t at = kDnsHeaderSize;
  for (std::uint16_t i = 0; i < read16(dns, 4); ++i) {
    if (!soundName(dns, at, dns.size()) || at + 4 > dns.size()) return false;
    at += 4;
  }
  const std::uint32_t records = std::uint32_t{read16(dns, 6)} + read16(dns, 8) + read16(dns, 10);
  for (std::uint32_t i = 0; i < records; ++i) {
    if (!soundName(dns, at, dns.size()) || at + 10 > dns.size()) return false;
    const std::uint16_t type = read16(dns, at);
    const std::size_t end = at + 10 + read16(dns, at + 8);
    if (end > dns.size()) return false;
    std::size_t data = at + 10;
    // The record types whose data may hold compressed names (RFC 3597 section 4).
    switch (type) {
      case 2:
      case 5:
      case 12:
      case 39:  // NS, CNAME, PTR, DNAME
        if (!soundName(dns, data, end)) return false;
        break;
      case 15:  // MX
        data += 2;
        if (!soundName(dns, data, end)) return false;
        break;
      case 33:  // SRV
        data += 6;
        if (!soundName(dns, data, end)) return false;
        break;
      case 6:  // SOA
        if (!soundName(dns, data, end) || !soundName(dns, data, end)) return false;
        break;
      default:
        break;
    }
    at = end;
  }
  return true;
}

bool tsigIsLastIfPresent(std::span<const std::uint8_t> dns) {
  constexpr std::uint16_t kTypeTsig = 250;
  std::size_t at = kDnsHeaderSize;
  for (std::uint16_t i = 0; i < read16(dns, 4); ++i) {
    if (!soundName(dns, at, dns.size())) return false;
    at += 4;
  }
  const std::uint32_t records = std::uint32_t{read16(dns, 6)} + read16(dns, 8) + read16(dns, 10);
  for (std::uint32_t i = 0; i < records; ++i) {
    if (!soundName(dns, at, dns.size()) || at + 10 > dns.size()) return false;
    if (read16(dns, at) == kTypeTsig && i + 1 < records) return false;
    at += 10 + read16(dns, at + 8);
  }
  return true;
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
  question.type = static_cast<std::uint16_t>((bytes[consumed] << 8) | bytes[consumed + 1]);
  question.klass = static_cast<std::uint16_t>((bytes[consumed + 2] << 8) | bytes[consumed + 3]);
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
