#include "bpf/maps/identity_table.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "bpf/maps/bpf_address.h"

namespace skouter::maps {

std::map<IpAddress, std::uint32_t> IdentityTable::identities() const {
  std::map<IpAddress, std::uint32_t> identities;
  map_.forEach([&identities](const skouter_addr& key, const skouter_identity_value& value) {
    identities[fromBpfAddr(key)] = value.identity;
  });
  return identities;
}

std::optional<std::uint32_t> IdentityTable::identityOf(const IpAddress& address) const {
  const auto current = map_.lookup(toBpfAddr(address));
  if (!current) return std::nullopt;
  return current->identity;
}

bool IdentityTable::bind(const std::vector<IpAddress>& addresses,
                         const skouter_identity_value& binding) {
  bool written = true;
  for (const IpAddress& address : addresses) {
    const auto key = toBpfAddr(address);
    const auto current = map_.lookup(key);
    if (current && std::memcmp(&*current, &binding, sizeof(binding)) == 0) continue;
    if (map_.update(key, binding) != 0) {
      spdlog::error("cannot give {} identity {} in the identities map (full?)", address.toString(),
                    binding.identity);
      written = false;
    }
  }
  return written;
}

void IdentityTable::unbind(const IpAddress& address, std::uint32_t identity) {
  const auto key = toBpfAddr(address);
  const auto current = map_.lookup(key);
  if (current && current->identity == identity) map_.erase(key);
}

}  // namespace skouter::maps
