#include "bpf/datapath.h"

#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>

#include "common/datapath_clock.h"
#include "skouter.skel.h"

namespace skouter {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;
// skouter's clsact filters (without tcx): a fixed handle and the first priority, so
// they run before other filters (which still see every packet skouter passes) and a
// new daemon replaces exactly the filters of the old one.
constexpr std::uint32_t kTcHandle = 0x5c0;
constexpr std::uint32_t kTcPriority = 1;

int logLibbpf(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  vsnprintf(line, sizeof(line), format, args);
  std::string text(line);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  // bpf_tc_hook_create reports an existing clsact qdisc, which is expected on every
  // interface skouter or someone else attached to before; looking for skouter's filters
  // (detaching, listing pod attachments) reports interfaces without them.
  static constexpr const char* kExpected[] = {"Exclusivity flag on", "Parent Qdisc doesn't exists",
                                              "Filter with specified priority/protocol not found",
                                              "Cannot find specified filter chain"};
  const bool expected =
      std::any_of(std::begin(kExpected), std::end(kExpected),
                  [&](const char* message) { return text.find(message) != std::string::npos; });
  if (level == LIBBPF_WARN && !expected)
    spdlog::warn("libbpf: {}", text);
  else
    spdlog::debug("libbpf: {}", text);
  return 0;
}

// libbpf's messages go through spdlog (and so --log-format), with the expected ones
// left out; set by every entry point, since `skouterd --detach` never calls open().
void routeLibbpfLogs() { libbpf_set_print(logLibbpf); }

bool onBpfFs(const std::filesystem::path& path) {
  struct statfs info {};
  return statfs(path.c_str(), &info) == 0 && info.f_type == kBpfFsMagic;
}

void ensureBpfFs(const std::filesystem::path& pin_dir) {
  const auto mount_point = pin_dir.parent_path();
  std::error_code error;
  std::filesystem::create_directories(mount_point, error);
  if (!onBpfFs(mount_point)) {
    if (mount("bpf", mount_point.c_str(), "bpf", 0, "mode=0700") != 0) {
      throw DatapathError("cannot mount bpffs on " + mount_point.string() + ": " +
                          std::strerror(errno));
    }
    spdlog::info("mounted bpffs on {}", mount_point.string());
  }
  std::filesystem::create_directories(pin_dir, error);
  if (error) {
    throw DatapathError("cannot create " + pin_dir.string() + ": " + error.message());
  }
}

// One daemon per pin directory: two would fight over the attachments and both read
// the answers ring. The lock goes with the process, so a killed daemon frees it.
int lockPinDir(const std::string& pin_dir) {
  const int fd = ::open(pin_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw DatapathError("cannot open " + pin_dir + ": " + std::strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    close(fd);
    throw DatapathError(error == EWOULDBLOCK
                            ? "another skouterd is running on " + pin_dir
                            : "cannot lock " + pin_dir + ": " + std::strerror(error));
  }
  return fd;
}

// Maps that hold no state worth keeping across restarts are not pinned.
bool pinned(const bpf_map* map) {
  return std::strcmp(bpf_map__name(map), "answer_scratch") != 0 &&
         std::strcmp(bpf_map__name(map), "query_scratch") != 0 &&
         std::strcmp(bpf_map__name(map), "learn_scratch") != 0 &&
         std::strcmp(bpf_map__name(map), "event_budget") != 0;
}

int interfaceIndex(const std::string& interface) {
  const int index = static_cast<int>(if_nametoindex(interface.c_str()));
  if (index == 0) throw DatapathError("no interface named '" + interface + "'");
  return index;
}

using tcx::Direction;

constexpr Direction kDirections[] = {Direction::kEgress, Direction::kIngress};
// The kernel's ENOTSUPP, which some kernels answer for attach types they do not have.
constexpr int kEnotsupp = 524;

bpf_tc_attach_point tcPoint(Direction direction) {
  return direction == Direction::kIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

void attachFilter(int ifindex, Direction direction, int prog_fd, const std::string& interface) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = tcPoint(direction));
  int rc = bpf_tc_hook_create(&hook);
  if (rc != 0 && rc != -EEXIST) {
    throw DatapathError("cannot create clsact qdisc on " + interface + ": " + std::strerror(-rc));
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = kTcHandle,
              .priority = kTcPriority);
  rc = bpf_tc_attach(&hook, &opts);
  if (rc != 0) {
    throw DatapathError("cannot attach to " + interface + " " + tcx::directionName(direction) +
                        ": " + std::strerror(-rc));
  }
}

// Removes skouter's clsact filter from the hook. Returns 0, or a negative errno other
// than ENOENT (no such filter) and EINVAL (no clsact qdisc).
int detachFilter(int ifindex, Direction direction) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = tcPoint(direction));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  const int rc = bpf_tc_detach(&hook, &opts);
  return rc == -ENOENT || rc == -EINVAL ? 0 : rc;
}

// Whether the hook carries skouter's clsact filter.
bool hasFilter(int ifindex, Direction direction) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = tcPoint(direction));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  const int rc = bpf_tc_query(&hook, &opts);
  // ENOENT: no filter of ours; EINVAL: no clsact qdisc; ENODEV: no such interface.
  if (rc == -ENOENT || rc == -EINVAL || rc == -ENODEV) return false;
  if (rc != 0) {
    throw DatapathError("cannot query the tc filters of interface " + std::to_string(ifindex) +
                        ": " + std::strerror(-rc));
  }
  return true;
}

std::string linkPinDir(const std::string& pin_dir) { return pin_dir + "/links"; }

std::string linkPin(const std::string& pin_dir, int ifindex, Direction direction) {
  return linkPinDir(pin_dir) + "/" + std::to_string(ifindex) + "-" + tcx::directionName(direction);
}

// The tcx link pinned at `path` while it is attached to the hook (its descriptor, to
// close, and what it is); nullopt when there is no pin, or its link is detached: the
// interface was deleted (and perhaps its index given to another since).
std::optional<std::pair<int, tcx::LinkInfo>> openLiveLink(const std::string& path, int ifindex,
                                                          Direction direction) {
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return std::nullopt;
  const auto info = tcx::linkInfo(fd);
  if (!info || info->ifindex != ifindex || info->direction != direction) {
    close(fd);
    return std::nullopt;
  }
  return std::make_pair(fd, *info);
}

// Detaches skouter's tcx link from the hook through its pin, and unpins it. Returns 0,
// or a negative errno; no pin is no error.
int detachLink(const std::string& pin_dir, int ifindex, Direction direction) {
  const std::string path = linkPin(pin_dir, ifindex, direction);
  if (const auto link = openLiveLink(path, ifindex, direction)) {
    const int rc = bpf_link_detach(link->first);
    const int error = errno;
    close(link->first);
    if (rc != 0) return -error;
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return -errno;
  return 0;
}

// Removes skouter's links and filters from both hooks of the interface with `ifindex`.
// Returns 0 or the first error (a negative errno); ENODEV (the interface is gone) stops
// it at once.
int detachHooks(const std::string& pin_dir, int ifindex) {
  for (const Direction direction : kDirections) {
    if (const int rc = detachLink(pin_dir, ifindex, direction); rc != 0) return rc;
    if (const int rc = detachFilter(ifindex, direction); rc != 0) return rc;
  }
  return 0;
}

// The name of the interface with `ifindex`, for messages; its index when it is gone.
std::string interfaceName(int ifindex) {
  char name[IF_NAMESIZE] = {};
  if (ifindex > 0 && if_indextoname(static_cast<unsigned>(ifindex), name)) return name;
  return "interface " + std::to_string(ifindex);
}

// Asks the kernel of the current network namespace rather than /sys/class/net, which
// shows the namespace /sys was mounted in (a daemon that joined another one with
// setns still sees the old one there).
void requireEthernetLink(const std::string& interface) {
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw DatapathError(std::string("cannot open a socket: ") + std::strerror(errno));
  ifreq request{};
  std::strncpy(request.ifr_name, interface.c_str(), IF_NAMESIZE - 1);
  const int rc = ioctl(fd, SIOCGIFHWADDR, &request);
  const int error = errno;
  close(fd);
  if (rc != 0) {
    throw DatapathError("cannot read the link type of " + interface + ": " + std::strerror(error));
  }
  if (request.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    throw DatapathError("interface '" + interface +
                        "' is not an Ethernet device; skouter's programs parse Ethernet frames");
  }
}

// An object pinned by a previous daemon, opened read-only; closed with this.
class PinnedMap {
 public:
  // Not pinned: fd() < 0.
  PinnedMap(const std::string& pin_dir, const char* name) : path_(pin_dir + "/" + name) {
    if (!std::filesystem::exists(path_)) return;
    LIBBPF_OPTS(bpf_obj_get_opts, options, .file_flags = BPF_F_RDONLY);
    fd_ = bpf_obj_get_opts(path_.c_str(), &options);
    if (fd_ < 0) throw DatapathError("cannot open " + path_ + ": " + std::strerror(errno));
  }
  ~PinnedMap() {
    if (fd_ >= 0) close(fd_);
  }
  PinnedMap(const PinnedMap&) = delete;
  PinnedMap& operator=(const PinnedMap&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  std::uint32_t maxEntries() const {
    bpf_map_info info{};
    std::uint32_t info_size = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd_, &info, &info_size) != 0) {
      throw DatapathError("cannot inspect " + path_ + ": " + std::strerror(errno));
    }
    return info.max_entries;
  }

  // The value at key 0, of whatever size the map has. Throws when it is shorter
  // than `minimum_size`.
  std::vector<std::uint8_t> firstValue(std::size_t minimum_size) const {
    bpf_map_info info{};
    std::uint32_t info_size = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd_, &info, &info_size) != 0) {
      throw DatapathError("cannot inspect " + path_ + ": " + std::strerror(errno));
    }
    if (info.key_size != sizeof(std::uint32_t) || info.value_size < minimum_size) {
      throw DatapathError(path_ + " is not a map skouter pinned");
    }
    std::vector<std::uint8_t> value(info.value_size);
    const std::uint32_t key = 0;
    if (bpf_map_lookup_elem(fd_, &key, value.data()) != 0) {
      throw DatapathError("cannot read " + path_ + ": " + std::strerror(errno));
    }
    return value;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// What a previous daemon left under `pin_dir`, read without changing anything.
// layout_version is the first field of the config in every layout, and the heartbeat
// starts with last_beat_ns, so both are read whatever the layout.
Takeover inspectPinnedState(const std::string& pin_dir) {
  Takeover found;
  const PinnedMap config(pin_dir, "config");
  if (config.fd() < 0) return found;
  found.took_over = true;
  std::uint32_t layout_version = 0;
  std::memcpy(&layout_version, config.firstValue(sizeof(layout_version)).data(),
              sizeof(layout_version));
  if (layout_version != 0) found.previous_layout_version = layout_version;

  const PinnedMap heartbeat(pin_dir, "heartbeat");
  if (heartbeat.fd() >= 0) {
    std::uint64_t last_beat_ns = 0;
    std::memcpy(&last_beat_ns, heartbeat.firstValue(sizeof(last_beat_ns)).data(),
                sizeof(last_beat_ns));
    if (last_beat_ns != 0) found.previous_heartbeat_ns = last_beat_ns;
  }
  return found;
}

void requireUsableLayout(const std::string& pin_dir, const Takeover& found) {
  const auto version = found.previous_layout_version;
  if (!version || *version == SKOUTER_LAYOUT_VERSION ||
      *version == SKOUTER_MIGRATABLE_LAYOUT_VERSION) {
    return;
  }
  throw DatapathError("the maps pinned under " + pin_dir + " have layout version " +
                      std::to_string(*version) + "; this skouterd (layout " +
                      std::to_string(SKOUTER_LAYOUT_VERSION) + ") can take over layout " +
                      std::to_string(SKOUTER_LAYOUT_VERSION) + " and migrate layout " +
                      std::to_string(SKOUTER_MIGRATABLE_LAYOUT_VERSION) +
                      " only; stop the old daemon and run `skouterd --detach` to remove its "
                      "state (this opens the firewall until the new daemon has started)");
}

// A layout gains counters (new reasons) without changing any other map. libbpf
// cannot reuse a pinned counters map of another size, so it is unpinned and the
// counts start over; the programs still attached keep theirs until they are
// replaced. True when it was.
bool unpinResizedCounters(const std::string& pin_dir, std::uint32_t entries) {
  const PinnedMap counters(pin_dir, "counters");
  if (counters.fd() < 0 || counters.maxEntries() == entries) return false;
  if (unlink(counters.path().c_str()) != 0) {
    throw DatapathError("cannot replace " + counters.path() + ": " + std::strerror(errno));
  }
  return true;
}

// The shapes of layout 5 that layout 6 changed.
namespace layout5 {
struct IdentityValue {
  std::uint32_t identity;
  std::uint32_t flags;
};
struct FlowKey {
  std::uint8_t family;
  std::uint8_t protocol;
  std::uint16_t pad;
  std::uint16_t local_port;
  std::uint16_t remote_port;
  std::uint8_t local[16];
  std::uint8_t remote[16];
};
struct FlowValue {
  std::uint64_t last_seen_ns;  // CLOCK_MONOTONIC
  std::uint32_t origin;
  std::uint32_t identity;
};
// Without answer_quota_bytes.
struct Config {
  std::uint32_t layout_version;
  std::uint32_t flags;
  std::uint32_t reinject_mark;
  std::uint32_t event_rate_limit;
  std::uint64_t failsafe_ns;
  std::uint64_t flow_idle_ns;
};
}  // namespace layout5

// What a layout-5 daemon left in the maps whose shape changed, in the shape of this
// layout, with its CLOCK_MONOTONIC times moved to CLOCK_BOOTTIME.
struct MigratedState {
  std::uint64_t clock_offset_ns = 0;  // CLOCK_BOOTTIME - CLOCK_MONOTONIC: time suspended
  std::vector<std::pair<skouter_addr, skouter_identity_value>> identities;
  std::vector<std::pair<skouter_flow_key, skouter_flow_value>> flows;
  std::vector<std::pair<skouter_flow_key, skouter_flow_value>> inbound_flows;
  // Unchanged in shape, but layout 6 holds more of them.
  std::vector<std::pair<skouter_resolver_key, skouter_resolver_value>> trusted_resolvers;
  // The old daemon's configuration (no answer quota), the new daemon's until it writes
  // its own: the flags that come from the cluster stay as they were until it is listed.
  skouter_config config{};
};

// The maps of layout 5 that changed shape (or size), read and then unpinned, so the load creates
// the new ones in their place. The old programs, still attached until this daemon
// replaces them, keep using the old maps, which live as long as they do.
MigratedState takeLayout5Maps(const std::string& pin_dir) {
  MigratedState state;
  state.clock_offset_ns = clockNowNs(CLOCK_BOOTTIME) - clockNowNs(CLOCK_MONOTONIC);
  {
    const PinnedMap identities(pin_dir, "identities");
    if (identities.fd() >= 0) {
      // The interface each address is bound to is not known here: the pod firewall
      // binds every pod's addresses before it attaches the new programs.
      BpfMap<skouter_addr, layout5::IdentityValue>(identities.fd())
          .forEach([&](const skouter_addr& key, const layout5::IdentityValue& value) {
            skouter_identity_value converted{};
            converted.identity = value.identity;
            converted.flags = value.flags;
            state.identities.push_back({key, converted});
          });
    }
    const PinnedMap flows(pin_dir, "flows");
    if (flows.fd() >= 0) {
      BpfMap<layout5::FlowKey, layout5::FlowValue>(flows.fd())
          .forEach([&](const layout5::FlowKey& old_key, const layout5::FlowValue& old_value) {
            skouter_flow_key key{};
            key.identity = old_value.identity;
            key.family = old_key.family;
            key.protocol = old_key.protocol;
            key.local_port = old_key.local_port;
            key.remote_port = old_key.remote_port;
            std::memcpy(key.local, old_key.local, sizeof(key.local));
            std::memcpy(key.remote, old_key.remote, sizeof(key.remote));
            skouter_flow_value value{};
            value.last_seen_ns = old_value.last_seen_ns + state.clock_offset_ns;
            value.origin = old_value.origin;
            (old_value.origin == SKOUTER_FLOW_INBOUND ? state.inbound_flows : state.flows)
                .push_back({key, value});
          });
    }
  }
  {
    const PinnedMap config(pin_dir, "config");
    layout5::Config old{};
    std::memcpy(&old, config.firstValue(sizeof(old)).data(), sizeof(old));
    state.config.flags = old.flags;
    state.config.reinject_mark = old.reinject_mark;
    state.config.event_rate_limit = old.event_rate_limit;
    state.config.failsafe_ns = old.failsafe_ns;
    state.config.flow_idle_ns = old.flow_idle_ns;
  }
  {
    const PinnedMap resolvers(pin_dir, "trusted_resolvers");
    if (resolvers.fd() >= 0) {
      ResolverMap(resolvers.fd())
          .forEach([&](const skouter_resolver_key& key, const skouter_resolver_value& value) {
            state.trusted_resolvers.push_back({key, value});
          });
    }
  }
  for (const char* map : {"identities", "flows", "counters", "trusted_resolvers", "config"}) {
    const std::string path = pin_dir + "/" + map;
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      throw DatapathError("cannot unpin " + path + ": " + std::strerror(errno));
    }
  }
  return state;
}

// Writes what takeLayout5Maps() read into the maps of this layout, and moves the times
// of the maps that kept their shape to CLOCK_BOOTTIME.
void restoreMigratedState(Datapath& datapath, const MigratedState& state) {
  auto identities = datapath.identities();
  for (const auto& [key, value] : state.identities) identities.update(key, value);
  auto flows = datapath.flows();
  for (const auto& [key, value] : state.flows) flows.update(key, value);
  auto inbound_flows = datapath.inboundFlows();
  for (const auto& [key, value] : state.inbound_flows) inbound_flows.update(key, value);
  // Until the cluster is listed again, these are all a restarted daemon knows of the
  // cluster's DNS service.
  auto resolvers = datapath.trustedResolvers();
  for (const auto& [key, value] : state.trusted_resolvers) resolvers.update(key, value);
  if (state.clock_offset_ns == 0) return;
  auto allowed = datapath.allowedIps();
  allowed.forEach([&](const skouter_allowed_ip_key& key, skouter_allowed_ip_value value) {
    if (value.expiry_ns == 0) return;  // static
    value.expiry_ns += state.clock_offset_ns;
    allowed.update(key, value, BPF_EXIST);
  });
  auto queries = datapath.dnsQueries();
  queries.forEach([&](const skouter_dns_query_key& key, skouter_dns_query_value value) {
    value.sent_ns += state.clock_offset_ns;
    queries.update(key, value, BPF_EXIST);
  });
}

// Reads the producer and consumer positions of a BPF ring buffer: its first page
// holds the consumer's, the second the producer's. Mapped read-only, so the reader
// that consumes the ring is never disturbed.
std::uint64_t ringUsedBytes(int ring_fd) {
  const long page = sysconf(_SC_PAGESIZE);
  void* pages = mmap(nullptr, 2 * page, PROT_READ, MAP_SHARED, ring_fd, 0);
  if (pages == MAP_FAILED) {
    throw DatapathError(std::string("cannot map a ring buffer: ") + std::strerror(errno));
  }
  const auto* consumer = static_cast<const unsigned long*>(pages);
  const auto* producer =
      reinterpret_cast<const unsigned long*>(static_cast<const char*>(pages) + page);
  const unsigned long consumed = __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
  const unsigned long produced = __atomic_load_n(producer, __ATOMIC_ACQUIRE);
  munmap(pages, 2 * page);
  return produced - consumed;
}

}  // namespace

std::uint64_t CounterSnapshot::total(std::uint32_t counter) const {
  std::uint64_t sum = 0;
  for (const auto& hook : values) sum += hook.at(counter);
  return sum;
}

std::unique_ptr<Datapath> Datapath::open(const std::string& pin_dir, ProgramLoad load) {
  routeLibbpfLogs();
  ensureBpfFs(pin_dir);

  std::unique_ptr<Datapath> datapath(new Datapath());
  datapath->pin_dir_ = pin_dir;
  datapath->lock_fd_ = lockPinDir(pin_dir);
  Takeover& takeover = datapath->takeover_;
  takeover = inspectPinnedState(pin_dir);
  requireUsableLayout(pin_dir, takeover);
  takeover.migrated = takeover.previous_layout_version == SKOUTER_MIGRATABLE_LAYOUT_VERSION;
  datapath->skeleton_ = skouter_bpf__open();
  if (!datapath->skeleton_) throw DatapathError("cannot open the BPF skeleton");

  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0 || bpf_map__set_max_entries(datapath->skeleton_->maps.answer_scratch,
                                            static_cast<std::uint32_t>(cpus)) != 0) {
    throw DatapathError("cannot size the answer scratch buffers");
  }
  bpf_map* map;
  bpf_object__for_each_map(map, datapath->skeleton_->obj) {
    if (!pinned(map)) continue;
    const std::string path = pin_dir + "/" + bpf_map__name(map);
    if (bpf_map__set_pin_path(map, path.c_str()) != 0) {
      throw DatapathError("cannot set pin path " + path);
    }
  }
  const auto& maps = datapath->skeleton_->maps;
  for (const bpf_map* table :
       {maps.identities, maps.allowed_ips, maps.learned_names, maps.allowed_cidrs, maps.port_sets,
        maps.flows, maps.inbound_flows, maps.dns_queries, maps.trusted_resolvers, maps.interfaces,
        maps.link_prefixes, maps.answer_bytes_punted, maps.answer_bytes_consumed,
        maps.learnable_names}) {
    datapath->capacities_.emplace_back(bpf_map__name(table), bpf_map__max_entries(table));
  }
  if (!takeover.migrated && unpinResizedCounters(pin_dir, bpf_map__max_entries(maps.counters))) {
    spdlog::info("the pinned counters were of another build's reasons: they start over");
  }
  datapath->answers_ring_size_ = bpf_map__max_entries(maps.answers);
  datapath->events_ring_size_ = bpf_map__max_entries(maps.events);

  if (load == ProgramLoad::kAfterTakeover && takeover.took_over && !takeover.migrated &&
      datapath->openPinnedMaps()) {
    return datapath;
  }
  MigratedState migrated;
  if (takeover.migrated) migrated = takeLayout5Maps(pin_dir);
  datapath->loadPrograms();

  if (takeover.migrated) {
    // The pinned maps are of this layout now, whether or not this daemon lives to
    // write its configuration: say so, so that no daemon of the old layout reuses them.
    skouter_config settings = migrated.config;
    settings.layout_version = SKOUTER_LAYOUT_VERSION;
    if (datapath->config().update(0, settings) != 0) {
      throw DatapathError("cannot record the migration in " + pin_dir + "/config");
    }
    restoreMigratedState(*datapath, migrated);
    if (takeover.previous_heartbeat_ns) *takeover.previous_heartbeat_ns += migrated.clock_offset_ns;
    takeover.migration =
        "migrated pinned state from layout " + std::to_string(SKOUTER_MIGRATABLE_LAYOUT_VERSION) +
        " to " + std::to_string(SKOUTER_LAYOUT_VERSION) + ": counters reset; " +
        std::to_string(migrated.identities.size()) + " pod addresses, " +
        std::to_string(migrated.flows.size() + migrated.inbound_flows.size()) + " flows kept";
    spdlog::info("{}", takeover.migration);
  }
  return datapath;
}

bool Datapath::openPinnedMaps() {
  std::unordered_map<std::string, int> opened;
  const auto closeAll = [&] {
    for (const auto& [name, fd] : opened) close(fd);
  };
  const bpf_map* map;
  bpf_object__for_each_map(map, skeleton_->obj) {
    if (!pinned(map)) continue;
    const std::string path = pin_dir_ + "/" + bpf_map__name(map);
    const int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
      closeAll();
      return false;
    }
    opened.emplace(bpf_map__name(map), fd);
    // The shape libbpf checks before it reuses a pin: a map of another shape is
    // replaced at load, so the programs would not run on the map opened here.
    bpf_map_info info{};
    std::uint32_t info_size = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &info_size) != 0 || info.type != bpf_map__type(map) ||
        info.key_size != bpf_map__key_size(map) || info.value_size != bpf_map__value_size(map) ||
        info.max_entries != bpf_map__max_entries(map) ||
        info.map_flags != bpf_map__map_flags(map)) {
      closeAll();
      return false;
    }
  }
  map_fds_ = opened;
  for (const auto& [name, fd] : opened) owned_fds_.push_back(fd);
  return true;
}

void Datapath::loadPrograms() {
  if (programsLoaded()) return;
  const int rc = skouter_bpf__load(skeleton_);
  if (rc != 0) {
    std::string reason = std::strerror(-rc);
    if (takeover_.took_over) {
      reason += " (the maps pinned under " + pin_dir_ +
                " may be of another skouter version; `skouterd --detach` removes them and "
                "everything they allow)";
    }
    throw DatapathError("cannot load the BPF programs: " + reason);
  }
  // Opened from their pins already: the very maps the programs now use.
  if (map_fds_.empty()) adoptSkeletonMaps();
  programs_loaded_.store(true, std::memory_order_release);
}

void Datapath::adoptSkeletonMaps() {
  const bpf_map* map;
  bpf_object__for_each_map(map, skeleton_->obj) {
    if (pinned(map)) map_fds_.emplace(bpf_map__name(map), bpf_map__fd(map));
  }
}

int Datapath::mapFd(const char* name) const { return map_fds_.at(name); }

void Datapath::requireProgramsLoaded() const {
  if (!programsLoaded()) throw DatapathError("skouter's BPF programs are still loading");
}

Datapath::~Datapath() {
  skouter_bpf__destroy(skeleton_);
  for (const int fd : owned_fds_) close(fd);
  if (lock_fd_ >= 0) close(lock_fd_);
}

void Datapath::attachHook(int ifindex, Direction direction, int prog_fd,
                          const std::string& interface) {
  const auto key = std::make_pair(ifindex, direction);
  if (attach_mode_ != AttachMode::kTc) {
    if (const auto link_id = attachLink(ifindex, direction, prog_fd, interface)) {
      links_[key] = *link_id;
      // An older skouter's filter: the link runs first already, so no packet goes
      // unjudged meanwhile.
      if (const int rc = detachFilter(ifindex, direction); rc != 0) {
        throw DatapathError("cannot remove skouter's clsact filter from " + interface + " " +
                            tcx::directionName(direction) + ": " + std::strerror(-rc));
      }
      return;
    }
  }
  attachFilter(ifindex, direction, prog_fd, interface);
  // A link of a daemon that used tcx would run skouter's program twice.
  links_.erase(key);
  displaced_.erase(key);
  if (const int rc = detachLink(pin_dir_, ifindex, direction); rc != 0) {
    throw DatapathError("cannot detach skouter's tcx link from " + interface + " " +
                        tcx::directionName(direction) + ": " + std::strerror(-rc));
  }
}

std::optional<std::uint32_t> Datapath::attachLink(int ifindex, Direction direction, int prog_fd,
                                                  const std::string& interface) {
  const std::string hook = interface + " " + tcx::directionName(direction);
  const std::string path = linkPin(pin_dir_, ifindex, direction);
  if (const auto link = openLiveLink(path, ifindex, direction)) {
    // A previous daemon's link: the program changes in place, at the same position, with
    // no moment without one.
    const int rc = bpf_link_update(link->first, prog_fd, nullptr);
    const int error = errno;
    close(link->first);
    if (rc != 0) {
      throw DatapathError("cannot replace the program of skouter's tcx link on " + hook + ": " +
                          std::strerror(error));
    }
    kernel_has_tcx_ = true;
    return link->second.id;
  }
  const auto noTcx = [&] {
    if (attach_mode_ == AttachMode::kTcx) {
      throw DatapathError("--attach-mode tcx: this kernel has no tcx (Linux 6.6 or later)");
    }
    return std::nullopt;
  };
  if (kernel_has_tcx_ == false) return noTcx();
  const int fd = tcx::createLink(prog_fd, ifindex, direction, tcx::Placement::kFirst);
  if (fd < 0) {
    const bool unknown = fd == -EINVAL || fd == -EOPNOTSUPP || fd == -kEnotsupp;
    if (!kernel_has_tcx_ && unknown) {
      kernel_has_tcx_ = false;
      spdlog::info("this kernel has no tcx ({}); attaching clsact filters", std::strerror(-fd));
      return noTcx();
    }
    throw DatapathError("cannot attach a tcx link to " + hook + ": " + std::strerror(-fd));
  }
  kernel_has_tcx_ = true;
  // A pin of a link that is gone with its interface, whose index this one has now.
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::filesystem::create_directories(linkPinDir(pin_dir_), ignored);
  const auto info = tcx::linkInfo(fd);
  if (bpf_obj_pin(fd, path.c_str()) != 0 || !info) {
    const int error = errno;
    close(fd);  // the last reference: the link goes
    throw DatapathError("cannot pin skouter's tcx link on " + hook + " at " + path + ": " +
                        std::strerror(error));
  }
  close(fd);
  return info->id;
}

void Datapath::attachUplink(const std::string& interface) {
  const int ifindex = interfaceIndex(interface);
  requireEthernetLink(interface);
  attachHook(ifindex, Direction::kEgress, uplinkEgressProgramFd(), interface);
  attachHook(ifindex, Direction::kIngress, uplinkIngressProgramFd(), interface);
}

void Datapath::detachUplink(const std::string& pin_dir, const std::string& interface) {
  routeLibbpfLogs();
  if (const int rc = detachHooks(pin_dir, interfaceIndex(interface)); rc != 0) {
    throw DatapathError("cannot detach from " + interface + ": " + std::strerror(-rc));
  }
}

void Datapath::attachPod(int ifindex) {
  char name[IF_NAMESIZE] = {};
  if (ifindex <= 0 || !if_indextoname(static_cast<unsigned>(ifindex), name)) {
    throw DatapathError("no interface with index " + std::to_string(ifindex) +
                        " in this network namespace");
  }
  const std::string interface = name;
  requireEthernetLink(interface);
  // Egress first: from the moment pod_ingress records the pod's queries, their answers
  // must be held.
  attachHook(ifindex, Direction::kEgress, podEgressProgramFd(), interface);
  attachHook(ifindex, Direction::kIngress, podIngressProgramFd(), interface);
}

void Datapath::detachPod(const std::string& pin_dir, int ifindex) {
  routeLibbpfLogs();
  const int rc = detachHooks(pin_dir, ifindex);
  // ENODEV: the veth went away with its pod, and the filters with it.
  if (rc != 0 && rc != -ENODEV) {
    throw DatapathError("cannot detach from " + interfaceName(ifindex) + ": " + std::strerror(-rc));
  }
}

std::vector<int> Datapath::podAttachments(const std::string& pin_dir,
                                          const std::set<int>& uplinks) {
  routeLibbpfLogs();
  std::set<int> attached;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(linkPinDir(pin_dir), error)) {
    const std::string name = entry.path().filename();
    const std::string suffix = std::string("-") + tcx::directionName(Direction::kIngress);
    if (name.size() <= suffix.size() || !name.ends_with(suffix)) continue;
    const int ifindex = std::atoi(name.c_str());
    if (ifindex <= 0 || uplinks.count(ifindex)) continue;
    if (const auto link = openLiveLink(entry.path(), ifindex, Direction::kIngress)) {
      close(link->first);
      attached.insert(ifindex);
    } else {
      // Gone with its pod's veth; the egress link went with it.
      std::filesystem::remove(entry.path(), error);
      std::filesystem::remove(linkPin(pin_dir, ifindex, Direction::kEgress), error);
    }
  }
  const std::unique_ptr<struct if_nameindex, decltype(&if_freenameindex)> interfaces(
      if_nameindex(), if_freenameindex);
  if (!interfaces) {
    throw DatapathError(std::string("cannot list the interfaces: ") + std::strerror(errno));
  }
  for (const struct if_nameindex* entry = interfaces.get(); entry->if_index != 0; ++entry) {
    const int ifindex = static_cast<int>(entry->if_index);
    if (!uplinks.count(ifindex) && hasFilter(ifindex, Direction::kIngress)) {
      attached.insert(ifindex);
    }
  }
  return {attached.begin(), attached.end()};
}

std::vector<Datapath::HookAttachment> Datapath::attachmentsOf(const std::string& pin_dir,
                                                              int ifindex) {
  routeLibbpfLogs();
  std::vector<HookAttachment> hooks;
  for (const Direction direction : {Direction::kIngress, Direction::kEgress}) {
    HookAttachment hook{.direction = direction};
    int error = 0;
    const auto first = tcx::firstLinkId(ifindex, direction, error);
    if (const auto link = openLiveLink(linkPin(pin_dir, ifindex, direction), ifindex, direction)) {
      close(link->first);
      hook.mode = HookAttachment::Mode::kTcx;
      hook.first = first == link->second.id;
    } else if (hasFilter(ifindex, direction)) {
      hook.mode = HookAttachment::Mode::kTc;
      hook.first = !first;
    }
    hooks.push_back(hook);
  }
  return hooks;
}

std::vector<std::pair<int, Direction>> Datapath::checkChainOrder() {
  std::vector<std::pair<int, Direction>> displaced;
  for (auto it = links_.begin(); it != links_.end();) {
    const auto& [hook, link_id] = *it;
    const std::string name = interfaceName(hook.first) + " " + tcx::directionName(hook.second);
    int error = 0;
    const auto first = tcx::firstLinkId(hook.first, hook.second, error);
    if (error == 0 && first == link_id) {
      if (displaced_.erase(hook)) spdlog::info("skouter's program is first on {} again", name);
      ++it;
      continue;
    }
    tcx::Chain chain;
    const bool in_chain =
        error == 0 && tcx::queryChain(hook.first, hook.second, chain) == 0 &&
        std::find(chain.link_ids.begin(), chain.link_ids.end(), link_id) != chain.link_ids.end();
    if (!in_chain) {
      // Detached (a pod that went, `skouterd --detach`) or its interface is gone.
      displaced_.erase(hook);
      it = links_.erase(it);
      continue;
    }
    displaced.push_back(hook);
    if (displaced_.insert(hook).second) {
      spdlog::warn(
          "another program (id {}) now runs before skouter's on {}: what it drops or "
          "redirects, or passes with a final verdict, skouter never sees; skouter does not "
          "move itself back (`skouterd --detach` and a restart would)",
          chain.prog_ids.front(), name);
    }
    ++it;
  }
  return displaced;
}

void Datapath::removePins(const std::string& pin_dir) {
  if (!std::filesystem::exists(pin_dir)) return;
  close(lockPinDir(pin_dir));
  std::error_code error;
  // Unpinned, a link that nothing else holds goes too; detached first, so it goes even
  // if some process still holds it.
  for (const auto& entry : std::filesystem::directory_iterator(linkPinDir(pin_dir), error)) {
    const int fd = bpf_obj_get(entry.path().c_str());
    if (fd < 0) continue;
    bpf_link_detach(fd);
    close(fd);
  }
  std::filesystem::remove_all(pin_dir, error);
  if (error) throw DatapathError("cannot remove " + pin_dir + ": " + error.message());
}

IdentityMap Datapath::identities() const { return IdentityMap(mapFd("identities")); }
AllowedIpMap Datapath::allowedIps() const { return AllowedIpMap(mapFd("allowed_ips")); }
LearnedNameMap Datapath::learnedNames() const { return LearnedNameMap(mapFd("learned_names")); }
CidrMap Datapath::allowedCidrs() const { return CidrMap(mapFd("allowed_cidrs")); }
PortSetMap Datapath::portSets() const { return PortSetMap(mapFd("port_sets")); }
FlowMap Datapath::flows() const { return FlowMap(mapFd("flows")); }
FlowMap Datapath::inboundFlows() const { return FlowMap(mapFd("inbound_flows")); }
InterfaceMap Datapath::interfaces() const { return InterfaceMap(mapFd("interfaces")); }
LinkPrefixMap Datapath::linkPrefixes() const { return LinkPrefixMap(mapFd("link_prefixes")); }
DnsQueryMap Datapath::dnsQueries() const { return DnsQueryMap(mapFd("dns_queries")); }
ResolverMap Datapath::trustedResolvers() const { return ResolverMap(mapFd("trusted_resolvers")); }
ConfigMap Datapath::config() const { return ConfigMap(mapFd("config")); }
HeartbeatMap Datapath::heartbeat() const { return HeartbeatMap(mapFd("heartbeat")); }
AnswerBytesMap Datapath::answerBytesPunted() const {
  return AnswerBytesMap(mapFd("answer_bytes_punted"));
}
AnswerBytesMap Datapath::answerBytesConsumed() const {
  return AnswerBytesMap(mapFd("answer_bytes_consumed"));
}
LearnableNameMap Datapath::learnableNames() const {
  return LearnableNameMap(mapFd("learnable_names"));
}
LearningMap Datapath::learning() const { return LearningMap(mapFd("learning")); }
LearningBudgetMap Datapath::learningBudgetUsed() const {
  return LearningBudgetMap(mapFd("learning_budget_used"));
}

ServerNameRuleMap Datapath::serverNameRules() const {
  return ServerNameRuleMap(mapFd("server_name_rules"));
}

ReleasedQueryMap Datapath::releasedQueries() const {
  return ReleasedQueryMap(mapFd("released_queries"));
}
CounterSnapshot Datapath::readCounters() const {
  CounterSnapshot snapshot;
  const int fd = mapFd("counters");
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw DatapathError("cannot count the possible CPUs");
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
  for (std::uint32_t hook = 0; hook < SKOUTER_HOOKS; ++hook) {
    for (std::uint32_t counter = 0; counter < SKOUTER_CNT_MAX; ++counter) {
      const std::uint32_t key = hook * SKOUTER_CNT_MAX + counter;
      if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) {
        throw DatapathError(std::string("cannot read the counters: ") + std::strerror(errno));
      }
      std::uint64_t sum = 0;
      for (const auto value : per_cpu) sum += value;
      snapshot.values[hook][counter] = sum;
    }
  }
  return snapshot;
}

std::vector<std::pair<std::string, std::uint32_t>> Datapath::tableCapacities() const {
  return capacities_;
}

Datapath::RingFill Datapath::ringFill(Ring ring) const {
  const bool answers = ring == Ring::kAnswers;
  return {.used_bytes = ringUsedBytes(mapFd(answers ? "answers" : "events")),
          .size_bytes = answers ? answers_ring_size_ : events_ring_size_};
}

int Datapath::answersRingFd() const { return mapFd("answers"); }
int Datapath::eventsRingFd() const { return mapFd("events"); }
int Datapath::eventBudgetFd() const {
  requireProgramsLoaded();
  return bpf_map__fd(skeleton_->maps.event_budget);
}
int Datapath::uplinkEgressProgramFd() const {
  requireProgramsLoaded();
  return bpf_program__fd(skeleton_->progs.uplink_egress);
}
int Datapath::podIngressProgramFd() const {
  requireProgramsLoaded();
  return bpf_program__fd(skeleton_->progs.pod_ingress);
}
int Datapath::podEgressProgramFd() const {
  requireProgramsLoaded();
  return bpf_program__fd(skeleton_->progs.pod_egress);
}
int Datapath::uplinkIngressProgramFd() const {
  requireProgramsLoaded();
  return bpf_program__fd(skeleton_->progs.uplink_ingress);
}

}  // namespace skouter
