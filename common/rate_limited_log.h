// Logging that a flood cannot turn into a denial of service: each kind of event logs
// at most `burst` lines, refilled at `per_second`; what is held back is counted and
// reported with the next line that gets through. The counters in /v1/status see
// every event either way.
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

namespace skouter {

class RateLimitedLog {
 public:
  RateLimitedLog(double per_second = 5, double burst = 20)
      : per_second_(per_second), burst_(burst), tokens_(burst) {}

  template <typename... Args>
  void log(std::uint64_t now_ns, spdlog::level::level_enum level,
           spdlog::format_string_t<Args...> format, Args&&... args) {
    if (!spdlog::should_log(level)) return;
    tokens_ = std::min(burst_, tokens_ + (now_ns - last_ns_) / 1e9 * per_second_);
    last_ns_ = now_ns;
    if (tokens_ < 1) {
      ++suppressed_;
      return;
    }
    tokens_ -= 1;
    std::string line = fmt::format(format, std::forward<Args>(args)...);
    if (suppressed_ > 0) {
      line += fmt::format(" ({} similar lines suppressed)", suppressed_);
      suppressed_ = 0;
    }
    spdlog::log(level, "{}", line);
  }

 private:
  double per_second_;
  double burst_;
  double tokens_;
  std::uint64_t last_ns_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace skouter
