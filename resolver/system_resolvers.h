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

// The nameservers of a resolv.conf file, as c-ares reads it. Throws
// std::runtime_error when c-ares cannot read it.
std::vector<ResolverAddress> nameserversOf(const std::string& resolv_conf);

// The resolvers that answer this host over the network. A local stub resolver
// (systemd-resolved's 127.0.0.53) answers over loopback, where skouter cannot hold
// answers, so its upstream servers are taken instead. `note` says what was chosen
// and why when it is not simply /etc/resolv.conf. Throws when only loopback
// resolvers are known.
std::vector<ResolverAddress> systemNameservers(
    std::string& note, const std::string& resolv_conf = "/etc/resolv.conf",
    const std::string& stub_upstream = "/run/systemd/resolve/resolv.conf");

}  // namespace skouter::resolver
