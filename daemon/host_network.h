// Facts about the host's own network configuration the daemon needs at start.
#pragma once

#include <optional>
#include <string>

namespace skouter::daemon {

// The interface of the IPv4 default route, else of the IPv6 one.
std::optional<std::string> defaultRouteInterface();

}  // namespace skouter::daemon
