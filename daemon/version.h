#pragma once

namespace skouter::daemon {
inline constexpr const char* kVersion = SKOUTER_VERSION;
}  // namespace skouter::daemon
