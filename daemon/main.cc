// skouterd: the node's DNS-driven egress firewall daemon.
#include <spdlog/spdlog.h>

#include <iostream>

#include "daemon/daemon.h"
#include "daemon/options.h"

int main(int argc, char** argv) {
  auto parsed = skouter::daemon::parseCommandLine(argc, argv);
  if (!parsed.options) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << "\n";
    return parsed.exit_code;
  }
  const auto level = spdlog::level::from_str(parsed.options->log_level);
  if (level == spdlog::level::off && parsed.options->log_level != "off") {
    std::cerr << "skouterd: --log-level: unknown level '" << parsed.options->log_level << "'\n";
    return 2;
  }
  spdlog::set_level(level);

  try {
    if (parsed.options->detach) return skouter::daemon::detach(*parsed.options);
    skouter::daemon::Daemon daemon(std::move(*parsed.options));
    daemon.run();
  } catch (const std::exception& error) {
    spdlog::critical("{}", error.what());
    return 1;
  }
  return 0;
}
