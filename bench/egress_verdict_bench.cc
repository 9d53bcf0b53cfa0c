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
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>

#include "bpf/datapath.h"
#include "bpf/maps/bpf_address.h"
#include "common/datapath_clock.h"
#include "tests/bpf/packet_builder.h"

namespace {

using skouter::Datapath;
using skouter::IpAddress;
using skouter::bpftest::PacketBuilder;

constexpr std::uint32_t kRepeat = 100000;
constexpr std::uint8_t kTcpSyn = 0x02;
constexpr std::uint64_t kHourNs = 3600 * skouter::kNanosPerSecond;
constexpr std::uint32_t kOneRange = 1;
constexpr std::uint32_t kThirtyTwoRanges = 2;

IpAddress address(const char* text) { return IpAddress::parse(text).value(); }

// A datapath on a bpffs of its own under /tmp, removed at exit.
class BenchDatapath {
 public:
  BenchDatapath() {
    char directory[] = "/tmp/skouter-bench-XXXXXX";
    if (!mkdtemp(directory)) throw std::runtime_error("mkdtemp failed");
    bpffs_ = directory;
    datapath_ = Datapath::open(bpffs_ + "/skouter");
  }
  ~BenchDatapath() {
    datapath_.reset();
    Datapath::removePins(bpffs_ + "/skouter");
    umount(bpffs_.c_str());
    rmdir(bpffs_.c_str());
  }
  Datapath& get() { return *datapath_; }

 private:
  std::string bpffs_;
  std::unique_ptr<Datapath> datapath_;
};

BenchDatapath& datapath() {
  static BenchDatapath instance;
  return instance;
}

// `judge_every_packet`: a flow idle for 0 ns is judged anew, so every repeat takes the
// policy path instead of the flow table.
void configure(bool judge_every_packet) {
  skouter_config settings{};
  settings.layout_version = SKOUTER_LAYOUT_VERSION;
  settings.flags = SKOUTER_CFG_HOST_POLICED;
  settings.failsafe_ns = kHourNs;
  settings.flow_idle_ns = judge_every_packet ? 0 : kHourNs;
  datapath().get().config().update(0, settings);
  skouter_heartbeat beat{skouter::datapathNowNs()};
  datapath().get().heartbeat().update(0, beat);
}

void allowLearned(const IpAddress& ip, std::uint32_t port_set) {
  skouter_allowed_ip_key key{};
  key.identity = SKOUTER_HOST_IDENTITY;
  key.ip = skouter::maps::toBpfAddr(ip);
  skouter_allowed_ip_value value{};
  value.expiry_ns = skouter::datapathNowNs() + kHourNs;
  value.port_set = port_set;
  datapath().get().allowedIps().update(key, value);
}

void allowPrefix(const IpAddress& ip, unsigned length) {
  skouter_cidr_key key{};
  key.prefixlen = SKOUTER_CIDR_FIXED_BITS + length;
  key.identity = SKOUTER_HOST_IDENTITY;
  skouter::maps::putBpfAddr(key, ip);
  datapath().get().allowedCidrs().update(key, skouter_cidr_value{});
}

void putPortSets() {
  skouter_port_set one{};
  one.count = 1;
  one.ranges[0] = {443, 443, IPPROTO_TCP, {}};
  datapath().get().portSets().update(kOneRange, one);
  skouter_port_set full{};
  full.count = SKOUTER_MAX_PORT_RANGES;
  for (std::uint16_t i = 0; i < SKOUTER_MAX_PORT_RANGES; ++i) {
    full.ranges[i] = {static_cast<std::uint16_t>(400 + 2 * i),
                      static_cast<std::uint16_t>(400 + 2 * i),
                      IPPROTO_UDP,
                      {}};
  }
  full.ranges[SKOUTER_MAX_PORT_RANGES - 1] = {443, 443, IPPROTO_TCP, {}};
  datapath().get().portSets().update(kThirtyTwoRanges, full);
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
    if (bpf_prog_test_run_opts(datapath().get().uplinkEgressProgramFd(), &options) != 0) {
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
  allowPrefix(address("203.0.113.128"), 25);
  runSyn(state, address("203.0.113.200"), kPass);
}

// Every dropped SYN also reports an event; the events ring fills within the first
// iteration, so this is mostly the cost of a drop whose event is counted as lost.
void BM_NewFlowDeniedWrongPort(benchmark::State& state) {
  configure(true);
  putPortSets();
  skouter_port_set other{};
  other.count = 1;
  other.ranges[0] = {80, 80, IPPROTO_TCP, {}};
  datapath().get().portSets().update(3, other);
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
