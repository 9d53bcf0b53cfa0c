// The datapath as the daemon sees it: the BPF programs loaded into the kernel, their
// maps pinned under a bpffs directory, and tc attachments on the uplinks.
//
// Life cycle: open() loads the embedded skeleton, re-using every map already pinned
// under the directory (so a restarted daemon keeps all installed state) and pinning
// the ones that are new. attachUplink() puts the programs on an interface, atomically
// replacing skouter's earlier programs there. Destroying the Datapath leaves programs
// attached and maps pinned: enforcement continues without the daemon. Only detach()
// removes them.
#pragma once

#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "bpf/bpf_map.h"
#include "bpf/skouter_abi.h"

struct skouter_bpf;

namespace skouter {

class DatapathError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using IdentityMap = BpfMap<skouter_addr, skouter_identity_value>;
using AllowedIpMap = BpfMap<skouter_allowed_ip_key, skouter_allowed_ip_value>;
using LearnedNameMap = BpfMap<skouter_learned_name_key, skouter_learned_name_value>;
using CidrMap = BpfMap<skouter_cidr_key, skouter_cidr_value>;
using PortSetMap = BpfMap<std::uint32_t, skouter_port_set>;
using FlowMap = BpfMap<skouter_flow_key, skouter_flow_value>;
using DnsQueryMap = BpfMap<skouter_dns_query_key, skouter_dns_query_value>;
using ResolverMap = BpfMap<skouter_resolver_key, skouter_resolver_value>;
using ConfigMap = BpfMap<std::uint32_t, skouter_config>;
using HeartbeatMap = BpfMap<std::uint32_t, skouter_heartbeat>;

class Datapath {
 public:
  // Throws DatapathError with the reason (missing bpffs, incompatible pinned maps of
  // another layout version, verifier rejection, ...).
  static std::unique_ptr<Datapath> open(const std::string& pin_dir);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // True when the maps were taken over from a previous daemon.
  bool tookOverPinnedState() const { return took_over_; }
  const std::string& pinDir() const { return pin_dir_; }

  // Attaches the uplink programs to tc ingress and egress of `interface`, creating
  // the clsact qdisc when needed and leaving other filters on it alone.
  void attachUplink(const std::string& interface);

  // Removes skouter's filters from `interface` (absent ones are not an error).
  static void detachUplink(const std::string& interface);

  // Puts pod_ingress on tc ingress and pod_egress on tc egress of the interface with
  // `ifindex` in the current network namespace (a pod's host-side veth), creating the
  // clsact qdisc when needed; replaces skouter's own earlier filters there and leaves
  // other filters alone. Throws DatapathError naming the interface.
  void attachPod(int ifindex);
  // Removes skouter's filters from the interface with `ifindex`. An interface that is
  // already gone is not an error: pods vanish together with their veth.
  static void detachPod(int ifindex);
  // The interfaces of the current network namespace, `uplinks` excepted, whose tc
  // ingress carries skouter's filter (its handle and priority): the pod attachments,
  // so a restarted daemon can detach those no pod needs. (Telling pod_ingress by its
  // name would need CAP_SYS_ADMIN, which the DaemonSet does not have.)
  static std::vector<int> podAttachments(const std::set<int>& uplinks = {});
  // Unpins every map under `pin_dir` and removes the directory. Refuses while a
  // daemon holds it.
  static void removePins(const std::string& pin_dir);

  IdentityMap identities() const;
  AllowedIpMap allowedIps() const;
  LearnedNameMap learnedNames() const;
  CidrMap allowedCidrs() const;
  PortSetMap portSets() const;
  FlowMap flows() const;
  DnsQueryMap dnsQueries() const;
  ResolverMap trustedResolvers() const;
  ConfigMap config() const;
  HeartbeatMap heartbeat() const;
  PerCpuCounters counters() const;
  int answersRingFd() const;
  int eventsRingFd() const;
  int uplinkEgressProgramFd() const;
  int uplinkIngressProgramFd() const;
  int podIngressProgramFd() const;
  int podEgressProgramFd() const;

 private:
  Datapath() = default;
  skouter_bpf* skeleton_ = nullptr;
  std::string pin_dir_;
  int lock_fd_ = -1;
  bool took_over_ = false;
};

}  // namespace skouter
