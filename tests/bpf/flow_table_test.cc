// maps::FlowTable over the maps of a loaded datapath: the sweep that forgets idle
// flows (from both flow tables) and DNS-over-TCP connections long silent, and what a
// workload that goes away leaves behind. The programs stamp times on other CPUs while
// the daemon sweeps, so a time after the sweep's `now` is a live entry, not an old one.
#include "bpf/maps/flow_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/bpf/datapath_fixture.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint64_t kFlowIdleNs = 60 * kNanosPerSecond;
constexpr std::uint64_t kDnsConnectionIdleNs = 30 * kNanosPerSecond;
constexpr std::uint32_t kPod = 100;
constexpr std::uint32_t kOtherPod = 200;
constexpr std::uint16_t kLocalPort = 40000;
constexpr std::uint16_t kHttpsPort = 443;

IpAddress ip(const char* text) { return IpAddress::parse(text).value(); }

const IpAddress kHost = ip("192.0.2.10");
const IpAddress kPodAddress = ip("198.18.0.10");
const IpAddress kOtherPodAddress = ip("198.18.0.11");
const IpAddress kRemote = ip("203.0.113.20");
const IpAddress kPeer = ip("198.51.100.150");

class FlowTableTest : public DatapathFixture {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    table_.emplace(datapath());
  }

  // A TCP flow of `identity` from `local`:`port` to kRemote (or from kPeer to it, for
  // an inbound one).
  void putTcpFlow(std::uint32_t identity, const IpAddress& local, std::uint16_t port,
                  skouter_flow_origin origin, std::uint64_t last_seen_ns) {
    const bool inbound = origin == SKOUTER_FLOW_INBOUND;
    putFlow(flowKey(IPPROTO_TCP, local, port, inbound ? kPeer : kRemote,
                    inbound ? 50000 : kHttpsPort, identity),
            origin, last_seen_ns);
  }
  static std::string tcpFlow(std::uint32_t identity, const IpAddress& local, std::uint16_t port,
                             skouter_flow_origin origin) {
    const bool inbound = origin == SKOUTER_FLOW_INBOUND;
    return flowDescription(IPPROTO_TCP, local, port, inbound ? kPeer : kRemote,
                           inbound ? 50000 : kHttpsPort, origin, identity);
  }

  maps::FlowTable::Sweep sweep(std::uint64_t now_ns) {
    return table_->sweep(now_ns, kFlowIdleNs, kDnsConnectionIdleNs);
  }

  std::optional<maps::FlowTable> table_;
};

Descriptions sorted(Descriptions lines) {
  std::sort(lines.begin(), lines.end());
  return lines;
}

// The garbage collector used to compute `now - last_seen` unsigned: a flow a program
// refreshed after the sweep read the clock looked centuries idle and was deleted, and
// the connection's next packet was judged anew (and dropped once its name expired).
TEST_F(FlowTableTest, AFlowRefreshedAfterTheSweepReadTheClockIsKept) {
  const std::uint64_t now = datapathNowNs();
  putTcpFlow(SKOUTER_HOST_IDENTITY, kHost, kLocalPort, SKOUTER_FLOW_OUTBOUND, now + 1);
  putTcpFlow(SKOUTER_HOST_IDENTITY, kHost, 22, SKOUTER_FLOW_INBOUND, now + kNanosPerSecond);

  const auto result = sweep(now);
  EXPECT_EQ(result.flows_removed, 0u);
  EXPECT_EQ(result.flows_remaining, 1u);
  EXPECT_EQ(result.inbound_flows_remaining, 1u);
  EXPECT_EQ(flowDescriptions(),
            sorted({tcpFlow(SKOUTER_HOST_IDENTITY, kHost, kLocalPort, SKOUTER_FLOW_OUTBOUND),
                    tcpFlow(SKOUTER_HOST_IDENTITY, kHost, 22, SKOUTER_FLOW_INBOUND)}));
}

TEST_F(FlowTableTest, IdleFlowsGoFromBothTablesAndTheRestStay) {
  const std::uint64_t now = datapathNowNs();
  // Idle past the timeout: one of each origin.
  putTcpFlow(SKOUTER_HOST_IDENTITY, kHost, 40001, SKOUTER_FLOW_OUTBOUND, now - 2 * kFlowIdleNs);
  putTcpFlow(kPod, kPodAddress, 40002, SKOUTER_FLOW_AUDITED, now - kFlowIdleNs - 1);
  putTcpFlow(SKOUTER_HOST_IDENTITY, kHost, 22, SKOUTER_FLOW_INBOUND, now - 2 * kFlowIdleNs);
  // Within it, or just at it.
  putTcpFlow(SKOUTER_HOST_IDENTITY, kHost, 40003, SKOUTER_FLOW_OUTBOUND, now - kFlowIdleNs / 2);
  putTcpFlow(kPod, kPodAddress, 40004, SKOUTER_FLOW_OUTBOUND, now - kFlowIdleNs);
  putTcpFlow(kPod, kPodAddress, 8080, SKOUTER_FLOW_INBOUND, now - kFlowIdleNs / 2);
  putTcpFlow(SKOUTER_HOST_IDENTITY, kHost, 2222, SKOUTER_FLOW_INBOUND, now);

  const auto result = sweep(now);
  EXPECT_EQ(result.flows_removed, 3u);
  EXPECT_EQ(result.flows_remaining, 2u);
  EXPECT_EQ(result.inbound_flows_remaining, 2u);
  EXPECT_EQ(flowDescriptions(),
            sorted({tcpFlow(SKOUTER_HOST_IDENTITY, kHost, 40003, SKOUTER_FLOW_OUTBOUND),
                    tcpFlow(kPod, kPodAddress, 40004, SKOUTER_FLOW_OUTBOUND),
                    tcpFlow(kPod, kPodAddress, 8080, SKOUTER_FLOW_INBOUND),
                    tcpFlow(SKOUTER_HOST_IDENTITY, kHost, 2222, SKOUTER_FLOW_INBOUND)}));

  // Nothing left to sweep at the same time.
  const auto again = sweep(now);
  EXPECT_EQ(again.flows_removed, 0u);
  EXPECT_EQ(again.flows_remaining, 2u);
  EXPECT_EQ(again.inbound_flows_remaining, 2u);
}

// A UDP query is forgotten when it is answered (or pushed out of the LRU table); a TCP
// connection to a resolver is not answered once, and is noted until it falls silent.
// A UDP query whose answer never matched (a spoofer's did not, and the resolver's never
// came) goes after the same silence: answered ones the daemon forgets at once.
TEST_F(FlowTableTest, TcpConnectionsAndQueriesSilentTooLongAreForgotten) {
  const std::uint64_t now = datapathNowNs();
  putQuery(tcpConnectionKey(kHost, 40001), now - 2 * kDnsConnectionIdleNs);
  putQuery(tcpConnectionKey(kPodAddress, 40002), now - kDnsConnectionIdleNs - 1, {}, kPod);
  putQuery(tcpConnectionKey(kHost, 40003), now - kDnsConnectionIdleNs / 2);
  putQuery(tcpConnectionKey(kHost, 40004), now + kNanosPerSecond);  // refreshed meanwhile
  putQuery(queryKey(kHost, 40005, 0x1234), now - 2 * kDnsConnectionIdleNs);
  putQuery(queryKey(kHost, 40006, 0x1234), now - kDnsConnectionIdleNs / 2);

  const auto result = sweep(now);
  EXPECT_EQ(result.dns_connections_removed, 2u);
  // What the status shows as the fill of dns_queries until the next sweep.
  EXPECT_EQ(result.dns_queries_remaining, 3u);
  EXPECT_EQ(queryDescriptions(),
            sorted({tcpConnectionDescription(kHost, 40003), tcpConnectionDescription(kHost, 40004),
                    queryDescription(kHost, 40006, 0x1234)}));
  EXPECT_EQ(result.flows_removed, 0u);
}

// A pod that goes away leaves nothing that a pod inheriting its address could use.
TEST_F(FlowTableTest, ForgetRemovesOnlyThatIdentitysFlowsAndQueries) {
  const std::uint64_t now = datapathNowNs();
  putTcpFlow(kPod, kPodAddress, 40001, SKOUTER_FLOW_OUTBOUND, now);
  putTcpFlow(kPod, kPodAddress, 40002, SKOUTER_FLOW_AUDITED, now);
  putTcpFlow(kPod, kPodAddress, 8080, SKOUTER_FLOW_INBOUND, now);
  putQuery(queryKey(kPodAddress, 40003, 0x1111), now, {}, kPod);
  putQuery(tcpConnectionKey(kPodAddress, 40004), now, {}, kPod);
  // Another pod's, even on the same address (it took it over), and the host's.
  putTcpFlow(kOtherPod, kPodAddress, 40005, SKOUTER_FLOW_OUTBOUND, now);
  putTcpFlow(kOtherPod, kOtherPodAddress, 8080, SKOUTER_FLOW_INBOUND, now);
  putQuery(queryKey(kOtherPodAddress, 40006, 0x2222), now, {}, kOtherPod);
  putTcpFlow(SKOUTER_HOST_IDENTITY, kHost, 40007, SKOUTER_FLOW_OUTBOUND, now);
  putQuery(tcpConnectionKey(kHost, 40008), now);

  EXPECT_EQ(table_->forget(kPod), 5u);
  EXPECT_EQ(flowDescriptions(),
            sorted({tcpFlow(kOtherPod, kPodAddress, 40005, SKOUTER_FLOW_OUTBOUND),
                    tcpFlow(kOtherPod, kOtherPodAddress, 8080, SKOUTER_FLOW_INBOUND),
                    tcpFlow(SKOUTER_HOST_IDENTITY, kHost, 40007, SKOUTER_FLOW_OUTBOUND)}));
  std::vector<std::uint32_t> query_identities;
  for (const auto& [key, value] : queries()) query_identities.push_back(value.identity);
  std::sort(query_identities.begin(), query_identities.end());
  EXPECT_EQ(query_identities, (std::vector<std::uint32_t>{SKOUTER_HOST_IDENTITY, kOtherPod}));

  EXPECT_EQ(table_->forget(kPod), 0u) << "nothing of it is left";
}

}  // namespace
}  // namespace skouter::bpftest
