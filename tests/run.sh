#!/usr/bin/env bash
# Builds skouter and runs the whole test suite: unit tests, BPF tests in the running
# kernel (BPF_PROG_TEST_RUN), end-to-end tests in network namespaces, then the unit
# tests under sanitizers and the fuzzers (tests/sanitize-and-fuzz.sh). Needs root.
# Installs the Debian packages it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
  echo "tests/run.sh: run as root (BPF programs and network namespaces)" >&2
  exit 1
fi

bash deploy/install-deps.sh
# Line tables only (-g1): backtraces keep their file and line, and the build of the
# whole tree takes a fifth less time, which keeps the suite within 15 minutes.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
cmake --build build -j"$(nproc)"
# e2e tests are marked RUN_SERIAL; unit and BPF tests share the two cores.
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
# Unit tests under ASan/UBSan/LSan (gcc) and each fuzzer for SKOUTER_FUZZ_SECONDS
# (clang, libFuzzer); ends with "sanitize-and-fuzz: N passed, M failed".
bash tests/sanitize-and-fuzz.sh
