// The port restrictions of allowed addresses and CIDRs, interned in the port_sets map:
// each distinct set is stored once and referred to by id from allowed_ips and
// allowed_cidrs. Sole writer of port_sets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "bpf/datapath.h"
#include "policy/egress.h"

namespace skouter::maps {

class PortSetTable {
 public:
  // Reads back the sets a previous daemon pinned, so their ids keep their meaning.
  explicit PortSetTable(PortSetMap map);

  // The id of `ports` in the map, adding it when new: 0 for every port (no lookup in
  // the datapath). A set of more ranges than an entry holds (a union of several
  // rules) is widened to fit (policy::widenToFit) and counted. nullopt when the map is
  // full. Ids are a hash of the set, so they are stable across restarts.
  std::optional<std::uint32_t> intern(const policy::PortSet& ports);
  // The set behind `id`; every port for 0. An unknown id reads as no port at all,
  // as the datapath treats it.
  policy::PortSet lookup(std::uint32_t id) const;
  // Removes the sets no entry refers to any more.
  void retainOnly(const std::set<std::uint32_t>& in_use);
  std::size_t size() const { return sets_.size(); }
  // Sets that had to be widened to fit an entry.
  std::uint64_t widened() const { return widened_; }

 private:
  PortSetMap map_;
  std::map<std::uint32_t, policy::PortSet> sets_;
  std::uint64_t widened_ = 0;
};

}  // namespace skouter::maps
