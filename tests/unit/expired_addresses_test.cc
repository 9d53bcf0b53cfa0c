// The memory of expired learned addresses that tells a late connection (a client that
// kept an address past its TTL) from a flow to an address never given.
#include "daemon/expired_addresses.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/datapath_clock.h"

namespace skouter::daemon {
namespace {

constexpr std::uint64_t kSecond = kNanosPerSecond;
constexpr std::uint64_t kBoot = 1000 * kSecond;

IpAddress ip(const std::string& text) {
  const auto parsed = IpAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(IpAddress{});
}

maps::AllowedIpEntry expired(const std::string& address, std::uint64_t expiry_ns,
                             std::vector<std::string> names = {"api.example.com"},
                             std::uint32_t identity = 1) {
  return {.identity = identity,
          .ip = ip(address),
          .expiry_ns = expiry_ns,
          .rule = 7,
          .ports = {},
          .names = std::move(names),
          .open_for_s = 35};
}

TEST(ExpiredAddressesTest, AnAddressRemovedOnExpiryMakesALateConnectionWithinTheWindow) {
  ExpiredAddresses memory(16, 3600);
  memory.remember(expired("203.0.113.10", kBoot));

  const auto late =
      memory.lateConnection(1, ip("203.0.113.10"), std::nullopt, kBoot + 12 * kSecond);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->names, std::vector<std::string>{"api.example.com"});
  EXPECT_EQ(late->rule, 7u);
  EXPECT_EQ(late->expired_ago_s, 12u);
  EXPECT_EQ(late->open_for_s, 35u);
  EXPECT_EQ(describeLateConnection(*late, "203.0.113.10"),
            "learned for api.example.com, expired 12 s ago");

  // Another workload was never given it; another address was never learned.
  EXPECT_FALSE(memory.lateConnection(2, ip("203.0.113.10"), std::nullopt, kBoot + kSecond));
  EXPECT_FALSE(memory.lateConnection(1, ip("203.0.113.11"), std::nullopt, kBoot + kSecond));
  // At the end of the window it is still late; after it, no longer.
  EXPECT_TRUE(memory.lateConnection(1, ip("203.0.113.10"), std::nullopt, kBoot + 3600 * kSecond));
  EXPECT_FALSE(memory.lateConnection(1, ip("203.0.113.10"), std::nullopt, kBoot + 3601 * kSecond));
}

TEST(ExpiredAddressesTest, WhatAllowedIpsHoldsDecidesFirst) {
  ExpiredAddresses memory(16, 3600);
  memory.remember(expired("2001:db8::10", kBoot));
  const std::uint64_t now = kBoot + 60 * kSecond;

  // Learned again since, and still open: a flow denied now was denied for another reason
  // (its port), not for lateness.
  EXPECT_FALSE(
      memory.lateConnection(1, ip("2001:db8::10"), expired("2001:db8::10", now + kSecond), now));
  // Expired, and not swept yet: late, as the entry says.
  const auto unswept = memory.lateConnection(
      1, ip("2001:db8::10"), expired("2001:db8::10", now - 3 * kSecond, {"b.example"}), now);
  ASSERT_TRUE(unswept.has_value());
  EXPECT_EQ(unswept->names, std::vector<std::string>{"b.example"});
  EXPECT_EQ(unswept->expired_ago_s, 3u);
  // A static entry never expires.
  EXPECT_FALSE(memory.lateConnection(1, ip("2001:db8::10"), expired("2001:db8::10", 0), now));
}

TEST(ExpiredAddressesTest, IsBoundedByEntriesTheLeastRecentlyExpiredGoingFirst) {
  ExpiredAddresses memory(2, 3600);
  memory.remember(expired("192.0.2.1", kBoot));
  memory.remember(expired("192.0.2.2", kBoot + kSecond));
  // Remembered again: it moves to the back.
  memory.remember(expired("192.0.2.1", kBoot + 2 * kSecond));
  memory.remember(expired("192.0.2.3", kBoot + 3 * kSecond));

  const std::uint64_t now = kBoot + 10 * kSecond;
  EXPECT_EQ(memory.size(), 2u);
  EXPECT_EQ(memory.evicted(), 1u);
  EXPECT_FALSE(memory.lateConnection(1, ip("192.0.2.2"), std::nullopt, now));
  ASSERT_TRUE(memory.lateConnection(1, ip("192.0.2.1"), std::nullopt, now));
  EXPECT_EQ(memory.lateConnection(1, ip("192.0.2.1"), std::nullopt, now)->expired_ago_s, 8u);
  EXPECT_TRUE(memory.lateConnection(1, ip("192.0.2.3"), std::nullopt, now));
}

TEST(ExpiredAddressesTest, ForgetsWhatExpiredLongerThanTheWindowAgoAsNewOnesCome) {
  ExpiredAddresses memory(16, 60);
  memory.remember(expired("192.0.2.1", kBoot));
  memory.remember(expired("192.0.2.2", kBoot + 30 * kSecond));
  memory.remember(expired("192.0.2.3", kBoot + 61 * kSecond));
  EXPECT_EQ(memory.size(), 2u);
  EXPECT_EQ(memory.evicted(), 0u);  // the window, not the room, let it go
}

TEST(ExpiredAddressesTest, KeepsAtMostEightNamesAndNothingWithoutRoom) {
  ExpiredAddresses memory(16, 3600);
  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i) names.push_back("n" + std::to_string(i) + ".example");
  memory.remember(expired("192.0.2.1", kBoot, names));
  EXPECT_EQ(memory.lateConnection(1, ip("192.0.2.1"), std::nullopt, kBoot)->names.size(),
            ExpiredAddresses::kNamesKept);

  ExpiredAddresses none(0, 3600);
  none.remember(expired("192.0.2.1", kBoot));
  EXPECT_EQ(none.size(), 0u);
  EXPECT_FALSE(none.lateConnection(1, ip("192.0.2.1"), std::nullopt, kBoot));
}

TEST(ExpiredAddressesTest, CountsLateConnectionsPerWorkloadAndForgetsGoneWorkloads) {
  ExpiredAddresses memory(16, 3600);
  memory.count(1);
  memory.count(1);
  memory.count(42);
  EXPECT_EQ(memory.counts(), (std::map<std::uint32_t, std::uint64_t>{{1, 2}, {42, 1}}));
  memory.keepCountsOf({1, 7});
  EXPECT_EQ(memory.counts(), (std::map<std::uint32_t, std::uint64_t>{{1, 2}}));
}

}  // namespace
}  // namespace skouter::daemon
