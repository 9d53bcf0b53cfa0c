#include "bpf/maps/learnable_name_table.h"

#include "bpf/name_hash.h"

namespace skouter::maps {

std::uint64_t learnableNameHash(std::uint64_t seed, std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  // From the root up: the hash of each suffix is its first label's in front of its
  // parent's.
  std::uint64_t hash = skouter_suffix_root(seed);
  while (!name.empty()) {
    const std::size_t dot = name.rfind('.');
    const std::string_view label = dot == std::string_view::npos ? name : name.substr(dot + 1);
    std::uint64_t label_hash = skouter_label_start(seed);
    for (const char byte : label)
      label_hash = skouter_label_byte(label_hash, static_cast<std::uint8_t>(byte));
    hash = skouter_suffix_push(
        hash, skouter_label_end(label_hash, static_cast<std::uint32_t>(label.size())));
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(0, dot);
  }
  return hash;
}

}  // namespace skouter::maps
