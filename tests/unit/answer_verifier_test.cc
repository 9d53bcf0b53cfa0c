// The question a --verify-answers confirmation asks: the answered question's name
// with its letters in random case (0x20), as text c-ares takes.
#include "resolver/answer_verifier.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>
#include <vector>

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

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

TEST(RandomizeCaseTest, TheNameIsTheSameButForCaseAndTheWireSaysTheSame) {
  Bytes wire = question({"Www", "example", "com"});
  const Bytes before = wire;
  const auto name = randomizeCase(wire);
  ASSERT_TRUE(name);
  EXPECT_EQ(lower(*name), "www.example.com");
  EXPECT_EQ(wire.size(), before.size());
  // The wire carries exactly the case of the text, and nothing else changed.
  EXPECT_EQ(question({name->substr(0, 3), name->substr(4, 7), name->substr(12)}), wire);
}

TEST(RandomizeCaseTest, CaseVariesBetweenCalls) {
  // 30 letters: the same case twice in 20 draws is a 2^-30 chance per pair at most.
  const Bytes original = question({"abcdefghijklmnopqrstuvwxyzabcd"});
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    Bytes wire = original;
    seen.insert(*randomizeCase(wire));
  }
  EXPECT_GT(seen.size(), 1u);
}

TEST(RandomizeCaseTest, DotsAndBackslashesInsideALabelAreEscaped) {
  Bytes wire = question({"a.b", "c\\d", "test"});
  const auto name = randomizeCase(wire);
  ASSERT_TRUE(name);
  EXPECT_EQ(lower(*name), "a\\.b.c\\\\d.test");
}

TEST(RandomizeCaseTest, NamesCAresCannotSendFromTextAreRefused) {
  Bytes with_space = question({"a b", "test"});
  EXPECT_FALSE(randomizeCase(with_space));
  Bytes with_high_byte = question({std::string("\xff"), "test"});
  EXPECT_FALSE(randomizeCase(with_high_byte));
  Bytes root = question({});
  EXPECT_FALSE(randomizeCase(root));
  Bytes cut{5, 'a', 'b'};
  EXPECT_FALSE(randomizeCase(cut));
}

}  // namespace
}  // namespace skouter::resolver
