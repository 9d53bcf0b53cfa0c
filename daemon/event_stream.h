// Decisions as they happen, for `GET /v1/events` and `skouterctl monitor`. Every
// subscriber has a bounded queue of its own: a reader that falls behind loses its own
// events (and is told how many), never slows the daemon or another reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace skouter::daemon {

// Which events a subscriber wants; an empty field matches everything.
struct EventFilter {
  std::string identity;  // a number, or a workload name ("host", "namespace/pod")
  std::string verdict;   // flows and answers: their verdict; policy events: the result
  std::string type;      // flow, dns, server_name or policy

  bool matches(const nlohmann::json& event) const;
};

// The filter of a query's parameters (identity, verdict, type); nullopt with `error`
// set for an unknown parameter or value.
std::optional<EventFilter> parseEventFilter(const std::map<std::string, std::string>& parameters,
                                            std::string& error);

// "2026-11-26T22:31:05.123Z": the time field of every event.
std::string eventTime(std::chrono::system_clock::time_point time);

// What an event says of a held DNS answer.
struct DnsAnswerEventFields {
  std::uint32_t identity = 0;
  std::string workload;  // "host", "namespace/pod"
  std::string client;
  std::string name;  // as resolver/dns_question.h shows names
  std::string qtype;
  std::string verdict;  // allowed, denied, malformed, ...
  std::vector<std::string> addresses;
  std::optional<std::string> rule;
};
nlohmann::json dnsAnswerEvent(std::chrono::system_clock::time_point time,
                              const DnsAnswerEventFields& answer);

// A late connection (daemon/expired_addresses.h) as events and the audit table show it.
struct LateConnectionFields {
  std::vector<std::string> names;
  std::string rule;
  std::uint64_t expired_ago_s = 0;
  std::uint32_t open_for_s = 0;  // 0: not known
};
nlohmann::json lateConnectionJson(const LateConnectionFields& late);

// What an event says of a new flow the policy denied (dropped or audited).
struct FlowEventFields {
  std::uint32_t identity = 0;
  std::string workload;
  std::string verdict;  // denied, audited
  std::string source;
  std::string destination;
  std::uint16_t port = 0;
  std::string protocol;  // tcp, udp, ...
  std::vector<std::string> names;
  // Set when the destination was learned for the workload and expired; the event then
  // has a "late" object.
  std::optional<LateConnectionFields> late;
};
nlohmann::json flowEvent(std::chrono::system_clock::time_point time, const FlowEventFields& flow);

// What an event says of a new TLS or QUIC flow judged by the server name it named.
struct ServerNameEventFields {
  std::uint32_t identity = 0;
  std::string workload;
  std::string verdict;   // allowed, denied, audited
  std::string reason;    // daemon/server_name_verdict.h: allowed, name_not_allowed, ...
  std::string protocol;  // tls, quic
  std::string source;
  std::string destination;
  std::uint16_t port = 0;
  std::optional<std::string> server_name;
  bool encrypted_client_hello = false;
  std::vector<std::string> names;  // the names the address was learned for
  std::string explanation;
};
nlohmann::json serverNameEvent(std::chrono::system_clock::time_point time,
                               const ServerNameEventFields& flow);

// A query of a workload whose queries are policed, judged by the daemon (queries the
// datapath allows by itself are only counted).
struct QueryEventFields {
  std::uint32_t identity = 0;
  std::string workload;
  std::string verdict;  // allowed, denied
  std::string reason;   // daemon/query_verdict.h: allowed_name, name_not_allowed, ...
  std::string client;
  std::string resolver;
  std::string name;
  std::string qtype;
  std::optional<std::string> rule;
};
nlohmann::json queryEvent(std::chrono::system_clock::time_point time,
                          const QueryEventFields& query);

class EventSubscription {
 public:
  EventSubscription(EventFilter filter, std::size_t queue_limit);

  // The queued events as NDJSON, oldest first; a "lost" event leads when some were
  // dropped because the queue was full.
  std::string take();
  // Called whenever an event is queued; the reader then take()s.
  void onQueued(std::function<void()> wake) { wake_ = std::move(wake); }

 private:
  friend class EventHub;
  // False when the event was for this subscriber but its queue was full.
  bool offer(const nlohmann::json& event, const std::string& line);

  EventFilter filter_;
  std::size_t queue_limit_;
  std::deque<std::string> lines_;
  std::uint64_t lost_ = 0;
  std::function<void()> wake_;
};

class EventHub {
 public:
  explicit EventHub(std::size_t queue_limit = 4096) : queue_limit_(queue_limit) {}

  // The subscription lasts as long as the caller holds it.
  std::shared_ptr<EventSubscription> subscribe(EventFilter filter);
  // Whether an event would reach anyone: producers skip building one otherwise.
  bool hasSubscribers();
  void publish(const nlohmann::json& event);

  std::size_t subscribers() const;
  // Events subscribers lost because they read too slowly.
  std::uint64_t droppedSlow() const { return dropped_slow_; }

 private:
  void prune();

  std::size_t queue_limit_;
  std::vector<std::weak_ptr<EventSubscription>> subscriptions_;
  std::uint64_t dropped_slow_ = 0;
};

}  // namespace skouter::daemon
