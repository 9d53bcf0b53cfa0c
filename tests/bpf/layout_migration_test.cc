// What a new daemon does with the maps an old one left pinned: those of its own layout
// it takes over, those of the layout before it migrates, and any other it refuses
// before changing anything (only `skouterd --detach` may remove them).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "bpf/bpf_map.h"
#include "bpf/maps/allowed_ip_table.h"
#include "bpf/maps/bpf_address.h"
#include "bpf/maps/trusted_resolver_table.h"
#include "tests/bpf/datapath_fixture.h"

namespace skouter::bpftest {
namespace {

constexpr char kName[] = "example.com";
constexpr std::uint32_t kNameHash = 0x5eed;
constexpr std::uint32_t kRuleId = 7;

// A map pinned under the test's directory, opened the way any other process would.
class PinnedMap {
 public:
  explicit PinnedMap(const std::string& path) : fd_(bpf_obj_get(path.c_str())) {
    if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  }
  ~PinnedMap() { close(fd_); }
  PinnedMap(const PinnedMap&) = delete;
  PinnedMap& operator=(const PinnedMap&) = delete;

  int fd() const { return fd_; }
  bpf_map_info info() const {
    bpf_map_info info{};
    std::uint32_t size = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd_, &info, &size) != 0) throw std::runtime_error("map info");
    return info;
  }

 private:
  int fd_;
};

// Pins a new map of `type` at `path` in place of what was there.
void pinNewMap(const std::string& path, bpf_map_type type, std::uint32_t key_size,
               std::uint32_t value_size, std::uint32_t max_entries, std::uint32_t flags = 0) {
  unlink(path.c_str());
  LIBBPF_OPTS(bpf_map_create_opts, options, .map_flags = flags);
  const int fd = bpf_map_create(type, nullptr, key_size, value_size, max_entries, &options);
  if (fd < 0) throw std::runtime_error("cannot create a map: " + std::string(std::strerror(errno)));
  const int rc = bpf_obj_pin(fd, path.c_str());
  close(fd);
  if (rc != 0) throw std::runtime_error("cannot pin " + path);
}

// The maps layout 6 changed, as a daemon of layout 5 left them (see bpf/datapath.cc).
namespace layout5 {
struct IdentityValue {
  std::uint32_t identity;
  std::uint32_t flags;
};
// No identity in the key: it was in the value.
struct FlowKey {
  std::uint8_t family;
  std::uint8_t protocol;
  std::uint16_t pad;
  std::uint16_t local_port;  // network byte order
  std::uint16_t remote_port;
  std::uint8_t local[16];
  std::uint8_t remote[16];
};
struct FlowValue {
  std::uint64_t last_seen_ns;  // CLOCK_MONOTONIC
  std::uint32_t origin;
  std::uint32_t identity;
};
static_assert(sizeof(FlowKey) == 40 && sizeof(FlowValue) == 16);
// No answer_quota_bytes.
struct Config {
  std::uint32_t layout_version;
  std::uint32_t flags;
  std::uint32_t reinject_mark;
  std::uint32_t event_rate_limit;
  std::uint64_t failsafe_ns;
  std::uint64_t flow_idle_ns;
};
static_assert(sizeof(Config) == 32);
// Reasons per hook: layout 6 added pod_spoofed_source, source_routed,
// forwarded_unknown_interface, inbound_no_receiver and dns_answer_over_quota.
constexpr std::uint32_t kCounters = SKOUTER_CNT_MAX - 5;
// Layout 6 holds more trusted resolvers.
constexpr std::uint32_t kTrustedResolvers = 64;
}  // namespace layout5

skouter_resolver_key resolverKeyOf(const IpAddress& address) {
  return maps::resolverKey({address, 53});
}

class LayoutTest : public DatapathFixture {
 protected:
  // Each test opens the datapath over pins it made or changed: a load of its own.
  LayoutTest() : DatapathFixture(DatapathLoad::kPerTest) {}

  std::string pinPath(const char* map) const { return pinDir() + "/" + map; }

  skouter_allowed_ip_key learnedKey() const {
    return {.identity = SKOUTER_HOST_IDENTITY, .ip = maps::toBpfAddr(ipv4Network().learned)};
  }
  skouter_learned_name_key learnedNameKey() const {
    return {.ip = learnedKey(), .name_hash = kNameHash};
  }

  // What the old daemon leaves behind: an allowed address and the name it came from.
  void installEntries() {
    skouter_allowed_ip_value value{};
    value.rule_id = kRuleId;
    ASSERT_EQ(datapath().allowedIps().update(learnedKey(), value), 0);
    skouter_learned_name_value name{};
    std::strncpy(name.name, kName, sizeof(name.name) - 1);
    ASSERT_EQ(datapath().learnedNames().update(learnedNameKey(), name), 0);
  }

  // The entries are there, as installEntries() put them, read through the pins.
  void expectEntriesPinned() const {
    const PinnedMap allowed(pinPath("allowed_ips"));
    const auto value = AllowedIpMap(allowed.fd()).lookup(learnedKey());
    ASSERT_TRUE(value.has_value()) << "the allowed address is gone";
    EXPECT_EQ(value->rule_id, kRuleId);
    const PinnedMap names(pinPath("learned_names"));
    const auto name = LearnedNameMap(names.fd()).lookup(learnedNameKey());
    ASSERT_TRUE(name.has_value()) << "the learned name is gone";
    EXPECT_STREQ(name->name, kName);
  }

  skouter_config pinnedConfig() const {
    const PinnedMap config(pinPath("config"));
    return ConfigMap(config.fd()).lookup(0).value();
  }
  void setPinnedLayout(std::uint32_t version) {
    skouter_config settings = pinnedConfig();
    settings.layout_version = version;
    const PinnedMap config(pinPath("config"));
    if (ConfigMap(config.fd()).update(0, settings) != 0) throw std::runtime_error("config");
  }

  std::uint32_t pinnedMapId(const char* map) const { return PinnedMap(pinPath(map)).info().id; }
};

TEST_F(LayoutTest, AFreshDirectoryIsNoTakeover) {
  const Takeover& takeover = datapath().takeover();
  EXPECT_FALSE(takeover.took_over);
  EXPECT_EQ(takeover.previous_layout_version, std::nullopt);
  EXPECT_FALSE(takeover.migrated);
  EXPECT_EQ(takeover.migration, "");
  EXPECT_EQ(takeover.previous_heartbeat_ns, std::nullopt);
}

TEST_F(LayoutTest, TheNextDaemonTakesOverTheSameLayoutWithItsEntries) {
  installEntries();
  const std::uint64_t last_beat = datapathNowNs() - kNanosPerSecond;
  beatAt(last_beat);
  const std::uint32_t counters_id = pinnedMapId("counters");
  closeDatapath();

  openDatapath();
  const Takeover& takeover = datapath().takeover();
  EXPECT_TRUE(takeover.took_over);
  EXPECT_EQ(takeover.previous_layout_version, std::optional<std::uint32_t>{SKOUTER_LAYOUT_VERSION});
  EXPECT_FALSE(takeover.migrated);
  EXPECT_EQ(takeover.migration, "");
  EXPECT_EQ(takeover.previous_heartbeat_ns, std::optional<std::uint64_t>{last_beat});
  expectEntriesPinned();
  EXPECT_EQ(datapath().allowedIps().lookup(learnedKey()).value().rule_id, kRuleId);
  EXPECT_EQ(pinnedMapId("counters"), counters_id) << "the counters carry on";
}

TEST_F(LayoutTest, ThePreviousLayoutIsMigratedWithItsEntriesAndNewCounters) {
  static_assert(SKOUTER_MIGRATABLE_LAYOUT_VERSION == 5 && SKOUTER_LAYOUT_VERSION == 6,
                "this test fabricates the maps of layout 5");
  const TestNetwork& v4 = ipv4Network();
  const TestNetwork& v6 = ipv6Network();
  constexpr std::uint32_t kPod = 100;
  const IpAddress pod = IpAddress::parse("198.18.0.10").value();

  // What a layout-5 daemon leaves: its times are CLOCK_MONOTONIC.
  installEntries();
  const std::uint64_t monotonic = clockNowNs(CLOCK_MONOTONIC);
  const skouter_allowed_ip_key expiring{.identity = SKOUTER_HOST_IDENTITY,
                                        .ip = maps::toBpfAddr(v4.expired)};
  skouter_allowed_ip_value expiring_value{};
  expiring_value.expiry_ns = monotonic + 3600 * kNanosPerSecond;
  ASSERT_EQ(datapath().allowedIps().update(expiring, expiring_value), 0);
  const skouter_dns_query_key query = queryKey(v4.host, 40000, 0x1234);
  putQuery(query, monotonic - kNanosPerSecond);
  beatAt(monotonic - 2 * kNanosPerSecond);
  const skouter_config before = pinnedConfig();
  closeDatapath();

  // Maps new in layout 6 were not there; those whose shape changed had the old one.
  unlink(pinPath("inbound_flows").c_str());
  unlink(pinPath("interfaces").c_str());
  unlink(pinPath("link_prefixes").c_str());
  unlink(pinPath("answer_bytes_punted").c_str());
  unlink(pinPath("answer_bytes_consumed").c_str());
  pinNewMap(pinPath("trusted_resolvers"), BPF_MAP_TYPE_HASH, sizeof(skouter_resolver_key),
            sizeof(skouter_resolver_value), layout5::kTrustedResolvers);
  pinNewMap(pinPath("identities"), BPF_MAP_TYPE_HASH, sizeof(skouter_addr),
            sizeof(layout5::IdentityValue), 65536, BPF_F_NO_PREALLOC);
  pinNewMap(pinPath("flows"), BPF_MAP_TYPE_LRU_HASH, sizeof(layout5::FlowKey),
            sizeof(layout5::FlowValue), 1u << 18);
  pinNewMap(pinPath("counters"), BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(std::uint32_t),
            sizeof(std::uint64_t), std::uint32_t{SKOUTER_HOOKS} * layout5::kCounters);
  pinNewMap(pinPath("config"), BPF_MAP_TYPE_ARRAY, sizeof(std::uint32_t), sizeof(layout5::Config),
            1);
  {
    const PinnedMap config(pinPath("config"));
    const layout5::Config old_config{.layout_version = SKOUTER_MIGRATABLE_LAYOUT_VERSION,
                                     .flags = before.flags,
                                     .reinject_mark = before.reinject_mark,
                                     .event_rate_limit = 250,
                                     .failsafe_ns = before.failsafe_ns,
                                     .flow_idle_ns = before.flow_idle_ns};
    ASSERT_EQ((BpfMap<std::uint32_t, layout5::Config>(config.fd()).update(0, old_config)), 0);
  }
  {
    const PinnedMap identities(pinPath("identities"));
    const layout5::IdentityValue identity{.identity = kPod, .flags = SKOUTER_IDENTITY_AUDIT};
    ASSERT_EQ((BpfMap<skouter_addr, layout5::IdentityValue>(identities.fd())
                   .update(maps::toBpfAddr(pod), identity)),
              0);
    // The cluster's DNS service, which a restarted daemon knows only from here until
    // it lists the cluster.
    const PinnedMap resolvers(pinPath("trusted_resolvers"));
    ASSERT_EQ(ResolverMap(resolvers.fd()).update(resolverKeyOf(v6.resolver), {}), 0);
    const PinnedMap flows(pinPath("flows"));
    BpfMap<layout5::FlowKey, layout5::FlowValue> old_flows(flows.fd());
    // The pod's connection out, and one a peer opened to the host.
    layout5::FlowKey outbound{.family = SKOUTER_FAMILY_IPV4,
                              .protocol = IPPROTO_TCP,
                              .pad = 0,
                              .local_port = htons(40000),
                              .remote_port = htons(443),
                              .local = {},
                              .remote = {}};
    std::memcpy(outbound.local, pod.bytes.data(), 4);
    std::memcpy(outbound.remote, v4.learned.bytes.data(), 4);
    ASSERT_EQ(old_flows.update(outbound, {.last_seen_ns = monotonic - 5 * kNanosPerSecond,
                                          .origin = SKOUTER_FLOW_OUTBOUND,
                                          .identity = kPod}),
              0);
    layout5::FlowKey inbound{.family = SKOUTER_FAMILY_IPV6,
                             .protocol = IPPROTO_TCP,
                             .pad = 0,
                             .local_port = htons(22),
                             .remote_port = htons(50000),
                             .local = {},
                             .remote = {}};
    std::memcpy(inbound.local, v6.host.bytes.data(), 16);
    std::memcpy(inbound.remote, v6.world.bytes.data(), 16);
    ASSERT_EQ(old_flows.update(inbound, {.last_seen_ns = monotonic - 7 * kNanosPerSecond,
                                         .origin = SKOUTER_FLOW_INBOUND,
                                         .identity = SKOUTER_HOST_IDENTITY}),
              0);
  }

  // The migration moves every time by CLOCK_BOOTTIME - CLOCK_MONOTONIC (the time the
  // machine was suspended), read while it runs: between these two bounds.
  const std::uint64_t boot_before = clockNowNs(CLOCK_BOOTTIME);
  const std::uint64_t monotonic_before = clockNowNs(CLOCK_MONOTONIC);
  openDatapath();
  const std::uint64_t monotonic_after = clockNowNs(CLOCK_MONOTONIC);
  const std::uint64_t boot_after = clockNowNs(CLOCK_BOOTTIME);
  const auto expectOnTheBootClock = [&](std::uint64_t converted, std::uint64_t old,
                                        const char* what) {
    EXPECT_GE(converted, old + (boot_before - monotonic_after)) << what;
    EXPECT_LE(converted, old + (boot_after - monotonic_before)) << what;
  };

  const Takeover& takeover = datapath().takeover();
  EXPECT_TRUE(takeover.took_over);
  EXPECT_EQ(takeover.previous_layout_version,
            std::optional<std::uint32_t>{SKOUTER_MIGRATABLE_LAYOUT_VERSION});
  EXPECT_TRUE(takeover.migrated);
  EXPECT_EQ(takeover.migration,
            "migrated pinned state from layout 5 to 6: counters reset; 1 pod addresses, 2 flows "
            "kept");
  ASSERT_TRUE(takeover.previous_heartbeat_ns.has_value());
  expectOnTheBootClock(*takeover.previous_heartbeat_ns, monotonic - 2 * kNanosPerSecond,
                       "heartbeat");

  // The pod's address, bound to no interface yet (the pod firewall binds it before it
  // attaches the new programs).
  EXPECT_EQ(PinnedMap(pinPath("identities")).info().value_size, sizeof(skouter_identity_value));
  const auto identity = datapath().identities().lookup(maps::toBpfAddr(pod));
  ASSERT_TRUE(identity.has_value());
  EXPECT_EQ(identity->identity, kPod);
  EXPECT_EQ(identity->flags, static_cast<std::uint32_t>(SKOUTER_IDENTITY_AUDIT));
  EXPECT_EQ(identity->ifindex, 0u);
  EXPECT_EQ(identity->netns_id, 0u);
  EXPECT_EQ(datapath().identities().keys().size(), 1u);

  // Each flow keyed by its identity, in the table of its origin.
  EXPECT_EQ(PinnedMap(pinPath("flows")).info().key_size, sizeof(skouter_flow_key));
  std::map<std::string, std::uint64_t> outbound, inbound;
  datapath().flows().forEach([&](const skouter_flow_key& key, const skouter_flow_value& value) {
    outbound[flowDescription(key, value)] = value.last_seen_ns;
  });
  datapath().inboundFlows().forEach(
      [&](const skouter_flow_key& key, const skouter_flow_value& value) {
        inbound[flowDescription(key, value)] = value.last_seen_ns;
      });
  const std::string pod_flow =
      flowDescription(IPPROTO_TCP, pod, 40000, v4.learned, 443, SKOUTER_FLOW_OUTBOUND, kPod);
  const std::string host_flow =
      flowDescription(IPPROTO_TCP, v6.host, 22, v6.world, 50000, SKOUTER_FLOW_INBOUND);
  ASSERT_EQ(outbound.size(), 1u);
  ASSERT_EQ(outbound.count(pod_flow), 1u) << outbound.begin()->first;
  expectOnTheBootClock(outbound[pod_flow], monotonic - 5 * kNanosPerSecond, "outbound flow");
  ASSERT_EQ(inbound.size(), 1u);
  ASSERT_EQ(inbound.count(host_flow), 1u) << inbound.begin()->first;
  expectOnTheBootClock(inbound[host_flow], monotonic - 7 * kNanosPerSecond, "inbound flow");

  // The maps that kept their shape keep their entries, their times moved.
  expectEntriesPinned();
  EXPECT_EQ(datapath().allowedIps().lookup(learnedKey()).value().expiry_ns, 0u)
      << "a static entry never expires";
  expectOnTheBootClock(datapath().allowedIps().lookup(expiring).value().expiry_ns,
                       expiring_value.expiry_ns, "learned address");
  expectOnTheBootClock(datapath().dnsQueries().lookup(query).value().sent_ns,
                       monotonic - kNanosPerSecond, "query");
  EXPECT_TRUE(datapath().interfaces().keys().empty());
  EXPECT_EQ(PinnedMap(pinPath("trusted_resolvers")).info().max_entries, 1024u);
  EXPECT_TRUE(datapath().trustedResolvers().lookup(resolverKeyOf(v6.resolver)).has_value());

  EXPECT_EQ(PinnedMap(pinPath("counters")).info().max_entries,
            std::uint32_t{SKOUTER_HOOKS} * SKOUTER_CNT_MAX);
  EXPECT_EQ(counters(), HookCounters{});

  // The pins say layout 6 now, before the new daemon writes its configuration; the rest
  // of the configuration is the old daemon's until then.
  const skouter_config after = pinnedConfig();
  EXPECT_EQ(after.layout_version, static_cast<std::uint32_t>(SKOUTER_LAYOUT_VERSION));
  EXPECT_EQ(after.flags, before.flags);
  EXPECT_EQ(after.reinject_mark, before.reinject_mark);
  EXPECT_EQ(after.failsafe_ns, before.failsafe_ns);
  EXPECT_EQ(after.flow_idle_ns, before.flow_idle_ns);
  EXPECT_EQ(after.event_rate_limit, 250u);
  EXPECT_EQ(after.answer_quota_bytes, 0u) << "no quota until the new daemon sets one";
  EXPECT_EQ(PinnedMap(pinPath("config")).info().value_size, sizeof(skouter_config));

  // And the next daemon takes that over as its own layout, entries and all.
  closeDatapath();
  openDatapath();
  EXPECT_FALSE(datapath().takeover().migrated);
  EXPECT_EQ(datapath().takeover().previous_layout_version,
            std::optional<std::uint32_t>{SKOUTER_LAYOUT_VERSION});
  EXPECT_EQ(flows().size(), 2u);
  EXPECT_TRUE(datapath().identities().lookup(maps::toBpfAddr(pod)).has_value());
}

struct RefusedLayout {
  std::string name;
  std::uint32_t version;
  // Of a newer daemon, the configuration may have grown; 0 keeps this layout's.
  std::uint32_t config_value_size;
};

class RefusedLayoutTest : public LayoutTest, public ::testing::WithParamInterface<RefusedLayout> {};

TEST_P(RefusedLayoutTest, IsRefusedBeforeAnythingChanges) {
  const RefusedLayout& layout = GetParam();
  installEntries();
  closeDatapath();
  if (layout.config_value_size == 0) {
    setPinnedLayout(layout.version);
  } else {
    pinNewMap(pinPath("config"), BPF_MAP_TYPE_ARRAY, sizeof(std::uint32_t),
              layout.config_value_size, 1);
    std::vector<std::uint8_t> value(layout.config_value_size, 0xee);
    std::memcpy(value.data(), &layout.version, sizeof(layout.version));
    const PinnedMap config(pinPath("config"));
    const std::uint32_t key = 0;
    ASSERT_EQ(bpf_map_update_elem(config.fd(), &key, value.data(), BPF_ANY), 0);
  }
  const std::uint32_t counters_id = pinnedMapId("counters");
  const std::uint32_t config_id = pinnedMapId("config");

  try {
    openDatapath();
    FAIL() << "layout " << layout.version << " was not refused";
  } catch (const DatapathError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(pinDir()), std::string::npos) << message;
    EXPECT_NE(message.find("layout version " + std::to_string(layout.version)), std::string::npos)
        << message;
    EXPECT_NE(message.find("(layout 6)"), std::string::npos) << message;
    EXPECT_NE(message.find("`skouterd --detach`"), std::string::npos) << message;
  }

  expectEntriesPinned();
  EXPECT_EQ(pinnedMapId("counters"), counters_id);
  EXPECT_EQ(pinnedMapId("config"), config_id);
  std::uint32_t version = 0;
  std::vector<std::uint8_t> value(PinnedMap(pinPath("config")).info().value_size);
  const std::uint32_t key = 0;
  ASSERT_EQ(bpf_map_lookup_elem(PinnedMap(pinPath("config")).fd(), &key, value.data()), 0);
  std::memcpy(&version, value.data(), sizeof(version));
  EXPECT_EQ(version, layout.version);
}

INSTANTIATE_TEST_SUITE_P(Layouts, RefusedLayoutTest,
                         ::testing::Values(RefusedLayout{"Older", 4, 0},
                                           RefusedLayout{"Newer", 7, 0},
                                           RefusedLayout{"NewerWithALargerConfig", 7, 64}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace skouter::bpftest
