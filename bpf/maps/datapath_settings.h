// The config map (what the daemon tells the programs: flags, mark, timeouts, limits)
// and the heartbeat map (that the daemon is alive). Sole writer of both; the daemon
// decides what they say.
#pragma once

#include <cstdint>

#include "bpf/datapath.h"

namespace skouter::maps {

class DatapathSettings {
 public:
  DatapathSettings(ConfigMap config, HeartbeatMap heartbeat)
      : config_(config), heartbeat_(heartbeat) {}

  // Writes `config` with this build's layout version, except the flags among
  // `pinned_flags`: those stay as the configuration in place has them (none when there
  // is none). Throws DatapathError when the map refuses it.
  void writeConfig(skouter_config config, std::uint32_t pinned_flags = 0);

  // Stamps the heartbeat with `now_ns` (datapath clock); false when the map refuses it.
  bool beat(std::uint64_t now_ns);

 private:
  ConfigMap config_;
  HeartbeatMap heartbeat_;
};

}  // namespace skouter::maps
