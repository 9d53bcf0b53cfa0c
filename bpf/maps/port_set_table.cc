#include "bpf/maps/port_set_table.h"

#include <vector>

namespace skouter::maps {
namespace {

std::uint32_t hashOf(const policy::PortSet& ports) {
  std::uint32_t hash = 2166136261u;
  const auto mix = [&hash](std::uint32_t value) {
    for (int shift = 0; shift < 32; shift += 8) {
      hash ^= (value >> shift) & 0xff;
      hash *= 16777619u;
    }
  };
  for (const policy::PortRange& range : ports) {
    mix(static_cast<std::uint32_t>(range.protocol));
    mix(static_cast<std::uint32_t>(range.first) << 16 | range.last);
  }
  return hash;
}

skouter_port_set toBpf(const policy::PortSet& ports) {
  skouter_port_set value{};
  value.count = static_cast<std::uint32_t>(ports.size());
  for (std::size_t i = 0; i < ports.size(); ++i) {
    value.ranges[i].first = ports[i].first;
    value.ranges[i].last = ports[i].last;
    value.ranges[i].protocol = static_cast<std::uint8_t>(ports[i].protocol);
  }
  return value;
}

policy::PortSet fromBpf(const skouter_port_set& value) {
  policy::PortSet ports;
  for (std::uint32_t i = 0; i < value.count && i < SKOUTER_MAX_PORT_RANGES; ++i) {
    ports.push_back({static_cast<policy::PortProtocol>(value.ranges[i].protocol),
                     value.ranges[i].first, value.ranges[i].last});
  }
  return ports;
}

}  // namespace

static_assert(policy::kMaxPortRanges == SKOUTER_MAX_PORT_RANGES);

PortSetTable::PortSetTable(PortSetMap map) : map_(map) {
  map_.forEach([this](const std::uint32_t& id, const skouter_port_set& value) {
    sets_[id] = fromBpf(value);
  });
}

std::optional<std::uint32_t> PortSetTable::intern(const policy::PortSet& wanted) {
  if (wanted.empty()) return 0;
  policy::PortSet ports = wanted;
  if (ports.size() > SKOUTER_MAX_PORT_RANGES) {
    ports = policy::widenToFit(std::move(ports), SKOUTER_MAX_PORT_RANGES);
    ++widened_;
  }
  // A collision moves on to the next id; 0 is reserved for every port.
  for (std::uint32_t id = hashOf(ports);; ++id) {
    if (id == 0) continue;
    const auto known = sets_.find(id);
    if (known != sets_.end()) {
      if (known->second == ports) return id;
      continue;
    }
    if (map_.update(id, toBpf(ports)) != 0) return std::nullopt;
    sets_.emplace(id, ports);
    return id;
  }
}

policy::PortSet PortSetTable::lookup(std::uint32_t id) const {
  if (id == 0) return {};
  const auto found = sets_.find(id);
  // An empty PortSet would mean every port; a dangling id opens none.
  if (found == sets_.end()) return {{policy::PortProtocol::kTcp, 0, 0}};
  return found->second;
}

void PortSetTable::retainOnly(const std::set<std::uint32_t>& in_use) {
  for (auto set = sets_.begin(); set != sets_.end();) {
    if (in_use.count(set->first) || !map_.erase(set->first)) {
      ++set;
    } else {
      set = sets_.erase(set);
    }
  }
}

}  // namespace skouter::maps
