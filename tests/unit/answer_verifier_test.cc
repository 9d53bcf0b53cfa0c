// The query a --verify-answers confirmation sends: the answered question's own bytes,
// its letters in random case (0x20).
#include "resolver/answer_verifier.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "resolver/dns_question.h"

namespace skouter::resolver {
namespace {

using Bytes = std::vector<std::uint8_t>;

// A question section's bytes: the name's labels, then type A and class IN.
Bytes question(const std::vector<std::string>& labels) {
  Bytes wire;
  for (const auto& label : labels) {
    wire.push_back(static_cast<std::uint8_t>(label.size()));
    wire.insert(wire.end(), label.begin(), label.end());
  }
  wire.insert(wire.end(), {0, 0, 1, 0, 1});
  return wire;
}

TEST(RandomizeCaseTest, OnlyTheCaseOfLettersChanges) {
  const Bytes before = question({"Www-1", "example", "com"});
  Bytes wire = before;
  ASSERT_TRUE(randomizeCase(wire));
  ASSERT_EQ(wire.size(), before.size());
  for (std::size_t i = 0; i < wire.size(); ++i) {
    const bool letter = (before[i] | 0x20) >= 'a' && (before[i] | 0x20) <= 'z';
    if (letter && i > 0 && i < wire.size() - 4) {
      EXPECT_EQ(wire[i] | 0x20, before[i] | 0x20) << i;
    } else {
      EXPECT_EQ(wire[i], before[i]) << i;  // lengths, digits, '-', the root, type, class
    }
  }
  EXPECT_EQ(canonicalName(wire), "www-1.example.com");
}

TEST(RandomizeCaseTest, CaseVariesBetweenCalls) {
  // 30 letters: the same case twice in 20 draws is a 2^-30 chance per pair.
  const Bytes original = question({"abcdefghijklmnopqrstuvwxyzabcd"});
  std::set<Bytes> seen;
  for (int i = 0; i < 20; ++i) {
    Bytes wire = original;
    ASSERT_TRUE(randomizeCase(wire));
    seen.insert(wire);
  }
  EXPECT_GT(seen.size(), 1u);
}

TEST(RandomizeCaseTest, BytesThatAreNotLettersStayAsTheyAre) {
  const Bytes before = question({std::string("\xff\x01.\\ "), "test"});
  Bytes wire = before;
  ASSERT_TRUE(randomizeCase(wire));
  EXPECT_TRUE(std::equal(wire.begin(), wire.begin() + 6, before.begin()));
}

TEST(RandomizeCaseTest, WhatIsNotOneQuestionIsRefused) {
  Bytes root = question({});
  EXPECT_FALSE(randomizeCase(root));
  Bytes cut{5, 'a', 'b'};
  EXPECT_FALSE(randomizeCase(cut));
  Bytes no_type = question({"a", "test"});
  no_type.resize(no_type.size() - 4);
  EXPECT_FALSE(randomizeCase(no_type));
  Bytes trailing = question({"a", "test"});
  trailing.push_back(0);
  EXPECT_FALSE(randomizeCase(trailing));
}

TEST(ConfirmationQueryTest, AsksTheQuestionAsGivenWithRecursionAndEdns) {
  const Bytes asked = question({"eXaMpLe", "com"});
  const Bytes query = confirmationQuery(0xbeef, asked);
  ASSERT_EQ(query.size(), 12 + asked.size() + 11);
  EXPECT_EQ((query[0] << 8) | query[1], 0xbeef);
  EXPECT_EQ(query[2], 0x01);                   // RD
  EXPECT_EQ((query[4] << 8) | query[5], 1);    // one question
  EXPECT_EQ((query[10] << 8) | query[11], 1);  // one additional record: OPT
  EXPECT_TRUE(std::equal(asked.begin(), asked.end(), query.begin() + 12));
  const auto opt = std::span(query).subspan(12 + asked.size());
  EXPECT_EQ(opt[0], 0);                     // root owner
  EXPECT_EQ((opt[1] << 8) | opt[2], 41);    // OPT
  EXPECT_EQ((opt[3] << 8) | opt[4], 1232);  // UDP payload size
  const auto section = questionBytes(std::span(query).subspan(12));
  ASSERT_TRUE(section);
  EXPECT_TRUE(std::ranges::equal(*section, asked));
}

}  // namespace
}  // namespace skouter::resolver
