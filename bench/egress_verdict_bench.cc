// What a new flow costs in uplink_egress, by the way it is allowed: the flow table,
// a learned address with and without a port set, the static LPM trie. Runs the
// loaded program on one crafted SYN with BPF_PROG_TEST_RUN (the kernel times the
// repeats) and prints nanoseconds per packet. Needs root. Never run as a test.
//
// Nanoseconds differ from one machine to the next, so two reference programs
// (bench/reference_programs.bpf.c) run the same way on the same frames: an empty one,
// and one hash lookup by destination, the least any map-based firewall does. Each path
// reports its multiples of them (the x_empty and x_lookup counters), and the table
// after the benchmarks sets them beside the targets of issue 15.
//
// Run: build/bin/skouter_egress_verdict_bench
#include <benchmark/benchmark.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bpf/datapath.h"
#include "common/datapath_clock.h"
#include "reference_programs.skel.h"
#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace {

using skouter::IpAddress;
using skouter::bpftest::Bytes;
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
  // Of its own: no test suite ends to unload a shared one.
  BenchDatapath() : DatapathFixture(DatapathLoad::kPerTest) { SetUp(); }
  ~BenchDatapath() override { TearDown(); }
  void TestBody() override {}
};

BenchDatapath& datapath() {
  static BenchDatapath instance;
  return instance;
}

// `judge_every_packet`: a flow idle for 0 ns is judged anew, so every repeat takes the
// policy path instead of the flow table. Its flow then replaces the stale entry, which
// costs less than a flow never seen before: a new key takes a free node of the LRU
// flow table, and once the table is full evicts one.
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

// The reference programs, loaded once, their map holding the destinations they are
// run on.
class ReferencePrograms {
 public:
  ReferencePrograms() : skeleton_(skouter_reference::open_and_load(), skouter_reference::destroy) {
    if (!skeleton_) throw std::runtime_error("loading the reference programs failed");
  }
  int emptyFd() const { return bpf_program__fd(skeleton_->progs.reference_empty); }
  int oneLookupFd() const { return bpf_program__fd(skeleton_->progs.reference_one_lookup); }

  void addDestination(const IpAddress& ip) {
    struct {
      std::uint32_t family;
      std::uint8_t addr[16];
    } key{};
    key.family = static_cast<std::uint32_t>(ip.family);
    std::memcpy(key.addr, ip.bytes.data(), sizeof(key.addr));
    const std::uint32_t value = 1;
    if (bpf_map_update_elem(bpf_map__fd(skeleton_->maps.reference_destinations), &key, &value,
                            BPF_ANY) != 0)
      throw std::runtime_error(std::string("reference map: ") + std::strerror(errno));
  }

 private:
  std::unique_ptr<skouter_reference, void (*)(skouter_reference*)> skeleton_;
};

ReferencePrograms& references() {
  static ReferencePrograms instance;
  return instance;
}

// What the table shows of each benchmark, by name: medians over its iterations.
struct Figures {
  double ns = 0;       // per packet
  double x_empty = 0;  // 0 for the references themselves
  double x_lookup = 0;
};
std::map<std::string, Figures>& figures() {
  static std::map<std::string, Figures> instance;
  return instance;
}

double median(std::vector<double> values) {
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

// Runs `program` on `frame` kRepeat times: the kernel's average nanoseconds per run,
// or a negative number once the state holds the error.
double timeProgram(benchmark::State& state, int program, const Bytes& frame, int expected_verdict) {
  LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = frame.data(),
              .data_size_in = static_cast<std::uint32_t>(frame.size()), .repeat = kRepeat);
  if (bpf_prog_test_run_opts(program, &options) != 0) {
    state.SkipWithError(std::strerror(errno));
    return -1;
  }
  if (static_cast<int>(options.retval) != expected_verdict) {
    state.SkipWithError("unexpected verdict");
    return -1;
  }
  return options.duration;
}

constexpr int kOk = 0;  // TC_ACT_OK, the reference programs' pass

// Runs `program` on a SYN from the host to `destination`:443 and reports the kernel's
// average time per packet over kRepeat runs an iteration. (So the iteration count is
// fixed: a per-packet time would make the library run millions of 100,000-packet
// iterations to fill its minimum time.) With `compare`, each iteration also runs both
// references on the same frame, right after: the ratios are taken within an
// iteration, under whatever load the machine had then. Every figure is a median over
// the iterations, not the library's mean: one iteration slowed by whatever else the
// machine runs would move the mean. `name`: the benchmark's, for the table (this
// library's State does not know it).
void runSyn(benchmark::State& state, const char* name, int program, const IpAddress& destination,
            int expected_verdict, bool compare) {
  const IpAddress host = destination.family == skouter::IpFamily::kV4 ? address("192.0.2.10")
                                                                      : address("2001:db8::10");
  const Bytes frame = PacketBuilder(host, destination).tcp(40000, 443, kTcpSyn).build().frame;
  if (compare) references().addDestination(destination);
  std::vector<double> ns, x_empty, x_lookup;
  for (auto _ : state) {
    const double packet_ns = timeProgram(state, program, frame, expected_verdict);
    if (packet_ns < 0) return;
    state.SetIterationTime(packet_ns * 1e-9);
    ns.push_back(packet_ns);
    if (!compare) continue;
    const double empty_ns = timeProgram(state, references().emptyFd(), frame, kOk);
    const double lookup_ns = timeProgram(state, references().oneLookupFd(), frame, kOk);
    if (empty_ns <= 0 || lookup_ns <= 0) return;
    x_empty.push_back(packet_ns / empty_ns);
    x_lookup.push_back(packet_ns / lookup_ns);
  }
  Figures& result = figures()[name];
  result.ns = median(ns);
  if (!compare) return;
  result.x_empty = median(x_empty);
  result.x_lookup = median(x_lookup);
  state.counters["x_empty"] = result.x_empty;
  state.counters["x_lookup"] = result.x_lookup;
}

void runUplinkEgress(benchmark::State& state, const char* name, const IpAddress& destination,
                     int expected_verdict) {
  runSyn(state, name, datapath().datapath().uplinkEgressProgramFd(), destination, expected_verdict,
         true);
}

constexpr int kPass = -1;  // TC_ACT_UNSPEC
constexpr int kDrop = 2;   // TC_ACT_SHOT

// The references alone run on the frames of the flow-table cases.
const IpAddress& referenceDestination(skouter::IpFamily family) {
  static const IpAddress v4 = address("198.51.100.20");
  static const IpAddress v6 = address("2001:db8:1::10");
  return family == skouter::IpFamily::kV4 ? v4 : v6;
}

void BM_ReferenceEmpty(benchmark::State& state) {
  runSyn(state, __func__, references().emptyFd(), referenceDestination(skouter::IpFamily::kV4), kOk,
         false);
}

void BM_ReferenceOneLookup(benchmark::State& state) {
  const IpAddress& destination = referenceDestination(skouter::IpFamily::kV4);
  references().addDestination(destination);
  runSyn(state, __func__, references().oneLookupFd(), destination, kOk, false);
}

void BM_ReferenceOneLookupIpv6(benchmark::State& state) {
  const IpAddress& destination = referenceDestination(skouter::IpFamily::kV6);
  references().addDestination(destination);
  runSyn(state, __func__, references().oneLookupFd(), destination, kOk, false);
}

void BM_FlowTableHit(benchmark::State& state) {
  configure(false);
  allowLearned(referenceDestination(skouter::IpFamily::kV4), 0);
  runUplinkEgress(state, __func__, referenceDestination(skouter::IpFamily::kV4), kPass);
}

void BM_FlowTableHitIpv6(benchmark::State& state) {
  configure(false);
  allowLearned(referenceDestination(skouter::IpFamily::kV6), 0);
  runUplinkEgress(state, __func__, referenceDestination(skouter::IpFamily::kV6), kPass);
}

void BM_NewFlowLearned(benchmark::State& state) {
  configure(true);
  allowLearned(address("198.51.100.21"), 0);
  runUplinkEgress(state, __func__, address("198.51.100.21"), kPass);
}

void BM_NewFlowLearnedOnePortRange(benchmark::State& state) {
  configure(true);
  putPortSets();
  allowLearned(address("198.51.100.22"), kOneRange);
  runUplinkEgress(state, __func__, address("198.51.100.22"), kPass);
}

void BM_NewFlowLearned32PortRangesLastMatches(benchmark::State& state) {
  configure(true);
  putPortSets();
  allowLearned(address("198.51.100.23"), kThirtyTwoRanges);
  runUplinkEgress(state, __func__, address("198.51.100.23"), kPass);
}

void BM_NewFlowLearnedIpv6(benchmark::State& state) {
  configure(true);
  allowLearned(address("2001:db8:1::20"), 0);
  runUplinkEgress(state, __func__, address("2001:db8:1::20"), kPass);
}

void BM_NewFlowStaticCidr(benchmark::State& state) {
  configure(true);
  datapath().allowPrefix("203.0.113.128/25");
  runUplinkEgress(state, __func__, address("203.0.113.200"), kPass);
}

// Every dropped SYN also reports an event; the events ring fills within the first
// iteration, so this is mostly the cost of a drop whose event is counted as lost.
void BM_NewFlowDeniedWrongPort(benchmark::State& state) {
  configure(true);
  putPortSets();
  datapath().putPortSet(3, {{80, 80, IPPROTO_TCP, {}}});
  allowLearned(address("198.51.100.24"), 3);
  runUplinkEgress(state, __func__, address("198.51.100.24"), kDrop);
}

// Each path as a multiple of the references, with the targets of issue 15 where it
// has one: the flow table within twice one lookup, a new flow to a learned address
// within three times.
void printRatios() {
  const std::map<std::string, double> targets = {
      {"BM_FlowTableHit", 2},
      {"BM_FlowTableHitIpv6", 2},
      {"BM_NewFlowLearned", 3},
      {"BM_NewFlowLearnedIpv6", 3},
  };
  std::printf(
      "\nns per packet, and as a multiple of the empty program and of one hash lookup by\n"
      "destination run on the same frame in the same iteration; medians of the iterations\n");
  std::printf("%-42s %8s %8s %8s %8s\n", "path", "ns", "x empty", "x lookup", "target");
  for (const auto& [name, result] : figures()) {
    std::printf("%-42s %8.1f", name.c_str(), result.ns);
    if (result.x_lookup > 0) std::printf(" %8.2f %8.2f", result.x_empty, result.x_lookup);
    const auto target = targets.find(name);
    if (target != targets.end())
      std::printf("   <= %.0f %s", target->second,
                  result.x_lookup <= target->second ? "met" : "MISSED");
    std::printf("\n");
  }
}

}  // namespace

// The references first, so that the table has them whatever runs after.
BENCHMARK(BM_ReferenceEmpty)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_ReferenceOneLookup)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_ReferenceOneLookupIpv6)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_FlowTableHit)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_FlowTableHitIpv6)->UseManualTime()->Iterations(20)->Unit(benchmark::kNanosecond);
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

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  printRatios();
  benchmark::Shutdown();
  return 0;
}
