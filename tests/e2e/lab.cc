#include "lab.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef SKOUTER_E2E_LAB_SH
#error "SKOUTER_E2E_LAB_SH (path of tests/e2e/lab.sh) must be defined by the build"
#endif

namespace skouter::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kLabScriptTimeout{60'000};

std::string findInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* env = std::getenv("PATH");
  std::string path = env != nullptr && *env != '\0' ? env : "/usr/sbin:/usr/bin:/sbin:/bin";
  path += ":/usr/sbin:/sbin";  // ip lives in sbin, which a non-login PATH may lack
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error("command not found in PATH: " + name);
}

// Everything execv needs, prepared before fork so the child only makes
// async-signal-safe calls.
struct Exec {
  std::string path;
  std::vector<std::string> args;
  std::vector<char*> argv;

  explicit Exec(const std::vector<std::string>& command)
      : path(findInPath(command.at(0))), args(command) {
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
  }
  Exec(const Exec&) = delete;  // argv points into args
  Exec& operator=(const Exec&) = delete;
};

// In the child: own process group, stdin from /dev/null, then exec.
[[noreturn]] void execChild(const Exec& exec, int stdout_fd, int stderr_fd) {
  setpgid(0, 0);
  signal(SIGPIPE, SIG_DFL);
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(stdout_fd, STDOUT_FILENO) < 0 ||
      dup2(stderr_fd, STDERR_FILENO) < 0) {
    _exit(127);
  }
  execv(exec.path.c_str(), exec.argv.data());
  _exit(127);
}

int exitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// "node", "world", or a pod's name (1-3 of [a-z0-9], as lab.sh pod-add takes it; the
// guests' roles are such names too).
void checkRole(const std::string& role) {
  const bool pod =
      !role.empty() && role.size() <= 3 && std::all_of(role.begin(), role.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      });
  if (role != "node" && role != "world" && !pod) {
    throw std::invalid_argument("lab role must be \"node\", \"world\" or a pod's name, not \"" +
                                role + "\"");
  }
}

}  // namespace

std::string freshName(int k) {
  if (k < 1 || k > kFreshNameCount) throw std::out_of_range("fresh names are n1..n300");
  return "n" + std::to_string(k) + ".wikipedia.org";
}

std::string freshAddress(int k) {
  if (k < 1 || k > kFreshNameCount) throw std::out_of_range("fresh names are n1..n300");
  return "198.18." + std::to_string(1 + (k - 1) / 100) + "." + std::to_string(1 + (k - 1) % 100);
}

std::string CommandResult::describe() const {
  std::string text = timed_out ? "timed out" : "exit " + std::to_string(exit_code);
  return text + "; stdout: [" + out + "]; stderr: [" + err + "]";
}

CommandResult runCommand(const std::vector<std::string>& argv, milliseconds timeout) {
  Exec exec(argv);
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    throw std::runtime_error("pipe2 failed");
  }
  const auto start = Clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    const int fork_errno = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(fork_errno));
  }
  if (pid == 0) execChild(exec, out_pipe[1], err_pipe[1]);
  setpgid(pid, pid);  // also here, so a timeout right away still finds the group
  close(out_pipe[1]);
  close(err_pipe[1]);

  CommandResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  const auto deadline = start + timeout;
  std::optional<Clock::time_point> exited_at;
  int status = 0;
  for (;;) {
    if (!exited_at && waitpid(pid, &status, WNOHANG) == pid) exited_at = Clock::now();
    const bool open = fds[0].fd >= 0 || fds[1].fd >= 0;
    if (exited_at && !open) break;
    const auto now = Clock::now();
    if (!exited_at && now >= deadline) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      exited_at = now;
    }
    // Once the child is gone, whatever still holds the pipes (a process it left
    // in the background) gets half a second to close them.
    if (exited_at && now >= *exited_at + milliseconds(result.timed_out ? 100 : 500)) break;
    if (poll(fds, 2, 20) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[65536];
      ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  result.exit_code = exitCodeOf(status);
  return result;
}

BackgroundProcess::BackgroundProcess(pid_t pid, std::string log_path)
    : pid_(pid), log_path_(std::move(log_path)) {}

BackgroundProcess::~BackgroundProcess() {
  stop();
  if (!log_path_.empty()) unlink(log_path_.c_str());
}

bool BackgroundProcess::running() {
  if (reaped_) return false;
  siginfo_t info{};
  // WNOWAIT: a finished leader stays a zombie, so its pid (the group id) cannot
  // be reused before stop() reaps it.
  if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == 0;
}

int BackgroundProcess::stop(milliseconds grace) {
  if (reaped_) return exit_code_;
  kill(-pid_, SIGTERM);
  const auto deadline = Clock::now() + grace;
  while (running() && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
  kill(-pid_, SIGKILL);  // the leader if it ignored SIGTERM, and any stragglers in its group
  int status = 0;
  if (waitpid(pid_, &status, 0) == pid_) exit_code_ = exitCodeOf(status);
  reaped_ = true;
  return exit_code_;
}

std::string BackgroundProcess::output() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Lab::Lab(std::string name) : name_(std::move(name)) {}

Lab::~Lab() {
  if (!up_called_) return;
  try {
    down();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "skouter e2e lab %s: %s\n", name_.c_str(), e.what());
  }
}

std::string Lab::uniqueName() {
  static std::atomic<unsigned> counter{0};
  auto base36 = [](unsigned long value) {
    std::string digits;
    do {
      digits.insert(digits.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[value % 36]);
      value /= 36;
    } while (value != 0);
    return digits;
  };
  // pid <= 2^22 takes at most 5 base-36 digits; the counter at most 2.
  return "e" + base36(static_cast<unsigned long>(getpid())) + base36(counter++ % (36 * 36));
}

bool Lab::isRoot() { return geteuid() == 0; }

void Lab::up() {
  up_called_ = true;  // a failed up may leave pieces; the destructor's down removes them
  CommandResult result = runCommand({"bash", SKOUTER_E2E_LAB_SH, "up", name_}, kLabScriptTimeout);
  if (!result.ok())
    throw std::runtime_error("lab.sh up " + name_ + " failed: " + result.describe());
}

void Lab::script(const std::vector<std::string>& arguments) const {
  std::vector<std::string> argv{"bash", SKOUTER_E2E_LAB_SH, arguments.front(), name_};
  argv.insert(argv.end(), arguments.begin() + 1, arguments.end());
  CommandResult result = runCommand(argv, kLabScriptTimeout);
  if (!result.ok()) {
    throw std::runtime_error("lab.sh " + arguments.front() + " " + name_ +
                             " failed: " + result.describe());
  }
}

void Lab::makeClusterNode() const { script({"cluster"}); }

void Lab::addPod(const std::string& pod, const std::string& ipv4, const std::string& ipv6) const {
  script({"pod-add", pod, ipv4, ipv6});
}

void Lab::deletePod(const std::string& pod) const { script({"pod-del", pod}); }

void Lab::addGuest() const { script({"guest-add"}); }

void Lab::addIpv6Uplink() const { script({"uplink6-add"}); }

void Lab::addMacvlanGuest() const { script({"macvlan-add"}); }

void Lab::down() {
  CommandResult result = runCommand({"bash", SKOUTER_E2E_LAB_SH, "down", name_}, kLabScriptTimeout);
  if (!result.ok()) {
    throw std::runtime_error("lab.sh down " + name_ + " failed: " + result.describe());
  }
  up_called_ = false;
}

std::string Lab::nsName(const std::string& role) const {
  checkRole(role);
  return name_ + "-" + role;
}

CommandResult Lab::run(const std::string& role, const std::string& shell_command,
                       milliseconds timeout) const {
  return runCommand({"ip", "netns", "exec", nsName(role), "sh", "-c", shell_command}, timeout);
}

std::unique_ptr<BackgroundProcess> Lab::startBackground(const std::string& role,
                                                        const std::string& shell_command) const {
  Exec exec({"ip", "netns", "exec", nsName(role), "sh", "-c", shell_command});
  char log_template[] = "/tmp/skouter-e2e-XXXXXX.log";
  int log_fd = mkostemps(log_template, 4, O_CLOEXEC);
  if (log_fd < 0) throw std::runtime_error("cannot create a log file in /tmp");
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    unlink(log_template);
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) execChild(exec, log_fd, log_fd);
  setpgid(pid, pid);
  close(log_fd);
  return std::make_unique<BackgroundProcess>(pid, log_template);
}

std::map<std::string, std::uint64_t> Lab::readSnmpCounters(const std::string& role) const {
  // /proc/net/* shows the reading process's namespace. netstat and snmp hold
  // pairs of lines ("TcpExt: A B ..." / "TcpExt: 1 2 ..."), snmp6 "Name value".
  CommandResult result =
      run(role, "cat /proc/net/netstat /proc/net/snmp /proc/net/snmp6", milliseconds(10'000));
  if (!result.ok()) throw std::runtime_error("reading /proc/net counters: " + result.describe());
  std::vector<std::vector<std::string>> lines;
  std::istringstream text(result.out);
  for (std::string line; std::getline(text, line);) {
    std::istringstream words(line);
    std::vector<std::string> tokens;
    for (std::string word; words >> word;) tokens.push_back(word);
    if (!tokens.empty()) lines.push_back(std::move(tokens));
  }
  std::map<std::string, std::uint64_t> counters;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& names = lines[i];
    if (names[0].back() == ':' && i + 1 < lines.size() && lines[i + 1][0] == names[0]) {
      const auto& values = lines[++i];
      const std::string prefix = names[0].substr(0, names[0].size() - 1);
      for (size_t j = 1; j < names.size() && j < values.size(); ++j) {
        // Tcp MaxConn is -1; it wraps like in nstat.
        counters[prefix + names[j]] = std::strtoull(values[j].c_str(), nullptr, 10);
      }
    } else if (names.size() == 2) {
      counters[names[0]] = std::strtoull(names[1].c_str(), nullptr, 10);
    }
  }
  return counters;
}

std::uint64_t Lab::readNstat(const std::string& role, const std::string& counter) const {
  auto counters = readSnmpCounters(role);
  auto it = counters.find(counter);
  if (it == counters.end()) throw std::runtime_error("no kernel counter named " + counter);
  return it->second;
}

}  // namespace skouter::e2e
