#include "tests/bpf/datapath_fixture.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "bpf/counter_names.h"
#include "bpf/maps/bpf_address.h"
#include "bpf/maps/trusted_resolver_table.h"

namespace skouter::bpftest {
namespace {

IpAddress address(const char* text) { return IpAddress::parse(text).value(); }

void copyAddress(std::uint8_t* destination, const IpAddress& address) {
  std::memcpy(destination, address.bytes.data(), address.bytes.size());
}

int collectEvent(void* context, void* data, std::size_t size) {
  auto* events = static_cast<std::vector<skouter_flow_event>*>(context);
  // Not an exception: it would have to unwind through libbpf. consume() reports it.
  if (size != sizeof(skouter_flow_event)) return -EBADMSG;
  skouter_flow_event event{};
  std::memcpy(&event, data, sizeof(event));
  events->push_back(event);
  return 0;
}

int collectAnswer(void* context, void* data, std::size_t size) {
  auto* answers = static_cast<std::vector<PuntedAnswer>*>(context);
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  PuntedAnswer answer{};
  if (size < sizeof(answer.header)) throw std::runtime_error("ring record shorter than a header");
  std::memcpy(&answer.header, bytes, sizeof(answer.header));
  answer.frame.assign(bytes + sizeof(answer.header), bytes + size);
  answers->push_back(std::move(answer));
  return 0;
}

std::string endpoint(const IpAddress& address, std::uint16_t port) {
  const std::string text = address.toString();
  return (address.family == IpFamily::kV4 ? text : "[" + text + "]") + ":" + std::to_string(port);
}

std::string originName(std::uint32_t origin) {
  switch (origin) {
    case SKOUTER_FLOW_OUTBOUND:
      return "outbound";
    case SKOUTER_FLOW_INBOUND:
      return "inbound";
    case SKOUTER_FLOW_AUDITED:
      return "audited";
    case SKOUTER_FLOW_SERVER_NAME_PENDING:
      return "server name pending";
    case SKOUTER_FLOW_SERVER_NAME_DENIED:
      return "server name denied";
  }
  return "origin " + std::to_string(origin);
}

// Not in every libc's headers; the kernel has it since 4.15.
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

std::string hex16(std::uint16_t value) {
  char text[8];
  std::snprintf(text, sizeof(text), "0x%04x", value);
  return text;
}

// The bytes of one element of `map` as the syscalls read and write it: per CPU, each
// CPU's value in 8-byte slots.
std::size_t valueBytes(const bpf_map_info& map) {
  if (map.type != BPF_MAP_TYPE_PERCPU_ARRAY && map.type != BPF_MAP_TYPE_PERCPU_HASH &&
      map.type != BPF_MAP_TYPE_LRU_PERCPU_HASH) {
    return map.value_size;
  }
  return (map.value_size + 7u) / 8u * 8u * static_cast<std::size_t>(libbpf_num_possible_cpus());
}

bool isHash(const bpf_map_info& map) {
  return map.type == BPF_MAP_TYPE_HASH || map.type == BPF_MAP_TYPE_LRU_HASH ||
         map.type == BPF_MAP_TYPE_PERCPU_HASH || map.type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
         map.type == BPF_MAP_TYPE_LPM_TRIE;
}

bool isArray(const bpf_map_info& map) {
  return map.type == BPF_MAP_TYPE_ARRAY || map.type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

std::vector<Bytes> keysOf(const DatapathMaps::Map& map) {
  std::vector<Bytes> keys;
  Bytes key(map.info.key_size);
  while (bpf_map_get_next_key(map.fd, keys.empty() ? nullptr : keys.back().data(), key.data()) ==
         0) {
    keys.push_back(key);
  }
  return keys;
}

int discardRecord(void*, void*, std::size_t) { return 0; }

// What the map holds after a fresh load: nothing, all zero bytes, nothing unread.
void resetMap(const DatapathMaps::Map& map) {
  const std::string name = map.info.name;
  // libbpf names the maps of global variables after their section. Those start from
  // the values in the object, and .rodata cannot be written at all.
  if (name.find('.') != std::string::npos) {
    throw std::logic_error("map " + name +
                           " holds global variables, which the reset cannot bring back to their "
                           "initial values: load the datapath per test");
  }
  if (isHash(map.info)) {
    // Keys first, then deletions: a deletion would restart the walk.
    for (const Bytes& key : keysOf(map)) {
      if (bpf_map_delete_elem(map.fd, key.data()) != 0 && errno != ENOENT) {
        throw std::system_error(errno, std::generic_category(), "empty map " + name);
      }
    }
  } else if (isArray(map.info)) {
    const Bytes zero(valueBytes(map.info), 0);
    for (std::uint32_t index = 0; index < map.info.max_entries; ++index) {
      if (bpf_map_update_elem(map.fd, &index, zero.data(), BPF_ANY) != 0) {
        throw std::system_error(errno, std::generic_category(), "zero map " + name);
      }
    }
  } else if (map.info.type == BPF_MAP_TYPE_RINGBUF) {
    ring_buffer* ring = ring_buffer__new(map.fd, discardRecord, nullptr, nullptr);
    if (!ring) throw std::runtime_error("cannot open ring buffer " + name);
    const int consumed = ring_buffer__consume(ring);
    ring_buffer__free(ring);
    if (consumed < 0) throw std::runtime_error("cannot read ring buffer " + name);
  } else {
    throw std::logic_error("map " + name + " is of a type the reset does not know (" +
                           std::to_string(map.info.type) + "): teach it, or load per test");
  }
}

void resetToFreshLoad(const Datapath& datapath) {
  const DatapathMaps maps(datapath);
  for (const DatapathMaps::Map& map : maps.maps()) resetMap(map);
}

// The producer's position less the consumer's, read from the ring's first two pages
// without consuming anything.
std::uint64_t ringUnreadBytes(const DatapathMaps::Map& map) {
  const long page = sysconf(_SC_PAGESIZE);
  void* pages = mmap(nullptr, 2 * page, PROT_READ, MAP_SHARED, map.fd, 0);
  if (pages == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(),
                            "map ring buffer " + std::string(map.info.name));
  }
  const auto* consumer = static_cast<const unsigned long*>(pages);
  const auto* producer =
      reinterpret_cast<const unsigned long*>(static_cast<const char*>(pages) + page);
  const unsigned long unread =
      __atomic_load_n(producer, __ATOMIC_ACQUIRE) - __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
  munmap(pages, 2 * page);
  return unread;
}

std::string hex(const std::uint8_t* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = 0; i < size; ++i) {
    text += kDigits[bytes[i] >> 4];
    text += kDigits[bytes[i] & 0xf];
  }
  return text;
}

void addMapInfo(int fd, std::vector<DatapathMaps::Map>& maps) {
  bpf_map_info info{};
  std::uint32_t size = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &size) != 0) {
    const int error = errno;
    close(fd);
    throw std::system_error(error, std::generic_category(), "BPF_OBJ_GET_INFO_BY_FD");
  }
  const bool known = std::any_of(maps.begin(), maps.end(), [&](const DatapathMaps::Map& map) {
    return map.info.id == info.id;
  });
  if (known) {
    close(fd);
    return;
  }
  maps.push_back({info, fd});
}

}  // namespace

DatapathMaps::DatapathMaps(const Datapath& datapath) {
  try {
    for (const int program : {datapath.uplinkEgressProgramFd(), datapath.uplinkIngressProgramFd(),
                              datapath.podIngressProgramFd(), datapath.podEgressProgramFd()}) {
      bpf_prog_info info{};
      std::uint32_t size = sizeof(info);
      if (bpf_obj_get_info_by_fd(program, &info, &size) != 0) {
        throw std::system_error(errno, std::generic_category(), "BPF_OBJ_GET_INFO_BY_FD");
      }
      std::vector<std::uint32_t> ids(info.nr_map_ids);
      info = {};
      info.nr_map_ids = static_cast<std::uint32_t>(ids.size());
      info.map_ids = reinterpret_cast<std::uintptr_t>(ids.data());
      size = sizeof(info);
      if (bpf_obj_get_info_by_fd(program, &info, &size) != 0) {
        throw std::system_error(errno, std::generic_category(), "BPF_OBJ_GET_INFO_BY_FD");
      }
      for (const std::uint32_t id : ids) {
        const int fd = bpf_map_get_fd_by_id(id);
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "bpf_map_get_fd_by_id");
        addMapInfo(fd, maps_);
      }
    }
    // Maps only the daemon writes and no program reads are pinned, not in that list.
    for (const auto& entry : std::filesystem::directory_iterator(datapath.pinDir())) {
      if (!entry.is_regular_file()) continue;  // links/
      const int fd = bpf_obj_get(entry.path().c_str());
      if (fd < 0) throw std::system_error(errno, std::generic_category(), entry.path().string());
      addMapInfo(fd, maps_);
    }
  } catch (...) {
    for (const Map& map : maps_) close(map.fd);
    throw;
  }
}

DatapathMaps::~DatapathMaps() {
  for (const Map& map : maps_) close(map.fd);
}

std::vector<std::string> mapContents(const DatapathMaps::Map& map) {
  std::vector<std::string> contents;
  if (isHash(map.info)) {
    Bytes value(valueBytes(map.info));
    for (const Bytes& key : keysOf(map)) {
      if (bpf_map_lookup_elem(map.fd, key.data(), value.data()) != 0) continue;
      contents.push_back(hex(key.data(), key.size()) + ": " + hex(value.data(), value.size()));
    }
    std::sort(contents.begin(), contents.end());
  } else if (isArray(map.info)) {
    Bytes value(valueBytes(map.info));
    for (std::uint32_t index = 0; index < map.info.max_entries; ++index) {
      if (bpf_map_lookup_elem(map.fd, &index, value.data()) != 0) {
        throw std::system_error(errno, std::generic_category(),
                                "read map " + std::string(map.info.name));
      }
      if (std::all_of(value.begin(), value.end(), [](std::uint8_t byte) { return byte == 0; })) {
        continue;
      }
      contents.push_back(std::to_string(index) + ": " + hex(value.data(), value.size()));
    }
  } else if (map.info.type == BPF_MAP_TYPE_RINGBUF) {
    if (const std::uint64_t unread = ringUnreadBytes(map); unread != 0) {
      contents.push_back(std::to_string(unread) + " bytes unread");
    }
  } else {
    contents.push_back("a map of type " + std::to_string(map.info.type));
  }
  return contents;
}

std::ostream& operator<<(std::ostream& out, Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass:
      return out << "pass";
    case Verdict::kDrop:
      return out << "drop";
    case Verdict::kRedirect:
      return out << "redirect";
  }
  return out << "tc verdict " << static_cast<int>(verdict);
}

// Documentation ranges only (RFC 5737, RFC 3849), so nothing here is anyone's address.
const TestNetwork& ipv4Network() {
  static const TestNetwork network{
      .name = "IPv4",
      .host = address("192.0.2.10"),
      .resolver = address("192.0.2.53"),
      .learned = address("198.51.100.20"),
      .expired = address("198.51.100.21"),
      .static_ip = address("203.0.113.5"),
      .in_cidr = address("203.0.113.200"),
      .outside_cidr = address("203.0.113.127"),
      .denied = address("198.51.100.99"),
      .world = address("198.51.100.150"),
      .static_prefix = "203.0.113.5/32",
      .cidr = "203.0.113.128/25",
  };
  return network;
}

const TestNetwork& ipv6Network() {
  static const TestNetwork network{
      .name = "IPv6",
      .host = address("2001:db8::10"),
      .resolver = address("2001:db8::53"),
      .learned = address("2001:db8:1::20"),
      .expired = address("2001:db8:1::21"),
      .static_ip = address("2001:db8:2::5"),
      .in_cidr = address("2001:db8:3::abcd"),
      .outside_cidr = address("2001:db8:3:1::abcd"),
      .denied = address("2001:db8:1::99"),
      .world = address("2001:db8:1::150"),
      .static_prefix = "2001:db8:2::5/128",
      .cidr = "2001:db8:3::/64",
  };
  return network;
}

PrivateNetworkNamespace::PrivateNetworkNamespace()
    : original_(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
  if (original_ < 0) throw std::system_error(errno, std::generic_category(), "open netns");
  if (unshare(CLONE_NEWNET) != 0) {
    const int error = errno;
    close(original_);
    throw std::system_error(error, std::generic_category(), "unshare(CLONE_NEWNET)");
  }
}

PrivateNetworkNamespace::~PrivateNetworkNamespace() {
  // A test thread stuck in the wrong namespace would run every later test there.
  if (setns(original_, CLONE_NEWNET) != 0) std::abort();
  close(original_);
}

DatapathFixture::LoadedDatapath DatapathFixture::suite_datapath_;

void DatapathFixture::load(LoadedDatapath& loaded) {
  if (loaded.bpffs_dir.empty()) {
    char bpffs[] = "/tmp/skouter-bpftest-XXXXXX";
    if (!mkdtemp(bpffs)) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    loaded.bpffs_dir = bpffs;
    loaded.pin_dir = loaded.bpffs_dir + "/skouter";
  }
  // Datapath::open mounts the bpffs on the empty directory.
  loaded.datapath = Datapath::open(loaded.pin_dir);
}

void DatapathFixture::unload(LoadedDatapath& loaded) {
  loaded.datapath.reset();
  if (loaded.bpffs_dir.empty()) return;
  Datapath::removePins(loaded.pin_dir);
  umount(loaded.bpffs_dir.c_str());
  rmdir(loaded.bpffs_dir.c_str());
  loaded.bpffs_dir.clear();
  loaded.pin_dir.clear();
}

void DatapathFixture::SetUp() {
  started_ns_ = datapathNowNs();
  if (load_ == DatapathLoad::kPerTest) {
    load(own_datapath_);
  } else {
    loaded_ = &suite_datapath_;
    // Loaded for the suite's first test, or again over the pins when a test closed it
    // (closeDatapath()); reset either way, since those pins hold what that test left.
    if (!suite_datapath_.datapath) load(suite_datapath_);
    resetToFreshLoad(*suite_datapath_.datapath);
  }
  skouter_config settings{};
  settings.layout_version = SKOUTER_LAYOUT_VERSION;
  settings.flags = SKOUTER_CFG_HOST_POLICED;
  settings.reinject_mark = kReinjectMark;
  settings.failsafe_ns = kFailsafeNs;
  settings.flow_idle_ns = kFlowIdleNs;
  writeConfig(settings);
  beatNow();
}

void DatapathFixture::TearDown() {
  for (const int fd : sockets_) close(fd);
  sockets_.clear();
  network_namespace_.reset();
  unload(own_datapath_);
}

void DatapathFixture::TearDownTestSuite() { unload(suite_datapath_); }

skouter_config DatapathFixture::config() const { return datapath().config().lookup(0).value(); }

void DatapathFixture::writeConfig(const skouter_config& settings) {
  if (datapath().config().update(0, settings) != 0) throw std::runtime_error("cannot write config");
}

void DatapathFixture::setFlags(std::uint32_t flags) {
  skouter_config settings = config();
  settings.flags = flags;
  writeConfig(settings);
}

void DatapathFixture::setFailsafeNs(std::uint64_t failsafe_ns) {
  skouter_config settings = config();
  settings.failsafe_ns = failsafe_ns;
  writeConfig(settings);
}

void DatapathFixture::setFlowIdleNs(std::uint64_t flow_idle_ns) {
  skouter_config settings = config();
  settings.flow_idle_ns = flow_idle_ns;
  writeConfig(settings);
}

void DatapathFixture::setReinjectMark(std::uint32_t mark) {
  skouter_config settings = config();
  settings.reinject_mark = mark;
  writeConfig(settings);
}

void DatapathFixture::setEventRateLimit(std::uint32_t events_per_second) {
  skouter_config settings = config();
  settings.event_rate_limit = events_per_second;
  writeConfig(settings);
}

void DatapathFixture::setAnswerQuotaBytes(std::uint32_t bytes) {
  skouter_config settings = config();
  settings.answer_quota_bytes = bytes;
  writeConfig(settings);
}

void DatapathFixture::setHeldSink(std::uint32_t ifindex) {
  skouter_config settings = config();
  settings.held_sink_ifindex = ifindex;
  writeConfig(settings);
}

void DatapathFixture::beatAt(std::uint64_t beat_ns) {
  if (datapath().heartbeat().update(0, {.last_beat_ns = beat_ns}) != 0) {
    throw std::runtime_error("cannot write heartbeat");
  }
}

void DatapathFixture::trustResolver(const IpAddress& address, std::uint16_t port) {
  if (datapath().trustedResolvers().update(maps::resolverKey({address, port}), {}) != 0) {
    throw std::runtime_error("cannot trust resolver " + address.toString());
  }
}

void DatapathFixture::addIdentity(const IpAddress& address, std::uint32_t identity,
                                  std::uint32_t flags, std::uint32_t ifindex,
                                  std::uint32_t netns_id) {
  const skouter_identity_value value{
      .identity = identity, .flags = flags, .ifindex = ifindex, .netns_id = netns_id};
  if (datapath().identities().update(maps::toBpfAddr(address), value) != 0) {
    throw std::runtime_error("cannot add identity of " + address.toString());
  }
}

void DatapathFixture::allowIpFor(std::uint32_t identity, const IpAddress& address,
                                 std::uint64_t expiry_ns) {
  const skouter_allowed_ip_key key{.identity = identity, .ip = maps::toBpfAddr(address)};
  skouter_allowed_ip_value value{};
  value.expiry_ns = expiry_ns;
  if (datapath().allowedIps().update(key, value) != 0) {
    throw std::runtime_error("cannot allow " + address.toString());
  }
}

void DatapathFixture::allowIp(const IpAddress& address, std::uint64_t expiry_ns,
                              std::uint32_t port_set) {
  const skouter_allowed_ip_key key{.identity = SKOUTER_HOST_IDENTITY,
                                   .ip = maps::toBpfAddr(address)};
  skouter_allowed_ip_value value{};
  value.expiry_ns = expiry_ns;
  value.port_set = port_set;
  if (datapath().allowedIps().update(key, value) != 0) {
    throw std::runtime_error("cannot allow " + address.toString());
  }
}

void DatapathFixture::allowPrefix(const std::string& text, std::uint32_t port_set) {
  const IpPrefix prefix = IpPrefix::parse(text).value();
  skouter_cidr_key key{};
  key.prefixlen = SKOUTER_CIDR_FIXED_BITS + prefix.length;
  key.identity = SKOUTER_HOST_IDENTITY;
  key.family = maps::toBpfFamily(prefix.address.family);
  copyAddress(key.addr, prefix.address);
  const skouter_cidr_value value{.rule_id = 0, .port_set = port_set};
  if (datapath().allowedCidrs().update(key, value) != 0) {
    throw std::runtime_error("cannot allow " + text);
  }
}

void DatapathFixture::putPortSet(std::uint32_t id, const std::vector<skouter_port_range>& ranges) {
  skouter_port_set value{};
  if (ranges.size() > SKOUTER_MAX_PORT_RANGES) throw std::invalid_argument("too many ranges");
  value.count = static_cast<std::uint32_t>(ranges.size());
  std::copy(ranges.begin(), ranges.end(), value.ranges);
  if (datapath().portSets().update(id, value) != 0) {
    throw std::runtime_error("cannot put port set " + std::to_string(id));
  }
}

void DatapathFixture::installPolicy(const TestNetwork& network) {
  const std::uint64_t now = datapathNowNs();
  trustResolver(network.resolver, kDnsPort);
  allowIp(network.learned, now + 3600 * kNanosPerSecond);
  allowIp(network.expired, now - kNanosPerSecond);
  allowPrefix(network.static_prefix);
  allowPrefix(network.cidr);
}

void DatapathFixture::setInterfaceKind(std::uint32_t ifindex, skouter_interface_kind kind) {
  const skouter_interface_value value{.kind = static_cast<std::uint32_t>(kind), .pad = 0};
  if (datapath().interfaces().update(ifindex, value) != 0) {
    throw std::runtime_error("cannot set the kind of interface " + std::to_string(ifindex));
  }
}

void DatapathFixture::usePrivateNetworkNamespace() {
  if (!network_namespace_) network_namespace_ = std::make_unique<PrivateNetworkNamespace>();
}

int DatapathFixture::keepOpen(int fd) {
  sockets_.push_back(fd);
  return fd;
}

int DatapathFixture::bindSocket(int type, const IpAddress& address, std::uint16_t port) {
  const bool v4 = address.family == IpFamily::kV4;
  const int fd = socket(v4 ? AF_INET : AF_INET6, type | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  keepOpen(fd);
  const int one = 1;
  if ((v4 ? setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one))
          : setsockopt(fd, SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one))) != 0) {
    throw std::system_error(errno, std::generic_category(), "IP_FREEBIND");
  }
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (v4) {
    auto* local = reinterpret_cast<sockaddr_in*>(&storage);
    local->sin_family = AF_INET;
    local->sin_port = htons(port);
    std::memcpy(&local->sin_addr, address.bytes.data(), 4);
    length = sizeof(sockaddr_in);
  } else {
    auto* local = reinterpret_cast<sockaddr_in6*>(&storage);
    local->sin6_family = AF_INET6;
    local->sin6_port = htons(port);
    std::memcpy(&local->sin6_addr, address.bytes.data(), 16);
    length = sizeof(sockaddr_in6);
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
    throw std::system_error(errno, std::generic_category(), "bind to " + endpoint(address, port));
  }
  return fd;
}

skouter_flow_key DatapathFixture::flowKey(std::uint8_t protocol, const IpAddress& local,
                                          std::uint16_t local_port, const IpAddress& remote,
                                          std::uint16_t remote_port, std::uint32_t identity) {
  skouter_flow_key key{};
  key.identity = identity;
  key.family = maps::toBpfFamily(local.family);
  key.protocol = protocol;
  key.local_port = htons(local_port);
  key.remote_port = htons(remote_port);
  copyAddress(key.local, local);
  copyAddress(key.remote, remote);
  return key;
}

void DatapathFixture::putFlow(const skouter_flow_key& key, skouter_flow_origin origin,
                              std::uint64_t last_seen_ns) {
  const skouter_flow_value value{
      .last_seen_ns = last_seen_ns, .origin = static_cast<std::uint32_t>(origin), .pad = 0};
  auto table = origin == SKOUTER_FLOW_INBOUND ? datapath().inboundFlows() : datapath().flows();
  if (table.update(key, value) != 0) throw std::runtime_error("cannot put flow");
}

std::vector<std::pair<skouter_flow_key, skouter_flow_value>> DatapathFixture::flows() const {
  std::vector<std::pair<skouter_flow_key, skouter_flow_value>> result;
  for (const FlowMap& table : {datapath().flows(), datapath().inboundFlows()}) {
    table.forEach([&](const skouter_flow_key& key, const skouter_flow_value& value) {
      result.emplace_back(key, value);
    });
  }
  return result;
}

Descriptions DatapathFixture::flowDescriptions() const {
  Descriptions result;
  for (const auto& [key, value] : flows()) result.push_back(flowDescription(key, value));
  std::sort(result.begin(), result.end());
  return result;
}

skouter_dns_query_key DatapathFixture::queryKey(const IpAddress& client, std::uint16_t client_port,
                                                std::uint16_t dns_id) {
  skouter_dns_query_key key{};
  key.family = maps::toBpfFamily(client.family);
  key.protocol = IPPROTO_UDP;
  key.client_port = htons(client_port);
  key.dns_id = htons(dns_id);
  copyAddress(key.client, client);
  return key;
}

skouter_dns_query_key DatapathFixture::tcpConnectionKey(const IpAddress& client,
                                                        std::uint16_t client_port) {
  skouter_dns_query_key key = queryKey(client, client_port, 0);
  key.protocol = IPPROTO_TCP;
  return key;
}

void DatapathFixture::putQuery(const skouter_dns_query_key& key, std::uint64_t sent_ns,
                               const Bytes& question, std::uint32_t identity) {
  skouter_dns_query_value value{};
  value.sent_ns = sent_ns;
  value.identity = identity;
  if (question.size() > sizeof(value.question)) throw std::invalid_argument("question too long");
  std::copy(question.begin(), question.end(), value.question);
  value.question_len = static_cast<std::uint16_t>(question.size());
  if (datapath().dnsQueries().update(key, value) != 0) throw std::runtime_error("cannot put query");
}

std::vector<std::pair<skouter_dns_query_key, skouter_dns_query_value>> DatapathFixture::queries()
    const {
  std::vector<std::pair<skouter_dns_query_key, skouter_dns_query_value>> result;
  datapath().dnsQueries().forEach(
      [&](const skouter_dns_query_key& key, const skouter_dns_query_value& value) {
        result.emplace_back(key, value);
      });
  return result;
}

Descriptions DatapathFixture::queryDescriptions() const {
  Descriptions result;
  for (const auto& [key, value] : queries()) result.push_back(queryDescription(key, value));
  std::sort(result.begin(), result.end());
  return result;
}

HookCounters DatapathFixture::counters() const {
  const CounterSnapshot snapshot = datapath().readCounters();
  HookCounters result;
  for (std::uint32_t hook = 0; hook < SKOUTER_HOOKS; ++hook) {
    for (std::uint32_t counter = 0; counter < SKOUTER_CNT_MAX; ++counter) {
      if (const std::uint64_t value = snapshot.at(hook, counter); value != 0) {
        result[hookName(static_cast<skouter_hook>(hook))]
              [counterName(static_cast<skouter_counter>(counter))] = value;
      }
    }
  }
  return result;
}

Counters DatapathFixture::counters(skouter_hook hook) const {
  const HookCounters all = counters();
  const auto found = all.find(hookName(hook));
  return found == all.end() ? Counters{} : found->second;
}

void DatapathFixture::expectStampedDuringTest(std::uint64_t time_ns) const {
  EXPECT_GE(time_ns, started_ns_);
  EXPECT_LE(time_ns, datapathNowNs());
}

std::vector<PuntedAnswer> DatapathFixture::drainAnswers() {
  std::vector<PuntedAnswer> answers;
  ring_buffer* ring =
      ring_buffer__new(datapath().answersRingFd(), collectAnswer, &answers, nullptr);
  if (!ring) throw std::runtime_error("cannot open the answers ring buffer");
  const int consumed = ring_buffer__consume(ring);
  ring_buffer__free(ring);
  if (consumed < 0) throw std::runtime_error("cannot consume the answers ring buffer");
  return answers;
}

std::vector<skouter_flow_event> DatapathFixture::drainEvents() {
  std::vector<skouter_flow_event> events;
  ring_buffer* ring = ring_buffer__new(datapath().eventsRingFd(), collectEvent, &events, nullptr);
  if (!ring) throw std::runtime_error("cannot open the events ring buffer");
  const int consumed = ring_buffer__consume(ring);
  ring_buffer__free(ring);
  if (consumed < 0) throw std::runtime_error("cannot consume the events ring buffer");
  return events;
}

std::size_t DatapathFixture::largestTestRunFrame() {
  // An EtherType of no protocol the programs parse (IEEE 802 local experimental): the
  // program returns at once, whatever the frame's length.
  const auto accepted = [&](std::size_t size) {
    Bytes frame(size, 0);
    frame[12] = 0x88;
    frame[13] = 0xb5;
    try {
      run(datapath().uplinkIngressProgramFd(), frame, {});
      return true;
    } catch (const std::runtime_error&) {
      return false;
    }
  };
  std::size_t low = 64;                       // accepted
  std::size_t high = SKOUTER_MAX_FRAME + 1u;  // refused, or more than the datapath holds
  if (!accepted(low)) throw std::runtime_error("BPF_PROG_TEST_RUN refuses a 64-byte frame");
  if (accepted(high)) return high;
  while (high - low > 1) {
    const std::size_t middle = low + (high - low) / 2;
    (accepted(middle) ? low : high) = middle;
  }
  return low;
}

Verdict DatapathFixture::runUplinkEgress(const Packet& packet, const SkbContext& context) {
  return run(datapath().uplinkEgressProgramFd(), packet.frame, context);
}

Verdict DatapathFixture::runUplinkIngress(const Packet& packet, const SkbContext& context) {
  return run(datapath().uplinkIngressProgramFd(), packet.frame, context);
}

Verdict DatapathFixture::runPodIngress(const Packet& packet, const SkbContext& context) {
  return run(datapath().podIngressProgramFd(), packet.frame, context);
}

Verdict DatapathFixture::runPodEgress(const Packet& packet, const SkbContext& context) {
  return run(datapath().podEgressProgramFd(), packet.frame, context);
}

Verdict DatapathFixture::run(int program_fd, const Bytes& frame, const SkbContext& context,
                             __sk_buff* context_out) {
  __sk_buff context_in{};
  context_in.mark = context.mark;
  context_in.ingress_ifindex = context.ingress_ifindex;
  context_in.ifindex = context.ifindex;
  __sk_buff seen{};
  LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = frame.data(),
              .data_size_in = static_cast<std::uint32_t>(frame.size()), .ctx_in = &context_in,
              .ctx_out = &seen, .ctx_size_in = sizeof(context_in), .ctx_size_out = sizeof(seen),
              .repeat = 1);
  if (bpf_prog_test_run_opts(program_fd, &options) != 0) {
    throw std::runtime_error(std::string("BPF_PROG_TEST_RUN: ") + std::strerror(errno));
  }
  if (context_out) *context_out = seen;
  return static_cast<Verdict>(static_cast<int>(options.retval));
}

Counters countersMoved(const Counters& before, const Counters& after) {
  Counters moved;
  for (const auto& [name, value] : after) {
    const auto previous = before.find(name);
    const std::uint64_t delta = value - (previous == before.end() ? 0 : previous->second);
    if (delta != 0) moved[name] = delta;
  }
  return moved;
}

HookCounters countersMoved(const HookCounters& before, const HookCounters& after) {
  HookCounters moved;
  for (const auto& [hook, counters] : after) {
    const auto previous = before.find(hook);
    Counters delta =
        countersMoved(previous == before.end() ? Counters{} : previous->second, counters);
    if (!delta.empty()) moved[hook] = std::move(delta);
  }
  return moved;
}

std::string flowDescription(const skouter_flow_key& key, const skouter_flow_value& value) {
  return ipProtocolName(key.protocol) + " " +
         endpoint(maps::fromBpfAddr(key.family, key.local), ntohs(key.local_port)) + " > " +
         endpoint(maps::fromBpfAddr(key.family, key.remote), ntohs(key.remote_port)) + " " +
         originName(value.origin) + " identity " + std::to_string(key.identity);
}

std::string flowDescription(std::uint8_t protocol, const IpAddress& local, std::uint16_t local_port,
                            const IpAddress& remote, std::uint16_t remote_port,
                            skouter_flow_origin origin, std::uint32_t identity) {
  const skouter_flow_value value{
      .last_seen_ns = 0, .origin = static_cast<std::uint32_t>(origin), .pad = 0};
  return flowDescription(
      DatapathFixture::flowKey(protocol, local, local_port, remote, remote_port, identity), value);
}

std::string queryDescription(const skouter_dns_query_key& key,
                             const skouter_dns_query_value& value) {
  std::string text = ipProtocolName(key.protocol) + " " +
                     endpoint(maps::fromBpfAddr(key.family, key.client), ntohs(key.client_port));
  // A TCP connection stands for every query on it: its id is 0, and shown when not.
  if (key.kind == SKOUTER_DNS_TCP_QUERY) text += " query";
  if (key.protocol != IPPROTO_TCP || key.kind != 0 || key.dns_id != 0) {
    text += " id " + hex16(ntohs(key.dns_id));
  }
  return text + " identity " + std::to_string(value.identity);
}

std::string queryDescription(const IpAddress& client, std::uint16_t client_port,
                             std::uint16_t dns_id) {
  skouter_dns_query_value value{};
  value.identity = SKOUTER_HOST_IDENTITY;
  return queryDescription(DatapathFixture::queryKey(client, client_port, dns_id), value);
}

std::string tcpQueryDescription(const IpAddress& client, std::uint16_t client_port,
                                std::uint16_t dns_id) {
  skouter_dns_query_value value{};
  value.identity = SKOUTER_HOST_IDENTITY;
  skouter_dns_query_key key = DatapathFixture::tcpConnectionKey(client, client_port);
  key.kind = SKOUTER_DNS_TCP_QUERY;
  key.dns_id = htons(dns_id);
  return queryDescription(key, value);
}

std::string tcpConnectionDescription(const IpAddress& client, std::uint16_t client_port) {
  skouter_dns_query_value value{};
  value.identity = SKOUTER_HOST_IDENTITY;
  return queryDescription(DatapathFixture::tcpConnectionKey(client, client_port), value);
}

skouter_port_range portRange(std::uint8_t protocol, std::uint16_t first, std::uint16_t last) {
  skouter_port_range range{};
  range.first = first;
  range.last = last;
  range.protocol = protocol;
  return range;
}

std::uint8_t icmpProtocol(IpFamily family) {
  return family == IpFamily::kV4 ? std::uint8_t{IPPROTO_ICMP} : std::uint8_t{IPPROTO_ICMPV6};
}

std::function<void(DatapathFixture&)> expectFlows(Descriptions expected) {
  return
      [expected](DatapathFixture& datapath) { EXPECT_EQ(datapath.flowDescriptions(), expected); };
}

skouter_hook counterHook(Program program) {
  switch (program) {
    case Program::kUplinkEgress:
      return SKOUTER_HOOK_UPLINK_EGRESS;
    case Program::kUplinkIngress:
      return SKOUTER_HOOK_UPLINK_INGRESS;
    case Program::kPodIngress:
      return SKOUTER_HOOK_POD_INGRESS;
    case Program::kPodEgress:
      return SKOUTER_HOOK_POD_EGRESS;
  }
  throw std::invalid_argument("no such program");
}

void PrintTo(const PacketCase& packet_case, std::ostream* out) {
  *out << packet_case.description << " (" << packet_case.network->name << ")";
}

std::string caseName(const ::testing::TestParamInfo<PacketCase>& info) {
  return testNameOf(info.param.description, *info.param.network);
}

std::string testNameOf(const std::string& description, const TestNetwork& network) {
  std::string name;
  bool word_start = true;
  for (const char c : description + " " + network.name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      word_start = true;
      continue;
    }
    name += word_start ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    word_start = false;
  }
  return name;
}

Verdict runProgram(DatapathFixture& fixture, Program program, const Packet& packet,
                   const SkbContext& context) {
  switch (program) {
    case Program::kUplinkEgress:
      return fixture.runUplinkEgress(packet, context);
    case Program::kUplinkIngress:
      return fixture.runUplinkIngress(packet, context);
    case Program::kPodIngress:
      return fixture.runPodIngress(packet, context);
    case Program::kPodEgress:
      return fixture.runPodEgress(packet, context);
  }
  throw std::invalid_argument("no such program");
}

void PacketCaseTest::runCase(Program program) {
  const PacketCase& packet_case = GetParam();
  installPolicy(*packet_case.network);
  if (packet_case.setup) packet_case.setup(*this);
  const HookCounters before = counters();

  EXPECT_EQ(runProgram(*this, program, packet_case.packet, packet_case.context),
            packet_case.verdict);
  HookCounters moved;
  if (!packet_case.moved.empty()) moved[hookName(counterHook(program))] = packet_case.moved;
  EXPECT_EQ(countersMoved(before, counters()), moved);
  if (packet_case.check) packet_case.check(*this);
}

}  // namespace skouter::bpftest
