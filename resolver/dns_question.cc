#include "resolver/dns_question.h"

namespace skouter::resolver {
namespace {

constexpr std::uint8_t kMaxLabel = 63;

}  // namespace

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
      const char c = static_cast<char>(wire[offset + i]);
      if (c == '.' || c == '\\') name += '\\';
      name += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
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

}  // namespace skouter::resolver
