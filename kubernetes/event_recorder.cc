#include "kubernetes/event_recorder.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <nlohmann/json.hpp>

namespace skouter::kubernetes {
namespace {

using nlohmann::json;

constexpr auto kRepeatInterval = std::chrono::minutes(10);
// events.k8s.io limits a note to 1 KiB; core/v1 messages are kept within it too.
constexpr std::size_t kMaxMessageBytes = 1024;
constexpr std::size_t kMaxNameLength = 253;

std::string rfc3339(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// Cut at a character boundary: the API server rejects invalid UTF-8.
std::string truncatedUtf8(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace

EventRecorder::EventRecorder(ApiClient& client, std::string component, std::string host)
    : client_(client), component_(std::move(component)), host_(std::move(host)) {}

void EventRecorder::record(const ObjectReference& object, const std::string& type,
                           const std::string& reason, const std::string& message) {
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(recently_sent_,
                [&](const auto& entry) { return now - entry.second >= kRepeatInterval; });
  std::string key = object.uid;
  key.append(1, '\0').append(reason).append(1, '\0').append(message);
  if (!recently_sent_.emplace(key, now).second) return;

  const std::string namespace_name =
      object.namespace_name.empty() ? "default" : object.namespace_name;
  const auto wall_now = std::chrono::system_clock::now();
  // Unique per event as client-go names them: <object>.<nanoseconds in hex>.
  const std::string suffix = fmt::format(
      ".{:x}",
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_now.time_since_epoch()).count());
  const std::string name =
      object.name.substr(0, kMaxNameLength - std::min(kMaxNameLength, suffix.size())) + suffix;
  const std::string timestamp = rfc3339(wall_now);
  json involved_object = {{"apiVersion", object.api_version},
                          {"kind", object.kind},
                          {"name", object.name},
                          {"uid", object.uid}};
  if (!object.namespace_name.empty()) involved_object["namespace"] = object.namespace_name;
  const json event = {{"apiVersion", "v1"},
                      {"kind", "Event"},
                      {"metadata", {{"name", name}, {"namespace", namespace_name}}},
                      {"involvedObject", involved_object},
                      {"type", type},
                      {"reason", reason},
                      {"message", truncatedUtf8(message, kMaxMessageBytes)},
                      {"source", {{"component", component_}, {"host", host_}}},
                      {"reportingComponent", component_},
                      {"reportingInstance", host_},
                      {"firstTimestamp", timestamp},
                      {"lastTimestamp", timestamp},
                      {"count", 1}};
  const std::string description =
      reason + " event on " + object.kind + " " + namespace_name + "/" + object.name;
  client_.post("/api/v1/namespaces/" + namespace_name + "/events", event.dump(),
               [alive = std::weak_ptr<bool>(alive_), this, key, description](ApiResponse response) {
                 if (!response.error.empty() || response.status < 200 || response.status > 299) {
                   spdlog::warn("cannot create the Kubernetes {}: {}", description,
                                response.error.empty() ? "HTTP " + std::to_string(response.status) +
                                                             ": " + response.body.substr(0, 300)
                                                       : response.error);
                   if (!alive.expired()) recently_sent_.erase(key);
                 }
               });
}

}  // namespace skouter::kubernetes
