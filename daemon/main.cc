// skouterd: the node's DNS-driven egress firewall daemon.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "daemon/daemon.h"
#include "daemon/log_format.h"
#include "daemon/options.h"

int main(int argc, char** argv) {
  auto parsed = skouter::daemon::parseCommandLine(argc, argv);
  if (!parsed.options) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << "\n";
    return parsed.exit_code;
  }
  // Logs go to stderr in either format; stdout is for what was asked (--help, --version).
  // The logger stays nameless, so text lines carry no name.
  auto logger =
      std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (parsed.options->log_format == skouter::daemon::LogFormat::kJson) {
    logger->set_formatter(std::make_unique<skouter::daemon::JsonLogFormatter>());
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(parsed.options->log_level));

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
