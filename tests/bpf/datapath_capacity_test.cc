// How full the datapath is, as the daemon reports it: the capacity of each table, and
// the bytes waiting in each ring buffer for the daemon to read.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint16_t kHostPort = 43000;
constexpr std::uint16_t kDnsId = 0x4c4c;

// A record in a BPF ring buffer: its 8-byte header, then the data in whole 8 bytes.
constexpr std::uint64_t recordBytes(std::uint64_t data_bytes) {
  return BPF_RINGBUF_HDR_SZ + (data_bytes + 7) / 8 * 8;
}

class DatapathCapacityTest : public DatapathFixture {};

TEST_F(DatapathCapacityTest, TablesAreNamedAfterTheirMapsWithTheirMaxima) {
  EXPECT_EQ(datapath().tableCapacities(),
            (std::vector<std::pair<std::string, std::uint32_t>>{{"identities", 65536},
                                                                {"allowed_ips", 1u << 20},
                                                                {"learned_names", 1u << 20},
                                                                {"allowed_cidrs", 1u << 16},
                                                                {"port_sets", 4096},
                                                                {"flows", 1u << 18},
                                                                {"inbound_flows", 1u << 18},
                                                                {"dns_queries", 1u << 16},
                                                                {"trusted_resolvers", 1024},
                                                                {"interfaces", 4096},
                                                                {"link_prefixes", 1024},
                                                                {"answer_bytes_punted", 1u << 17},
                                                                {"answer_bytes_consumed", 1u << 17},
                                                                {"learnable_names", 1u << 17}}));
}

TEST_F(DatapathCapacityTest, EventsWaitingInTheRingFillItUntilRead) {
  const TestNetwork& n = ipv4Network();
  installPolicy(n);
  const auto empty = datapath().ringFill(Datapath::Ring::kEvents);
  EXPECT_EQ(empty.used_bytes, 0u);
  EXPECT_EQ(empty.size_bytes, 1u << 20);

  for (std::uint64_t denied = 1; denied <= 3; ++denied) {
    const Packet syn = PacketBuilder(n.host, n.denied)
                           .tcp(static_cast<std::uint16_t>(kHostPort + denied), 443, kTcpSyn)
                           .build();
    ASSERT_EQ(runUplinkEgress(syn), Verdict::kDrop);
    EXPECT_EQ(datapath().ringFill(Datapath::Ring::kEvents).used_bytes,
              denied * recordBytes(sizeof(skouter_flow_event)));
  }
  EXPECT_EQ(drainEvents().size(), 3u);
  EXPECT_EQ(datapath().ringFill(Datapath::Ring::kEvents).used_bytes, 0u);
}

TEST_F(DatapathCapacityTest, AHeldAnswerFillsTheAnswersRingUntilRead) {
  const TestNetwork& n = ipv4Network();
  installPolicy(n);
  const auto empty = datapath().ringFill(Datapath::Ring::kAnswers);
  EXPECT_EQ(empty.used_bytes, 0u);
  EXPECT_EQ(empty.size_bytes, 8u << 20);

  putQuery(DatapathFixture::queryKey(n.host, kHostPort, kDnsId), datapathNowNs());
  const Packet answer = PacketBuilder(n.resolver, n.host)
                            .udp(kDnsPort, kHostPort, dnsAnswer(kDnsId, "example.com", n.learned))
                            .build();
  ASSERT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  EXPECT_EQ(datapath().ringFill(Datapath::Ring::kAnswers).used_bytes,
            recordBytes(sizeof(skouter_answer_header) + answer.frame.size()));
  // The other ring is another's.
  EXPECT_EQ(datapath().ringFill(Datapath::Ring::kEvents).used_bytes, 0u);

  EXPECT_EQ(drainAnswers().size(), 1u);
  EXPECT_EQ(datapath().ringFill(Datapath::Ring::kAnswers).used_bytes, 0u);
}

}  // namespace
}  // namespace skouter::bpftest
