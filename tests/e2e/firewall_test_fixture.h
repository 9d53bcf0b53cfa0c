// What every end-to-end firewall test starts from: a lab of its own, and skouterd on
// the lab node's uplink with the seed example policy plus the lab's static rules.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lab.h"
#include "skouterd_process.h"

namespace skouter::e2e {

// curl's exit codes: --max-time ran out (a dropped SYN looks like this), and the
// name did not resolve.
inline constexpr int kCurlTimedOut = 28;
inline constexpr int kCurlCouldNotResolve = 6;

inline std::string httpGet(const std::string& url, const std::string& flags = "") {
  return "curl -sS --max-time 3 " + flags + " " + url;
}

// Polls `condition` for up to `limit`: what the daemon does in reaction to a file or
// a packet (a reload after inotify, an event from the datapath) is asynchronous.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

class FirewallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Lab::isRoot()) GTEST_SKIP() << "e2e tests need root (network namespaces, BPF)";
    lab_ = std::make_unique<Lab>(Lab::uniqueName());
    lab_->up();
  }

  void startDaemon(std::vector<std::string> flags = {}) {
    daemon_ = std::make_unique<Skouterd>(*lab_, policies_.path(), std::move(flags));
    daemon_->start();
  }

  CommandResult node(const std::string& command,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return lab_->run("node", command, timeout);
  }

  // Learned (not static) addresses, all of them or those `name` resolved to.
  std::set<std::string> learnedAddresses(const std::string& name = "") {
    std::set<std::string> result;
    for (const auto& entry : daemon_->entries()) {
      if (entry["expires_in_s"].is_null()) continue;
      bool named = name.empty();
      for (const auto& entry_name : entry["names"]) named |= entry_name == name;
      if (named) result.insert(entry["ip"].get<std::string>());
    }
    return result;
  }

  // skouterctl with `args`, against this test's daemon.
  CommandResult ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{skouterctlPath(), "--socket", daemon_->socketPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, std::chrono::seconds(5));
  }

  // A counter of `skouterctl status`: group "datapath", "answers" or "gc".
  std::uint64_t counter(const std::string& group, const std::string& name) {
    return daemon_->status()["counters"][group][name].get<std::uint64_t>();
  }

  // What runs on the tc hooks of the node's `interface`: both tcx chains (a line
  // "PROGRAM LINK_ID" per program, first first) and both hooks' clsact filters, as text.
  // skouter's programs show up by name in either.
  std::string tcPrograms(const std::string& interface) {
    const std::string chain = std::string(SKOUTER_E2E_FOREIGN_AGENT) + " chain " + interface;
    return node(chain + " ingress; " + chain + " egress; tc filter show dev " + interface +
                " ingress; tc filter show dev " + interface + " egress")
        .out;
  }

  PolicyDirectory policies_;
  std::unique_ptr<Lab> lab_;
  std::unique_ptr<Skouterd> daemon_;
};

}  // namespace skouter::e2e
