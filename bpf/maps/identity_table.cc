#include "bpf/maps/identity_table.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "bpf/maps/bpf_address.h"

namespace skouter::maps {

IdentityTable::IdentityTable(IdentityMap map) : map_(map) {
  map_.forEach([this](const skouter_addr& key, const skouter_identity_value& value) {
    bound_[fromBpfAddr(key)] = value;
  });
}

std::map<IpAddress, std::uint32_t> IdentityTable::identities() const {
  std::map<IpAddress, std::uint32_t> identities;
  for (const auto& [address, value] : bound_)
    identities.emplace_hint(identities.end(), address, value.identity);
  return identities;
}

std::optional<std::uint32_t> IdentityTable::identityOf(const IpAddress& address) const {
  const auto found = bound_.find(address);
  if (found == bound_.end()) return std::nullopt;
  return found->second.identity;
}

bool IdentityTable::bind(const std::vector<IpAddress>& addresses,
                         const skouter_identity_value& binding) {
  bool written = true;
  for (const IpAddress& address : addresses) {
    const auto current = bound_.find(address);
    const bool known = current != bound_.end();
    if (known && std::memcmp(&current->second, &binding, sizeof(binding)) == 0) continue;
    const auto key = toBpfAddr(address);
    if ((known ? map_.replace(key, binding) : map_.update(key, binding)) != 0) {
      spdlog::error("cannot give {} identity {} in the identities map (full?)", address.toString(),
                    binding.identity);
      written = false;
      continue;
    }
    bound_[address] = binding;
  }
  return written;
}

void IdentityTable::unbind(const IpAddress& address, std::uint32_t identity) {
  const auto current = bound_.find(address);
  if (current == bound_.end() || current->second.identity != identity) return;
  map_.erase(toBpfAddr(address));
  bound_.erase(current);
}

}  // namespace skouter::maps
