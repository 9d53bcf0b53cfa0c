#include "bpf/maps/datapath_settings.h"

namespace skouter::maps {

void DatapathSettings::writeConfig(skouter_config config, std::uint32_t pinned_flags) {
  config.layout_version = SKOUTER_LAYOUT_VERSION;
  if (pinned_flags != 0) {
    const auto previous = config_.lookup(0);
    config.flags = (config.flags & ~pinned_flags) | (previous ? previous->flags & pinned_flags : 0);
  }
  if (config_.update(0, config) != 0) {
    throw DatapathError("cannot write the datapath configuration");
  }
}

bool DatapathSettings::beat(std::uint64_t now_ns) {
  return heartbeat_.update(0, skouter_heartbeat{now_ns}) == 0;
}

}  // namespace skouter::maps
