// The types of event /v1/events streams (`skouterctl monitor --type`), in one place
// for the daemon and skouterctl.
#pragma once

#include <algorithm>
#include <array>
#include <string_view>

namespace skouter::daemon {

inline constexpr std::array<std::string_view, 5> kEventTypes = {"flow", "dns", "dns_query",
                                                                "server_name", "policy"};
inline constexpr std::string_view kEventTypeList = "flow, dns, dns_query, server_name or policy";

inline bool isEventType(std::string_view type) {
  return std::find(kEventTypes.begin(), kEventTypes.end(), type) != kEventTypes.end();
}

}  // namespace skouter::daemon
