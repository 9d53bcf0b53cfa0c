#include "resolver/resolver_address.h"

#include <charconv>

namespace skouter::resolver {

std::string ResolverAddress::toString() const {
  const auto address = ip.toString();
  return (ip.family == IpFamily::kV6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::optional<ResolverAddress> parseResolverAddress(std::string_view text) {
  ResolverAddress result;
  std::string_view address = text;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    address = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) return std::nullopt;
      port = rest.substr(1);
    }
  } else if (text.find(':') == text.rfind(':') && text.find(':') != std::string_view::npos) {
    // Exactly one colon: IPv4 with a port. More colons: a bare IPv6 address.
    address = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
  }
  auto ip = IpAddress::parse(address);
  if (!ip) return std::nullopt;
  result.ip = *ip;
  if (!port.empty() || text.ends_with(':')) {
    unsigned value = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || error != std::errc() || end != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return std::nullopt;
    }
    result.port = static_cast<std::uint16_t>(value);
  }
  return result;
}

}  // namespace skouter::resolver
