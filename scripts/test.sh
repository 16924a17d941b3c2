#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs every test:
# the whole suite on the default build, then unit and integration tests under
# AddressSanitizer+UndefinedBehaviorSanitizer and under ThreadSanitizer (browser, bench and
# install tests run once, on the default build), then every fuzz target (clang, ASan+UBSan)
# for TICKCAST_FUZZ_SECONDS each (default 30) from its seed corpus in fuzz/corpus/.
# clang-tidy checks the library and app code after the default build (TICKCAST_TIDY=0 skips it).
# TICKCAST_SANITIZERS=0 skips the sanitizer builds; TICKCAST_FUZZ_SECONDS=0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check-format.sh
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

scripts/build.sh default
# clang-tidy over build/default's compile database: core, transports, stores, clients and
# examples (scripts/check-tidy.sh: TICKCAST_TIDY=0 skips it, TICKCAST_TIDY_ALL=1 adds the
# tests, bench and fuzz, TICKCAST_TIDY_BASE=<ref> only the files changed since <ref>).
scripts/check-tidy.sh
ctest --preset default -j 2 --timeout 300 --output-on-failure

if [[ ${TICKCAST_SANITIZERS:-1} == 1 ]]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  for preset in asan tsan; do
    scripts/build.sh "$preset"
    ctest --preset "$preset" -j 2 --timeout 300 --output-on-failure --label-exclude "e2e|bench|install|hygiene"
  done
fi

if [[ ${TICKCAST_FUZZ_SECONDS:-30} != 0 ]]; then
  export TICKCAST_FUZZ_SECONDS=${TICKCAST_FUZZ_SECONDS:-30}
  scripts/build.sh fuzz
  # A crash fails here; its reproducer is left in fuzz/corpus/<target>/ (fuzz/README.md).
  ctest --preset fuzz -j 2 --output-on-failure
fi
