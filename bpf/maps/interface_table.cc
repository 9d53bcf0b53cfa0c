#include "bpf/maps/interface_table.h"

#include <net/if.h>
#include <spdlog/spdlog.h>

#include <set>
#include <string>

#include "bpf/maps/bpf_address.h"

namespace skouter::maps {

namespace {

skouter_link_prefix_key prefixKey(std::uint32_t ifindex, const IpPrefix& prefix) {
  skouter_link_prefix_key key{};
  key.prefixlen = SKOUTER_LINK_PREFIX_FIXED_BITS + prefix.length;
  key.ifindex = ifindex;
  putBpfAddr(key, prefix.address);
  return key;
}

// The name of the interface with `ifindex`, for messages; its index when it is gone.
std::string interfaceName(std::uint32_t ifindex) {
  char name[IF_NAMESIZE] = {};
  if (if_indextoname(ifindex, name)) return name;
  return "with index " + std::to_string(ifindex);
}

}  // namespace

InterfaceTable::InterfaceTable(InterfaceMap kinds, LinkPrefixMap prefixes)
    : kinds_(kinds), prefixes_(prefixes) {}

void InterfaceTable::write(const std::map<std::uint32_t, skouter_interface_kind>& kinds,
                           const std::vector<std::pair<std::uint32_t, IpPrefix>>& uplink_prefixes) {
  writePrefixes(uplink_prefixes);
  for (const auto& [ifindex, kind] : kinds) {
    const skouter_interface_value value{.kind = kind, .pad = 0};
    const auto current = kinds_.lookup(ifindex);
    if ((!current || current->kind != value.kind) && kinds_.update(ifindex, value) != 0) {
      spdlog::error("cannot record interface {} in the interfaces map (full?)",
                    interfaceName(ifindex));
    }
  }
  for (const std::uint32_t ifindex : kinds_.keys()) {
    if (!kinds.count(ifindex)) kinds_.erase(ifindex);
  }
}

void InterfaceTable::writePrefixes(
    const std::vector<std::pair<std::uint32_t, IpPrefix>>& uplink_prefixes) {
  std::set<std::vector<std::uint8_t>> wanted;
  const auto bytesOf = [](const skouter_link_prefix_key& key) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&key);
    return std::vector<std::uint8_t>(bytes, bytes + sizeof(key));
  };
  for (const auto& [ifindex, prefix] : uplink_prefixes) {
    const auto key = prefixKey(ifindex, prefix);
    wanted.insert(bytesOf(key));
    // (A lookup would not tell: it finds the longest prefix that covers the key.)
    if (prefixes_.update(key, 1) != 0) {
      spdlog::error("cannot record the subnet {}/{} of an uplink (link_prefixes full?)",
                    prefix.address.toString(), prefix.length);
    }
  }
  for (const auto& key : prefixes_.keys()) {
    if (!wanted.count(bytesOf(key))) prefixes_.erase(key);
  }
}

}  // namespace skouter::maps
