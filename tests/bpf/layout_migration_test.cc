// What a new daemon does with the maps an old one left pinned: those of its own layout
// it takes over, those of the layout before it migrates, and any other it refuses
// before changing anything (only `skouterd --detach` may remove them).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "bpf/bpf_map.h"
#include "resolver/allowed_ip_table.h"
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
void pinNewMap(const std::string& path, bpf_map_type type, std::uint32_t value_size,
               std::uint32_t max_entries) {
  unlink(path.c_str());
  const int fd =
      bpf_map_create(type, nullptr, sizeof(std::uint32_t), value_size, max_entries, nullptr);
  if (fd < 0) throw std::runtime_error("cannot create a map: " + std::string(std::strerror(errno)));
  const int rc = bpf_obj_pin(fd, path.c_str());
  close(fd);
  if (rc != 0) throw std::runtime_error("cannot pin " + path);
}

class LayoutTest : public DatapathFixture {
 protected:
  std::string pinPath(const char* map) const { return pinDir() + "/" + map; }

  skouter_allowed_ip_key learnedKey() const {
    return {.identity = SKOUTER_HOST_IDENTITY, .ip = resolver::toBpfAddr(ipv4Network().learned)};
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
  installEntries();
  const skouter_config before = pinnedConfig();
  closeDatapath();
  // Layout 4: the same maps, but one counter per reason and fewer reasons.
  setPinnedLayout(SKOUTER_MIGRATABLE_LAYOUT_VERSION);
  pinNewMap(pinPath("counters"), BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(std::uint64_t),
            SKOUTER_CNT_MAX - 1);

  openDatapath();
  const Takeover& takeover = datapath().takeover();
  EXPECT_TRUE(takeover.took_over);
  EXPECT_EQ(takeover.previous_layout_version,
            std::optional<std::uint32_t>{SKOUTER_MIGRATABLE_LAYOUT_VERSION});
  EXPECT_TRUE(takeover.migrated);
  EXPECT_EQ(takeover.migration, "migrated pinned state from layout 4 to 5: counters reset");
  expectEntriesPinned();
  EXPECT_EQ(PinnedMap(pinPath("counters")).info().max_entries,
            std::uint32_t{SKOUTER_COUNTER_HOOKS} * SKOUTER_CNT_MAX);
  EXPECT_EQ(datapath().readCounters().total(SKOUTER_CNT_EGRESS_DENIED), 0u);

  // The pins say layout 5 now, before the new daemon writes its configuration; the rest
  // of the configuration is the old daemon's until then.
  const skouter_config after = pinnedConfig();
  EXPECT_EQ(after.layout_version, static_cast<std::uint32_t>(SKOUTER_LAYOUT_VERSION));
  EXPECT_EQ(after.flags, before.flags);
  EXPECT_EQ(after.reinject_mark, before.reinject_mark);
  EXPECT_EQ(after.failsafe_ns, before.failsafe_ns);

  // And the next daemon takes that over as its own layout.
  closeDatapath();
  openDatapath();
  EXPECT_FALSE(datapath().takeover().migrated);
  EXPECT_EQ(datapath().takeover().previous_layout_version,
            std::optional<std::uint32_t>{SKOUTER_LAYOUT_VERSION});
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
    pinNewMap(pinPath("config"), BPF_MAP_TYPE_ARRAY, layout.config_value_size, 1);
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
    EXPECT_NE(message.find("(layout 5)"), std::string::npos) << message;
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
                         ::testing::Values(RefusedLayout{"Older", 3, 0},
                                           RefusedLayout{"Newer", 6, 0},
                                           RefusedLayout{"NewerWithALargerConfig", 6, 64}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace skouter::bpftest
