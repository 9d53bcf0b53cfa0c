// The names DNS answers gave each address: what audit records and explain report as
// the names behind a destination.
#include "resolver/observed_names.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace skouter::resolver {
namespace {

using Strings = std::vector<std::string>;

IpAddress ip(const std::string& text) {
  const auto parsed = IpAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(IpAddress{});
}

TEST(ObservedNamesTest, UnknownAddressHasNoNames) {
  const ObservedNames observed;
  EXPECT_TRUE(observed.namesOf(1, ip("192.0.2.1")).empty());
  EXPECT_EQ(observed.size(), 0u);
}

TEST(ObservedNamesTest, RecordsTheNameOfEveryAddressOfAnAnswer) {
  ObservedNames observed;
  observed.record(1, "example.com", {ip("192.0.2.1"), ip("2001:db8::1")});
  EXPECT_EQ(observed.namesOf(1, ip("192.0.2.1")), Strings{"example.com"});
  EXPECT_EQ(observed.namesOf(1, ip("2001:db8::1")), Strings{"example.com"});
  EXPECT_TRUE(observed.namesOf(1, ip("192.0.2.2")).empty());
  EXPECT_EQ(observed.size(), 2u);
}

TEST(ObservedNamesTest, NamesOfOneAddressAreSortedAndNotRepeated) {
  ObservedNames observed;
  observed.record(1, "www.example.com", {ip("192.0.2.1")});
  observed.record(1, "cdn.example.net", {ip("192.0.2.1")});
  observed.record(1, "www.example.com", {ip("192.0.2.1")});
  EXPECT_EQ(observed.namesOf(1, ip("192.0.2.1")), (Strings{"cdn.example.net", "www.example.com"}));
  EXPECT_EQ(observed.size(), 1u);
}

TEST(ObservedNamesTest, NamesAreKeptPerIdentity) {
  ObservedNames observed;
  observed.record(1, "one.example", {ip("192.0.2.1")});
  observed.record(2, "two.example", {ip("192.0.2.1")});
  EXPECT_EQ(observed.namesOf(1, ip("192.0.2.1")), Strings{"one.example"});
  EXPECT_EQ(observed.namesOf(2, ip("192.0.2.1")), Strings{"two.example"});
  EXPECT_TRUE(observed.namesOf(3, ip("192.0.2.1")).empty());
  EXPECT_EQ(observed.size(), 2u);
}

TEST(ObservedNamesTest, KeepsTheEightMostRecentNamesOfAnAddress) {
  ObservedNames observed;
  for (int i = 0; i < 10; ++i) {
    observed.record(1, "n" + std::to_string(i) + ".example", {ip("192.0.2.1")});
  }
  EXPECT_EQ(ObservedNames::kMaxNamesPerAddress, 8u);
  EXPECT_EQ(observed.namesOf(1, ip("192.0.2.1")),
            (Strings{"n2.example", "n3.example", "n4.example", "n5.example", "n6.example",
                     "n7.example", "n8.example", "n9.example"}));
}

TEST(ObservedNamesTest, SeeingANameAgainMakesItRecent) {
  ObservedNames observed;
  for (int i = 0; i < 8; ++i) {
    observed.record(1, "n" + std::to_string(i) + ".example", {ip("192.0.2.1")});
  }
  observed.record(1, "n0.example", {ip("192.0.2.1")});  // n1 is now the oldest
  observed.record(1, "new.example", {ip("192.0.2.1")});
  const Strings names = observed.namesOf(1, ip("192.0.2.1"));
  EXPECT_EQ(names, (Strings{"n0.example", "n2.example", "n3.example", "n4.example", "n5.example",
                            "n6.example", "n7.example", "new.example"}));
}

TEST(ObservedNamesTest, ForgetsTheAddressLeastRecentlyRecordedWhenFull) {
  ObservedNames observed(2);
  observed.record(1, "a.example", {ip("192.0.2.1")});
  observed.record(1, "b.example", {ip("192.0.2.2")});
  observed.record(1, "c.example", {ip("192.0.2.3")});
  EXPECT_EQ(observed.size(), 2u);
  EXPECT_TRUE(observed.namesOf(1, ip("192.0.2.1")).empty());
  EXPECT_EQ(observed.namesOf(1, ip("192.0.2.2")), Strings{"b.example"});
  EXPECT_EQ(observed.namesOf(1, ip("192.0.2.3")), Strings{"c.example"});
}

TEST(ObservedNamesTest, RecordingAnAddressAgainRefreshesIt) {
  ObservedNames observed(2);
  observed.record(1, "a.example", {ip("192.0.2.1")});
  observed.record(1, "b.example", {ip("192.0.2.2")});
  observed.record(1, "a2.example", {ip("192.0.2.1")});  // 192.0.2.2 is now the oldest
  observed.record(1, "c.example", {ip("192.0.2.3")});
  EXPECT_EQ(observed.size(), 2u);
  EXPECT_EQ(observed.namesOf(1, ip("192.0.2.1")), (Strings{"a.example", "a2.example"}));
  EXPECT_TRUE(observed.namesOf(1, ip("192.0.2.2")).empty());
  EXPECT_EQ(observed.namesOf(1, ip("192.0.2.3")), Strings{"c.example"});
}

TEST(ObservedNamesTest, OneAnswerLargerThanTheCapacityKeepsItsLastAddresses) {
  ObservedNames observed(2);
  observed.record(1, "many.example", {ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3")});
  EXPECT_EQ(observed.size(), 2u);
  EXPECT_TRUE(observed.namesOf(1, ip("192.0.2.1")).empty());
  EXPECT_EQ(observed.namesOf(1, ip("192.0.2.3")), Strings{"many.example"});
}

TEST(ObservedNamesTest, CapacityZeroKeepsNothing) {
  ObservedNames observed(0);
  observed.record(1, "a.example", {ip("192.0.2.1")});
  EXPECT_EQ(observed.size(), 0u);
  EXPECT_TRUE(observed.namesOf(1, ip("192.0.2.1")).empty());
}

}  // namespace
}  // namespace skouter::resolver
