// Loads each policy file given on the command line with skouterd's own loader, so the
// deploy tests can hold the CRD schema against what skouterd really accepts.
// Prints "FILE: N Egress" for a file that loads and the loader's error for one that
// does not; exits 1 if any file failed to load, 2 on a usage error.
#include <iostream>
#include <string>

#include "policy/loader.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " POLICY_FILE...\n";
    return 2;
  }
  int status = 0;
  for (int index = 1; index < argc; ++index) {
    const std::string path = argv[index];
    try {
      const auto egresses = skouter::policy::loadPolicyPath(path);
      std::cout << path << ": " << egresses.size() << " Egress\n";
    } catch (const skouter::policy::PolicyError& error) {
      std::cerr << error.what() << "\n";
      status = 1;
    }
  }
  return status;
}
