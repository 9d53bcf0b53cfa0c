// The pod datapath on a real kernel: attaching the pod programs to a pod's host-side
// interface, finding that interface by route, following network changes, and
// delivering held answers past pod_egress. Each test builds its own two network
// namespaces joined by a veth pair, and its thread joins the node's:
//
//   node namespace                                    pod namespace
//   pod-veth 02:00:00:00:00:01  <------ veth ------>  eth0 02:00:00:00:00:02
//     192.0.2.1/32, fe80::1/64                          192.0.2.70/32, 2001:db8::70/128
//     routes to 192.0.2.70/32, 2001:db8::70/128         default via 192.0.2.1 / fe80::1
//   lo: 198.51.100.53/32, 2001:db8:1::53/128 (the resolver)
//
// The datapath itself (maps, programs, bpffs) comes from DatapathFixture: BPF objects
// belong to no network namespace; only the tc attachments do.
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "bpf/maps/allowed_ip_table.h"
#include "bpf/maps/bpf_address.h"
#include "bpf/maps/port_set_table.h"
#include "common/internet_checksum.h"
#include "daemon/route_lookup.h"
#include "policy/compiled_policy.h"
#include "resolver/answer_injector.h"
#include "resolver/answer_pipeline.h"
#include "resolver/tcp_answer_stream.h"
#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::daemon {

void PrintTo(const RouteInterface& interface, std::ostream* out) {
  *out << interface.name << " (index " << interface.ifindex << ")";
}

}  // namespace skouter::daemon

namespace skouter::bpftest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kPod = 300;
constexpr std::uint16_t kPodPort = 41000;
constexpr std::uint16_t kMarkerPort = 9999;
constexpr std::uint16_t kDnsId = 0x5c5c;
constexpr const char* kPodInterface = "pod-veth";
constexpr const char* kName = "example.com";
// How long to wait for something that happens at once on any working kernel: only a
// failing test ever waits this long.
constexpr auto kPatience = 10s;

IpAddress address(const char* text) { return IpAddress::parse(text).value(); }

// The addresses of one family.
struct Family {
  std::string name;
  IpAddress pod;
  IpAddress resolver;
  IpAddress learned;   // what the resolver answers
  IpAddress unrouted;  // no route leads there
};

void PrintTo(const Family& family, std::ostream* out) { *out << family.name; }

const Family kIpv4{"IPv4", address("192.0.2.70"), address("198.51.100.53"), address("203.0.113.20"),
                   address("203.0.113.9")};
const Family kIpv6{"IPv6", address("2001:db8::70"), address("2001:db8:1::53"),
                   address("2001:db8:2::20"), address("2001:db8:ffff::9")};

// Runs a shell command; throws naming it when it fails.
void shell(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status != 0) {
    throw std::runtime_error("'" + command + "' failed (wait status " + std::to_string(status) +
                             ")");
  }
}

// A command's standard output.
std::string output(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::system_error(errno, std::generic_category(), command);
  std::string text;
  char buffer[4096];
  while (const std::size_t read = std::fread(buffer, 1, sizeof(buffer), pipe)) {
    text.append(buffer, read);
  }
  if (pclose(pipe) != 0) throw std::runtime_error("'" + command + "' failed");
  return text;
}

std::size_t occurrences(const std::string& text, const std::string& word) {
  std::size_t count = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++count;
  return count;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

void check(bool ok, const std::string& what) {
  if (!ok) throw std::system_error(errno, std::generic_category(), what);
}

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

SocketAddress socketAddress(const IpAddress& ip, std::uint16_t port) {
  SocketAddress result;
  if (ip.family == IpFamily::kV4) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    std::memcpy(&v4->sin_addr, ip.bytes.data(), 4);
    result.length = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    std::memcpy(&v6->sin6_addr, ip.bytes.data(), 16);
    result.length = sizeof(sockaddr_in6);
  }
  return result;
}

// A socket of `type` bound to `ip`:`port`, whose blocking calls give up after kPatience.
Fd boundSocket(int type, const IpAddress& ip, std::uint16_t port) {
  Fd fd(socket(ip.family == IpFamily::kV4 ? AF_INET : AF_INET6, type | SOCK_CLOEXEC, 0));
  check(fd.get() >= 0, "socket");
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const timeval patience{.tv_sec = std::chrono::seconds(kPatience).count(), .tv_usec = 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof(patience));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof(patience));
  const SocketAddress local = socketAddress(ip, port);
  check(bind(fd.get(), local.get(), local.length) == 0, "bind to " + ip.toString());
  return fd;
}

void sendTo(const Fd& fd, const Bytes& data, const IpAddress& ip, std::uint16_t port) {
  const SocketAddress destination = socketAddress(ip, port);
  check(sendto(fd.get(), data.data(), data.size(), 0, destination.get(), destination.length) ==
            static_cast<ssize_t>(data.size()),
        "sendto " + ip.toString());
}

// The next datagram, or nullopt after kPatience.
std::optional<Bytes> receive(const Fd& fd) {
  Bytes data(65536);
  const ssize_t size = recv(fd.get(), data.data(), data.size(), 0);
  if (size < 0) return std::nullopt;
  data.resize(static_cast<std::size_t>(size));
  return data;
}

// Exactly `size` bytes of a stream, or what came before it stalled for kPatience.
Bytes receiveStream(const Fd& fd, std::size_t size) {
  Bytes data(size);
  std::size_t received = 0;
  while (received < size) {
    const ssize_t now = recv(fd.get(), data.data() + received, size - received, 0);
    if (now <= 0) break;
    received += static_cast<std::size_t>(now);
  }
  data.resize(received);
  return data;
}

// Sends `frame` out of `ifindex` through the qdisc layer, as the kernel sends any
// packet. False when a tc program dropped it (the kernel reports ENOBUFS then).
bool sendFrameThroughTc(const Bytes& frame, int ifindex) {
  const Fd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  check(fd.get() >= 0, "packet socket");
  sockaddr_ll destination{};
  destination.sll_family = AF_PACKET;
  destination.sll_ifindex = ifindex;
  std::memcpy(&destination.sll_protocol, &frame[12], 2);
  const ssize_t sent = sendto(fd.get(), frame.data(), frame.size(), 0,
                              reinterpret_cast<const sockaddr*>(&destination), sizeof(destination));
  if (sent < 0 && errno == ENOBUFS) return false;
  check(sent == static_cast<ssize_t>(frame.size()), "send a frame through tc");
  return true;
}

// An answer to `name` with one A or AAAA record per address.
Bytes dnsAnswerWithAddresses(std::uint16_t id, const std::string& name,
                             const std::vector<IpAddress>& addresses) {
  Bytes answer = dnsAnswer(id, name, addresses.front());
  for (std::size_t i = 1; i < addresses.size(); ++i) {
    const Bytes single = dnsAnswer(id, name, addresses[i]);
    const std::size_t record = 12 + addresses[i].size();  // pointer, type, class, TTL, length
    answer.insert(answer.end(), single.end() - static_cast<std::ptrdiff_t>(record), single.end());
  }
  answer[6] = static_cast<std::uint8_t>(addresses.size() >> 8);
  answer[7] = static_cast<std::uint8_t>(addresses.size());
  return answer;
}

// `count` addresses next to `first`.
std::vector<IpAddress> addressesFrom(const IpAddress& first, std::size_t count) {
  std::vector<IpAddress> addresses;
  for (std::size_t i = 0; i < count; ++i) {
    IpAddress next = first;
    next.bytes[first.size() - 1] = static_cast<std::uint8_t>(first.bytes[first.size() - 1] + i);
    addresses.push_back(next);
  }
  return addresses;
}

policy::CompiledPolicy allowingExampleCom() {
  policy::CompiledPolicy policy;
  policy.names.addExact(kName, policy::ruleIdOf("pod-test/rules[0]"));
  policy.names.compile();
  return policy;
}

class PodNetworkTest : public DatapathFixture {
 protected:
  // Attachments leave link pins and what the Datapath learned of tcx behind: a load of
  // its own.
  PodNetworkTest() : DatapathFixture(DatapathLoad::kPerTest) {}

  void SetUp() override {
    DatapathFixture::SetUp();
    if (HasFatalFailure()) return;
    const std::string suffix = std::to_string(getpid());
    node_ns_ = "skouter-podtest-node-" + suffix;
    pod_ns_ = "skouter-podtest-pod-" + suffix;
    original_ns_ = Fd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    check(original_ns_.get() >= 0, "open the test's network namespace");
    buildNetwork();
    node_fd_ = openNamespace(node_ns_);
    pod_fd_ = openNamespace(pod_ns_);
    enter(node_fd_);
    veth_ = static_cast<int>(if_nametoindex(kPodInterface));
    ASSERT_NE(veth_, 0);
  }

  void TearDown() override {
    if (original_ns_.get() >= 0) {
      EXPECT_EQ(setns(original_ns_.get(), CLONE_NEWNET), 0);
    }
    for (const auto& ns : {node_ns_, pod_ns_}) {
      if (!ns.empty()) {
        EXPECT_EQ(std::system(("ip netns del " + ns).c_str()), 0) << ns;
      }
    }
    DatapathFixture::TearDown();
  }

  std::string node() const { return "ip -n " + node_ns_ + " "; }
  std::string pod() const { return "ip -n " + pod_ns_ + " "; }

  // The test's thread in the pod's namespace for as long as `make` runs: the socket it
  // returns stays there.
  Fd inPod(const std::function<Fd()>& make) {
    enter(pod_fd_);
    Fd fd;
    try {
      fd = make();
    } catch (...) {
      enter(node_fd_);
      throw;
    }
    enter(node_fd_);
    return fd;
  }

  // What tc lists on the pod interface in `direction` ("ingress" or "egress").
  std::string filters(const std::string& direction) const {
    return output("tc -n " + node_ns_ + " filter show dev " + kPodInterface + " " + direction);
  }

  int veth_ = 0;
  std::string node_ns_;
  std::string pod_ns_;

 private:
  void buildNetwork() {
    for (const auto& ns : {node_ns_, pod_ns_}) {
      shell("ip netns add " + ns);
      // Addresses are usable at once, without waiting for duplicate address detection.
      shell("ip netns exec " + ns +
            " sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
      shell("ip -n " + ns + " link set lo up");
    }
    shell(node() + "link add " + kPodInterface +
          " address 02:00:00:00:00:01 type veth peer name eth0 address 02:00:00:00:00:02 netns " +
          pod_ns_);
    shell(node() + "addr add 198.51.100.53/32 dev lo");
    shell(node() + "addr add 2001:db8:1::53/128 dev lo");
    shell(node() + "addr add 192.0.2.1/32 dev " + kPodInterface);
    shell(node() + "addr add fe80::1/64 dev " + kPodInterface);
    shell(node() + "link set " + kPodInterface + " up");
    shell(node() + "route add 192.0.2.70/32 dev " + kPodInterface);
    shell(node() + "route add 2001:db8::70/128 dev " + kPodInterface);
    shell(pod() + "addr add 192.0.2.70/32 dev eth0");
    shell(pod() + "addr add 2001:db8::70/128 dev eth0");
    shell(pod() + "link set eth0 up");
    shell(pod() + "route add 192.0.2.1/32 dev eth0");
    shell(pod() + "route add default via 192.0.2.1 dev eth0");
    shell(pod() + "route add default via fe80::1 dev eth0");
  }

  static Fd openNamespace(const std::string& name) {
    Fd fd(open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    check(fd.get() >= 0, "open network namespace " + name);
    return fd;
  }

  static void enter(const Fd& ns) { check(setns(ns.get(), CLONE_NEWNET) == 0, "setns"); }

  Fd original_ns_;
  Fd node_fd_;
  Fd pod_fd_;
};

// As clsact filters (`tc filter show` lists them); tcx links: tcx_attachment_test.cc.
TEST_F(PodNetworkTest, AttachPodPutsBothProgramsOnTheInterfaceAndDetachPodRemovesThem) {
  datapath().setAttachMode(AttachMode::kTc);
  // Someone else's filter, which skouter must leave alone.
  shell("tc -n " + node_ns_ + " qdisc add dev " + kPodInterface + " clsact");
  shell("tc -n " + node_ns_ + " filter add dev " + kPodInterface +
        " ingress prio 10 protocol all u32 match u32 0 0");

  datapath().attachPod(veth_);
  EXPECT_EQ(occurrences(filters("ingress"), "name pod_ingress"), 1u) << filters("ingress");
  EXPECT_EQ(occurrences(filters("egress"), "name pod_egress"), 1u) << filters("egress");
  EXPECT_EQ(Datapath::podAttachments(pinDir()), std::vector<int>{veth_});

  // Again (a restarted daemon): skouter's filters are replaced, not doubled.
  datapath().attachPod(veth_);
  EXPECT_EQ(occurrences(filters("ingress"), "name pod_ingress"), 1u) << filters("ingress");
  EXPECT_EQ(occurrences(filters("egress"), "name pod_egress"), 1u) << filters("egress");

  Datapath::detachPod(pinDir(), veth_);
  EXPECT_EQ(occurrences(filters("ingress"), "name pod_ingress"), 0u) << filters("ingress");
  EXPECT_EQ(occurrences(filters("egress"), "name pod_egress"), 0u) << filters("egress");
  EXPECT_TRUE(Datapath::podAttachments(pinDir()).empty());
  EXPECT_NE(filters("ingress").find("u32"), std::string::npos) << filters("ingress");
  // Detaching what is not there is no error either.
  EXPECT_NO_THROW(Datapath::detachPod(pinDir(), veth_));
}

TEST_F(PodNetworkTest, TheUplinksDoNotCountAsPodAttachments) {
  // Where attachUplink puts uplink_ingress: skouter's handle and priority (see
  // bpf/datapath.cc). attachUplink itself cannot be used here: it checks the link type
  // in /sys, which shows the test's original namespace.
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = veth_, .attach_point = BPF_TC_INGRESS);
  ASSERT_EQ(bpf_tc_hook_create(&hook), 0);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = datapath().uplinkIngressProgramFd(), .handle = 0x5c0,
              .priority = 1);
  ASSERT_EQ(bpf_tc_attach(&hook, &opts), 0);
  EXPECT_TRUE(Datapath::podAttachments(pinDir(), {veth_}).empty());
}

TEST_F(PodNetworkTest, DetachPodToleratesAnInterfaceThatIsGone) {
  datapath().attachPod(veth_);
  shell(node() + "link del " + kPodInterface);
  EXPECT_NO_THROW(Datapath::detachPod(pinDir(), veth_));
  EXPECT_TRUE(Datapath::podAttachments(pinDir()).empty());
}

TEST_F(PodNetworkTest, AttachPodNamesWhatIsWrongWithTheInterface) {
  try {
    datapath().attachPod(veth_ + 1000);
    ADD_FAILURE() << "attached to an interface that does not exist";
  } catch (const DatapathError& error) {
    EXPECT_NE(std::string(error.what()).find("index " + std::to_string(veth_ + 1000)),
              std::string::npos)
        << error.what();
  }
  try {
    datapath().attachPod(static_cast<int>(if_nametoindex("lo")));
    ADD_FAILURE() << "attached to the loopback interface";
  } catch (const DatapathError& error) {
    EXPECT_NE(std::string(error.what()).find("'lo' is not an Ethernet device"), std::string::npos)
        << error.what();
  }
}

TEST_F(PodNetworkTest, RouteInterfaceOfFindsTheInterfaceThePodsRouteLeadsTo) {
  const daemon::RouteInterface expected{.ifindex = veth_, .name = kPodInterface};
  EXPECT_EQ(daemon::routeInterfaceOf(kIpv4.pod), expected);
  EXPECT_EQ(daemon::routeInterfaceOf(kIpv6.pod), expected);
  EXPECT_EQ(daemon::routeInterfaceOf(kIpv4.unrouted), std::nullopt);
  EXPECT_EQ(daemon::routeInterfaceOf(kIpv6.unrouted), std::nullopt);
  // Routes that lead nowhere.
  shell(node() + "route add blackhole " + kIpv4.unrouted.toString());
  shell(node() + "route add prohibit " + kIpv6.unrouted.toString());
  EXPECT_EQ(daemon::routeInterfaceOf(kIpv4.unrouted), std::nullopt);
  EXPECT_EQ(daemon::routeInterfaceOf(kIpv6.unrouted), std::nullopt);

  shell(node() + "route del 192.0.2.70/32");
  shell(node() + "route del 2001:db8::70/128");
  EXPECT_EQ(daemon::routeInterfaceOf(kIpv4.pod), std::nullopt);
  EXPECT_EQ(daemon::routeInterfaceOf(kIpv6.pod), std::nullopt);
}

TEST_F(PodNetworkTest, NetworkChangeMonitorCallsBackOnLinkAndRouteChanges) {
  // A monitor of its own for each change, so no change is credited to another.
  const auto calledBackAfter = [](const std::string& command) {
    boost::asio::io_context io;
    int changes = 0;
    daemon::NetworkChangeMonitor monitor(io, [&changes] { ++changes; });
    monitor.start();
    shell(command);
    const auto give_up = Clock::now() + kPatience;
    while (changes == 0 && Clock::now() < give_up) io.run_one_for(100ms);
    return changes > 0;
  };
  EXPECT_TRUE(calledBackAfter(node() + "link add pod2-veth type veth peer name pod2-eth0"));
  EXPECT_TRUE(calledBackAfter(node() + "route add 203.0.113.0/24 dev " + kPodInterface));
  EXPECT_TRUE(calledBackAfter(node() + "route add 2001:db8:3::/64 dev " + kPodInterface));
  EXPECT_TRUE(calledBackAfter(node() + "link del pod2-veth"));
}

class PodDeliveryTest : public PodNetworkTest, public ::testing::WithParamInterface<Family> {
 protected:
  const Family& f() const { return GetParam(); }

  // Sends `frame` out of the pod's veth as the daemon does; "" or why it failed.
  std::string sendToInterface(const resolver::AnswerInjector& injector, const Bytes& frame) {
    std::string failure;
    auto answer = injector.toInterface(frame, veth_, failure);
    if (!answer) return failure;
    injector.send({&*answer, 1});
    return answer->failure;
  }

  // The pod's DNS client socket.
  Fd podClient(int type = SOCK_DGRAM, std::uint16_t port = kPodPort) {
    return inPod([&] { return boundSocket(type, f().pod, port); });
  }

  // Datagrams that reach `client` before a marker sent after them from the node:
  // whatever was delivered before arrives before it.
  std::vector<Bytes> datagramsBeforeMarker(const Fd& client) {
    const Bytes marker{'m', 'a', 'r', 'k', 'e', 'r'};
    const Fd sender = boundSocket(SOCK_DGRAM, f().resolver, kMarkerPort);
    sendTo(sender, marker, f().pod, kPodPort);
    std::vector<Bytes> before;
    for (;;) {
      auto datagram = receive(client);
      if (!datagram) throw std::runtime_error("the marker never reached the pod");
      if (*datagram == marker) return before;
      before.push_back(std::move(*datagram));
    }
  }

  // Answers held between two readings, by the hook that held them. (The namespace's
  // own traffic, neighbour discovery, moves other counters meanwhile.)
  static std::map<std::string, std::uint64_t> heldByHook(const HookCounters& before,
                                                         const HookCounters& after) {
    std::map<std::string, std::uint64_t> held;
    for (const auto& [hook, moved] : countersMoved(before, after)) {
      if (const auto punted = moved.find("dns_answer_punted"); punted != moved.end()) {
        held[hook] = punted->second;
      }
    }
    return held;
  }

  bool installedForPod(const IpAddress& learned) {
    const skouter_allowed_ip_key key{.identity = kPod, .ip = maps::toBpfAddr(learned)};
    return datapath().allowedIps().lookup(key).has_value();
  }

  // The pod policed, its programs attached, its address bound to the interface its
  // packets come in by, the resolver trusted, the daemon alive.
  void policePod() {
    datapath().attachPod(veth_);
    addIdentity(f().pod, kPod, 0, static_cast<std::uint32_t>(veth_));
    trustResolver(f().resolver, kDnsPort);
    beatNow();
  }
};

TEST_P(PodDeliveryTest, AFrameDeliveredPastPodEgressArrivesExactlyOnce) {
  policePod();
  const Fd resolver = boundSocket(SOCK_DGRAM, f().resolver, kDnsPort);
  const Fd client = podClient();
  sendTo(client, dnsQuery(kDnsId, kName, f().pod.family), f().resolver, kDnsPort);
  ASSERT_TRUE(receive(resolver)) << "the query did not reach the resolver";
  ASSERT_EQ(queries().size(), 1u);
  EXPECT_EQ(queries()[0].second.identity, kPod);

  // Sent like any packet of the node, the answer meets pod_egress and is held.
  const Bytes dns = dnsAnswer(kDnsId, kName, f().learned);
  const Packet answer = PacketBuilder(f().resolver, f().pod).udp(kDnsPort, kPodPort, dns).build();
  HookCounters before = counters();
  EXPECT_FALSE(sendFrameThroughTc(answer.frame, veth_));
  EXPECT_EQ(heldByHook(before, counters()),
            (std::map<std::string, std::uint64_t>{{"pod_egress", 1}}));
  const auto held = drainAnswers();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].header.destination, SKOUTER_ANSWER_TO_POD);
  EXPECT_EQ(held[0].header.ifindex, static_cast<std::uint32_t>(veth_));
  EXPECT_EQ(held[0].header.identity, kPod);
  EXPECT_EQ(held[0].frame, answer.frame);
  EXPECT_EQ(datagramsBeforeMarker(client), std::vector<Bytes>{});

  // Delivered past tc, it arrives once and is not held again.
  resolver::AnswerInjector injector(kReinjectMark);
  before = counters();
  EXPECT_EQ(sendToInterface(injector, held[0].frame), "");
  EXPECT_EQ(datagramsBeforeMarker(client), std::vector<Bytes>{dns});
  EXPECT_EQ(heldByHook(before, counters()), (std::map<std::string, std::uint64_t>{}));
  EXPECT_TRUE(drainAnswers().empty());
}

TEST_P(PodDeliveryTest, AFrameLargerThanTheMtuIsRefusedWithTheReason) {
  resolver::AnswerInjector injector(kReinjectMark);
  ASSERT_EQ(injector.mtuOf(veth_), std::optional<std::size_t>(1500));
  const Packet large =
      PacketBuilder(f().resolver, f().pod).udp(kDnsPort, kPodPort, Bytes(1600, 0)).build();
  EXPECT_EQ(sendToInterface(injector, large.frame), std::strerror(EMSGSIZE));
  EXPECT_EQ(injector.mtuOf(veth_ + 1000), std::nullopt);
}

// The daemon's answer path end to end, for one pod: the resolver's answer is held by
// pod_egress, decided, installed for the pod's identity, and delivered to the pod.
class PodPipelineTest : public PodDeliveryTest {
 protected:
  void SetUp() override {
    PodDeliveryTest::SetUp();
    if (HasFatalFailure()) return;
    port_sets_.emplace(datapath().portSets());
    table_.emplace(datapath().allowedIps(), datapath().learnedNames(), *port_sets_);
    injector_.emplace(kReinjectMark);
    pipeline_.emplace(
        io_, datapath().answersRingFd(), *table_, *injector_,
        [this](std::uint32_t identity) { return identity == kPod ? &policy_ : nullptr; },
        resolver::TtlSettings{}, resolver::RewriteSettings{}, nullptr, nullptr);
    // As the daemon's flow table does: answers are matched against the recorded queries.
    pipeline_->matchQueriesIn(
        {[queries = datapath().dnsQueries()](const skouter_dns_query_key& key) {
           return queries.lookup(key);
         },
         [queries = datapath().dnsQueries()](const skouter_dns_query_key& key) mutable {
           return queries.erase(key);
         }});
    pipeline_->start();
  }

  void TearDown() override {
    pipeline_.reset();
    PodDeliveryTest::TearDown();
  }

  // Runs the pipeline until `done` (set by another thread) or kPatience.
  void runPipelineUntil(const std::atomic<bool>& done) {
    const auto give_up = Clock::now() + kPatience;
    while (!done && Clock::now() < give_up) io_.run_one_for(20ms);
  }

  boost::asio::io_context io_;
  policy::CompiledPolicy policy_ = allowingExampleCom();
  std::optional<maps::PortSetTable> port_sets_;
  std::optional<maps::AllowedIpTable> table_;
  std::optional<resolver::AnswerInjector> injector_;
  std::optional<resolver::AnswerPipeline> pipeline_;
};

TEST_P(PodPipelineTest, AnAnswerReachesThePodOnceWithItsAddressesAlreadyInstalled) {
  policePod();
  const Fd resolver = boundSocket(SOCK_DGRAM, f().resolver, kDnsPort);
  const Fd client = podClient();

  // The pod looks at the table the moment the answer arrives, as a client connecting
  // at once would.
  std::optional<Bytes> arrived;
  bool installed_on_arrival = false;
  std::atomic<bool> done = false;
  std::thread pod_side([&] {
    arrived = receive(client);
    installed_on_arrival = installedForPod(f().learned);
    done = true;
  });
  sendTo(client, dnsQuery(kDnsId, kName, f().pod.family), f().resolver, kDnsPort);
  const auto query = receive(resolver);
  const Bytes dns = dnsAnswer(kDnsId, kName, f().learned);
  if (query) sendTo(resolver, dns, f().pod, kPodPort);
  runPipelineUntil(done);
  pod_side.join();

  ASSERT_TRUE(query) << "the query did not reach the resolver";
  EXPECT_EQ(arrived, dns);
  EXPECT_TRUE(installed_on_arrival);
  EXPECT_EQ(datagramsBeforeMarker(client), std::vector<Bytes>{});
  EXPECT_EQ(pipeline_->stats().allowed, 1u);
  EXPECT_EQ(pipeline_->stats().inject_failed, 0u);
}

TEST_P(PodPipelineTest, AnAnswerOverTcpLargerThanTheMtuReachesThePodWhole) {
  policePod();
  const Fd listener = boundSocket(SOCK_STREAM, f().resolver, kDnsPort);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  const Fd client = podClient(SOCK_STREAM, 0);
  const SocketAddress server_address = socketAddress(f().resolver, kDnsPort);
  ASSERT_EQ(connect(client.get(), server_address.get(), server_address.length), 0)
      << std::strerror(errno);
  const Fd server(accept(listener.get(), nullptr, nullptr));
  ASSERT_GE(server.get(), 0);

  // Sent in one write, the answer leaves the resolver's TCP in segments larger than
  // the MTU (TSO); pod_egress holds them as they are.
  const auto addresses = addressesFrom(f().learned, 200);
  const Bytes framed = tcpFramed(dnsAnswerWithAddresses(kDnsId, kName, addresses));
  ASSERT_GT(framed.size(), 2 * 1500u);
  Bytes arrived;
  bool installed_on_arrival = false;
  std::atomic<bool> done = false;
  std::thread pod_side([&] {
    arrived = receiveStream(client, framed.size());
    installed_on_arrival = installedForPod(addresses.back());
    done = true;
  });
  const Bytes query = tcpFramed(dnsQuery(kDnsId, kName, f().pod.family));
  const bool query_sent =
      send(client.get(), query.data(), query.size(), 0) == static_cast<ssize_t>(query.size());
  const bool query_received = query_sent && receiveStream(server, query.size()) == query;
  if (query_received) send(server.get(), framed.data(), framed.size(), 0);
  runPipelineUntil(done);
  if (!done) shutdown(client.get(), SHUT_RDWR);  // lets the pod's thread go
  pod_side.join();

  ASSERT_TRUE(query_received) << "the query did not reach the resolver";
  EXPECT_EQ(arrived, framed);
  EXPECT_TRUE(installed_on_arrival);
  EXPECT_EQ(pipeline_->stats().tcp_messages, 1u);
  EXPECT_EQ(pipeline_->stats().inject_failed, 0u);
}

INSTANTIATE_TEST_SUITE_P(Families, PodDeliveryTest, ::testing::Values(kIpv4, kIpv6),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Families, PodPipelineTest, ::testing::Values(kIpv4, kIpv6),
                         [](const auto& info) { return info.param.name; });

// A held segment larger than the pod interface's MTU, cut as the kernel's TCP
// segmentation would have cut it.
class SplitTcpSegmentTest : public ::testing::TestWithParam<Family> {};

TEST_P(SplitTcpSegmentTest, PiecesFitAndCarryTheSameStream) {
  const Family& f = GetParam();
  Bytes payload(3000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
  const Packet packet =
      PacketBuilder(f.resolver, f.pod)
          .tcp(kDnsPort, kPodPort, kTcpAck | kTcpPsh | kTcpFin, payload, tcpTimestampOptions())
          .build();
  std::string error;
  const auto segment =
      resolver::extractHeldSegment(packet.frame, packet.l3_offset, packet.l4_offset, error);
  ASSERT_TRUE(segment) << error;

  const auto pieces = resolver::splitTcpSegment(*segment, 1500);
  ASSERT_EQ(pieces.size(), 3u);
  Bytes joined;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    SCOPED_TRACE("piece " + std::to_string(i));
    EXPECT_LE(pieces[i].size(), 1500u);
    auto piece = resolver::extractHeldSegment(pieces[i], 0, segment->tcp_offset, error);
    ASSERT_TRUE(piece) << error;
    EXPECT_EQ(resolver::completeTcpChecksum(*piece), resolver::TcpChecksum::kValid);
    EXPECT_EQ(piece->sequence, segment->sequence + static_cast<std::uint32_t>(joined.size()));
    const bool last = i + 1 == pieces.size();
    EXPECT_EQ(piece->flags, last ? segment->flags : kTcpAck);
    if (f.pod.family == IpFamily::kV4) {
      const std::span<const std::uint8_t> header(pieces[i].data(), 20);
      EXPECT_EQ(foldSum(sumWords(header)), 0xffff) << "IPv4 header checksum";
      EXPECT_EQ(pieces[i][4] * 256 + pieces[i][5],
                (segment->ip_packet[4] * 256 + segment->ip_packet[5] + i) % 65536);
    }
    joined.insert(joined.end(), piece->payload().begin(), piece->payload().end());
  }
  EXPECT_EQ(joined, payload);
  // A segment that fits is left as it is.
  EXPECT_EQ(resolver::splitTcpSegment(*segment, 65535),
            std::vector<std::vector<std::uint8_t>>{segment->ip_packet});
}

INSTANTIATE_TEST_SUITE_P(Families, SplitTcpSegmentTest, ::testing::Values(kIpv4, kIpv6),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace skouter::bpftest
