#!/usr/bin/env bash
# The sanitizer and fuzzing stage of tests/run.sh; runs on its own too, from anywhere:
#
#   tests/sanitize-and-fuzz.sh        (SKOUTER_FUZZ_SECONDS=N: fuzz each target N s, default 10; longer runs find more)
#
#  1. asan unit tests: skouter_unit_tests built with gcc and -DSKOUTER_SANITIZE=ON
#     (ASan, UBSan, LSan) in build-asan, run with every report fatal. A Debug (-O0)
#     build: with the sanitizers, -O2 takes four times the CPU time to compile.
#  2. each libFuzzer target of tests/fuzz, built with clang and -DSKOUTER_FUZZ=ON in
#     build-fuzz, run for SKOUTER_FUZZ_SECONDS on a copy of its committed corpus in a
#     temporary directory (the repository is never written to).
# Any crash, leak, sanitizer report or timeout fails its stage; a failing input is kept
# in build-fuzz/artifacts/TARGET/ and printed in hex (see tests/fuzz/README.md to add
# it to the corpus). The last line is "sanitize-and-fuzz: N passed, M failed"; the exit
# status is non-zero when M > 0.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly REPO=$PWD
readonly SECONDS_PER_FUZZER=${SKOUTER_FUZZ_SECONDS:-10}
JOBS=$(nproc)
readonly JOBS
readonly FUZZERS=(answer policy suggestion event client_hello quic_initial)

# -max_total_time=0 would mean "forever".
if ! [[ $SECONDS_PER_FUZZER =~ ^[0-9]+$ ]] || ((SECONDS_PER_FUZZER < 1)); then
  echo "sanitize-and-fuzz: SKOUTER_FUZZ_SECONDS must be a whole number of seconds >= 1" >&2
  exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/skouter-sanitize-and-fuzz.XXXXXX")
readonly WORK
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
timings=()
LAST_STATUS=0

# run LABEL LOG COMMAND...: runs a build step quietly, its output shown on failure.
run() {
  local label=$1 log=$2
  shift 2
  if ! "$@" >"$log" 2>&1; then
    echo "sanitize-and-fuzz: $label failed:" >&2
    tail -n 60 "$log" >&2
    return 1
  fi
}

# timed NAME COMMAND...: runs COMMAND in a subshell with errexit, records its time and
# sets LAST_STATUS. Called as a plain command: inside `if` or `||`, bash would ignore
# errexit in COMMAND.
timed() {
  local name=$1 start=$SECONDS
  shift
  set +e
  (
    set -e
    "$@"
  )
  LAST_STATUS=$?
  set -e
  timings+=("$(printf '%-16s %4ds  %s' "$name" $((SECONDS - start)) \
    "$( ((LAST_STATUS == 0)) && echo ok || echo FAILED)")")
}

# count STAGE STATUS: one stage of the final line.
count() {
  if (($2 == 0)); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "sanitize-and-fuzz: FAILED: $1" >&2
  fi
}

# -g1: the line tables are all a sanitizer's report needs, at a fifth less build time.
build_asan() {
  run "configure build-asan" "$WORK/asan-configure.log" \
    env CC=gcc CXX=g++ cmake -S "$REPO" -B "$REPO/build-asan" \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DSKOUTER_SANITIZE=ON
  run "build skouter_unit_tests (asan)" "$WORK/asan-build.log" \
    cmake --build "$REPO/build-asan" -j"$JOBS" --target skouter_unit_tests
}

run_asan_unit_tests() {
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$REPO/build-asan/bin/skouter_unit_tests" --gtest_brief=1
}

build_fuzzers() {
  run "configure build-fuzz" "$WORK/fuzz-configure.log" \
    env CC=clang CXX=clang++ cmake -S "$REPO" -B "$REPO/build-fuzz" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSKOUTER_FUZZ=ON
  local targets=()
  for fuzzer in "${FUZZERS[@]}"; do targets+=(--target "${fuzzer}_fuzzer"); done
  run "build the fuzzers" "$WORK/fuzz-build.log" \
    cmake --build "$REPO/build-fuzz" -j"$JOBS" "${targets[@]}"
}

# The value of a libFuzzer status field ("cov: 123") in its last status line.
status_field() {
  { grep -E '^#[0-9]+' "$1" || true; } | grep -F " $2: " | tail -n 1 |
    sed -E "s/.* $2: ([^ ]+).*/\\1/" || true
}

run_fuzzer() {
  local name=$1
  local binary="$REPO/build-fuzz/bin/${name}_fuzzer"
  local corpus="$WORK/corpus-$name" artifacts="$WORK/artifacts-$name" log="$WORK/fuzz-$name.log"
  cp -r "$REPO/tests/fuzz/corpus/$name" "$corpus"
  mkdir -p "$artifacts"
  local seeds status=0 start=$SECONDS
  seeds=$(find "$corpus" -type f | wc -l)

  echo "sanitize-and-fuzz: fuzzing ${name}_fuzzer for ${SECONDS_PER_FUZZER}s ($seeds seeds)"
  # ldns is built without frame pointers: only the slow unwinder sees the ldns frames
  # the leak suppressions name. The other targets do not use ldns and run several times faster.
  local unwind=""
  [[ $name == answer ]] && unwind=":fast_unwind_on_malloc=0"
  ASAN_OPTIONS="detect_leaks=1$unwind" LSAN_OPTIONS="suppressions=$REPO/tests/fuzz/lsan.supp" \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$binary" -max_total_time="$SECONDS_PER_FUZZER" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || status=$?
  local took=$((SECONDS - start))

  local executions corpus_now corp cov ft rss
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  corpus_now=$(find "$corpus" -type f | wc -l)
  corp=$(status_field "$log" corp)
  cov=$(status_field "$log" cov)
  ft=$(status_field "$log" ft)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  printf '%s_fuzzer: %s executions in %ss, corpus %s -> %s inputs (%s), coverage %s edges / %s features, peak rss %s MB\n' \
    "$name" "${executions:-?}" "$took" "$seeds" "$corpus_now" "${corp:-?}" "${cov:-?}" \
    "${ft:-?}" "${rss:-?}"

  local found=()
  mapfile -t found < <(find "$artifacts" -type f | sort)
  if ((status == 0 && ${#found[@]} == 0)) &&
    ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|^SUMMARY: ' "$log"; then
    return 0
  fi

  echo "sanitize-and-fuzz: ${name}_fuzzer failed (exit status $status); its report:" >&2
  # From the first report line on, else the end of the log.
  if grep -qnE '^==[0-9]+==|runtime error:|invariant violated' "$log"; then
    sed -n "$(grep -nE '^==[0-9]+==|runtime error:|invariant violated' "$log" | head -n 1 | cut -d: -f1),\$p" "$log" |
      head -n 120 >&2
  else
    tail -n 60 "$log" >&2
  fi
  local keep="$REPO/build-fuzz/artifacts/$name"
  mkdir -p "$keep"
  for artifact in "${found[@]}"; do
    cp "$artifact" "$keep/"
    echo "sanitize-and-fuzz: reproducer $keep/$(basename "$artifact") ($(stat -c %s "$artifact") bytes):" >&2
    echo "  hex: $(od -An -v -tx1 "$artifact" | tr -d ' \n')" >&2
    echo "  rerun: $binary $keep/$(basename "$artifact")" >&2
  done
  return 1
}

timed "asan build" build_asan
if ((LAST_STATUS == 0)); then timed "asan unit tests" run_asan_unit_tests; fi
count "asan unit tests" "$LAST_STATUS"

timed "fuzz build" build_fuzzers
built=$LAST_STATUS
for fuzzer in "${FUZZERS[@]}"; do
  LAST_STATUS=$built
  if ((built == 0)); then timed "${fuzzer}_fuzzer" run_fuzzer "$fuzzer"; fi
  count "${fuzzer}_fuzzer" "$LAST_STATUS"
done

echo "sanitize-and-fuzz: stage times"
printf '  %s\n' "${timings[@]}"
echo "sanitize-and-fuzz: $passed passed, $failed failed"
((failed == 0))
