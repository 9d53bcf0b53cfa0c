#include "daemon/host_network.h"

#include <fstream>
#include <sstream>

namespace skouter::daemon {

std::optional<std::string> defaultRouteInterface() {
  // /proc/net/route: Iface Destination Gateway ...; the default route has
  // destination 00000000 and mask 00000000.
  std::ifstream ipv4("/proc/net/route");
  std::string line;
  std::getline(ipv4, line);
  while (std::getline(ipv4, line)) {
    std::istringstream fields(line);
    std::string interface, destination, gateway, flags, refcnt, use, metric, mask;
    fields >> interface >> destination >> gateway >> flags >> refcnt >> use >> metric >> mask;
    if (destination == "00000000" && mask == "00000000") return interface;
  }
  // /proc/net/ipv6_route: destination prefix-length ... interface (last field).
  std::ifstream ipv6("/proc/net/ipv6_route");
  while (std::getline(ipv6, line)) {
    std::istringstream fields(line);
    std::string destination, prefix_length, field, interface;
    fields >> destination >> prefix_length;
    while (fields >> field) interface = field;
    if (destination == std::string(32, '0') && prefix_length == "00" && interface != "lo") {
      return interface;
    }
  }
  return std::nullopt;
}

}  // namespace skouter::daemon
