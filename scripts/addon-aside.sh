# Sourced by scripts/sanitize.sh and scripts/node-versions.sh, which build
# the addon apart from build/ (with sanitizers, or against another Node's
# headers) and then run the work tree's own tests against that build.
# Expects $root (the work tree); each caller runs its own node-gyp in $work.

# Makes $work: a scratch folder with what node-gyp needs, removed on exit.
# Readable by all: tests run some children as nobody (setpriv), and those
# load the addon from here.
addon_aside_prepare() {
  work="$(mktemp -d "/tmp/epoll-reactor-$1.XXXXXX")"
  chmod 755 "$work"
  trap 'rm -rf "$work"' EXIT
  tar -C "$root" -cf - package.json binding.gyp src-native | tar -C "$work" -xf -
  ln -s "$root/node_modules" "$work/node_modules"
}

# Points the work tree's tests (and their children, which inherit it) at
# $work's addon through node-gyp-build's EPOLL_REACTOR_PREBUILD, checks that
# node-gyp-build resolves to the expected file (by default $work's build;
# the second argument names another, such as a prebuild copied into $work),
# and compiles dist/ (children run it). Run with `node`, the Node that will
# run the tests. Jest's transform cache is keyed by path, so running in the
# work tree keeps it warm.
addon_aside_use() {
  local node="$1" expected="${2:-$work/build/Release/epoll_reactor.node}" loaded
  cd "$root"
  export EPOLL_REACTOR_PREBUILD="$work"
  loaded="$("$node" -p "require('node-gyp-build').path('$root')")"
  if [ "$loaded" != "$expected" ]; then
    echo "$(basename "$0"): the tests would load $loaded, not $expected" >&2
    exit 1
  fi
  "$node" node_modules/typescript/bin/tsc -p tsconfig.build.json
}
