// A million learned addresses (issue 15, item 4): what the table of learned addresses
// costs at that size. Installs 1,000,000 distinct names, one address each, for 125
// workloads (8,000 each, under the default --max-ips-per-workload of 8192) into the
// real maps of a loaded datapath, then prints: the install rate, the same answers
// again (a resolver's cache repeating itself), the daemon-side memory (RSS) and the
// kernel's memory for allowed_ips and learned_names, a restarted daemon reading it all
// back, the expiry sweep with nothing due and with a tenth due, and the cost of
// listing every entry in the pieces /v1/entries reads. Needs root. Never run as a test.
//
// Run: build/bin/skouter_learned_scale_bench [ADDRESSES]
#include <bpf/bpf.h>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bpf/maps/allowed_ip_table.h"
#include "bpf/maps/port_set_table.h"
#include "common/datapath_clock.h"
#include "tests/bpf/datapath_fixture.h"

namespace {

using skouter::IpAddress;
using skouter::kNanosPerSecond;
using skouter::bpftest::DatapathFixture;
using skouter::maps::AllowedIpTable;
using skouter::resolver::LearnedAddress;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kWorkloads = 125;
constexpr std::uint32_t kFirstIdentity = 1000;
constexpr skouter::policy::RuleId kRule = 1;

// The datapath as the BPF tests set it up, on a bpffs of its own under /tmp, removed
// at exit.
class BenchDatapath : public DatapathFixture {
 public:
  // Of its own: no test suite ends to unload a shared one.
  BenchDatapath() : DatapathFixture(DatapathLoad::kPerTest) { SetUp(); }
  ~BenchDatapath() override { TearDown(); }
  void TestBody() override {}
};

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// This process's resident memory, in MiB.
double rssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}

// What the kernel charges for the map named `name` (fdinfo's memlock), in MiB.
double mapMiB(const char* name) {
  DIR* fds = opendir("/proc/self/fd");
  double total = 0;
  while (dirent* entry = readdir(fds)) {
    const int fd = std::atoi(entry->d_name);
    bpf_map_info info{};
    std::uint32_t length = sizeof(info);
    if (fd <= 2 || bpf_obj_get_info_by_fd(fd, &info, &length) != 0) continue;
    if (std::string(info.name) != name) continue;
    std::ifstream fdinfo("/proc/self/fdinfo/" + std::to_string(fd));
    std::string line;
    while (std::getline(fdinfo, line)) {
      if (line.rfind("memlock:", 0) == 0) total = std::atof(line.c_str() + 8) / (1024.0 * 1024.0);
    }
    break;
  }
  closedir(fds);
  return total;
}

IpAddress addressOf(std::uint32_t k) {
  IpAddress ip{};
  ip.family = skouter::IpFamily::kV4;
  // 198.18.0.0/15 holds 131,072 addresses: each workload's are its own, but the same
  // few repeat across workloads (keys differ by identity).
  const std::uint32_t host = (198u << 24) | (18u << 16) | (k % 131072);
  ip.bytes = {static_cast<std::uint8_t>(host >> 24), static_cast<std::uint8_t>(host >> 16),
              static_cast<std::uint8_t>(host >> 8), static_cast<std::uint8_t>(host)};
  return ip;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint32_t total = argc > 1 ? std::atoi(argv[1]) : 1000000;
  const std::uint32_t per_workload = total / kWorkloads;
  BenchDatapath fixture;
  skouter::maps::PortSetTable port_sets(fixture.datapath().portSets());
  const double rss_before = rssMiB();
  auto table = std::make_unique<AllowedIpTable>(fixture.datapath().allowedIps(),
                                                fixture.datapath().learnedNames(), port_sets, 1000,
                                                64, 8192);
  const std::uint64_t now = skouter::datapathNowNs();
  // A tenth expire in 60 s, the rest in an hour.
  const auto expiryOf = [&](std::uint32_t k) {
    return now + (k % 10 == 0 ? 60 : 3600) * kNanosPerSecond;
  };
  const auto installAll = [&](AllowedIpTable& into) {
    std::size_t failed = 0;
    for (std::uint32_t w = 0; w < kWorkloads; ++w) {
      for (std::uint32_t i = 0; i < per_workload; ++i) {
        const std::uint32_t k = w * per_workload + i;
        const std::vector<LearnedAddress> addresses{
            {.ip = addressOf(k), .ttl_s = 300, .expiry_ns = expiryOf(k)}};
        failed += into.install(kFirstIdentity + w, addresses,
                               "n" + std::to_string(k) + ".scale.test", kRule)
                      .failed;
      }
    }
    return failed;
  };

  auto start = Clock::now();
  const std::size_t failed = installAll(*table);
  const double install_s = secondsSince(start);
  std::printf("installed        %zu addresses (%zu failed) for %u workloads in %.2f s: %.0f/s\n",
              table->size(), failed, kWorkloads, install_s, (total - failed) / install_s);

  start = Clock::now();
  installAll(*table);
  const double again_s = secondsSince(start);
  std::printf("same answers     again in %.2f s: %.2f us each (nothing to write)\n", again_s,
              again_s * 1e6 / total);
  std::printf("daemon memory    %.0f MiB for the table (RSS %.0f -> %.0f MiB)\n",
              rssMiB() - rss_before, rss_before, rssMiB());
  std::printf("kernel memory    allowed_ips %.0f MiB, learned_names %.0f MiB (memlock)\n",
              mapMiB("allowed_ips"), mapMiB("learned_names"));

  table.reset();
  start = Clock::now();
  table = std::make_unique<AllowedIpTable>(fixture.datapath().allowedIps(),
                                           fixture.datapath().learnedNames(), port_sets, 1000, 64,
                                           8192);
  std::printf("restart          read back %zu entries in %.2f s\n", table->size(),
              secondsSince(start));

  // What each sweep cost before the table kept its addresses by expiry: a walk of
  // allowed_ips, every 2 s.
  start = Clock::now();
  std::size_t walked = 0;
  fixture.datapath().allowedIps().forEach([&](const auto&, const auto&) { ++walked; });
  std::printf("walk of the map  %zu entries in %.0f ms (the sweep before issue 15)\n", walked,
              secondsSince(start) * 1e3);

  start = Clock::now();
  std::size_t removed = table->removeExpired(now + kNanosPerSecond);
  std::printf("sweep, none due  %zu removed in %.3f ms\n", removed, secondsSince(start) * 1e3);
  // As the daemon sweeps: 128 at most per turn of its loop.
  double sweep_s = 0;
  double longest_turn_s = 0;
  std::size_t turns = 0;
  removed = 0;
  for (std::size_t turn = 1; turn > 0; ++turns) {
    start = Clock::now();
    turn = table->removeExpired(now + 61 * kNanosPerSecond, 128);
    const double turn_s = secondsSince(start);
    removed += turn;
    sweep_s += turn_s;
    longest_turn_s = std::max(longest_turn_s, turn_s);
  }
  std::printf(
      "sweep, 1/10 due  %zu removed in %.0f ms (%.2f us each), %zu turns of 128 at "
      "most, the longest %.2f ms\n",
      removed, sweep_s * 1e3, sweep_s * 1e6 / std::max<std::size_t>(removed, 1), turns,
      longest_turn_s * 1e3);

  // As GET /v1/entries reads the table: a piece of 1000 per turn of the loop.
  AllowedIpTable::EntryCursor cursor;
  double listing_s = 0;
  double longest_piece_s = 0;
  std::size_t listed = 0;
  while (!cursor.done) {
    start = Clock::now();
    listed += table->entries(cursor, 1000).size();
    const double piece_s = secondsSince(start);
    listing_s += piece_s;
    longest_piece_s = std::max(longest_piece_s, piece_s);
  }
  std::printf("listing          %zu entries in %.2f s, in pieces of 1000: the longest %.2f ms\n",
              listed, listing_s, longest_piece_s * 1e3);
  return 0;
}
