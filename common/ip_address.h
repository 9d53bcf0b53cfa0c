// IPv4/IPv6 addresses and prefixes as the policy, the datapath and the admin API see
// them. One representation for both families keeps every table keyed the same way.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace skouter {

enum class IpFamily : std::uint8_t { kV4 = 4, kV6 = 6 };

struct IpAddress {
  IpFamily family = IpFamily::kV4;
  // IPv4 uses the first 4 bytes; the rest stays zero so equality is bytewise.
  std::array<std::uint8_t, 16> bytes{};

  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress fromV4(const std::uint8_t* network_order);
  static IpAddress fromV6(const std::uint8_t* network_order);

  std::size_t size() const { return family == IpFamily::kV4 ? 4 : 16; }
  unsigned maxPrefixLength() const { return family == IpFamily::kV4 ? 32 : 128; }
  std::string toString() const;

  auto operator<=>(const IpAddress&) const = default;
};

// "TCP", "UDP", "SCTP", "ICMP", "ICMPv6", else the IANA number as text.
std::string ipProtocolName(std::uint8_t protocol);

struct IpPrefix {
  IpAddress address;  // host bits are always zero
  unsigned length = 0;

  // Accepts "ADDR/LEN" and a bare address (a full-length prefix). Host bits are
  // cleared, so "127.0.0.1/8" becomes 127.0.0.0/8.
  static std::optional<IpPrefix> parse(std::string_view text);
  static IpPrefix of(const IpAddress& address, unsigned length);

  bool contains(const IpAddress& address) const;
  std::string toString() const;

  auto operator<=>(const IpPrefix&) const = default;
};

}  // namespace skouter
