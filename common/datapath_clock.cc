#include "common/datapath_clock.h"

namespace skouter {

std::uint64_t clockNowNs(clockid_t clock) {
  timespec now{};
  clock_gettime(clock, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * kNanosPerSecond +
         static_cast<std::uint64_t>(now.tv_nsec);
}

std::uint64_t datapathNowNs() { return clockNowNs(CLOCK_BOOTTIME); }

}  // namespace skouter
