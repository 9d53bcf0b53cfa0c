// The flow-event rate limit: a token bucket per CPU (event_rate_limit events a second,
// as many at once) decides whether a denied or audited flow is reported, never what
// happens to the packet. Events over the limit are counted, under the hook that
// dropped them.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <cstdint>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint32_t kPod = 100;
constexpr std::uint16_t kFirstPort = 42000;
constexpr std::uint16_t kHttpsPort = 443;

// Keeps the calling thread on the CPU it is on while it lives: each CPU has a bucket of
// its own, and a burst spread over several would draw on all of them.
class OnOneCpu {
 public:
  OnOneCpu() {
    if (sched_getaffinity(0, sizeof(previous_), &previous_) != 0) {
      throw std::system_error(errno, std::generic_category(), "sched_getaffinity");
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) {
      throw std::system_error(errno, std::generic_category(), "sched_setaffinity");
    }
  }
  ~OnOneCpu() { sched_setaffinity(0, sizeof(previous_), &previous_); }
  OnOneCpu(const OnOneCpu&) = delete;
  OnOneCpu& operator=(const OnOneCpu&) = delete;

 private:
  cpu_set_t previous_;
};

// The tokens a bucket of `rate` gains in `elapsed_ns`: what a burst that took that long
// may have got beyond its start.
std::uint64_t refillIn(std::uint64_t elapsed_ns, std::uint32_t rate) {
  return elapsed_ns * rate / kNanosPerSecond;
}

class EventRateLimitTest : public DatapathFixture {
 protected:
  const TestNetwork& n() const { return ipv4Network(); }
  IpAddress pod() const { return *IpAddress::parse("192.0.2.70"); }

  // A new flow from `source` per call, each to a destination no rule allows.
  Packet newDeniedFlow(const IpAddress& source) {
    return PacketBuilder(source, n().denied)
        .tcp(static_cast<std::uint16_t>(kFirstPort + next_port_++), kHttpsPort, kTcpSyn)
        .build();
  }

  // Runs `count` new denied flows of the host through uplink_egress; each must drop.
  void hostBurst(int count) {
    for (int i = 0; i < count; ++i) {
      ASSERT_EQ(runUplinkEgress(newDeniedFlow(n().host)), Verdict::kDrop) << "flow " << i;
    }
  }

  // Every CPU's bucket, as if refilled last at `last_refill_ns` with `tokens` left.
  void setBudget(std::uint64_t tokens, std::uint64_t last_refill_ns) {
    std::vector<skouter_event_budget> per_cpu(
        static_cast<std::size_t>(libbpf_num_possible_cpus()),
        skouter_event_budget{.tokens = tokens, .last_refill_ns = last_refill_ns});
    const std::uint32_t key = 0;
    if (bpf_map_update_elem(datapath().eventBudgetFd(), &key, per_cpu.data(), BPF_ANY) != 0) {
      throw std::runtime_error("cannot write the event budget");
    }
  }

 private:
  int next_port_ = 0;
};

TEST_F(EventRateLimitTest, ABurstPastTheLimitYieldsTheLimitsWorthOfEvents) {
  constexpr std::uint32_t kLimit = 3;
  constexpr int kBurst = 8;
  installPolicy(n());
  setEventRateLimit(kLimit);
  const OnOneCpu pinned;

  // A new bucket starts full.
  const std::uint64_t started = datapathNowNs();
  hostBurst(kBurst);
  const std::uint64_t refilled = refillIn(datapathNowNs() - started, kLimit);

  // Exactly kLimit, unless the burst took a third of a second or more.
  const std::uint64_t events = drainEvents().size();
  EXPECT_GE(events, kLimit);
  EXPECT_LE(events, kLimit + refilled);
  EXPECT_EQ(counters(),
            (HookCounters{{"uplink_egress",
                           {{"egress_denied", kBurst}, {"event_rate_limited", kBurst - events}}}}));
}

TEST_F(EventRateLimitTest, ZeroLetsEveryEventThrough) {
  constexpr int kBurst = 50;
  installPolicy(n());
  setEventRateLimit(0);
  hostBurst(kBurst);
  EXPECT_EQ(drainEvents().size(), static_cast<std::size_t>(kBurst));
  EXPECT_EQ(counters(), (HookCounters{{"uplink_egress", {{"egress_denied", kBurst}}}}));
}

// The limit holds back reports of audited flows too, and they still pass; a pod's
// events over the limit count under pod_ingress.
TEST_F(EventRateLimitTest, AnAuditedPodsFlowsPassAndTheirEventsAreLimited) {
  constexpr std::uint32_t kLimit = 2;
  constexpr int kBurst = 6;
  installPolicy(n());
  addIdentity(pod(), kPod, SKOUTER_IDENTITY_AUDIT);
  setEventRateLimit(kLimit);
  const OnOneCpu pinned;

  const std::uint64_t started = datapathNowNs();
  for (int i = 0; i < kBurst; ++i) {
    ASSERT_EQ(runPodIngress(newDeniedFlow(pod())), Verdict::kPass) << "flow " << i;
  }
  const std::uint64_t refilled = refillIn(datapathNowNs() - started, kLimit);

  const std::vector<skouter_flow_event> events = drainEvents();
  EXPECT_GE(events.size(), kLimit);
  EXPECT_LE(events.size(), kLimit + refilled);
  for (const auto& event : events) {
    EXPECT_EQ(event.identity, kPod);
    EXPECT_EQ(event.verdict, SKOUTER_EVENT_AUDITED);
  }
  EXPECT_EQ(counters(), (HookCounters{{"pod_ingress",
                                       {{"egress_audited", kBurst},
                                        {"event_rate_limited", kBurst - events.size()}}}}));
}

// Time refills the bucket in proportion: a second the whole of it, half a second half.
TEST_F(EventRateLimitTest, TheBucketRefillsWithTime) {
  constexpr std::uint32_t kLimit = 4;
  installPolicy(n());
  setEventRateLimit(kLimit);
  const OnOneCpu pinned;

  const std::uint64_t a_second_ago = datapathNowNs() - kNanosPerSecond;
  setBudget(0, a_second_ago);
  hostBurst(kLimit + 2);
  // A second or more fills the bucket, and no fuller than the limit.
  const std::uint64_t after_a_second = drainEvents().size();
  EXPECT_GE(after_a_second, kLimit);
  EXPECT_LE(after_a_second,
            kLimit + refillIn(datapathNowNs() - a_second_ago - kNanosPerSecond, kLimit));

  const std::uint64_t half_a_second_ago = datapathNowNs() - kNanosPerSecond / 2;
  setBudget(0, half_a_second_ago);
  hostBurst(kLimit);
  const std::uint64_t refilled = refillIn(datapathNowNs() - half_a_second_ago, kLimit);
  const std::uint64_t events = drainEvents().size();
  EXPECT_GE(events, kLimit / 2);
  EXPECT_LE(events, refilled);
}

// A bucket filled under a higher limit holds no more than the new one at once.
TEST_F(EventRateLimitTest, ALoweredLimitTakesEffectAtOnce) {
  constexpr std::uint32_t kHigh = 100;
  constexpr std::uint32_t kLow = 2;
  constexpr int kBurst = 5;
  installPolicy(n());
  setEventRateLimit(kHigh);
  const OnOneCpu pinned;
  setBudget(kHigh, datapathNowNs());

  setEventRateLimit(kLow);
  const std::uint64_t started = datapathNowNs();
  hostBurst(kBurst);
  const std::uint64_t refilled = refillIn(datapathNowNs() - started, kLow);
  const std::uint64_t events = drainEvents().size();
  EXPECT_GE(events, kLow);
  EXPECT_LE(events, kLow + refilled);
}

}  // namespace
}  // namespace skouter::bpftest
