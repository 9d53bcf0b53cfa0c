// The audit table behind /v1/audit and `skouterctl audit`: one record per identity,
// destination, protocol and port, with a count and first and last sighting.
#include "daemon/audit_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace skouter::daemon {
namespace {

using Strings = std::vector<std::string>;
using std::chrono::seconds;

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;

const std::chrono::system_clock::time_point kStart{seconds(1'800'000'000)};

IpAddress ip(const std::string& text) {
  const auto parsed = IpAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(IpAddress{});
}

FlowEvent flowTo(const std::string& destination, std::uint16_t port = 443,
                 std::uint8_t protocol = kTcp, std::uint32_t identity = 1) {
  FlowEvent flow;
  flow.identity = identity;
  flow.source = ip("10.0.0.2");
  flow.destination = ip(destination);
  flow.protocol = protocol;
  flow.port = port;
  flow.verdict = FlowVerdict::kAudited;
  return flow;
}

// "DESTINATION PORT/PROTO xCOUNT" per record, in the order records() gives them.
Strings summary(const AuditTable& table) {
  Strings lines;
  for (const AuditRecord& record : table.records()) {
    lines.push_back(std::to_string(record.flow.identity) + " " +
                    record.flow.destination.toString() + " " + std::to_string(record.flow.port) +
                    "/" + std::to_string(record.flow.protocol) + " x" +
                    std::to_string(record.count));
  }
  return lines;
}

// /v1/audit, /v1/events, /v1/explain and the log name a verdict alike (the audit
// table once said "dropped" where the event stream said "denied").
TEST(AuditTableTest, VerdictNamesAreThoseOfEveryOtherApi) {
  EXPECT_STREQ(toString(FlowVerdict::kAllowed), "allowed");
  EXPECT_STREQ(toString(FlowVerdict::kAudited), "audited");
  EXPECT_STREQ(toString(FlowVerdict::kDenied), "denied");
}

TEST(AuditTableTest, CountsSightingsWithFirstAndLastSeen) {
  AuditTable table(16);
  // Only the first sighting is new (the daemon logs that one).
  EXPECT_TRUE(table.record(flowTo("192.0.2.1"), {"a.example"}, kStart));
  EXPECT_FALSE(table.record(flowTo("192.0.2.1"), {"a.example"}, kStart + seconds(5)));
  EXPECT_FALSE(table.record(flowTo("192.0.2.1"), {"a.example"}, kStart + seconds(9)));

  ASSERT_EQ(table.size(), 1u);
  const AuditRecord record = table.records().at(0);
  EXPECT_EQ(record.count, 3u);
  EXPECT_EQ(record.first_seen, kStart);
  EXPECT_EQ(record.last_seen, kStart + seconds(9));
  EXPECT_EQ(record.flow.destination, ip("192.0.2.1"));
  EXPECT_EQ(record.flow.port, 443);
  EXPECT_EQ(record.flow.protocol, kTcp);
  EXPECT_EQ(record.names, Strings{"a.example"});
  EXPECT_EQ(table.forgotten(), 0u);
}

TEST(AuditTableTest, KeepsTheLatestSourceAndVerdict) {
  AuditTable table(16);
  table.record(flowTo("192.0.2.1"), {}, kStart);
  FlowEvent later = flowTo("192.0.2.1");
  later.source = ip("10.0.0.3");
  later.verdict = FlowVerdict::kDenied;
  table.record(later, {}, kStart + seconds(1));
  ASSERT_EQ(table.size(), 1u);
  EXPECT_EQ(table.records()[0].flow.source, ip("10.0.0.3"));
  EXPECT_EQ(table.records()[0].flow.verdict, FlowVerdict::kDenied);
}

TEST(AuditTableTest, NamesAreKeptWhenALaterSightingHasNoneAndReplacedWhenItHasSome) {
  AuditTable table(16);
  table.record(flowTo("192.0.2.1"), {}, kStart);
  EXPECT_TRUE(table.records()[0].names.empty());
  table.record(flowTo("192.0.2.1"), {"a.example", "b.example"}, kStart + seconds(1));
  EXPECT_EQ(table.records()[0].names, (Strings{"a.example", "b.example"}));
  table.record(flowTo("192.0.2.1"), {}, kStart + seconds(2));
  EXPECT_EQ(table.records()[0].names, (Strings{"a.example", "b.example"}));
  table.record(flowTo("192.0.2.1"), {"c.example"}, kStart + seconds(3));
  EXPECT_EQ(table.records()[0].names, Strings{"c.example"});
  EXPECT_EQ(table.records()[0].count, 4u);
}

TEST(AuditTableTest, OneRecordPerIdentityDestinationProtocolAndPort) {
  AuditTable table(16);
  table.record(flowTo("192.0.2.1", 443, kTcp, 1), {}, kStart);
  table.record(flowTo("192.0.2.1", 443, kTcp, 2), {}, kStart + seconds(1));   // identity
  table.record(flowTo("192.0.2.2", 443, kTcp, 1), {}, kStart + seconds(2));   // destination
  table.record(flowTo("192.0.2.1", 443, kUdp, 1), {}, kStart + seconds(3));   // protocol
  table.record(flowTo("192.0.2.1", 8443, kTcp, 1), {}, kStart + seconds(4));  // port
  FlowEvent other_source = flowTo("192.0.2.1", 443, kTcp, 1);
  other_source.source = ip("10.9.9.9");  // not part of the key
  table.record(other_source, {}, kStart + seconds(5));
  EXPECT_EQ(table.size(), 5u);
  EXPECT_EQ(summary(table), (Strings{
                                "1 192.0.2.1 443/6 x2",
                                "1 192.0.2.1 8443/6 x1",
                                "1 192.0.2.1 443/17 x1",
                                "1 192.0.2.2 443/6 x1",
                                "2 192.0.2.1 443/6 x1",
                            }));
}

TEST(AuditTableTest, RecordsAreMostRecentlySeenFirst) {
  AuditTable table(16);
  table.record(flowTo("192.0.2.1"), {}, kStart);
  table.record(flowTo("192.0.2.2"), {}, kStart + seconds(1));
  table.record(flowTo("192.0.2.3"), {}, kStart + seconds(2));
  table.record(flowTo("192.0.2.1"), {}, kStart + seconds(3));
  EXPECT_EQ(summary(table),
            (Strings{"1 192.0.2.1 443/6 x2", "1 192.0.2.3 443/6 x1", "1 192.0.2.2 443/6 x1"}));
}

TEST(AuditTableTest, WhenFullForgetsTheRecordSeenLeastRecentlyAndCountsIt) {
  AuditTable table(2);
  table.record(flowTo("192.0.2.1"), {}, kStart);
  table.record(flowTo("192.0.2.2"), {}, kStart + seconds(1));
  table.record(flowTo("192.0.2.1"), {}, kStart + seconds(2));  // 192.0.2.2 is now oldest
  table.record(flowTo("192.0.2.3"), {}, kStart + seconds(3));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.forgotten(), 1u);
  EXPECT_EQ(summary(table), (Strings{"1 192.0.2.3 443/6 x1", "1 192.0.2.1 443/6 x2"}));

  table.record(flowTo("192.0.2.4"), {}, kStart + seconds(4));
  EXPECT_EQ(table.forgotten(), 2u);
  EXPECT_EQ(summary(table), (Strings{"1 192.0.2.4 443/6 x1", "1 192.0.2.3 443/6 x1"}));

  // Seen again after being forgotten: a new record, counted from one.
  table.record(flowTo("192.0.2.2"), {}, kStart + seconds(5));
  const AuditRecord again = table.records().at(0);
  EXPECT_EQ(again.count, 1u);
  EXPECT_EQ(again.first_seen, kStart + seconds(5));
  EXPECT_EQ(table.forgotten(), 3u);
}

TEST(AuditTableTest, CapacityZeroKeepsNothing) {
  AuditTable table(0);
  table.record(flowTo("192.0.2.1"), {"a.example"}, kStart);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_TRUE(table.records().empty());
}

}  // namespace
}  // namespace skouter::daemon

namespace skouter::daemon {
namespace {

TEST(AuditTableTest, KeepsTheLatestLateConnectionAndTheLongestLateness) {
  AuditTable table(8);
  const auto late = [](std::uint64_t ago, std::uint32_t open_for) {
    return LateConnection{
        .names = {"short.example"}, .rule = 3, .expired_ago_s = ago, .open_for_s = open_for};
  };
  table.record(flowTo("203.0.113.30"), {"short.example"}, kStart, late(40, 7));
  table.record(flowTo("203.0.113.30"), {"short.example"}, kStart + seconds(1));
  table.record(flowTo("203.0.113.30"), {"short.example"}, kStart + seconds(2), late(12, 35));
  const AuditRecord record = table.records().at(0);
  EXPECT_EQ(record.count, 3u);
  EXPECT_EQ(record.late_count, 2u);
  ASSERT_TRUE(record.late.has_value());
  EXPECT_EQ(record.late->expired_ago_s, 12u);
  EXPECT_EQ(record.max_expired_ago_s, 40u);
  EXPECT_EQ(record.max_open_for_s, 35u);

  table.record(flowTo("203.0.113.31"), {}, kStart);
  EXPECT_EQ(table.records().at(0).late_count, 0u);
  EXPECT_FALSE(table.records().at(0).late.has_value());
}

}  // namespace
}  // namespace skouter::daemon
