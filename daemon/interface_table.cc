#include "daemon/interface_table.h"

#include <spdlog/spdlog.h>

namespace skouter::daemon {

InterfaceTable::InterfaceTable(InterfaceMap map, InterfaceRoles roles)
    : map_(map), roles_(std::move(roles)) {}

void InterfaceTable::write(const std::vector<Link>& links, const std::set<int>& unguarded) {
  std::set<std::uint32_t> present;
  for (const Link& link : links) {
    if (unguarded.count(link.ifindex)) continue;
    const auto ifindex = static_cast<std::uint32_t>(link.ifindex);
    const skouter_interface_value value{.kind = interfaceKindOf(link, links, roles_), .pad = 0};
    const auto current = map_.lookup(ifindex);
    if ((!current || current->kind != value.kind) && map_.update(ifindex, value) != 0) {
      spdlog::error("cannot record interface {} in the interfaces map (full?)", link.name);
    }
    present.insert(ifindex);
  }
  for (const std::uint32_t ifindex : map_.keys()) {
    if (!present.count(ifindex)) map_.erase(ifindex);
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

}  // namespace skouter::daemon
