// SipHash-2-4 against the reference vectors of its paper (appendix A and the reference
// implementation's table): key 00 01 .. 0f, messages 00 01 .. of each length.
#include "common/keyed_hash.h"

#include <gtest/gtest.h>

#include <vector>

namespace skouter {
namespace {

std::vector<std::uint8_t> counting(std::size_t length) {
  std::vector<std::uint8_t> bytes(length);
  for (std::size_t i = 0; i < length; ++i) bytes[i] = static_cast<std::uint8_t>(i);
  return bytes;
}

const KeyedHash kReferenceKey(0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull);

TEST(KeyedHashTest, MatchesSipHashReferenceVectors) {
  EXPECT_EQ(kReferenceKey(counting(0)), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(kReferenceKey(counting(15)), 0xa129ca6149be45e5ull);
}

TEST(KeyedHashTest, AnotherKeyGivesAnotherHash) {
  const KeyedHash other(1, 2);
  EXPECT_NE(other(counting(15)), kReferenceKey(counting(15)));
  EXPECT_EQ(KeyedHash::processKey()("example.com"), KeyedHash::processKey()("example.com"));
}

}  // namespace
}  // namespace skouter
