#!/usr/bin/env bash
# Runs commands on the other Node versions the package supports. Each Node is
# the registry's node-linux-<arch> package (the official binary and its
# headers in include/node), unpacked once into a cache folder. Each run
# builds the addon against that Node's headers in a scratch folder of its
# own and runs in the work tree (scripts/addon-aside.sh): runs on different
# versions never share a build/, and the work tree's own build/ is left alone.
#
#   scripts/node-versions.sh path 24              # prints the cached node binary (fetching it first)
#   scripts/node-versions.sh version 24           # prints the pinned release (24.22.3)
#   scripts/node-versions.sh run 24 npm test      # builds against Node 24, runs `npm test` with it
#   scripts/node-versions.sh run 22 jest test/compat
#   scripts/node-versions.sh run-prebuilt 24 jest test/compat   # no build: the
#       work tree's prebuilds/linux-<arch> (npm run prebuilds), the addon that ships
#   NODE_ARCH=arm64 scripts/node-versions.sh path 26
#
# In `run`, the first word `npm` or `jest` runs the work tree's jest (or npm
# script) under the chosen node; anything else runs as given, with that
# node first on PATH.
#
# The cache is $EPOLL_REACTOR_NODE_CACHE, or ~/.cache/epoll-reactor.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${EPOLL_REACTOR_NODE_CACHE:-$HOME/.cache/epoll-reactor}"
arch="${NODE_ARCH:-x64}"

# The exact releases tested. Bump them together with the README's table.
pinned() {
  case "$1" in
    20) echo 20.20.2 ;;
    22) echo 22.23.5 ;;
    24) echo 24.22.3 ;;
    26) echo 26.12.1 ;;
    *.*.*) echo "$1" ;;
    *) echo "node-versions: no pinned release for Node $1" >&2; exit 2 ;;
  esac
}

# Unpacks node-linux-<arch>@<version> into $cache/node-<version>-<arch> once.
# Unpacking goes to a temporary folder that is renamed into place, so two
# runs fetching the same version at once cannot see a half-unpacked Node.
fetch() {
  local version dir tmp
  version="$(pinned "$1")"
  dir="$cache/node-$version-$arch"
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p "$cache"
    tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
    (cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
    tar -C "$tmp" -xzf "$tmp"/node-linux-"$arch"-"$version".tgz
    if ! mv -T "$tmp/package" "$dir" 2>/dev/null; then
      [ -x "$dir/bin/node" ] || { echo "node-versions: could not install $dir" >&2; exit 1; }
    fi
    rm -rf "$tmp"
  fi
  echo "$dir"
}

command="${1:-}"
case "$command" in
  path)
    echo "$(fetch "$2")/bin/node"
    ;;
  version)
    pinned "$2"
    ;;
  run | run-prebuilt)
    want="$2"
    shift 2
    dir="$(fetch "$want")"
    node="$dir/bin/node"
    source "$root/scripts/addon-aside.sh"
    addon_aside_prepare "node$want"
    export PATH="$dir/bin:$PATH"
    if [ "$command" = run-prebuilt ]; then
      # The prebuild is built once, against the oldest supported Node's
      # headers, for every version (scripts/prebuild.sh): run that file.
      prebuilt="prebuilds/linux-$arch/epoll-reactor.glibc.node"
      if [ ! -f "$root/$prebuilt" ]; then
        echo "node-versions: no $prebuilt in the work tree: run npm run prebuilds first" >&2
        exit 1
      fi
      mkdir -p "$work/prebuilds/linux-$arch"
      cp "$root/$prebuilt" "$work/$prebuilt"
      echo "node-versions: Node $("$node" -v), the prebuilt addon copied to $work" >&2
      addon_aside_use "$node" "$work/$prebuilt"
    else
      echo "node-versions: Node $("$node" -v), its addon in $work" >&2
      if ! (cd "$work" && npm_config_nodedir="$dir" "$node" node_modules/node-gyp/bin/node-gyp.js rebuild -j 2) \
        >"$work/build.log" 2>&1; then
        cat "$work/build.log" >&2
        exit 1
      fi
      addon_aside_use "$node"
    fi
    case "${1:-}" in
      jest) shift; "$node" node_modules/jest/bin/jest.js "$@" ;;
      npm) shift; npm "$@" ;;
      *) "$@" ;;
    esac
    ;;
  *)
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
