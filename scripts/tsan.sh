#!/usr/bin/env bash
# Runs the threading tests against a ThreadSanitizer build of the addon:
# the reactor thread against the JS thread, Workers with their own reactors,
# teardown while the loop runs, forward(), TLS sessions and contexts. Node
# itself is not instrumented, so gcc's libtsan is preloaded into it; it sees
# our code's memory accesses and every pthread mutex/condvar (libuv's and
# N-API's included), which is what orders the two threads. Reports from
# frames outside the addon are suppressed (scripts/tsan.supp) as they come
# from uninstrumented code.
#
#   scripts/tsan.sh                      # the threading tests
#   scripts/tsan.sh test/forward         # jest path patterns
#
# The addon is built in a scratch folder and the suite runs in the work tree
# (scripts/addon-aside.sh), so the normal build/ is left alone. Any report
# fails the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/addon-aside.sh"
addon_aside_prepare tsan
flags="-fsanitize=thread -fno-omit-frame-pointer -g"
# -Bsymbolic-functions: the addon calls its own (instrumented) copies of the
# C++ library's out-of-line templates. Without it they bind to the node
# binary's exported copies, which TSan cannot see: a shared_ptr released last
# on the JS thread (std::_Sp_counted_base::_M_release, node's copy) was then
# reported as a race with the reactor thread's earlier release.
(cd "$work" && CXXFLAGS="$flags" LDFLAGS="$flags -Wl,-Bsymbolic-functions" npx node-gyp rebuild -j 2 >/dev/null)
addon_aside_use node

if [ "$#" -eq 0 ]; then
  set -- test/worker.threads test/process.teardown test/forward test/server.close test/server.churn test/socket.integrity \
    test/tls.connect test/tls.client-context-cache
fi
log="$work/tsan"
export LD_PRELOAD="$(gcc -print-file-name=libtsan.so)"
export TSAN_OPTIONS="suppressions=$root/scripts/tsan.supp:halt_on_error=0:second_deadlock_stack=1:report_signal_unsafe=0:log_path=$log"
status=0
# jest straight from node: npm (npx) itself segfaults with libtsan preloaded.
# The bulk forward() transfers (64 MB each way, the 200 MB flood) are left out
# by name: at TSan's 5-15x slowdown they outrun their own 30 s timeouts, and
# the smaller forward tests drive the same threads.
node node_modules/jest/bin/jest.js --runInBand -t '^(?!.*(64 MB each way|floods 200 MB))' "$@" || status=$?
unset LD_PRELOAD
if ls "$log".* >/dev/null 2>&1; then
  echo "ThreadSanitizer reports:" >&2
  cat "$log".* >&2
  status=1
fi
exit "$status"
