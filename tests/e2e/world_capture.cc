#include "world_capture.h"

#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

namespace skouter::e2e {
namespace {

using std::chrono::milliseconds;

// The packet path from a lab namespace to the world is a few veth hops handled in
// softirq context, and tcpdump runs in immediate mode: this is ample for the last
// packet of an attack to be written before tcpdump stops.
constexpr milliseconds kSettle{500};
constexpr auto kStartTimeout = std::chrono::seconds(10);

// Offsets of each packet's data in a pcap file (either byte order, micro- or
// nanosecond timestamps: only the record lengths matter here).
std::vector<std::pair<size_t, size_t>> pcapRecords(const std::string& file) {
  std::vector<std::pair<size_t, size_t>> records;
  if (file.size() < 24) return records;
  std::uint32_t magic;
  std::memcpy(&magic, file.data(), 4);
  const bool swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
  if (!swapped && magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) return records;
  for (size_t at = 24; at + 16 <= file.size();) {
    std::uint32_t length;
    std::memcpy(&length, file.data() + at + 8, 4);
    if (swapped) length = __builtin_bswap32(length);
    if (at + 16 + length > file.size()) break;
    records.emplace_back(at + 16, length);
    at += 16 + length;
  }
  return records;
}

}  // namespace

std::string attackMarker(const std::string& what) {
  static std::mt19937_64 random{std::random_device{}()};
  std::ostringstream marker;
  marker << "SKOUTER-ATTACK-" << std::hex << random() << "-" << what;
  return marker.str();
}

WorldCapture::WorldCapture(const Lab& lab, std::string interface)
    : interface_(interface.empty() ? lab.worldLink() : std::move(interface)) {
  char pattern[] = "/tmp/skouter-e2e-capture-XXXXXX";
  if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
  directory_ = pattern;
  file_ = directory_ + "/world.pcap";
  // -U --immediate-mode: every packet is handed over and written as it arrives, not
  // when a buffer fills; -Z root: tcpdump keeps the rights to write the file.
  tcpdump_ = lab.startBackground(
      "world", "exec tcpdump -i " + interface_ + " -U --immediate-mode -Z root -w " + file_);
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (tcpdump_->output().find("listening on") == std::string::npos) {
    if (!tcpdump_->running() || std::chrono::steady_clock::now() > deadline) {
      const std::string output = tcpdump_->output();
      tcpdump_->stop();
      throw std::runtime_error("tcpdump on " + interface_ + " did not start: " + output);
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

WorldCapture::~WorldCapture() {
  if (tcpdump_) tcpdump_->stop();
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

void WorldCapture::stop() {
  if (stopped_) return;
  stopped_ = true;
  std::this_thread::sleep_for(kSettle);
  tcpdump_->stop();
  std::ifstream in(file_, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  bytes_ = contents.str();
}

std::string WorldCapture::bytes() {
  stop();
  return bytes_;
}

bool WorldCapture::saw(const std::string& marker) {
  return bytes().find(marker) != std::string::npos;
}

std::string WorldCapture::packetsWith(const std::string& marker) {
  const std::string file = bytes();
  const auto records = pcapRecords(file);
  std::vector<size_t> matching;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& [offset, length] = records[i];
    if (std::string_view(file).substr(offset, length).find(marker) != std::string_view::npos) {
      matching.push_back(i);
    }
  }
  if (matching.empty()) return "no packet on " + interface_ + " carries " + marker;
  // One summary line per packet (no -v), in file order.
  const auto summary =
      runCommand({"tcpdump", "-r", file_, "-nn", "-Z", "root"}, milliseconds(10'000));
  std::vector<std::string> lines;
  std::istringstream text(summary.out);
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  std::string result =
      std::to_string(matching.size()) + " packet(s) on " + interface_ + " carry " + marker + ":";
  for (size_t i : matching) {
    result +=
        "\n  " + (lines.size() == records.size() ? lines[i] : "packet " + std::to_string(i + 1));
  }
  return result;
}

}  // namespace skouter::e2e
