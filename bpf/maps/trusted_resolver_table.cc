#include "bpf/maps/trusted_resolver_table.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "bpf/maps/bpf_address.h"

namespace skouter::maps {

skouter_resolver_key resolverKey(const resolver::ResolverAddress& address) {
  skouter_resolver_key key{};
  putBpfAddr(key, address.ip);
  key.port = htons(address.port);
  return key;
}

std::size_t TrustedResolverTable::sync(const std::vector<resolver::ResolverAddress>& wanted,
                                       bool keep_others) {
  std::vector<skouter_resolver_key> keys;
  for (const auto& address : wanted) keys.push_back(resolverKey(address));
  const auto isWanted = [&](const skouter_resolver_key& key) {
    return std::any_of(keys.begin(), keys.end(),
                       [&](const auto& w) { return std::memcmp(&w, &key, sizeof(key)) == 0; });
  };
  if (!keep_others) {
    for (const auto& key : map_.keys()) {
      if (!isWanted(key)) map_.erase(key);
    }
  }
  std::size_t refused = 0;
  for (const auto& key : keys) {
    if (map_.lookup(key)) continue;
    if (map_.update(key, skouter_resolver_value{}) != 0) ++refused;
  }
  return refused;
}

}  // namespace skouter::maps
