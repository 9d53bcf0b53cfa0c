// Watches the policy files for changes (inotify on their directory) and reports each
// burst of changes once, after a short quiet period: an editor's or a ConfigMap's
// several steps (write, rename, symlink swap) make one reload.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <string>

namespace skouter::daemon {

class PolicyFileWatch {
 public:
  // `path`: a policy file or directory. When it cannot be watched, logs why (reload
  // with SIGHUP then) and never calls `on_change`.
  PolicyFileWatch(boost::asio::io_context& io, const std::string& path,
                  std::function<void()> on_change);

 private:
  void waitForChange();

  std::function<void()> on_change_;
  boost::asio::posix::stream_descriptor watch_;
  boost::asio::steady_timer quiet_period_;
  std::array<char, 4096> buffer_;
};

}  // namespace skouter::daemon
