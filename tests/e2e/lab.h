// The e2e test lab: a "node" network namespace (the host skouter protects) and a
// "world" namespace (the Internet: resolver, HTTP servers, whole address ranges),
// built and torn down by tests/e2e/lab.sh. See lab.sh for the topology and
// lab/lab.zone.in for the DNS data.
//
//   skouter::e2e::Lab lab(skouter::e2e::Lab::uniqueName());
//   lab.up();
//   auto r = lab.run("node", "curl -sS http://example.com/", std::chrono::seconds(5));
//   EXPECT_EQ(r.out, "hello from example.com\n");
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace skouter::e2e {

// Fixed lab addresses (the same in every lab, since each lab has its own namespaces).
inline constexpr const char* kNodeV4 = "198.51.100.2";
inline constexpr const char* kNodeV6 = "2001:db8:1::2";
inline constexpr const char* kWorldV4 = "198.51.100.1";  // the node's gateway
inline constexpr const char* kWorldV6 = "2001:db8:1::1";
inline constexpr const char* kResolverV4 = "198.51.100.53";
inline constexpr const char* kResolverV6 = "2001:db8:1::53";
inline constexpr int kWorldHttpPort = 80;   // on every address the world owns
inline constexpr int kNodeHttpPort = 8080;  // on the node's addresses
inline constexpr int kFreshNameCount = 300;
// With makeClusterNode(): the cluster DNS service's address, which the node DNATs to
// the world's resolver.
inline constexpr const char* kDnsServiceV4 = "192.0.2.53";
inline constexpr const char* kDnsServiceV6 = "2001:db8:2::53";
// Roles of the guests addGuest() and addMacvlanGuest() make.
inline constexpr const char* kGuestRole = "g";
inline constexpr const char* kMacvlanGuestRole = "m";

// "Fresh" names nK.wikipedia.org (1 <= K <= 300), each with its own A record:
// freshName(1) = "n1.wikipedia.org", freshAddress(1) = "198.18.1.1",
// freshAddress(100) = "198.18.1.100", freshAddress(101) = "198.18.2.1".
std::string freshName(int k);
std::string freshAddress(int k);

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + signal number if killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;

  bool ok() const { return !timed_out && exit_code == 0; }
  // One line for failure messages: exit code, timeout, stdout and stderr.
  std::string describe() const;
};

// Runs argv (argv[0] looked up in PATH) with stdin from /dev/null, capturing
// stdout and stderr. The child leads its own process group; on timeout the
// whole group gets SIGKILL.
CommandResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// A process group running in the background. Its destructor stops it (SIGTERM
// to the group, SIGKILL after a grace period) and removes its log file.
class BackgroundProcess {
 public:
  BackgroundProcess(pid_t pid, std::string log_path);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Stops the group; returns the exit code as in CommandResult. Idempotent.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(3));
  // What the process wrote so far (stdout and stderr, interleaved).
  std::string output() const;
  const std::string& logPath() const { return log_path_; }

 private:
  pid_t pid_;
  std::string log_path_;
  bool reaped_ = false;
  int exit_code_ = -1;
};

class Lab {
 public:
  // name: 1-8 characters [A-Za-z0-9_-]; namespaces are NAME-node and NAME-world.
  explicit Lab(std::string name);
  ~Lab();  // down(), if up() was called
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  // A name unique to this process and call ("e" + pid + counter, base 36).
  static std::string uniqueName();
  static bool isRoot();

  // Builds the lab; throws std::runtime_error with lab.sh's output on failure.
  void up();
  // Tears it down (also kills every process left in its namespaces). Idempotent;
  // throws std::runtime_error if lab.sh down fails.
  void down();

  // The node as a Kubernetes node: forwarding, pod traffic masqueraded on the uplink,
  // and the DNS service (kDnsServiceV4/V6) DNATed to the world's resolver.
  void makeClusterNode() const;
  // A pod: namespace NAME-POD (run commands in it with role POD) behind a veth whose
  // node side is podInterface(POD), with the given addresses and the DNS service as
  // its resolver. POD: 1-3 characters [a-z0-9].
  void addPod(const std::string& pod, const std::string& ipv4, const std::string& ipv6) const;
  void deletePod(const std::string& pod) const;
  std::string podInterface(const std::string& pod) const { return "veth" + name_ + pod; }

  // Traffic that is neither the node's own nor a pod's (see lab.sh for the addresses):
  // a guest namespace (role kGuestRole) behind a bridge on the node, forwarded and
  // masqueraded on the uplink, as Docker's containers or a VM;
  void addGuest() const;
  // a second link to the world that carries the node's IPv6 default route (world side:
  // ipv6UplinkWorldLink()), IPv4 staying on uplink();
  void addIpv6Uplink() const;
  std::string ipv6Uplink() const { return name_ + "-u6"; }
  std::string ipv6UplinkWorldLink() const { return name_ + "-d6"; }
  // a guest namespace (role kMacvlanGuestRole) on a macvlan of the uplink.
  void addMacvlanGuest() const;

  const std::string& name() const { return name_; }
  std::string nsName(const std::string& role) const;       // "node" -> "NAME-node"
  std::string uplink() const { return name_ + "-up"; }     // node side of the veth
  std::string worldLink() const { return name_ + "-dn"; }  // world side of the veth
  // A bpffs mounted for this lab, where skouterd's pins outlive any one daemon.
  std::string bpffsDir() const { return "/run/skouter-lab/" + name_ + "/bpffs"; }

  // `ip netns exec NAME-ROLE sh -c SHELL_COMMAND`.
  CommandResult run(const std::string& role, const std::string& shell_command,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // The same in the background; output goes to a temporary log file.
  std::unique_ptr<BackgroundProcess> startBackground(const std::string& role,
                                                     const std::string& shell_command) const;

  // Kernel SNMP counters of the namespace, named as nstat names them
  // ("TcpExtTCPSynRetrans", "TcpRetransSegs", "UdpInDatagrams", "Ip6OutRequests").
  std::map<std::string, std::uint64_t> readSnmpCounters(const std::string& role) const;
  // One counter; throws std::runtime_error if the kernel has no such counter.
  std::uint64_t readNstat(const std::string& role, const std::string& counter) const;

 private:
  // Runs `lab.sh ARGUMENTS[0] NAME ARGUMENTS[1..]`; throws with its output on failure.
  void script(const std::vector<std::string>& arguments) const;

  std::string name_;
  bool up_called_ = false;
};

}  // namespace skouter::e2e
