// Addresses as the BPF maps and ring records hold them (skouter_addr: a family and 16
// bytes), and back: the one conversion every writer and reader of the maps uses.
#pragma once

#include <cstdint>
#include <cstring>

#include "bpf/skouter_abi.h"
#include "common/ip_address.h"

namespace skouter::maps {

std::uint8_t toBpfFamily(IpFamily family);
skouter_addr toBpfAddr(const IpAddress& ip);

// Puts `ip` in a map key that holds its address as `family` and `addr[16]` (the LPM
// tries' keys, trusted_resolvers').
template <typename Key>
void putBpfAddr(Key& key, const IpAddress& ip) {
  const skouter_addr addr = toBpfAddr(ip);
  key.family = addr.family;
  std::memcpy(key.addr, addr.addr, sizeof(key.addr));
}

// `bytes`: the address in network order, 4 or 16 bytes as `family` (SKOUTER_FAMILY_*)
// says; anything but SKOUTER_FAMILY_IPV4 reads as IPv6.
IpAddress fromBpfAddr(std::uint8_t family, const std::uint8_t* bytes);
IpAddress fromBpfAddr(const skouter_addr& addr);

}  // namespace skouter::maps
