// Reports what skouterd finds wrong with an object (an invalid Egress, say) as a core/v1
// Event on that object, where `kubectl describe` and `kubectl get events` show it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "kubernetes/api_client.h"

namespace skouter::kubernetes {

struct ObjectReference {
  std::string api_version, kind, namespace_name, name, uid;
};

class EventRecorder {
 public:
  // `component`: "skouterd"; `host`: the node name (source.host).
  EventRecorder(ApiClient& client, std::string component, std::string host);
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // POSTs a core/v1 Event (type Warning|Normal, reason, message, involvedObject, source,
  // firstTimestamp/lastTimestamp, count) to the object's namespace ("default" when empty).
  // The same (object uid, reason, message) is not sent again within 10 minutes, unless
  // sending it failed. Failures are logged, never thrown.
  void record(const ObjectReference& object, const std::string& type, const std::string& reason,
              const std::string& message);

 private:
  ApiClient& client_;
  std::string component_;
  std::string host_;
  // (uid, reason, message) -> when it was last sent.
  std::map<std::string, std::chrono::steady_clock::time_point> recently_sent_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace skouter::kubernetes
