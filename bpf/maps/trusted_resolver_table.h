// The trusted_resolvers map: the {address, port} pairs whose DNS answers the programs
// hold for the daemon. Sole writer of it; the daemon decides which resolvers are
// trusted.
#pragma once

#include <cstddef>
#include <vector>

#include "bpf/counted_map.h"
#include "bpf/datapath.h"
#include "resolver/resolver_address.h"

namespace skouter::maps {

skouter_resolver_key resolverKey(const resolver::ResolverAddress& address);

class TrustedResolverTable {
 public:
  explicit TrustedResolverTable(ResolverMap map) : map_(map) {}

  // Adds each of `wanted` not there yet and, unless `keep_others`, first removes every
  // entry not wanted, so a full map makes room for the new ones. Returns how many of
  // `wanted` the map refused (full).
  std::size_t sync(const std::vector<resolver::ResolverAddress>& wanted, bool keep_others);

  // Entries in trusted_resolvers.
  std::size_t size() const { return map_.size(); }

 private:
  CountedMap<skouter_resolver_key, skouter_resolver_value> map_;
};

}  // namespace skouter::maps
