// A datapath as freshly loaded for every test, its maps pinned under a bpffs of its
// own, and the means to run its programs on crafted packets with BPF_PROG_TEST_RUN.
#pragma once

#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "bpf/counter_names.h"
#include "bpf/datapath.h"
#include "bpf/skouter_abi.h"
#include "common/datapath_clock.h"
#include "common/ip_address.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {

// The tc verdicts the programs return.
enum class Verdict : int {
  kPass = TC_ACT_UNSPEC,  // on to the next filter, or through
  kDrop = TC_ACT_SHOT,
  kRedirect = TC_ACT_REDIRECT,  // held data of the host, sent to the sink that discards it
};
std::ostream& operator<<(std::ostream& out, Verdict verdict);

// What the kernel knows about a packet besides its bytes, set through the
// struct __sk_buff context of BPF_PROG_TEST_RUN.
struct SkbContext {
  // 0: originated on this host. Otherwise the interface a forwarded packet came in on.
  std::uint32_t ingress_ifindex = 0;
  std::uint32_t mark = 0;
  // The interface the program runs on; 0 leaves the kernel's default, lo (index 1),
  // which is also where addIdentity() binds a pod by default.
  std::uint32_t ifindex = 0;
};

// The interface BPF_PROG_TEST_RUN runs a program on when the context names none.
inline constexpr std::uint32_t kLoopbackIfindex = 1;

inline constexpr SkbContext kLocallyOriginated{};
// Any index will do: the kernel does not look it up for ingress_ifindex. What
// uplink_egress makes of a packet forwarded from it depends on the kind the interfaces
// map gives it (setInterfaceKind()).
inline constexpr std::uint32_t kForwardedIfindex = 7;
inline constexpr SkbContext kForwarded{.ingress_ifindex = kForwardedIfindex};

// Keeps the calling thread (a test's only one) in a new network namespace while it
// lives: the FIB and socket lookups of the programs, and BPF_PROG_TEST_RUN's devices,
// are then the test's own, and nothing it routes, binds or attaches touches the
// machine's interfaces.
class PrivateNetworkNamespace {
 public:
  PrivateNetworkNamespace();
  // Leaving it destroys the namespace with every interface in it (and every socket
  // left open there keeps it alive until closed).
  ~PrivateNetworkNamespace();
  PrivateNetworkNamespace(const PrivateNetworkNamespace&) = delete;
  PrivateNetworkNamespace& operator=(const PrivateNetworkNamespace&) = delete;

 private:
  int original_;
};

// A punted answer as the daemon reads it from the answers ring buffer.
struct PuntedAnswer {
  skouter_answer_header header;
  Bytes frame;
};

// Map entries as flowDescription() and queryDescription() put them.
using Descriptions = std::vector<std::string>;

// Counter name -> value, holding only the counters that are not zero.
using Counters = std::map<std::string, std::uint64_t>;
// Hook name ("uplink_egress", ...) -> its counters, holding only hooks with any: which
// program counted what.
using HookCounters = std::map<std::string, Counters>;

// The addresses the tests talk about, in one family.
struct TestNetwork {
  std::string name;     // the family, as test names show it
  IpAddress host;       // this node
  IpAddress resolver;   // trusted on port 53
  IpAddress learned;    // from a DNS answer that is still valid
  IpAddress expired;    // from a DNS answer whose TTL ran out
  IpAddress static_ip;  // allowed as a single-address prefix
  IpAddress in_cidr;
  IpAddress outside_cidr;  // next to the CIDR, outside it
  IpAddress denied;        // in no rule
  IpAddress world;         // a peer that opens connections to the host
  std::string static_prefix;
  std::string cidr;
};
const TestNetwork& ipv4Network();
const TestNetwork& ipv6Network();

inline constexpr std::uint16_t kDnsPort = 53;

// Every map of a loaded datapath: those its programs use (the unpinned ones too) and
// those pinned under its directory, opened by id. The kernel's list rather than one of
// names, so that a map added to the programs is never missed.
class DatapathMaps {
 public:
  struct Map {
    bpf_map_info info;
    int fd;
  };
  explicit DatapathMaps(const Datapath& datapath);
  ~DatapathMaps();
  DatapathMaps(const DatapathMaps&) = delete;
  DatapathMaps& operator=(const DatapathMaps&) = delete;

  const std::vector<Map>& maps() const { return maps_; }

 private:
  std::vector<Map> maps_;
};

// What `map` holds, as text to compare and print: the entries of a hash map or prefix
// tree, the elements of an array that are not all zero bytes, the unread bytes of a
// ring buffer.
std::vector<std::string> mapContents(const DatapathMaps::Map& map);

class DatapathFixture : public ::testing::Test {
 public:
  // Defaults every test starts from: the host is policed, the daemon is alive.
  static constexpr std::uint64_t kFailsafeNs = 5 * kNanosPerSecond;
  static constexpr std::uint64_t kFlowIdleNs = 60 * kNanosPerSecond;
  static constexpr std::uint32_t kReinjectMark = 0x5c0a;

  void SetUp() override;
  void TearDown() override;
  // Unloads the datapath the suite's tests shared.
  static void TearDownTestSuite();

  // config
  void setFlags(std::uint32_t flags);
  void setFailsafeNs(std::uint64_t failsafe_ns);
  void setFlowIdleNs(std::uint64_t flow_idle_ns);
  void setReinjectMark(std::uint32_t mark);
  void setEventRateLimit(std::uint32_t events_per_second);
  // The answers ring bytes one identity may hold unread (0, as tests start: no quota).
  void setAnswerQuotaBytes(std::uint32_t bytes);
  // Where the host's held first data is redirected (0, as tests start: dropped).
  void setHeldSink(std::uint32_t ifindex);
  skouter_config config() const;

  // heartbeat
  void beatAt(std::uint64_t beat_ns);
  void beatNow() { beatAt(datapathNowNs()); }
  // Older than the failsafe timeout: the daemon is taken for gone.
  void beatStale() { beatAt(datapathNowNs() - 2 * config().failsafe_ns); }

  // Policy of the host identity. An expiry of 0 never expires; a port set of 0 opens
  // every port, any other is a key in port_sets (which need not hold it).
  void trustResolver(const IpAddress& address, std::uint16_t port);
  void allowIp(const IpAddress& address, std::uint64_t expiry_ns, std::uint32_t port_set = 0);
  // Pods: an address of the workload `identity`, bound to the interface its packets
  // come in by, and an address it may reach.
  void addIdentity(const IpAddress& address, std::uint32_t identity, std::uint32_t flags = 0,
                   std::uint32_t ifindex = kLoopbackIfindex, std::uint32_t netns_id = 0);
  void allowIpFor(std::uint32_t identity, const IpAddress& address, std::uint64_t expiry_ns);
  void allowPrefix(const std::string& prefix, std::uint32_t port_set = 0);
  void putPortSet(std::uint32_t id, const std::vector<skouter_port_range>& ranges);
  // The policy every table case starts from: what the addresses of `network` say.
  void installPolicy(const TestNetwork& network);

  // What the interface `ifindex` is to uplink_egress when it forwards a packet that
  // came in by it.
  void setInterfaceKind(std::uint32_t ifindex, skouter_interface_kind kind);

  // The rest of the test runs in a network namespace of its own (left at TearDown).
  void usePrivateNetworkNamespace();
  // A socket of `type` (SOCK_DGRAM, SOCK_STREAM) bound to `address`:`port` in the
  // thread's network namespace, open until the test ends: a receiver for the socket
  // lookups of the ingress programs. The address need not be the namespace's own
  // (IP_FREEBIND). Returns its descriptor.
  int bindSocket(int type, const IpAddress& address, std::uint16_t port);
  // Keeps `fd` open until the test ends, then closes it (before the namespace goes).
  int keepOpen(int fd);

  // Flows, keyed in the egress orientation: `local` is the workload's side.
  static skouter_flow_key flowKey(std::uint8_t protocol, const IpAddress& local,
                                  std::uint16_t local_port, const IpAddress& remote,
                                  std::uint16_t remote_port,
                                  std::uint32_t identity = SKOUTER_HOST_IDENTITY);
  // Into flows, or inbound_flows for an inbound one.
  void putFlow(const skouter_flow_key& key, skouter_flow_origin origin, std::uint64_t last_seen_ns);
  // Both flow tables.
  std::vector<std::pair<skouter_flow_key, skouter_flow_value>> flows() const;
  // Every flow as flowDescription() puts it, sorted.
  Descriptions flowDescriptions() const;

  // Outstanding DNS queries over UDP, and TCP connections to a trusted resolver.
  static skouter_dns_query_key queryKey(const IpAddress& client, std::uint16_t client_port,
                                        std::uint16_t dns_id);
  static skouter_dns_query_key tcpConnectionKey(const IpAddress& client, std::uint16_t client_port);
  // `question`: the bytes after the query's header, as the egress program keeps them.
  void putQuery(const skouter_dns_query_key& key, std::uint64_t sent_ns, const Bytes& question = {},
                std::uint32_t identity = SKOUTER_HOST_IDENTITY);
  std::vector<std::pair<skouter_dns_query_key, skouter_dns_query_value>> queries() const;
  // Every outstanding query as queryDescription() puts it, sorted.
  Descriptions queryDescriptions() const;

  HookCounters counters() const;
  Counters counters(skouter_hook hook) const;
  // A time the programs stamped during this test: not in the future, and not from
  // before the test began.
  void expectStampedDuringTest(std::uint64_t time_ns) const;
  // Every answer record waiting in the ring buffer, consumed.
  std::vector<PuntedAnswer> drainAnswers();
  // Every deny or audit event waiting in the events ring buffer, consumed.
  std::vector<skouter_flow_event> drainEvents();

  // The largest frame BPF_PROG_TEST_RUN accepts for the tc programs (it refuses
  // larger ones with EINVAL), found by running uplink_ingress on frames it ignores.
  std::size_t largestTestRunFrame();

  Verdict runUplinkEgress(const Packet& packet, const SkbContext& context = {});
  Verdict runUplinkIngress(const Packet& packet, const SkbContext& context = {});
  Verdict runPodIngress(const Packet& packet, const SkbContext& context = {});
  Verdict runPodEgress(const Packet& packet, const SkbContext& context = {});
  // Runs `program_fd` on a frame; returns the verdict and the context as the kernel
  // handed it to the program, read back from ctx_out.
  Verdict run(int program_fd, const Bytes& frame, const SkbContext& context,
              __sk_buff* context_out = nullptr);

  Datapath& datapath() { return *loaded_->datapath; }
  const Datapath& datapath() const { return *loaded_->datapath; }
  const std::string& pinDir() const { return loaded_->pin_dir; }
  // Closes the datapath as a stopping daemon does (maps stay pinned), and opens it
  // again over the same pins, as the next daemon does.
  void closeDatapath() { loaded_->datapath.reset(); }
  void openDatapath() { loaded_->datapath = Datapath::open(loaded_->pin_dir); }

 protected:
  // Loading the datapath verifies its four programs, which takes over a second: most of
  // what a test costs. kPerSuite: the tests of a suite share one load, which SetUp
  // brings back to the state of a fresh one (every map emptied or zeroed, every ring
  // buffer read, then the configuration and heartbeat every test starts from).
  // kPerTest: a load of the test's own, for tests of the load itself (takeover,
  // migration), of pins, or of attachments, whose state is not all in the maps.
  enum class DatapathLoad { kPerSuite, kPerTest };
  DatapathFixture() = default;
  explicit DatapathFixture(DatapathLoad load) : load_(load) {}

 private:
  // A bpffs mounted on a directory of its own (so that tests never share pins with
  // anything else, nor leave any in the host's /sys/fs/bpf), and the datapath on it.
  struct LoadedDatapath {
    std::string bpffs_dir;
    std::string pin_dir;
    std::unique_ptr<Datapath> datapath;
  };
  static void load(LoadedDatapath& loaded);
  static void unload(LoadedDatapath& loaded);
  static LoadedDatapath suite_datapath_;

  void writeConfig(const skouter_config& config);

  DatapathLoad load_ = DatapathLoad::kPerSuite;
  LoadedDatapath own_datapath_;  // kPerTest
  LoadedDatapath* loaded_ = &own_datapath_;
  std::uint64_t started_ns_ = 0;
  std::vector<int> sockets_;
  std::unique_ptr<PrivateNetworkNamespace> network_namespace_;
};

// Counters that moved between two readings, with how much.
Counters countersMoved(const Counters& before, const Counters& after);
HookCounters countersMoved(const HookCounters& before, const HookCounters& after);

// Map entries as readable text, so a failed comparison shows what differs, e.g.
// "TCP 192.0.2.10:40000 > 198.51.100.20:443 outbound identity 1".
std::string flowDescription(const skouter_flow_key& key, const skouter_flow_value& value);
std::string flowDescription(std::uint8_t protocol, const IpAddress& local, std::uint16_t local_port,
                            const IpAddress& remote, std::uint16_t remote_port,
                            skouter_flow_origin origin,
                            std::uint32_t identity = SKOUTER_HOST_IDENTITY);
// "UDP 192.0.2.10:40000 id 0x1234 identity 1", "TCP 192.0.2.10:40000 identity 1"
std::string queryDescription(const skouter_dns_query_key& key,
                             const skouter_dns_query_value& value);
std::string queryDescription(const IpAddress& client, std::uint16_t client_port,
                             std::uint16_t dns_id);
std::string tcpConnectionDescription(const IpAddress& client, std::uint16_t client_port);
// A query sent on that connection.
std::string tcpQueryDescription(const IpAddress& client, std::uint16_t client_port,
                                std::uint16_t dns_id);

// One range of a port set: ports first..last of `protocol` (IPPROTO_TCP, ...).
skouter_port_range portRange(std::uint8_t protocol, std::uint16_t first, std::uint16_t last);

// ICMP or ICMPv6, as the flow key of an echo holds it.
std::uint8_t icmpProtocol(IpFamily family);

// A check of a case: exactly these flows, as flowDescription() puts them.
std::function<void(DatapathFixture&)> expectFlows(Descriptions expected);

// A check (or setup) of a case made of several, done in order.
template <typename... Steps>
std::function<void(DatapathFixture&)> all(Steps... steps) {
  return [=](DatapathFixture& datapath) { (steps(datapath), ...); };
}

enum class Program { kUplinkEgress, kUplinkIngress, kPodIngress, kPodEgress };
// The hook `program` counts under.
skouter_hook counterHook(Program program);
// Runs `packet` through `program` of the fixture's datapath.
Verdict runProgram(DatapathFixture& fixture, Program program, const Packet& packet,
                   const SkbContext& context);

// One row of a table of cases: a packet, the datapath state it meets, and what must
// come of it.
struct PacketCase {
  std::string description;
  const TestNetwork* network = nullptr;  // the policy the case starts from
  Packet packet{};
  SkbContext context{};
  std::function<void(DatapathFixture&)> setup{};  // changes to that policy, if any
  Verdict verdict = Verdict::kPass;
  Counters moved{};  // exactly the counters that move, all of them the program's hook's
  std::function<void(DatapathFixture&)> check{};  // assertions on the maps, if any
};
void PrintTo(const PacketCase& packet_case, std::ostream* out);
// A parameterized test's name: the description in CamelCase with the network's name
// appended ("drops a denied SYN" on IPv4: "DropsADeniedSYNIPv4").
std::string testNameOf(const std::string& description, const TestNetwork& network);
std::string caseName(const ::testing::TestParamInfo<PacketCase>& info);

class PacketCaseTest : public DatapathFixture, public ::testing::WithParamInterface<PacketCase> {
 protected:
  // Installs the case's policy, runs its packet through `program` and checks the
  // verdict, the counters (under the hook of `program`, none under another) and the
  // maps.
  void runCase(Program program);
};

}  // namespace skouter::bpftest
