// `--log-format json`: every log line is one JSON object a collector can parse,
// whatever the message holds.
#include "daemon/log_format.h"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace skouter::daemon {
namespace {

// 2026-11-26T22:31:05.123Z
const spdlog::log_clock::time_point kTime{std::chrono::milliseconds(1795732265123)};

std::string formatted(spdlog::level::level_enum level, const std::string& message) {
  const spdlog::details::log_msg record(kTime, spdlog::source_loc{}, "", level, message);
  spdlog::memory_buf_t out;
  JsonLogFormatter().clone()->format(record, out);
  return std::string(out.data(), out.size());
}

TEST(JsonLogFormatterTest, EveryMessageIsOneLineOfValidJson) {
  const std::string messages[] = {
      "plain",
      "a \"quoted\" name",
      "C:\\path\\with\\backslashes",
      "two\nlines\r\nand a\ttab",
      std::string("control \x01 and nul \0 bytes", 26),
      "not UTF-8: \xff\xfe",
      "",
  };
  for (const auto& message : messages) {
    const std::string line = formatted(spdlog::level::warn, message);
    ASSERT_TRUE(line.ends_with("\n")) << line;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    const auto object = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(object.is_object()) << line;
    EXPECT_EQ(object.size(), 3u) << line;
    EXPECT_EQ(object["level"], "warning");
    if (message.find('\xff') == std::string::npos) {
      EXPECT_EQ(object["message"], message) << line;
    }
  }
}

TEST(JsonLogFormatterTest, TimeIsRfc3339InUtcWithMilliseconds) {
  EXPECT_EQ(formatted(spdlog::level::info, "started"),
            R"({"time":"2026-11-26T22:31:05.123Z","level":"info","message":"started"})"
            "\n");
}

}  // namespace
}  // namespace skouter::daemon
