// The tests of a suite share one loaded datapath, reset before each of them: whatever a
// test left in any map, ring buffer or counter must be gone when the next one starts,
// or tests would pass or fail by the order they run in.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint16_t kHostPort = 44000;
constexpr std::uint16_t kDnsId = 0x5e5e;

using DatapathResetTest = DatapathFixture;

// A datapath loaded beside the suite's, set up as every test starts.
class FreshLoad : public DatapathFixture {
 public:
  FreshLoad() : DatapathFixture(DatapathLoad::kPerTest) { SetUp(); }
  ~FreshLoad() override { TearDown(); }
  void TestBody() override {}
};

// An entry in a hash map or prefix tree, every element of an array set. Ring buffers
// only the programs write.
void dirty(const DatapathMaps::Map& map) {
  const bpf_map_info& info = map.info;
  const bool per_cpu = info.type == BPF_MAP_TYPE_PERCPU_ARRAY;
  const Bytes value(
      (per_cpu ? (info.value_size + 7u) / 8u * 8u * libbpf_num_possible_cpus() : info.value_size),
      0x5a);
  if (info.type == BPF_MAP_TYPE_ARRAY || per_cpu) {
    for (std::uint32_t index = 0; index < info.max_entries; ++index) {
      ASSERT_EQ(bpf_map_update_elem(map.fd, &index, value.data(), BPF_ANY), 0) << info.name;
    }
  } else if (info.type != BPF_MAP_TYPE_RINGBUF) {
    Bytes key(info.key_size, 0xa5);
    if (info.type == BPF_MAP_TYPE_LPM_TRIE) {
      const std::uint32_t prefix_length = 8;
      std::memcpy(key.data(), &prefix_length, sizeof(prefix_length));
    }
    ASSERT_EQ(bpf_map_update_elem(map.fd, key.data(), value.data(), BPF_ANY), 0) << info.name;
  }
}

std::map<std::string, std::vector<std::string>> contentsOf(const Datapath& datapath) {
  std::map<std::string, std::vector<std::string>> contents;
  const DatapathMaps maps(datapath);
  for (const DatapathMaps::Map& map : maps.maps()) contents[map.info.name] = mapContents(map);
  return contents;
}

std::vector<std::uint32_t> mapIds(const Datapath& datapath) {
  std::vector<std::uint32_t> ids;
  const DatapathMaps maps(datapath);
  for (const DatapathMaps::Map& map : maps.maps()) ids.push_back(map.info.id);
  return ids;
}

TEST_F(DatapathResetTest, TheNextTestFindsEveryMapAsAFreshLoadLeavesIt) {
  const TestNetwork& n = ipv4Network();
  installPolicy(n);
  // A deny event and a held answer, for the two ring buffers.
  ASSERT_EQ(runUplinkEgress(PacketBuilder(n.host, n.denied).tcp(kHostPort, 443, kTcpSyn).build()),
            Verdict::kDrop);
  putQuery(queryKey(n.host, kHostPort, kDnsId), datapathNowNs());
  ASSERT_EQ(
      runUplinkIngress(PacketBuilder(n.resolver, n.host)
                           .udp(kDnsPort, kHostPort, dnsAnswer(kDnsId, "example.com", n.learned))
                           .build()),
      Verdict::kDrop);
  {
    const DatapathMaps maps(datapath());
    for (const DatapathMaps::Map& map : maps.maps()) ASSERT_NO_FATAL_FAILURE(dirty(map));
    for (const DatapathMaps::Map& map : maps.maps()) {
      EXPECT_NE(mapContents(map), std::vector<std::string>{}) << map.info.name << " is not dirty";
    }
  }
  const std::vector<std::uint32_t> ids = mapIds(datapath());

  // What gtest does between two tests of the suite.
  TearDown();
  SetUp();
  ASSERT_EQ(mapIds(datapath()), ids) << "the maps are not the ones the previous test used";

  FreshLoad fresh;
  // The heartbeat is the time each was set up at.
  const std::uint64_t beat_ns = datapathNowNs();
  beatAt(beat_ns);
  fresh.beatAt(beat_ns);
  const auto expected = contentsOf(fresh.datapath());
  EXPECT_EQ(contentsOf(datapath()), expected);
  // Every map is there, unpinned ones too: the scratch buffers and the event budget.
  EXPECT_EQ(expected.size(), ids.size());
  EXPECT_TRUE(expected.count("event_budget"));
  EXPECT_TRUE(expected.count("answer_scratch"));
}

}  // namespace
}  // namespace skouter::bpftest
