// A local copy of one Kubernetes collection kept current by list + watch, as client-go's
// Reflector does: list (keeping its resourceVersion), then watch from that version with
// bookmarks; a watch that ends cleanly is resumed from the last version seen; an expired
// version (410 Gone) makes it relist; any other failure is retried after an exponential
// backoff with jitter, by relisting (which also recovers from an API server whose history
// was lost). The store is never emptied in between: a relist replaces it at once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>

#include "kubernetes/api_client.h"

namespace skouter::kubernetes {

// "namespace/name" for namespaced objects, "name" for cluster-scoped -> the object JSON.
using ReflectorObjects = std::map<std::string, nlohmann::json>;

class Reflector {
 public:
  using Objects = ReflectorObjects;
  struct Stats {
    // lists: lists that replaced the store; watches: watch requests sent; events:
    // ADDED/MODIFIED/DELETED applied; expired: 410 Gone answers (each followed by a
    // relist); errors: every other failure.
    std::uint64_t lists = 0, watches = 0, events = 0, bookmarks = 0, expired = 0, errors = 0;
    std::string resource_version, last_error;
  };

  // `collection`: "/api/v1/pods", "/apis/egress.skouter/v1alpha1/egresses", ...;
  // `selectors`: query without '?', already encoded, e.g. "fieldSelector=spec.nodeName%3Dn1"
  // (may be empty). `on_change` runs on the io_context (never inside a member function)
  // after every list and after ADDED/MODIFIED/DELETED events (not after bookmarks); events
  // arriving together are reported by one call.
  Reflector(boost::asio::io_context& io, ApiClient& client, std::string collection,
            std::string selectors, std::function<void()> on_change);
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void start();
  // Closes the watch and abandons any request or retry; objects() stays as it is.
  void stop();
  const Objects& objects() const;
  bool synced() const;  // a list has completed at least once
  const Stats& stats() const;
  const std::string& collection() const;

 private:
  void list();
  void onList(const ApiResponse& response);
  void watch();
  void onWatchLine(std::string_view line);
  void onWatchEnd(const ApiResponse& response);
  void relistAfterExpiry(const std::string& why);
  void retryAfterFailure(const std::string& error);
  void noteHealthy();
  void noteChange();
  // A callback that calls `member` unless, by the time it runs, the reflector is
  // stopped or destroyed or a newer operation has started.
  template <typename... Args>
  auto guarded(void (Reflector::*member)(Args...));

  boost::asio::io_context& io_;
  ApiClient& client_;
  std::string collection_;
  std::string selectors_;
  std::function<void()> on_change_;
  Objects objects_;
  Stats stats_;
  bool synced_ = false;
  bool running_ = false;
  // Bumped by every list, watch and stop: callbacks of an older operation are ignored.
  std::uint64_t operation_ = 0;
  std::shared_ptr<WatchStream> watch_;
  std::chrono::steady_clock::time_point watch_started_;
  bool watch_delivered_ = false;  // the current watch has sent at least one line
  boost::asio::steady_timer retry_timer_;
  std::chrono::milliseconds backoff_{0};
  std::uint64_t failures_in_a_row_ = 0;
  std::chrono::steady_clock::time_point last_failure_log_;
  bool change_pending_ = false;
  std::mt19937_64 random_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kExpired, kError, kInvalid };

struct AppliedWatchEvent {
  WatchEventType type = WatchEventType::kInvalid;
  std::string key;               // the object's key (ADDED, MODIFIED, DELETED)
  std::string resource_version;  // of the object or bookmark; empty when it has none
  std::string error;             // kExpired, kError: the Status; kInvalid: what is wrong
};

// The key of an object in ReflectorObjects; empty when it has no metadata.name.
std::string objectKey(const nlohmann::json& object);

// Applies one line of a watch stream to `objects`: ADDED/MODIFIED store the object (an
// ADDED for a known key replaces it, as after a resumed watch), DELETED removes it.
// BOOKMARK, ERROR and lines that are not a watch event change nothing.
AppliedWatchEvent applyWatchEvent(std::string_view line, ReflectorObjects& objects);

struct ParsedList {
  ReflectorObjects objects;
  std::string resource_version;
  std::string error;  // set when the body is not a list; the rest is then empty
};

// A list response. Items come without kind and apiVersion from the API server; they are
// filled in from the list's ("PodList" -> "Pod"), so listed and watched objects look alike.
ParsedList parseList(std::string_view body);

}  // namespace skouter::kubernetes
