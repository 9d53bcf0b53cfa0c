// The JSON text the daemon serves and streams.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace skouter::daemon {

// `value` as JSON text, with whatever string is not valid UTF-8 mended (U+FFFD) rather
// than thrown on: names are escaped where they are read (resolver/dns_question.h), and
// this keeps anything else that slipped through (a policy file's bytes, an error
// message) from failing a response or an event.
inline std::string jsonText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace skouter::daemon
