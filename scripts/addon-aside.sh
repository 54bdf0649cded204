# Sourced by scripts/sanitize.sh, scripts/tsan.sh and scripts/node-versions.sh,
# which build the addon apart from build/ (with sanitizers, or against
# another Node's headers) and then run the work tree's own tests against that
# build. Expects $root (the work tree).

# What a build in $work was made from: its kind (asan, node24, ...) and the
# sources node-gyp reads. A build made ahead is used only if this still holds.
addon_aside_stamp() {
  echo "$1 $(tar -C "$root" -cf - --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    package.json binding.gyp src-native | sha256sum | cut -d' ' -f1)"
}

# Makes $work, a scratch folder with what node-gyp needs (removed on exit),
# and runs the build command ($2...) in it, its output in $work/build.log,
# shown if it fails. Readable by all: tests run some children as nobody
# (setpriv), and those load the addon from here.
#
# With EPOLL_REACTOR_ASIDE set, $work is that folder and is kept: .ci/run
# builds there ahead of time, while the reliability cases run, and the later
# run finds the build done. A build of another kind, or from other sources,
# is thrown away and made again.
addon_aside_build() {
  local kind="$1" stamp
  shift
  stamp="$(addon_aside_stamp "$kind")"
  if [ -n "${EPOLL_REACTOR_ASIDE:-}" ]; then
    work="$EPOLL_REACTOR_ASIDE"
    if [ -f "$work/build/Release/epoll_reactor.node" ] && [ "$(cat "$work/stamp" 2>/dev/null)" = "$stamp" ]; then
      echo "$(basename "$0"): the $kind addon built ahead in $work" >&2
      return
    fi
    rm -rf "$work"
    mkdir -p "$work"
  else
    work="$(mktemp -d "/tmp/epoll-reactor-$kind.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
  fi
  chmod 755 "$work"
  tar -C "$root" -cf - package.json binding.gyp src-native | tar -C "$work" -xf -
  ln -s "$root/node_modules" "$work/node_modules"
  if ! (cd "$work" && "$@") >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    exit 1
  fi
  echo "$stamp" >"$work/stamp"
}

# Points the work tree's tests (and their children, which inherit it) at
# $work's build through node-gyp-build's EPOLL_REACTOR_PREBUILD, checks that
# node-gyp-build resolves there, and compiles dist/ (children run it). Run
# with `node`, the Node that will run the tests. Jest's transform cache is
# keyed by path, so running in the work tree keeps it warm.
addon_aside_use() {
  local node="$1" loaded
  cd "$root"
  export EPOLL_REACTOR_PREBUILD="$work"
  loaded="$("$node" -p "require('node-gyp-build').path('$root')")"
  if [ "$loaded" != "$work/build/Release/epoll_reactor.node" ]; then
    echo "$(basename "$0"): the tests would load $loaded, not the build in $work" >&2
    exit 1
  fi
  "$node" node_modules/typescript/bin/tsc -p tsconfig.build.json
}
