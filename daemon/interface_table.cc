#include "daemon/interface_table.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "resolver/allowed_ip_table.h"

namespace skouter::daemon {

namespace {

skouter_link_prefix_key prefixKey(int ifindex, const IpPrefix& prefix) {
  skouter_link_prefix_key key{};
  key.prefixlen = SKOUTER_LINK_PREFIX_FIXED_BITS + prefix.length;
  key.ifindex = static_cast<std::uint32_t>(ifindex);
  const auto addr = resolver::toBpfAddr(prefix.address);
  key.family = addr.family;
  std::memcpy(key.addr, addr.addr, sizeof(key.addr));
  return key;
}

}  // namespace

InterfaceTable::InterfaceTable(InterfaceMap kinds, LinkPrefixMap prefixes, InterfaceRoles roles)
    : kinds_(kinds), prefixes_(prefixes), roles_(std::move(roles)) {}

void InterfaceTable::write(const std::vector<Link>& links,
                           const std::vector<InterfaceAddress>& addresses,
                           const std::set<int>& unguarded) {
  writePrefixes(links, addresses);
  std::set<std::uint32_t> present;
  for (const Link& link : links) {
    if (unguarded.count(link.ifindex)) continue;
    const auto ifindex = static_cast<std::uint32_t>(link.ifindex);
    const skouter_interface_value value{.kind = interfaceKindOf(link, links, roles_), .pad = 0};
    const auto current = kinds_.lookup(ifindex);
    if ((!current || current->kind != value.kind) && kinds_.update(ifindex, value) != 0) {
      spdlog::error("cannot record interface {} in the interfaces map (full?)", link.name);
    }
    present.insert(ifindex);
  }
  for (const std::uint32_t ifindex : kinds_.keys()) {
    if (!present.count(ifindex)) kinds_.erase(ifindex);
  }
}

std::vector<PodInterface> InterfaceTable::podInterfaces(const std::vector<Link>& links) const {
  std::vector<PodInterface> pods;
  for (const Link& link : links) {
    if (isPodInterface(link) && interfaceKindOf(link, links, roles_) == SKOUTER_INTERFACE_POD) {
      pods.push_back(podInterfaceOf(link));
    }
  }
  return pods;
}

void InterfaceTable::writePrefixes(const std::vector<Link>& links,
                                   const std::vector<InterfaceAddress>& addresses) {
  std::set<std::vector<std::uint8_t>> wanted;
  const auto bytesOf = [](const skouter_link_prefix_key& key) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&key);
    return std::vector<std::uint8_t>(bytes, bytes + sizeof(key));
  };
  for (const InterfaceAddress& address : addresses) {
    const bool on_uplink = std::any_of(links.begin(), links.end(), [&](const Link& link) {
      return link.ifindex == address.ifindex && roles_.uplinks.count(link.name);
    });
    if (!on_uplink) continue;
    const auto key =
        prefixKey(address.ifindex,
                  IpPrefix::of(address.address, static_cast<unsigned>(address.prefix_length)));
    wanted.insert(bytesOf(key));
    // (A lookup would not tell: it finds the longest prefix that covers the key.)
    if (prefixes_.update(key, 1) != 0) {
      spdlog::error("cannot record the subnet {}/{} of an uplink (link_prefixes full?)",
                    address.address.toString(), address.prefix_length);
    }
  }
  for (const auto& key : prefixes_.keys()) {
    if (!wanted.count(bytesOf(key))) prefixes_.erase(key);
  }
}

}  // namespace skouter::daemon
