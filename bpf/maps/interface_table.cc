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
    : kinds_(kinds), prefixes_(prefixes) {
  kinds_.forEach([this](const std::uint32_t& ifindex, const skouter_interface_value& value) {
    installed_kinds_[ifindex] = value.kind;
  });
  for (const auto& key : prefixes_.keys()) installed_prefixes_.insert(key);
}

void InterfaceTable::write(const std::map<std::uint32_t, skouter_interface_kind>& kinds,
                           const std::vector<std::pair<std::uint32_t, IpPrefix>>& uplink_prefixes) {
  writePrefixes(uplink_prefixes);
  for (const auto& [ifindex, kind] : kinds) {
    const skouter_interface_value value{.kind = kind, .pad = 0};
    const auto current = installed_kinds_.find(ifindex);
    if (current != installed_kinds_.end() && current->second == value.kind) continue;
    if (kinds_.update(ifindex, value) != 0) {
      spdlog::error("cannot record interface {} in the interfaces map (full?)",
                    interfaceName(ifindex));
      continue;
    }
    installed_kinds_[ifindex] = value.kind;
  }
  for (auto it = installed_kinds_.begin(); it != installed_kinds_.end();) {
    if (kinds.count(it->first)) {
      ++it;
      continue;
    }
    kinds_.erase(it->first);
    it = installed_kinds_.erase(it);
  }
}

void InterfaceTable::writePrefixes(
    const std::vector<std::pair<std::uint32_t, IpPrefix>>& uplink_prefixes) {
  std::set<skouter_link_prefix_key, KeyBytesLess> wanted;
  for (const auto& [ifindex, prefix] : uplink_prefixes) {
    const auto key = prefixKey(ifindex, prefix);
    wanted.insert(key);
    if (installed_prefixes_.count(key)) continue;
    if (prefixes_.update(key, 1) != 0) {
      spdlog::error("cannot record the subnet {}/{} of an uplink (link_prefixes full?)",
                    prefix.address.toString(), prefix.length);
      continue;
    }
    installed_prefixes_.insert(key);
  }
  for (auto it = installed_prefixes_.begin(); it != installed_prefixes_.end();) {
    if (wanted.count(*it)) {
      ++it;
      continue;
    }
    prefixes_.erase(*it);
    it = installed_prefixes_.erase(it);
  }
}

}  // namespace skouter::maps
