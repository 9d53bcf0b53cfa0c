// Trusted resolver addresses: parsing `--trusted-dns` values and, by default, the
// nameservers of /etc/resolv.conf as c-ares reads them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The nameservers of the system's resolver configuration. Throws std::runtime_error
// when c-ares cannot read it.
std::vector<ResolverAddress> systemNameservers();

}  // namespace skouter::resolver
