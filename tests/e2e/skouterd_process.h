// skouterd running in a lab's node namespace, as the e2e tests drive it: started
// with the lab's uplink, resolvers and bpffs, and queried through skouterctl.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lab.h"

namespace skouter::e2e {

// A fresh directory of policy files for skouterd, removed by the destructor. By
// default it holds the seed example policy and the lab's static rules.
class PolicyDirectory {
 public:
  enum class Contents { kExampleAndLabStatic, kEmpty };
  explicit PolicyDirectory(Contents contents = Contents::kExampleAndLabStatic);
  ~PolicyDirectory();
  const std::string& path() const { return path_; }
  void write(const std::string& file_name, const std::string& yaml) const;

 private:
  std::string path_;
};

class Skouterd {
 public:
  // kLabUplink: --interface names the lab's uplink. kDiscovered: no --interface, so the
  // daemon finds the uplinks itself (from the routing table).
  enum class Uplinks { kLabUplink, kDiscovered };

  // An empty `policy_path` starts the daemon without --policy (with --kubernetes).
  Skouterd(const Lab& lab, std::string policy_path, std::vector<std::string> extra_flags = {},
           Uplinks uplinks = Uplinks::kLabUplink);
  ~Skouterd();

  // Starts the daemon and waits until its admin API answers; throws with its log if
  // it exits or does not answer within a few seconds.
  void start();
  // Sends `signal` to the daemon and waits for it to exit.
  void kill(int signal);
  // Runs skouterd once with the same flags plus `flags` (e.g. {"--detach"}).
  CommandResult runOnce(const std::vector<std::string>& flags) const;

  nlohmann::json status() const;
  // `skouterctl COMMAND -o json`.
  nlohmann::json ctlJson(const std::string& command) const;
  nlohmann::json entries() const;
  std::string log() const;
  std::string socketPath() const;
  std::string pinDir() const;

 private:
  std::string commandLine(const std::vector<std::string>& more) const;

  const Lab& lab_;
  std::string policy_path_;
  std::vector<std::string> extra_flags_;
  Uplinks uplinks_;
  std::unique_ptr<BackgroundProcess> process_;
  std::string last_log_;
};

// Path of the built skouterctl, for tests that run it themselves.
std::string skouterctlPath();
// Path of `relative` in the source tree ("tests/deploy/metric_names.txt").
std::string sourcePath(const std::string& relative);

}  // namespace skouter::e2e
