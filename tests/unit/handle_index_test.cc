// The compact storage of the learned pairs: slots reused by number, and the
// open-addressing index that finds them.
#include "bpf/maps/handle_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace skouter::maps {
namespace {

TEST(SlotPoolTest, AReleasedSlotIsGivenToTheNextRecordEmptied) {
  SlotPool<std::string> pool;
  const Handle first = pool.add("first");
  const Handle second = pool.add("second");
  EXPECT_NE(first, second);
  EXPECT_EQ(pool.size(), 2u);
  pool.release(first);
  EXPECT_EQ(pool[first], "");
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool.add("third"), first);
  EXPECT_EQ(pool[first], "third");
  EXPECT_EQ(pool[second], "second");
}

TEST(SlotPoolTest, RecordsStayWhereTheyAreWhileThePoolGrows) {
  SlotPool<std::string> pool;
  const std::string& first = pool[pool.add("first")];
  for (int i = 0; i < 10000; ++i) pool.add(std::to_string(i));
  EXPECT_EQ(first, "first");
}

// Keys that all hash into a few neighbouring slots, so that lookups probe, erasures
// shift entries back, and runs wrap past the end of the slots.
struct CollidingKeys {
  std::vector<std::uint32_t> keys;  // by handle
  std::uint32_t hashOf(std::uint32_t key) const { return 0xFFFFFFF0u + key % 23; }
};

TEST(HandleIndexTest, FindsWhatWasInsertedAndNothingElse) {
  HandleIndex index;
  const auto equals = [](Handle expected) { return [=](Handle h) { return h == expected; }; };
  EXPECT_FALSE(index.find(5, equals(1)));
  index.insert(5, 1);
  index.insert(5, 2);
  index.insert(6, 3);
  EXPECT_EQ(index.find(5, equals(2)), 2u);
  EXPECT_EQ(index.find(6, equals(3)), 3u);
  EXPECT_FALSE(index.find(6, equals(2)));
  EXPECT_EQ(index.size(), 3u);
  index.erase(5, 1);
  index.erase(5, 7);  // not there
  EXPECT_FALSE(index.find(5, equals(1)));
  EXPECT_EQ(index.find(5, equals(2)), 2u);
  EXPECT_EQ(index.size(), 2u);
}

TEST(HandleIndexTest, AgreesWithAMapThroughRandomInsertsAndErasures) {
  CollidingKeys keys;
  HandleIndex index;
  std::map<std::uint32_t, Handle> expected;  // key -> handle
  std::mt19937 random(13);
  for (int step = 0; step < 50000; ++step) {
    const std::uint32_t key = random() % 400;
    const auto matches = [&](Handle h) { return keys.keys[h] == key; };
    const auto found = index.find(keys.hashOf(key), matches);
    const auto known = expected.find(key);
    ASSERT_EQ(found.has_value(), known != expected.end()) << "step " << step;
    if (found) {
      ASSERT_EQ(*found, known->second);
      index.erase(keys.hashOf(key), *found);
      expected.erase(known);
    } else {
      const Handle handle = static_cast<Handle>(keys.keys.size());
      keys.keys.push_back(key);
      index.insert(keys.hashOf(key), handle);
      expected.emplace(key, handle);
    }
    ASSERT_EQ(index.size(), expected.size());
  }
  std::map<std::uint32_t, Handle> visited;
  index.forEach([&](Handle h) { visited.emplace(keys.keys[h], h); });
  EXPECT_EQ(visited, expected);
}

}  // namespace
}  // namespace skouter::maps
