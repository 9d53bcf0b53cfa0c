// `--log-format json`: one JSON object per line, for log collectors that parse fields
// rather than text: {"time":"2026-11-26T22:31:05.123Z","level":"info","message":"..."}.
#pragma once

#include <spdlog/formatter.h>

#include <memory>

namespace skouter::daemon {

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace skouter::daemon
