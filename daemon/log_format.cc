#include "daemon/log_format.h"

#include <spdlog/details/log_msg.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

namespace skouter::daemon {

namespace {

// RFC 3339 in UTC with milliseconds: "2026-11-26T22:31:05.123Z".
std::string utcTime(spdlog::log_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
  const std::time_t whole = seconds.count();
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char text[32];
  const auto length = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(text, length) + "." + std::to_string(1000 + millis.count()).substr(1) + "Z";
}

}  // namespace

void JsonLogFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) {
  // In this order, for people reading along.
  const nlohmann::ordered_json line = {
      {"time", utcTime(message.time)},
      {"level", std::string(spdlog::level::to_string_view(message.level).data(),
                            spdlog::level::to_string_view(message.level).size())},
      {"message", std::string(message.payload.data(), message.payload.size())}};
  // A message is not always valid UTF-8 (a name from a packet, say): replace what is not.
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  out.append(text.data(), text.data() + text.size());
  out.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

}  // namespace skouter::daemon
