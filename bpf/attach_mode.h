// How skouter puts its programs on an interface's tc hooks (skouterd --attach-mode).
#pragma once

#include <optional>
#include <string_view>

namespace skouter {

enum class AttachMode {
  kAuto,  // tcx links where the kernel has tcx (Linux 6.6), clsact filters elsewhere
  kTcx,   // tcx links, or an error
  kTc,    // clsact filters
};

inline std::optional<AttachMode> parseAttachMode(std::string_view text) {
  if (text == "auto") return AttachMode::kAuto;
  if (text == "tcx") return AttachMode::kTcx;
  if (text == "tc") return AttachMode::kTc;
  return std::nullopt;
}

}  // namespace skouter
