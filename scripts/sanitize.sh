#!/usr/bin/env bash
# Runs the jest suite against an AddressSanitizer + UndefinedBehaviorSanitizer
# build of the addon, built in a scratch folder while the suite runs in the
# work tree itself (scripts/addon-aside.sh), so the normal build/ is left alone.
#
#   scripts/sanitize.sh                 # the whole suite
#   scripts/sanitize.sh test/forward    # jest path patterns
#
# Leak detection is off: Node itself does not free everything at exit, and
# LeakSanitizer would report that. Any ASan or UBSan report fails the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/addon-aside.sh"
addon_aside_prepare asan
sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# -Bsymbolic-functions: the addon's own instrumented copies of the C++
# library's out-of-line templates run, not the node binary's (scripts/tsan.sh).
(cd "$work" && CXXFLAGS="$sanitizers" LDFLAGS="$sanitizers -Wl,-Bsymbolic-functions" npx node-gyp rebuild -j 2 >/dev/null)
addon_aside_use node

asan="$(gcc -print-file-name=libasan.so)"
ubsan="$(gcc -print-file-name=libubsan.so)"
log="$work/sanitizer"
export LD_PRELOAD="$asan:$ubsan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$log"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$log"
status=0
# Tests that bound RSS are skipped by name: ASan's shadow memory and its
# quarantine of freed blocks (256 MB) make RSS say nothing about our memory.
# They run, with their byte checks, in npm test. So do the proxy CLI's
# bad-flag cases (each starts a process, a second under ASan, that exits
# before it opens a socket) and the TypeScript consumers' type-checks (tsc,
# no native code, 15 s each under ASan's allocator), and node:net's halves of
# the compat cases, which run no native code either.
npx jest -t '^(?!node:net )(?!.*(RSS|bad flags|type-checks))' "$@" || status=$?
if ls "$log".* >/dev/null 2>&1; then
  echo "sanitizer reports:" >&2
  cat "$log".* >&2
  status=1
fi
exit "$status"
