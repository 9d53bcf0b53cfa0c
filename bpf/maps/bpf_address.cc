#include "bpf/maps/bpf_address.h"

#include <cstring>

namespace skouter::maps {

std::uint8_t toBpfFamily(IpFamily family) {
  return family == IpFamily::kV4 ? SKOUTER_FAMILY_IPV4 : SKOUTER_FAMILY_IPV6;
}

skouter_addr toBpfAddr(const IpAddress& ip) {
  skouter_addr addr{};
  addr.family = toBpfFamily(ip.family);
  std::memcpy(addr.addr, ip.bytes.data(), ip.size());
  return addr;
}

IpAddress fromBpfAddr(std::uint8_t family, const std::uint8_t* bytes) {
  return family == SKOUTER_FAMILY_IPV4 ? IpAddress::fromV4(bytes) : IpAddress::fromV6(bytes);
}

IpAddress fromBpfAddr(const skouter_addr& addr) { return fromBpfAddr(addr.family, addr.addr); }

}  // namespace skouter::maps
