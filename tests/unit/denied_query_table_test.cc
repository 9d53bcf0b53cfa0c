// The queries policy denied, workload by workload (daemon/denied_query_table.h):
// bounded in workloads and names, with a rate that makes a tunnelling workload stand
// out. Times are given, never read from a clock.
#include "daemon/denied_query_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace skouter::daemon {
namespace {

using Clock = std::chrono::system_clock;
using std::chrono::minutes;
using std::chrono::seconds;

// A time `second` seconds into minute `minute` since the epoch.
Clock::time_point at(std::int64_t minute, std::int64_t second = 0) {
  return Clock::time_point(minutes(minute)) + seconds(second);
}

constexpr std::int64_t kMinute = 29'000'000;  // some minute of 2025

std::vector<std::uint32_t> identities(const std::vector<DeniedQueries>& workloads) {
  std::vector<std::uint32_t> result;
  for (const auto& queries : workloads) result.push_back(queries.identity);
  return result;
}

TEST(DeniedQueryTableTest, CountsEachWorkloadsDeniedQueriesWithFirstAndLastSeen) {
  DeniedQueryTable table(8);
  table.record(7, "a.tunnel.example", at(kMinute, 1));
  table.record(7, "b.tunnel.example", at(kMinute, 2));
  table.record(9, "x.example", at(kMinute, 3));
  table.record(7, "c.tunnel.example", at(kMinute, 4));

  const auto workloads = table.workloads(at(kMinute, 5));
  ASSERT_EQ(identities(workloads), (std::vector<std::uint32_t>{7, 9}));
  EXPECT_EQ(workloads[0].count, 3u);
  EXPECT_EQ(workloads[0].first_seen, at(kMinute, 1));
  EXPECT_EQ(workloads[0].last_seen, at(kMinute, 4));
  EXPECT_EQ(workloads[1].count, 1u);
  EXPECT_EQ(table.forgotten(), 0u);
}

// Bounded: the workload denied least recently goes first, however many queries it had.
TEST(DeniedQueryTableTest, AFullTableForgetsTheWorkloadDeniedLeastRecently) {
  DeniedQueryTable table(2);
  for (int i = 0; i < 50; ++i) table.record(1, "noisy.example", at(kMinute, 0));
  table.record(2, "quiet.example", at(kMinute, 1));
  table.record(1, "noisy.example", at(kMinute, 2));  // 1 is again the most recent
  table.record(3, "new.example", at(kMinute, 3));

  const auto workloads = table.workloads(at(kMinute, 4));
  EXPECT_EQ(identities(workloads), (std::vector<std::uint32_t>{3, 1}));
  EXPECT_EQ(workloads[1].count, 51u);
  EXPECT_EQ(table.forgotten(), 1u);

  // A workload forgotten and denied again starts over.
  table.record(2, "quiet.example", at(kMinute, 5));
  const auto again = table.workloads(at(kMinute, 6));
  EXPECT_EQ(identities(again), (std::vector<std::uint32_t>{2, 3}));
  EXPECT_EQ(again[0].count, 1u);
  EXPECT_EQ(again[0].first_seen, at(kMinute, 5));
  EXPECT_EQ(table.forgotten(), 2u);
}

TEST(DeniedQueryTableTest, KeepsTheLatestDistinctNamesMostRecentFirst) {
  DeniedQueryTable table(4);
  for (int i = 0; i < 12; ++i) {
    table.record(5, "n" + std::to_string(i) + ".tunnel.example", at(kMinute, i));
  }
  // A name denied again moves to the front, once.
  table.record(5, "n6.tunnel.example", at(kMinute, 20));

  const auto workloads = table.workloads(at(kMinute, 30));
  ASSERT_EQ(workloads.size(), 1u);
  EXPECT_EQ(
      workloads[0].latest_names,
      (std::vector<std::string>{"n6.tunnel.example", "n11.tunnel.example", "n10.tunnel.example",
                                "n9.tunnel.example", "n8.tunnel.example", "n7.tunnel.example",
                                "n5.tunnel.example", "n4.tunnel.example"}));
  EXPECT_EQ(workloads[0].latest_names.size(), DeniedQueryTable::kNamesPerWorkload);
  EXPECT_EQ(workloads[0].count, 13u);
}

// Denied in the last minute: this minute's, and the minute before's weighted by how
// much of it the last 60 s still cover.
TEST(DeniedQueryTableTest, ThePerMinuteRateCoversTheLastSixtySeconds) {
  DeniedQueryTable table(4);
  for (int i = 0; i < 40; ++i) table.record(1, "q" + std::to_string(i), at(kMinute, 10));
  EXPECT_DOUBLE_EQ(table.workloads(at(kMinute, 50)).at(0).per_minute, 40.0);

  // Half-way into the next minute, half of the last minute's 40 still count, and the
  // 6 of this minute.
  for (int i = 0; i < 6; ++i) table.record(1, "r" + std::to_string(i), at(kMinute + 1, 10));
  EXPECT_DOUBLE_EQ(table.workloads(at(kMinute + 1, 30)).at(0).per_minute, 20.0 + 6.0);
  // A quarter into the minute after: the 6 weigh three quarters; the 40 no more.
  EXPECT_DOUBLE_EQ(table.workloads(at(kMinute + 2, 15)).at(0).per_minute, 4.5);
  // A workload gone quiet for minutes denies nothing a minute.
  const auto quiet = table.workloads(at(kMinute + 10, 0));
  EXPECT_DOUBLE_EQ(quiet.at(0).per_minute, 0.0);
  EXPECT_EQ(quiet.at(0).count, 46u);

  // Reading the rate does not move what later records count on.
  table.record(1, "s", at(kMinute + 2, 20));
  EXPECT_DOUBLE_EQ(table.workloads(at(kMinute + 2, 30)).at(0).per_minute, 6.0 * 0.5 + 1.0);
}

TEST(DeniedQueryTableTest, ATableOfNoCapacityKeepsNothing) {
  DeniedQueryTable table(0);
  table.record(1, "a.example", at(kMinute));
  EXPECT_TRUE(table.workloads(at(kMinute, 1)).empty());
}

}  // namespace
}  // namespace skouter::daemon
