// Facts about the host's own network configuration the daemon needs at start.
#pragma once

#include <optional>
#include <string>

namespace skouter::daemon {

// The interface of the IPv4 default route, else of the IPv6 one.
std::optional<std::string> defaultRouteInterface();

// Whether `address` (text) is configured on one of this host's interfaces.
bool isLocalAddress(const std::string& address);

}  // namespace skouter::daemon
