// The datapath as the daemon sees it: the BPF programs loaded into the kernel, their
// maps pinned under a bpffs directory, and tc attachments on the uplinks.
//
// Life cycle: open() loads the embedded skeleton, re-using every map already pinned
// under the directory (so a restarted daemon keeps all installed state) and pinning
// the ones that are new. A daemon taking over the pinned maps of its own layout may
// open them first and load (verify) the programs after, on a thread of its own: the
// programs the previous daemon attached run on those very maps meanwhile, so the new
// daemon serves held answers from its first milliseconds instead of after the
// verifier's second. attachUplink() puts the programs on an interface, atomically
// replacing skouter's earlier programs there. Destroying the Datapath leaves programs
// attached and maps pinned: enforcement continues without the daemon. Only detach()
// removes them.
//
// Upgrades: open() reads the layout version of the pinned maps before it loads
// anything. It takes over the maps of its own layout (SKOUTER_LAYOUT_VERSION) and
// migrates those of the layout before (SKOUTER_MIGRATABLE_LAYOUT_VERSION: maps whose
// shape changed are recreated with their entries converted, all others kept); it
// refuses any other layout without touching it, since only `skouterd --detach` can
// clear such state.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
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
using InterfaceMap = BpfMap<std::uint32_t, skouter_interface_value>;
using LinkPrefixMap = BpfMap<skouter_link_prefix_key, std::uint32_t>;
using DnsQueryMap = BpfMap<skouter_dns_query_key, skouter_dns_query_value>;
using ResolverMap = BpfMap<skouter_resolver_key, skouter_resolver_value>;
using ConfigMap = BpfMap<std::uint32_t, skouter_config>;
using HeartbeatMap = BpfMap<std::uint32_t, skouter_heartbeat>;
using AnswerBytesMap = BpfMap<std::uint32_t, skouter_answer_bytes>;
using LearnableNameMap = BpfMap<skouter_learnable_name_key, skouter_learnable_name_value>;
using LearningMap = BpfMap<std::uint32_t, skouter_learning_settings>;
using LearningBudgetMap = BpfMap<std::uint32_t, std::uint32_t>;

// The datapath's counters at one moment, per hook and reason, summed over CPUs.
struct CounterSnapshot {
  std::array<std::array<std::uint64_t, SKOUTER_CNT_MAX>, SKOUTER_HOOKS> values{};

  // `hook`: enum skouter_hook; `counter`: enum skouter_counter.
  std::uint64_t at(std::uint32_t hook, std::uint32_t counter) const {
    return values.at(hook).at(counter);
  }
  // The counter over every hook.
  std::uint64_t total(std::uint32_t counter) const;
};

// What open() found pinned under the directory.
struct Takeover {
  bool took_over = false;  // the maps of a previous daemon were there, and are in use
  // The layout of those maps; none when there were none, or when the previous daemon
  // never wrote its configuration.
  std::optional<std::uint32_t> previous_layout_version;
  // They were of the previous layout and were migrated; `migration` says what was lost.
  bool migrated = false;
  std::string migration;
  // The previous daemon's last heartbeat (datapath clock), read before this one beat.
  std::optional<std::uint64_t> previous_heartbeat_ns;
};

class Datapath {
 public:
  enum class Ring { kAnswers, kEvents };
  struct RingFill {
    std::uint64_t used_bytes = 0;  // written by the programs and not yet consumed
    std::uint64_t size_bytes = 0;
  };

  enum class ProgramLoad {
    kAtOpen,
    // Only when every map is pinned already, in this layout and of this build's shape
    // (a takeover, not a migration): open() opens the maps and leaves the programs to
    // loadPrograms(). Otherwise as kAtOpen.
    kAfterTakeover,
  };

  // Throws DatapathError with the reason (missing bpffs, pinned maps of a layout this
  // build neither takes over nor migrates, verifier rejection, ...). Pinned maps of a
  // refused layout are left exactly as they were.
  static std::unique_ptr<Datapath> open(const std::string& pin_dir,
                                        ProgramLoad load = ProgramLoad::kAtOpen);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  const Takeover& takeover() const { return takeover_; }

  // Loads (and so verifies) the programs open() left for later; throws DatapathError.
  // Touches nothing the map accessors read, so it may run on a thread of its own while
  // the maps are in use; nothing else may run on the Datapath until it returns, except
  // the map accessors, programsLoaded(), ringFill() and tableCapacities().
  void loadPrograms();
  bool programsLoaded() const { return programs_loaded_.load(std::memory_order_acquire); }
  const std::string& pinDir() const { return pin_dir_; }

  // Attaches the uplink programs to tc ingress and egress of `interface`, creating
  // the clsact qdisc when needed and leaving other filters on it alone. Like
  // attachPod() and the program descriptors, only once the programs are loaded.
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
  // Flows the workloads opened, and flows opened from outside.
  FlowMap flows() const;
  FlowMap inboundFlows() const;
  InterfaceMap interfaces() const;
  LinkPrefixMap linkPrefixes() const;
  DnsQueryMap dnsQueries() const;
  ResolverMap trustedResolvers() const;
  ConfigMap config() const;
  HeartbeatMap heartbeat() const;
  // What each identity put into the answers ring, and what of it the daemon read.
  AnswerBytesMap answerBytesPunted() const;
  AnswerBytesMap answerBytesConsumed() const;
  // What the programs may learn by themselves while the daemon is away, how, and how
  // much each identity learned since the daemon last cleared it.
  LearnableNameMap learnableNames() const;
  LearningMap learning() const;
  LearningBudgetMap learningBudgetUsed() const;
  CounterSnapshot readCounters() const;
  // The maxima of the tables that fill up with workloads, names and flows, by map name.
  std::vector<std::pair<std::string, std::uint32_t>> tableCapacities() const;
  RingFill ringFill(Ring ring) const;
  int answersRingFd() const;
  int eventsRingFd() const;
  // The per-CPU token buckets of the flow-event rate limit (skouter_event_budget); not
  // pinned, so only once the programs are loaded.
  int eventBudgetFd() const;
  int uplinkEgressProgramFd() const;
  int uplinkIngressProgramFd() const;
  int podIngressProgramFd() const;
  int podEgressProgramFd() const;

 private:
  Datapath() = default;
  // The descriptor of the pinned map `name`.
  int mapFd(const char* name) const;
  // Fills map_fds_ from the skeleton once it is loaded.
  void adoptSkeletonMaps();
  // Opens every pinned map when all are there and of the skeleton's shape; false (and
  // nothing opened) otherwise.
  bool openPinnedMaps();
  void requireProgramsLoaded() const;

  skouter_bpf* skeleton_ = nullptr;
  std::string pin_dir_;
  int lock_fd_ = -1;
  Takeover takeover_;
  std::atomic<bool> programs_loaded_{false};
  // Pinned maps by name; those opened from their pins are owned here.
  std::unordered_map<std::string, int> map_fds_;
  std::vector<int> owned_fds_;
  // Read once at open, so that no reader needs the skeleton while it loads.
  std::vector<std::pair<std::string, std::uint32_t>> capacities_;
  std::uint32_t answers_ring_size_ = 0;
  std::uint32_t events_ring_size_ = 0;
};

}  // namespace skouter
