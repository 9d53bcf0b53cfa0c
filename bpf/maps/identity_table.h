// The identities map: which workload each address is (a policed pod, an unpoliced pod,
// the node itself) and the interface, and network namespace, its packets must come in
// by. Sole writer of it; the pod firewall decides who is who.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "bpf/counted_map.h"
#include "bpf/datapath.h"
#include "common/ip_address.h"

namespace skouter::maps {

class IdentityTable {
 public:
  // Reads the pinned map once: what a previous daemon left in it is known from then on.
  explicit IdentityTable(IdentityMap map);

  // Every address with its identity, as the map holds them (at start: as a previous
  // daemon left them). Read from memory, as is identityOf().
  std::map<IpAddress, std::uint32_t> identities() const;
  // The identity `address` is bound to; nullopt when none.
  std::optional<std::uint32_t> identityOf(const IpAddress& address) const;
  // Binds each of `addresses` to `binding`, leaving alone those bound so already.
  // False when the map refused one (full); logged.
  bool bind(const std::vector<IpAddress>& addresses, const skouter_identity_value& binding);
  // Removes `address` while it is bound to `identity`: it may be another workload's
  // already.
  void unbind(const IpAddress& address, std::uint32_t identity);
  // Entries in the identities map.
  std::size_t size() const { return map_.size(); }

 private:
  CountedMap<skouter_addr, skouter_identity_value> map_;
  // What the map holds, as this table last wrote or read it back (the BPF programs only
  // read it): a pod change re-applies every pod of the node, and each binding that is
  // already there then costs no syscall.
  std::map<IpAddress, skouter_identity_value> bound_;
};

}  // namespace skouter::maps
