#include "skouterd_process.h"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#if !defined(SKOUTER_E2E_SKOUTERD) || !defined(SKOUTER_E2E_SKOUTERCTL) || \
    !defined(SKOUTER_E2E_SOURCE_DIR)
#error "the build must define SKOUTER_E2E_SKOUTERD, SKOUTER_E2E_SKOUTERCTL, SKOUTER_E2E_SOURCE_DIR"
#endif

namespace skouter::e2e {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);

std::string quoted(const std::string& word) {
  std::string result = "'";
  for (char c : word) result += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return result + "'";
}

}  // namespace

std::string sourcePath(const std::string& relative) {
  return (std::filesystem::path(SKOUTER_E2E_SOURCE_DIR) / relative).string();
}

std::string skouterctlPath() { return SKOUTER_E2E_SKOUTERCTL; }

PolicyDirectory::PolicyDirectory(Contents contents) {
  char pattern[] = "/tmp/skouter-e2e-policy-XXXXXX";
  if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
  if (contents == Contents::kEmpty) return;
  const std::filesystem::path source(SKOUTER_E2E_SOURCE_DIR);
  std::filesystem::copy_file(source / "deploy/examples/egress-example.yaml",
                             std::filesystem::path(path_) / "egress-example.yaml");
  std::filesystem::copy_file(source / "tests/e2e/policies/lab-static.yaml",
                             std::filesystem::path(path_) / "lab-static.yaml");
}

PolicyDirectory::~PolicyDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void PolicyDirectory::write(const std::string& file_name, const std::string& yaml) const {
  std::ofstream(std::filesystem::path(path_) / file_name) << yaml;
}

Skouterd::Skouterd(const Lab& lab, std::string policy_path, std::vector<std::string> extra_flags,
                   Uplinks uplinks)
    : lab_(lab),
      policy_path_(std::move(policy_path)),
      extra_flags_(std::move(extra_flags)),
      uplinks_(uplinks) {}

Skouterd::~Skouterd() {
  if (process_) process_->stop();
}

std::string Skouterd::socketPath() const {
  return "/run/skouter-lab/" + lab_.name() + "/skouterd.sock";
}

std::string Skouterd::pinDir() const { return lab_.bpffsDir() + "/skouter"; }

std::string Skouterd::commandLine(const std::vector<std::string>& more) const {
  std::vector<std::string> words = {SKOUTER_E2E_SKOUTERD};
  if (!policy_path_.empty()) {
    words.push_back("--policy");
    words.push_back(policy_path_);
  }
  if (uplinks_ == Uplinks::kLabUplink) words.insert(words.end(), {"--interface", lab_.uplink()});
  words.insert(words.end(),
               {"--trusted-dns", kResolverV4, "--trusted-dns", std::string("[") + kResolverV6 + "]",
                "--bpffs", pinDir(), "--admin-socket", socketPath()});
  words.insert(words.end(), extra_flags_.begin(), extra_flags_.end());
  words.insert(words.end(), more.begin(), more.end());
  std::string line = "exec";
  for (const auto& word : words) line += " " + quoted(word);
  return line;
}

void Skouterd::start() {
  if (process_) last_log_ += process_->output();
  process_ = lab_.startBackground("node", commandLine({}));
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) {
      throw std::runtime_error("skouterd exited at start:\n" + process_->output());
    }
    if (runCommand({SKOUTER_E2E_SKOUTERCTL, "--socket", socketPath(), "status"},
                   std::chrono::seconds(2))
            .ok()) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("skouterd did not answer on its admin socket:\n" + process_->output());
}

void Skouterd::kill(int signal) {
  if (!process_) return;
  ::kill(process_->pid(), signal);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  // Briefly: a restart's gap is measured from here.
  while (process_->running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

CommandResult Skouterd::runOnce(const std::vector<std::string>& flags) const {
  return lab_.run("node", commandLine(flags), std::chrono::seconds(20));
}

nlohmann::json Skouterd::ctlJson(const std::string& command) const {
  const auto result =
      runCommand({SKOUTER_E2E_SKOUTERCTL, "--socket", socketPath(), command, "-o", "json"},
                 std::chrono::seconds(5));
  if (!result.ok()) throw std::runtime_error("skouterctl " + command + ": " + result.describe());
  return nlohmann::json::parse(result.out);
}

nlohmann::json Skouterd::status() const { return ctlJson("status"); }
nlohmann::json Skouterd::entries() const { return ctlJson("entries"); }

std::string Skouterd::log() const {
  return last_log_ + (process_ ? process_->output() : std::string());
}

}  // namespace skouter::e2e
