// A trusted resolver's address and port, and `--trusted-dns` values parsed into one.
// Pure: the daemon's flags and views take it without c-ares.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip_address.h"

namespace skouter::resolver {

struct ResolverAddress {
  IpAddress ip;
  std::uint16_t port = 53;
  std::string toString() const;  // "192.0.2.53:53", "[2001:db8::53]:53"
  auto operator<=>(const ResolverAddress&) const = default;
};

// Accepts ADDR, ADDR:PORT, [ADDR6] and [ADDR6]:PORT.
std::optional<ResolverAddress> parseResolverAddress(std::string_view text);

}  // namespace skouter::resolver
