// Parses a skouterd command line, with the configuration file its --config names,
// exactly as skouterd does but without running anything, so the deploy tests can check
// the packaged configuration (deploy/etc/skouter/skouterd.yaml). Prints the policy path
// and exits 0 when skouterd would start with these flags; otherwise prints skouterd's
// message and exits with its usage error code (2), or 3 for --help and --version.
#include <iostream>

#include "daemon/options.h"

int main(int argc, char** argv) {
  const auto parsed = skouter::daemon::parseCommandLine(argc, argv);
  if (!parsed.options) {
    std::cerr << parsed.message << "\n";
    return parsed.exit_code == 0 ? 3 : parsed.exit_code;
  }
  std::cout << "policy: " << parsed.options->policy_path << "\n";
  return 0;
}
