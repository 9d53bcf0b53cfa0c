// What a new flow costs in uplink_egress, by the way it is allowed: the flow table,
// a learned address with and without a port set, the static LPM trie. Runs the
// loaded program on one crafted SYN with BPF_PROG_TEST_RUN (the kernel times the
// repeats) and prints nanoseconds per packet. Needs root. Never run as a test.
//
// Run: build/bin/skouter_egress_verdict_bench
#include <benchmark/benchmark.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "bpf/datapath.h"
#include "common/datapath_clock.h"
#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace {

using skouter::IpAddress;
using skouter::bpftest::DatapathFixture;
using skouter::bpftest::PacketBuilder;

constexpr std::uint32_t kRepeat = 100000;
constexpr std::uint8_t kTcpSyn = 0x02;
constexpr std::uint64_t kHourNs = 3600 * skouter::kNanosPerSecond;
constexpr std::uint32_t kOneRange = 1;
constexpr std::uint32_t kThirtyTwoRanges = 2;

IpAddress address(const char* text) { return IpAddress::parse(text).value(); }

// The BPF tests' fixture, driven by hand: a datapath on a bpffs of its own under /tmp,
// set up as every test starts (the host policed, the daemon alive), removed at exit.
class BenchDatapath : public DatapathFixture {
 public:
  BenchDatapath() { SetUp(); }
  ~BenchDatapath() override { TearDown(); }
  void TestBody() override {}
};

BenchDatapath& datapath() {
  static BenchDatapath instance;
  return instance;
}

// `judge_every_packet`: a flow idle for 0 ns is judged anew, so every repeat takes the
// policy path instead of the flow table.
void configure(bool judge_every_packet) {
  datapath().setFailsafeNs(kHourNs);
  datapath().setFlowIdleNs(judge_every_packet ? 0 : kHourNs);
  datapath().beatNow();
}

void allowLearned(const IpAddress& ip, std::uint32_t port_set) {
  datapath().allowIp(ip, skouter::datapathNowNs() + kHourNs, port_set);
}

void putPortSets() {
  datapath().putPortSet(kOneRange, {{443, 443, IPPROTO_TCP, {}}});
  std::vector<skouter_port_range> full;
  for (std::uint16_t i = 0; i + 1 < SKOUTER_MAX_PORT_RANGES; ++i) {
    const auto port = static_cast<std::uint16_t>(400 + 2 * i);
    full.push_back({port, port, IPPROTO_UDP, {}});
  }
  full.push_back({443, 443, IPPROTO_TCP, {}});
  datapath().putPortSet(kThirtyTwoRanges, full);
}

// Runs a SYN from the host to `destination`:443 kRepeat times per iteration and
// reports the kernel's average time per run.
void runSyn(benchmark::State& state, const IpAddress& destination, int expected_verdict) {
  const IpAddress host = destination.family == skouter::IpFamily::kV4 ? address("192.0.2.10")
                                                                      : address("2001:db8::10");
  const auto packet = PacketBuilder(host, destination).tcp(40000, 443, kTcpSyn).build();
  for (auto _ : state) {
    LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = packet.frame.data(),
                .data_size_in = static_cast<std::uint32_t>(packet.frame.size()), .repeat = kRepeat);
    if (bpf_prog_test_run_opts(datapath().datapath().uplinkEgressProgramFd(), &options) != 0) {
      state.SkipWithError(std::strerror(errno));
      return;
    }
    if (static_cast<int>(options.retval) != expected_verdict) {
      state.SkipWithError("unexpected verdict");
      return;
    }
    // The kernel's average over the repeats: the reported time is per packet. (So the
    // iteration count is fixed: a per-packet time would make the library run
    // millions of 100,000-packet iterations to fill its minimum time.)
    state.SetIterationTime(options.duration * 1e-9);
  }
}

constexpr int kPass = -1;  // TC_ACT_UNSPEC
constexpr int kDrop = 2;   // TC_ACT_SHOT

void BM_FlowTableHit(benchmark::State& state) {
  configure(false);
  allowLearned(address("198.51.100.20"), 0);
  runSyn(state, address("198.51.100.20"), kPass);
}

void BM_NewFlowLearned(benchmark::State& state) {
  configure(true);
  allowLearned(address("198.51.100.21"), 0);
  runSyn(state, address("198.51.100.21"), kPass);
}

void BM_NewFlowLearnedOnePortRange(benchmark::State& state) {
  configure(true);
  putPortSets();
  allowLearned(address("198.51.100.22"), kOneRange);
  runSyn(state, address("198.51.100.22"), kPass);
}

void BM_NewFlowLearned32PortRangesLastMatches(benchmark::State& state) {
  configure(true);
  putPortSets();
  allowLearned(address("198.51.100.23"), kThirtyTwoRanges);
  runSyn(state, address("198.51.100.23"), kPass);
}

void BM_NewFlowLearnedIpv6(benchmark::State& state) {
  configure(true);
  allowLearned(address("2001:db8:1::20"), 0);
  runSyn(state, address("2001:db8:1::20"), kPass);
}

void BM_NewFlowStaticCidr(benchmark::State& state) {
  configure(true);
  datapath().allowPrefix("203.0.113.128/25");
  runSyn(state, address("203.0.113.200"), kPass);
}

// Every dropped SYN also reports an event; the events ring fills within the first
// iteration, so this is mostly the cost of a drop whose event is counted as lost.
void BM_NewFlowDeniedWrongPort(benchmark::State& state) {
  configure(true);
  putPortSets();
  datapath().putPortSet(3, {{80, 80, IPPROTO_TCP, {}}});
  allowLearned(address("198.51.100.24"), 3);
  runSyn(state, address("198.51.100.24"), kDrop);
}

}  // namespace

BENCHMARK(BM_FlowTableHit)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_NewFlowLearned)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_NewFlowLearnedOnePortRange)
    ->UseManualTime()
    ->Iterations(20)
    ->Unit(benchmark::kNanosecond);
BENCHMARK(BM_NewFlowLearned32PortRangesLastMatches)
    ->UseManualTime()
    ->Iterations(20)
    ->Unit(benchmark::kNanosecond);
BENCHMARK(BM_NewFlowLearnedIpv6)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_NewFlowStaticCidr)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_NewFlowDeniedWrongPort)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);

BENCHMARK_MAIN();
