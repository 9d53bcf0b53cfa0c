#include "daemon/host_network.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <fstream>
#include <sstream>

#include "common/ip_address.h"

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

bool isLocalAddress(const std::string& address) {
  const auto wanted = IpAddress::parse(address);
  ifaddrs* list = nullptr;
  if (!wanted || getifaddrs(&list) != 0) return false;
  bool found = false;
  for (const ifaddrs* entry = list; entry && !found; entry = entry->ifa_next) {
    if (!entry->ifa_addr) continue;
    if (entry->ifa_addr->sa_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      found = IpAddress::fromV4(reinterpret_cast<const std::uint8_t*>(&v4->sin_addr)) == *wanted;
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      found = IpAddress::fromV6(v6->sin6_addr.s6_addr) == *wanted;
    }
  }
  freeifaddrs(list);
  return found;
}

}  // namespace skouter::daemon
