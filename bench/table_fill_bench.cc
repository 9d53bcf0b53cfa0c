// What the table fill of one status or /metrics scrape costs with the maps full, on
// the event loop: walking the maps (how skouterd counted them before issue 13) against
// reading the counts their writers keep. Both over the same filled maps in one run.
// Needs root. Never run as a test.
//
// Run: build/bin/skouter_table_fill_bench
#include <benchmark/benchmark.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "bpf/counted_map.h"
#include "bpf/datapath.h"
#include "daemon/static_rule_table.h"
#include "resolver/allowed_ip_table.h"
#include "resolver/port_set_table.h"

namespace {

using skouter::CountedMap;
using skouter::Datapath;

// A datapath on a bpffs of its own under /tmp, its maps filled to capacity (allowed_ips
// to a quarter of its million: filling takes a syscall an entry), removed at exit.
class FullDatapath {
 public:
  FullDatapath() {
    char directory[] = "/tmp/skouter-bench-XXXXXX";
    if (!mkdtemp(directory)) throw std::runtime_error("mkdtemp failed");
    bpffs_ = directory;
    datapath_ = Datapath::open(bpffs_ + "/skouter");
    auto& d = *datapath_;
    fill(d.identities(), [](std::uint32_t n) {
      skouter_addr key{};
      key.family = SKOUTER_FAMILY_IPV6;
      std::memcpy(key.addr, &n, sizeof(n));
      return key;
    });
    fill(d.interfaces(), [](std::uint32_t n) { return n; });
    fill(d.linkPrefixes(), [](std::uint32_t n) {
      skouter_link_prefix_key key{};
      key.prefixlen = SKOUTER_LINK_PREFIX_FIXED_BITS + 128;
      key.family = SKOUTER_FAMILY_IPV6;
      std::memcpy(key.addr, &n, sizeof(n));
      return key;
    });
    fill(d.dnsQueries(), [](std::uint32_t n) {
      skouter_dns_query_key key{};
      key.family = SKOUTER_FAMILY_IPV6;
      std::memcpy(key.client, &n, sizeof(n));
      return key;
    });
    fill(d.trustedResolvers(), [](std::uint32_t n) {
      skouter_resolver_key key{};
      key.family = SKOUTER_FAMILY_IPV6;
      std::memcpy(key.addr, &n, sizeof(n));
      return key;
    });
    fill(d.allowedCidrs(), [](std::uint32_t n) {
      skouter_cidr_key key{};
      key.prefixlen = SKOUTER_CIDR_FIXED_BITS + 128;
      key.family = SKOUTER_FAMILY_IPV6;
      std::memcpy(key.addr, &n, sizeof(n));
      return key;
    });
    fill(
        d.allowedIps(),
        [](std::uint32_t n) {
          skouter_allowed_ip_key key{};
          key.identity = SKOUTER_HOST_IDENTITY;
          key.ip.family = SKOUTER_FAMILY_IPV6;
          std::memcpy(key.ip.addr, &n, sizeof(n));
          return key;
        },
        1u << 18);
    port_sets_.emplace(d.portSets());
  }
  ~FullDatapath() {
    datapath_.reset();
    Datapath::removePins(bpffs_ + "/skouter");
    umount(bpffs_.c_str());
    rmdir(bpffs_.c_str());
  }
  Datapath& get() { return *datapath_; }
  skouter::resolver::PortSetTable& portSets() { return *port_sets_; }

 private:
  template <typename Map, typename KeyOf>
  static void fill(Map map, KeyOf keyOf, std::uint32_t limit = ~0u) {
    for (std::uint32_t n = 1; n <= limit && map.update(keyOf(n), {}) == 0; ++n) {
    }
  }

  std::string bpffs_;
  std::unique_ptr<Datapath> datapath_;
  std::optional<skouter::resolver::PortSetTable> port_sets_;
};

FullDatapath& datapath() {
  static FullDatapath instance;
  return instance;
}

// What Daemon::tableFill() and metricsText() read of these maps before: a walk of each
// (allowed_cidrs twice: the table fill and skouter_entries).
void BM_TableFillByWalking(benchmark::State& state) {
  auto& d = datapath().get();
  skouter::daemon::StaticRuleTable static_rules(d.allowedCidrs(), datapath().portSets());
  for (auto _ : state) {
    std::size_t entries = d.identities().keys().size() + d.interfaces().keys().size() +
                          d.linkPrefixes().keys().size() + d.dnsQueries().keys().size() +
                          d.trustedResolvers().keys().size() + static_rules.entries().size() +
                          static_rules.entries().size();
    d.allowedIps().forEach([&](const auto&, const auto&) { ++entries; });
    benchmark::DoNotOptimize(entries);
  }
}

// What they read now: the counts (dns_queries' is the last sweep's, a number too).
void BM_TableFillByCount(benchmark::State& state) {
  auto& d = datapath().get();
  // Each count is taken once, as a daemon does at start.
  const CountedMap<skouter_addr, skouter_identity_value> identities(d.identities());
  const CountedMap<std::uint32_t, skouter_interface_value> interfaces(d.interfaces());
  const CountedMap<skouter_link_prefix_key, std::uint32_t> prefixes(d.linkPrefixes());
  const CountedMap<skouter_resolver_key, skouter_resolver_value> resolvers(d.trustedResolvers());
  const skouter::daemon::StaticRuleTable static_rules(d.allowedCidrs(), datapath().portSets());
  const CountedMap<skouter_allowed_ip_key, skouter_allowed_ip_value> allowed(d.allowedIps());
  for (auto _ : state) {
    std::size_t entries = identities.size() + interfaces.size() + prefixes.size() +
                          resolvers.size() + static_rules.size() + static_rules.size() +
                          allowed.size();
    benchmark::DoNotOptimize(entries);
  }
}

BENCHMARK(BM_TableFillByWalking)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TableFillByCount)->Unit(benchmark::kNanosecond);

}  // namespace

BENCHMARK_MAIN();
