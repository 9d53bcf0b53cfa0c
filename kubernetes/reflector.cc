#include "kubernetes/reflector.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>

namespace skouter::kubernetes {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kFirstBackoff = 200ms;
constexpr auto kMaxBackoff = 10s;
// A watch that ends cleanly having sent nothing is resumed no sooner than this after it
// started, so a server that closes every watch at once is not hammered.
constexpr auto kMinQuietWatchLifetime = 1s;
constexpr auto kFailureLogInterval = 30s;
constexpr int kMinWatchTimeoutSeconds = 240;
constexpr int kMaxWatchTimeoutSeconds = 360;

std::string stringAt(const json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

const json& metadataOf(const json& object) {
  static const json kEmpty = json::object();
  const auto found = object.find("metadata");
  return found != object.end() && found->is_object() ? *found : kEmpty;
}

std::string shortened(std::string_view text) {
  constexpr std::size_t kMax = 120;
  return text.size() <= kMax ? std::string(text) : std::string(text.substr(0, kMax)) + "...";
}

// What a failed request says: the transport error, or the status and the Status
// message of the body.
std::string describeFailure(const ApiResponse& response) {
  if (!response.error.empty()) return response.error;
  std::string text = "HTTP " + std::to_string(response.status);
  const json status = json::parse(response.body, nullptr, false);
  if (status.is_object() && status.contains("message")) {
    text += ": " + stringAt(status, "message");
  } else if (!response.body.empty()) {
    text += ": " + shortened(response.body);
  }
  return text;
}

}  // namespace

std::string objectKey(const json& object) {
  const json& metadata = metadataOf(object);
  const std::string name = stringAt(metadata, "name");
  if (name.empty()) return "";
  const std::string namespace_name = stringAt(metadata, "namespace");
  return namespace_name.empty() ? name : namespace_name + "/" + name;
}

AppliedWatchEvent applyWatchEvent(std::string_view line, ReflectorObjects& objects) {
  AppliedWatchEvent result;
  json event = json::parse(line, nullptr, false);
  if (event.is_discarded() || !event.is_object()) {
    result.error = "not a JSON object: '" + shortened(line) + "'";
    return result;
  }
  const std::string type = stringAt(event, "type");
  const auto object = event.find("object");
  if (object == event.end() || !object->is_object()) {
    result.error = "a watch event without an object: '" + shortened(line) + "'";
    return result;
  }
  result.resource_version = stringAt(metadataOf(*object), "resourceVersion");
  if (type == "ERROR") {
    const auto code = object->value("code", 0);
    result.type = code == 410 ? WatchEventType::kExpired : WatchEventType::kError;
    result.error = "code " + std::to_string(code) + " (" + stringAt(*object, "reason") +
                   "): " + stringAt(*object, "message");
    return result;
  }
  if (type == "BOOKMARK") {
    result.type = WatchEventType::kBookmark;
    return result;
  }
  if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") {
    result.error = "unknown watch event type '" + type + "'";
    return result;
  }
  result.key = objectKey(*object);
  if (result.key.empty()) {
    result.error = type + " event for an object without metadata.name";
    return result;
  }
  if (type == "DELETED") {
    result.type = WatchEventType::kDeleted;
    objects.erase(result.key);
  } else {
    result.type = type == "ADDED" ? WatchEventType::kAdded : WatchEventType::kModified;
    objects.insert_or_assign(result.key, std::move(*object));
  }
  return result;
}

ParsedList parseList(std::string_view body) {
  ParsedList result;
  json list = json::parse(body, nullptr, false);
  const auto items = list.is_object() ? list.find("items") : list.end();
  if (list.is_discarded() || !list.is_object() ||
      (items != list.end() && !items->is_array() && !items->is_null())) {
    result.error = "not a list: '" + shortened(body) + "'";
    return result;
  }
  result.resource_version = stringAt(metadataOf(list), "resourceVersion");
  if (result.resource_version.empty()) {
    result.error = "a list without metadata.resourceVersion";
    return result;
  }
  std::string item_kind = stringAt(list, "kind");
  if (item_kind.size() > 4 && item_kind.ends_with("List")) item_kind.resize(item_kind.size() - 4);
  const std::string api_version = stringAt(list, "apiVersion");
  if (items == list.end() || items->is_null()) return result;
  for (json& item : *items) {
    const std::string key = item.is_object() ? objectKey(item) : "";
    if (key.empty()) {
      result = {};
      result.error = "a list item without metadata.name: '" + shortened(item.dump()) + "'";
      return result;
    }
    if (!item.contains("kind") && !item_kind.empty()) item["kind"] = item_kind;
    if (!item.contains("apiVersion") && !api_version.empty()) item["apiVersion"] = api_version;
    result.objects.insert_or_assign(key, std::move(item));
  }
  return result;
}

Reflector::Reflector(boost::asio::io_context& io, ApiClient& client, std::string collection,
                     std::string selectors, std::function<void()> on_change)
    : io_(io),
      client_(client),
      collection_(std::move(collection)),
      selectors_(std::move(selectors)),
      on_change_(std::move(on_change)),
      retry_timer_(io),
      random_(std::random_device{}()) {}

Reflector::~Reflector() { stop(); }

void Reflector::start() {
  if (running_) return;
  running_ = true;
  list();
}

void Reflector::stop() {
  running_ = false;
  ++operation_;
  watch_.reset();
  retry_timer_.cancel();
}

const Reflector::Objects& Reflector::objects() const { return objects_; }
bool Reflector::synced() const { return synced_; }
const Reflector::Stats& Reflector::stats() const { return stats_; }
const std::string& Reflector::collection() const { return collection_; }

template <typename... Args>
auto Reflector::guarded(void (Reflector::*member)(Args...)) {
  return [alive = std::weak_ptr<bool>(alive_), this, operation = operation_, member](Args... args) {
    if (alive.expired() || !running_ || operation != operation_) return;
    (this->*member)(args...);
  };
}

void Reflector::list() {
  ++operation_;
  watch_.reset();
  const std::string target = collection_ + (selectors_.empty() ? "" : "?" + selectors_);
  client_.get(target, guarded(&Reflector::onList));
}

void Reflector::onList(const ApiResponse& response) {
  if (!response.error.empty() || response.status != 200) {
    retryAfterFailure("list " + collection_ + ": " + describeFailure(response));
    return;
  }
  ParsedList parsed = parseList(response.body);
  if (!parsed.error.empty()) {
    retryAfterFailure("list " + collection_ + ": " + parsed.error);
    return;
  }
  objects_ = std::move(parsed.objects);
  stats_.resource_version = std::move(parsed.resource_version);
  ++stats_.lists;
  synced_ = true;
  spdlog::debug("listed {}: {} objects at resourceVersion {}", collection_, objects_.size(),
                stats_.resource_version);
  noteChange();
  watch();
}

void Reflector::watch() {
  ++operation_;
  const int timeout_seconds =
      std::uniform_int_distribution<int>(kMinWatchTimeoutSeconds, kMaxWatchTimeoutSeconds)(random_);
  const std::string target =
      collection_ + "?" + (selectors_.empty() ? "" : selectors_ + "&") +
      "watch=true&resourceVersion=" + queryEscaped(stats_.resource_version) +
      "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout_seconds);
  ++stats_.watches;
  watch_started_ = std::chrono::steady_clock::now();
  watch_delivered_ = false;
  watch_ = client_.watch(target, guarded(&Reflector::onWatchLine), guarded(&Reflector::onWatchEnd));
}

void Reflector::onWatchLine(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
  if (!watch_delivered_) {
    watch_delivered_ = true;
    noteHealthy();
  }
  AppliedWatchEvent event = applyWatchEvent(line, objects_);
  switch (event.type) {
    case WatchEventType::kAdded:
    case WatchEventType::kModified:
    case WatchEventType::kDeleted:
      ++stats_.events;
      if (!event.resource_version.empty()) stats_.resource_version = event.resource_version;
      noteChange();
      return;
    case WatchEventType::kBookmark:
      ++stats_.bookmarks;
      if (!event.resource_version.empty()) stats_.resource_version = event.resource_version;
      return;
    case WatchEventType::kExpired:
      relistAfterExpiry("watch " + collection_ + " from resourceVersion " +
                        stats_.resource_version + ": " + event.error);
      return;
    case WatchEventType::kError:
      retryAfterFailure("watch " + collection_ + ": error event " + event.error);
      return;
    case WatchEventType::kInvalid:
      // An event may have been lost with it: only a relist is sure to be complete.
      retryAfterFailure("watch " + collection_ + ": " + event.error);
      return;
  }
}

void Reflector::onWatchEnd(const ApiResponse& response) {
  watch_.reset();
  if (response.error.empty() && response.status == 200) {
    noteHealthy();
    const auto lifetime = std::chrono::steady_clock::now() - watch_started_;
    if (watch_delivered_ || lifetime >= kMinQuietWatchLifetime) {
      watch();
    } else {
      retry_timer_.expires_after(kMinQuietWatchLifetime - lifetime);
      retry_timer_.async_wait(
          [resume = guarded(&Reflector::watch)](boost::system::error_code error) {
            if (!error) resume();
          });
    }
    return;
  }
  if (response.error.empty() && response.status == 410) {
    relistAfterExpiry("watch " + collection_ + " from resourceVersion " + stats_.resource_version +
                      ": " + describeFailure(response));
    return;
  }
  retryAfterFailure("watch " + collection_ + ": " + describeFailure(response));
}

void Reflector::relistAfterExpiry(const std::string& why) {
  ++stats_.expired;
  spdlog::info("{}; listing again", why);
  list();
}

void Reflector::retryAfterFailure(const std::string& error) {
  ++stats_.errors;
  stats_.last_error = error;
  ++operation_;
  watch_.reset();
  backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(kFirstBackoff),
                        std::chrono::milliseconds(kMaxBackoff));
  const auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(
      backoff_.count() * std::uniform_real_distribution<double>(0.8, 1.2)(random_)));
  ++failures_in_a_row_;
  const auto now = std::chrono::steady_clock::now();
  if (failures_in_a_row_ == 1 || now - last_failure_log_ >= kFailureLogInterval) {
    last_failure_log_ = now;
    spdlog::warn("Kubernetes API: {} (failure {} in a row; listing again in {} ms)", error,
                 failures_in_a_row_, delay.count());
  }
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([relist = guarded(&Reflector::list)](boost::system::error_code error) {
    if (!error) relist();
  });
}

void Reflector::noteHealthy() {
  backoff_ = std::chrono::milliseconds(0);
  if (failures_in_a_row_ > 0) {
    spdlog::info("Kubernetes API: watching {} again after {} failures", collection_,
                 failures_in_a_row_);
    failures_in_a_row_ = 0;
  }
}

void Reflector::noteChange() {
  if (change_pending_) return;
  change_pending_ = true;
  boost::asio::post(io_, [alive = std::weak_ptr<bool>(alive_), this] {
    if (alive.expired()) return;
    change_pending_ = false;
    if (running_ && on_change_) on_change_();
  });
}

}  // namespace skouter::kubernetes
