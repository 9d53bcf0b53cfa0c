// The clock of every time the datapath keeps (expiries, flows, heartbeats, held
// answers): CLOCK_BOOTTIME, which bpf_ktime_get_boot_ns() reads. Unlike CLOCK_MONOTONIC
// it goes on while the node is suspended, so an expiry and an idle flow count the time
// the node slept.
#pragma once

#include <time.h>

#include <cstdint>

namespace skouter {

inline constexpr std::uint64_t kNanosPerSecond = 1'000'000'000;

std::uint64_t datapathNowNs();

// `clock` now, in nanoseconds: datapathNowNs() reads CLOCK_BOOTTIME with it; moving the
// times of an older layout (CLOCK_MONOTONIC) needs both.
std::uint64_t clockNowNs(clockid_t clock);

// How long ago `then` was; 0 when it is not in the past. The datapath stamps times on
// other CPUs while the daemon works: a flow refreshed after the daemon read the clock
// has a time after `now`, and unsigned `now - then` would wrap around to centuries.
constexpr std::uint64_t elapsedSince(std::uint64_t then, std::uint64_t now) {
  return now > then ? now - then : 0;
}

}  // namespace skouter
