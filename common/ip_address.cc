#include "common/ip_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace skouter {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string copy(text);
  IpAddress result;
  if (inet_pton(AF_INET, copy.c_str(), result.bytes.data()) == 1) {
    result.family = IpFamily::kV4;
    return result;
  }
  if (inet_pton(AF_INET6, copy.c_str(), result.bytes.data()) == 1) {
    result.family = IpFamily::kV6;
    return result;
  }
  return std::nullopt;
}

IpAddress IpAddress::fromV4(const std::uint8_t* network_order) {
  IpAddress result;
  result.family = IpFamily::kV4;
  std::memcpy(result.bytes.data(), network_order, 4);
  return result;
}

IpAddress IpAddress::fromV6(const std::uint8_t* network_order) {
  IpAddress result;
  result.family = IpFamily::kV6;
  std::memcpy(result.bytes.data(), network_order, 16);
  return result;
}

std::string IpAddress::toString() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == IpFamily::kV4 ? AF_INET : AF_INET6, bytes.data(), buffer, sizeof(buffer));
  return buffer;
}

IpPrefix IpPrefix::of(const IpAddress& address, unsigned length) {
  IpPrefix prefix{address, length};
  for (unsigned bit = length; bit < address.maxPrefixLength(); ++bit) {
    prefix.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return prefix;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  if (slash == std::string_view::npos) return of(*address, address->maxPrefixLength());

  const auto digits = text.substr(slash + 1);
  unsigned length = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
      length > address->maxPrefixLength()) {
    return std::nullopt;
  }
  return of(*address, length);
}

bool IpPrefix::contains(const IpAddress& candidate) const {
  return candidate.family == address.family && of(candidate, length).address == address;
}

std::string IpPrefix::toString() const { return address.toString() + "/" + std::to_string(length); }

std::string ipProtocolName(std::uint8_t protocol) {
  switch (protocol) {
    case 1:
      return "ICMP";
    case 6:
      return "TCP";
    case 17:
      return "UDP";
    case 58:
      return "ICMPv6";
    case 132:
      return "SCTP";
    default:
      return std::to_string(protocol);
  }
}

}  // namespace skouter
