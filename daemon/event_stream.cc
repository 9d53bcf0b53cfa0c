#include "daemon/event_stream.h"

#include "daemon/json_text.h"

#include <spdlog/fmt/chrono.h>
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <set>

#include "daemon/event_types.h"

namespace skouter::daemon {

namespace {

bool isNumber(const std::string& text) {
  return !text.empty() && text.size() <= 10 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string stringField(const nlohmann::json& event, const char* key) {
  const auto found = event.find(key);
  return found != event.end() && found->is_string() ? found->get<std::string>() : "";
}

}  // namespace

nlohmann::json dnsAnswerEvent(std::chrono::system_clock::time_point time,
                              const DnsAnswerEventFields& answer) {
  return {{"time", eventTime(time)},
          {"type", "dns"},
          {"verdict", answer.verdict},
          {"identity", answer.identity},
          {"workload", answer.workload},
          {"client", answer.client},
          {"name", answer.name},
          {"qtype", answer.qtype},
          {"addresses", answer.addresses},
          {"rule", answer.rule ? nlohmann::json(*answer.rule) : nlohmann::json(nullptr)}};
}

nlohmann::json lateConnectionJson(const LateConnectionFields& late) {
  return {{"names", late.names},
          {"rule", late.rule},
          {"expired_ago_s", late.expired_ago_s},
          {"open_for_s", late.open_for_s ? nlohmann::json(late.open_for_s) : nullptr}};
}

nlohmann::json flowEvent(std::chrono::system_clock::time_point time, const FlowEventFields& flow) {
  nlohmann::json event = {{"time", eventTime(time)},         {"type", "flow"},
                          {"verdict", flow.verdict},         {"identity", flow.identity},
                          {"workload", flow.workload},       {"source", flow.source},
                          {"destination", flow.destination}, {"port", flow.port},
                          {"protocol", flow.protocol},       {"names", flow.names}};
  if (flow.late) event["late"] = lateConnectionJson(*flow.late);
  return event;
}

nlohmann::json serverNameEvent(std::chrono::system_clock::time_point time,
                               const ServerNameEventFields& flow) {
  return {{"time", eventTime(time)},
          {"type", "server_name"},
          {"verdict", flow.verdict},
          {"reason", flow.reason},
          {"identity", flow.identity},
          {"workload", flow.workload},
          {"protocol", flow.protocol},
          {"source", flow.source},
          {"destination", flow.destination},
          {"port", flow.port},
          {"server_name", flow.server_name ? nlohmann::json(*flow.server_name) : nullptr},
          {"encrypted_client_hello", flow.encrypted_client_hello},
          {"names", flow.names},
          {"explanation", flow.explanation}};
}

nlohmann::json queryEvent(std::chrono::system_clock::time_point time,
                          const QueryEventFields& query) {
  return {{"time", eventTime(time)},
          {"type", "dns_query"},
          {"verdict", query.verdict},
          {"reason", query.reason},
          {"identity", query.identity},
          {"workload", query.workload},
          {"client", query.client},
          {"resolver", query.resolver},
          {"name", query.name},
          {"qtype", query.qtype},
          {"rule", query.rule ? nlohmann::json(*query.rule) : nullptr}};
}

bool EventFilter::matches(const nlohmann::json& event) const {
  if (!type.empty() && stringField(event, "type") != type) return false;
  if (!verdict.empty()) {
    const std::string actual = stringField(event, "type") == "policy"
                                   ? stringField(event, "result")
                                   : stringField(event, "verdict");
    if (actual != verdict) return false;
  }
  if (!identity.empty()) {
    if (isNumber(identity)) {
      const auto found = event.find("identity");
      if (found == event.end() || !found->is_number() ||
          found->get<std::uint64_t>() != std::stoull(identity)) {
        return false;
      }
    } else if (stringField(event, "workload") != identity) {
      return false;
    }
  }
  return true;
}

std::optional<EventFilter> parseEventFilter(const std::map<std::string, std::string>& parameters,
                                            std::string& error) {
  static const std::set<std::string> kVerdicts = {"denied",         "audited", "allowed",
                                                  "malformed",      "applied", "question_mismatch",
                                                  "install_failed", "failed"};
  EventFilter filter;
  for (const auto& [key, value] : parameters) {
    if (key == "identity") {
      filter.identity = value;
    } else if (key == "verdict") {
      if (!kVerdicts.count(value)) {
        error = "verdict: '" + value +
                "' is not one of denied, audited, allowed, malformed, question_mismatch, "
                "install_failed, applied, failed";
        return std::nullopt;
      }
      filter.verdict = value;
    } else if (key == "type") {
      if (!isEventType(value)) {
        error = "type: '" + value + "' is not " + std::string(kEventTypeList);
        return std::nullopt;
      }
      filter.type = value;
    } else {
      error = "unknown parameter '" + key + "' (identity, verdict and type are known)";
      return std::nullopt;
    }
  }
  return filter;
}

std::string eventTime(std::chrono::system_clock::time_point time) {
  const auto milliseconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(time)), milliseconds);
}

EventSubscription::EventSubscription(EventFilter filter, std::size_t queue_limit)
    : filter_(std::move(filter)), queue_limit_(queue_limit) {}

bool EventSubscription::offer(const nlohmann::json& event, const std::string& line) {
  if (!filter_.matches(event)) return true;
  if (lines_.size() >= queue_limit_) {
    ++lost_;
    return false;
  }
  lines_.push_back(line);
  if (wake_) wake_();
  return true;
}

std::string EventSubscription::take() {
  std::string text;
  if (lost_ > 0) {
    text = jsonText(nlohmann::json{{"time", eventTime(std::chrono::system_clock::now())},
                                   {"type", "lost"},
                                   {"count", lost_}}) +
           "\n";
    lost_ = 0;
  }
  for (auto& line : lines_) text += line;
  lines_.clear();
  return text;
}

std::shared_ptr<EventSubscription> EventHub::subscribe(EventFilter filter) {
  auto subscription = std::make_shared<EventSubscription>(std::move(filter), queue_limit_);
  subscriptions_.push_back(subscription);
  return subscription;
}

void EventHub::prune() {
  std::erase_if(subscriptions_, [](const auto& weak) { return weak.expired(); });
}

bool EventHub::hasSubscribers() {
  prune();
  return !subscriptions_.empty();
}

std::size_t EventHub::subscribers() const {
  return std::count_if(subscriptions_.begin(), subscriptions_.end(),
                       [](const auto& weak) { return !weak.expired(); });
}

void EventHub::publish(const nlohmann::json& event) {
  const std::string line = jsonText(event) + "\n";
  for (const auto& weak : subscriptions_) {
    const auto subscription = weak.lock();
    if (!subscription) continue;
    if (!subscription->offer(event, line)) ++dropped_slow_;
  }
}

}  // namespace skouter::daemon
