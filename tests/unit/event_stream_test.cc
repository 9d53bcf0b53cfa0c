#include "daemon/event_stream.h"

#include <gtest/gtest.h>

namespace skouter::daemon {
namespace {

using nlohmann::json;

const json kDeniedFlow = {{"type", "flow"},     {"verdict", "denied"}, {"identity", 1},
                          {"workload", "host"}, {"destination", "x"},  {"names", {"github.com"}}};
const json kAllowedAnswer = {
    {"type", "dns"}, {"verdict", "allowed"}, {"identity", 300}, {"workload", "shop/web"}};
const json kPolicyApplied = {{"type", "policy"}, {"result", "applied"}, {"reason", "SIGHUP"}};

TEST(EventFilterTest, MatchesByTypeVerdictAndIdentity) {
  struct Case {
    EventFilter filter;
    json event;
    bool matches;
  };
  const Case cases[] = {
      {{}, kDeniedFlow, true},
      {{}, kPolicyApplied, true},
      {{"", "", "flow"}, kDeniedFlow, true},
      {{"", "", "dns"}, kDeniedFlow, false},
      {{"", "denied", ""}, kDeniedFlow, true},
      {{"", "denied", ""}, kAllowedAnswer, false},
      {{"", "applied", ""}, kPolicyApplied, true},
      {{"", "failed", ""}, kPolicyApplied, false},
      {{"1", "", ""}, kDeniedFlow, true},
      {{"300", "", ""}, kDeniedFlow, false},
      {{"300", "", ""}, kAllowedAnswer, true},
      {{"host", "", ""}, kDeniedFlow, true},
      {{"shop/web", "", ""}, kAllowedAnswer, true},
      {{"shop/web", "", ""}, kDeniedFlow, false},
      {{"1", "", ""}, kPolicyApplied, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.filter.matches(c.event), c.matches)
        << "identity=" << c.filter.identity << " verdict=" << c.filter.verdict
        << " type=" << c.filter.type << " event=" << c.event.dump();
  }
}

TEST(EventFilterTest, ParsesKnownParametersAndRejectsOthers) {
  std::string error;
  auto filter = parseEventFilter({{"identity", "host"}, {"verdict", "denied"}}, error);
  ASSERT_TRUE(filter);
  EXPECT_EQ(filter->identity, "host");
  EXPECT_EQ(filter->verdict, "denied");

  EXPECT_FALSE(parseEventFilter({{"verdict", "dropped"}}, error));
  EXPECT_NE(error.find("verdict: 'dropped'"), std::string::npos) << error;
  EXPECT_FALSE(parseEventFilter({{"type", "packet"}}, error));
  EXPECT_NE(error.find("type: 'packet'"), std::string::npos) << error;
  EXPECT_FALSE(parseEventFilter({{"identiy", "1"}}, error));
  EXPECT_NE(error.find("unknown parameter 'identiy'"), std::string::npos) << error;
}

TEST(EventHubTest, EachSubscriberGetsWhatItsFilterSelects) {
  EventHub hub;
  EXPECT_FALSE(hub.hasSubscribers());
  auto everything = hub.subscribe({});
  auto denied = hub.subscribe({"", "denied", ""});
  int wakes = 0;
  denied->onQueued([&] { ++wakes; });
  hub.publish(kDeniedFlow);
  hub.publish(kAllowedAnswer);
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(everything->take(), kDeniedFlow.dump() + "\n" + kAllowedAnswer.dump() + "\n");
  EXPECT_EQ(denied->take(), kDeniedFlow.dump() + "\n");
  EXPECT_EQ(denied->take(), "");
}

TEST(EventHubTest, ASubscriptionEndsWhenItsHolderLetsGo) {
  EventHub hub;
  auto subscription = hub.subscribe({});
  EXPECT_EQ(hub.subscribers(), 1u);
  subscription.reset();
  EXPECT_EQ(hub.subscribers(), 0u);
  EXPECT_FALSE(hub.hasSubscribers());
  hub.publish(kDeniedFlow);  // nobody to tell: nothing happens
}

TEST(EventHubTest, ASlowSubscriberLosesItsOwnEventsAndIsToldHowMany) {
  EventHub hub(2);
  auto slow = hub.subscribe({});
  auto other = hub.subscribe({"", "", "policy"});
  for (int i = 0; i < 5; ++i) hub.publish(kDeniedFlow);
  hub.publish(kPolicyApplied);
  EXPECT_EQ(hub.droppedSlow(), 4u);
  const std::string lines = slow->take();
  const auto first_line = json::parse(lines.substr(0, lines.find('\n')));
  EXPECT_EQ(first_line["type"], "lost");
  EXPECT_EQ(first_line["count"], 4);
  EXPECT_NE(lines.find(kDeniedFlow.dump()), std::string::npos);
  // The other subscriber's queue was never full: it lost nothing.
  EXPECT_EQ(other->take(), kPolicyApplied.dump() + "\n");
  // Once read, the slow one receives again, and the loss is reported only once.
  hub.publish(kPolicyApplied);
  EXPECT_EQ(slow->take(), kPolicyApplied.dump() + "\n");
}

TEST(FlowEventTest, ALateConnectionCarriesALateObjectAndOthersNone) {
  FlowEventFields flow{.identity = 1,
                       .workload = "host",
                       .verdict = "denied",
                       .source = "192.0.2.10",
                       .destination = "203.0.113.30",
                       .port = 80,
                       .protocol = "tcp",
                       .names = {"short.example"},
                       .late = std::nullopt};
  const auto time = std::chrono::system_clock::time_point{};
  EXPECT_FALSE(flowEvent(time, flow).contains("late"));
  flow.late = LateConnectionFields{
      .names = {"short.example"}, .rule = "lab/rules[0]", .expired_ago_s = 12, .open_for_s = 0};
  EXPECT_EQ(flowEvent(time, flow)["late"],
            json::parse(R"({"names":["short.example"],"rule":"lab/rules[0]","expired_ago_s":12,
                            "open_for_s":null})"));
}

TEST(EventTimeTest, IsUtcWithMilliseconds) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795732265123));
  EXPECT_EQ(eventTime(time), "2026-11-26T22:31:05.123Z");
}

}  // namespace
}  // namespace skouter::daemon
