#include "daemon/policy_file_watch.h"

#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace skouter::daemon {

namespace {
constexpr auto kQuietPeriod = std::chrono::milliseconds(200);
}  // namespace

PolicyFileWatch::PolicyFileWatch(boost::asio::io_context& io, const std::string& path,
                                 std::function<void()> on_change)
    : on_change_(std::move(on_change)), watch_(io), quiet_period_(io) {
  const std::filesystem::path policy(path);
  // A file is watched through its directory: editors and ConfigMaps replace files
  // by renaming, which a watch on the file itself would not follow.
  const auto directory = std::filesystem::is_directory(policy) ? policy : policy.parent_path();
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, directory.empty() ? "." : directory.c_str(),
                                  IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                      IN_DELETE | IN_ATTRIB) < 0) {
    spdlog::warn("cannot watch {} for changes ({}); reload with SIGHUP", directory.string(),
                 std::strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  watch_.assign(fd);
  waitForChange();
}

void PolicyFileWatch::waitForChange() {
  watch_.async_read_some(
      boost::asio::buffer(buffer_), [this](const boost::system::error_code& error, std::size_t) {
        if (error) return;
        quiet_period_.expires_after(kQuietPeriod);
        quiet_period_.async_wait([this](const boost::system::error_code& cancelled) {
          if (!cancelled) on_change_();
        });
        waitForChange();
      });
}

}  // namespace skouter::daemon
