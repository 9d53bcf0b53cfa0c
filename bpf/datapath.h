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
// Attachments: on kernels with tcx (Linux 6.6) each program runs from a tcx link placed
// first in its hook's chain and pinned under <pin_dir>/links/<ifindex>-ingress|egress,
// so that it outlives the daemon and the next daemon swaps its program in
// (BPF_LINK_UPDATE) instead of adding a second link. Elsewhere, or with
// AttachMode::kTc, a clsact filter of skouter's handle and priority. Either way the
// programs pass what they allow on to the next program (TC_ACT_UNSPEC), so other
// agents' programs on the same hooks keep seeing that traffic.
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
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bpf/attach_mode.h"
#include "bpf/bpf_map.h"
#include "bpf/skouter_abi.h"
#include "bpf/tcx_link.h"

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
using ServerNameRuleMap = BpfMap<std::uint32_t, skouter_server_name_rule>;
using ReleasedQueryMap = BpfMap<skouter_dns_query_key, skouter_released_query>;

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

  // How attachUplink() and attachPod() attach from now on; AttachMode::kAuto until set.
  // The first tcx attachment tells whether the kernel has tcx.
  void setAttachMode(AttachMode mode) { attach_mode_ = mode; }

  // Attaches the uplink programs to the tc ingress and egress hooks of `interface`
  // (see Attachments above), replacing skouter's earlier programs there and leaving
  // other agents' programs alone. Like attachPod() and the program descriptors, only
  // once the programs are loaded.
  void attachUplink(const std::string& interface);

  // Removes skouter's links and filters from `interface` (absent ones are not an error).
  static void detachUplink(const std::string& pin_dir, const std::string& interface);

  // Puts pod_ingress on tc ingress and pod_egress on tc egress of the interface with
  // `ifindex` in the current network namespace (a pod's host-side veth), as
  // attachUplink() does. Throws DatapathError naming the interface.
  void attachPod(int ifindex);
  // Removes skouter's links and filters from the interface with `ifindex`. An interface
  // that is already gone is not an error: pods vanish together with their veth.
  static void detachPod(const std::string& pin_dir, int ifindex);
  // The interfaces of the current network namespace, `uplinks` excepted, whose tc
  // ingress carries skouter's program: a live link pinned under `pin_dir`, or a filter
  // of skouter's handle and priority. These are the pod attachments, so a restarted
  // daemon can detach those no pod needs. Pins of links whose interface is gone are
  // removed on the way. (Telling pod_ingress by its name would need CAP_SYS_ADMIN,
  // which the DaemonSet does not have.)
  static std::vector<int> podAttachments(const std::string& pin_dir,
                                         const std::set<int>& uplinks = {});

  // How skouter's program is attached at one hook of an interface.
  struct HookAttachment {
    enum class Mode { kNone, kTcx, kTc };
    tcx::Direction direction = tcx::Direction::kIngress;
    Mode mode = Mode::kNone;
    // No program of another agent runs before skouter's at this hook: with tcx, its
    // link heads the chain; with a clsact filter, the hook has no tcx programs (which
    // run before every clsact filter).
    bool first = false;
  };
  static std::vector<HookAttachment> attachmentsOf(const std::string& pin_dir, int ifindex);

  // Whether the tcx links this Datapath attached still head their chains. Logs one
  // warning when another program has been put before one of them (and a note when it
  // is first again), and does not move itself back: two agents that both insist on
  // being first would swap places forever. Forgets the links that were detached or
  // whose interface is gone. One BPF_PROG_QUERY per link in place, two for a link that
  // is not first; returns the hooks (ifindex, direction) where skouter is not first.
  std::vector<std::pair<int, tcx::Direction>> checkChainOrder();

  // Detaches skouter's pinned tcx links, unpins them and every map under `pin_dir`, and
  // removes the directory. Refuses while a daemon holds it.
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
  // The rules whose learned addresses have their server names checked.
  ServerNameRuleMap serverNameRules() const;
  ReleasedQueryMap releasedQueries() const;
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
  // Attaches `prog_fd` at one hook: a tcx link unless the mode or the kernel rules it
  // out, then a clsact filter.
  void attachHook(int ifindex, tcx::Direction direction, int prog_fd, const std::string& interface);
  // skouter's tcx link at the hook, pinned and running `prog_fd`: its link id, or
  // nullopt when this kernel has no tcx (an error under AttachMode::kTcx).
  std::optional<std::uint32_t> attachLink(int ifindex, tcx::Direction direction, int prog_fd,
                                          const std::string& interface);

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
  AttachMode attach_mode_ = AttachMode::kAuto;
  std::optional<bool> kernel_has_tcx_;  // known after the first tcx attachment
  // The link ids of skouter's tcx links by hook, for checkChainOrder(); and the hooks
  // where another program was found before skouter's.
  std::map<std::pair<int, tcx::Direction>, std::uint32_t> links_;
  std::set<std::pair<int, tcx::Direction>> displaced_;
};

}  // namespace skouter
