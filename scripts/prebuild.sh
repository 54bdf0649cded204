#!/usr/bin/env bash
# Builds the prebuilt addons that ship in the npm tarball (not in git: they
# are build outputs), with prebuildify, into prebuilds/<platform>-<arch>/:
#
#   scripts/prebuild.sh            # linux-x64 and linux-arm64
#   scripts/prebuild.sh x64        # one architecture
#
# The addon uses only N-API (NAPI_VERSION in binding.gyp), so one build per
# architecture serves every supported Node. It is compiled against the
# headers of the oldest supported Node (the registry's node-linux-<arch>
# package, fetched by scripts/node-versions.sh), so that it asks for nothing
# newer. linux-arm64 is cross-compiled with Debian's g++-aarch64-linux-gnu
# (apt-get install g++-aarch64-linux-gnu). Both are for glibc (tagged so:
# node-gyp-build will not load them on musl, and compiles there instead).
#
# The build happens in a copy of the work tree, so build/ is left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
oldest=20
arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x64 arm64)

work="$(mktemp -d /tmp/epoll-reactor-prebuild.XXXXXX)"
trap 'rm -rf "$work"' EXIT
tar -C "$root" --exclude=./node_modules --exclude=./build --exclude=./.git --exclude=./prebuilds \
  --exclude=./dist --exclude=./types -cf - . | tar -C "$work" -xf -
ln -s "$root/node_modules" "$work/node_modules"

for arch in "${arches[@]}"; do
  nodedir="$(dirname "$(dirname "$(NODE_ARCH="$arch" "$root/scripts/node-versions.sh" path "$oldest")")")"
  version="$("$root/scripts/node-versions.sh" version "$oldest")"
  case "$arch" in
    x64) cross=() ;;
    arm64)
      if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
        echo "prebuild: linux-arm64 needs a cross compiler: apt-get install g++-aarch64-linux-gnu" >&2
        exit 1
      fi
      cross=(CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
        PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip)
      ;;
    *) echo "prebuild: no prebuild for $arch (x64, arm64)" >&2; exit 2 ;;
  esac
  rm -rf "$root/prebuilds/linux-$arch"
  # JOBS: node-gyp compiles on every core (one job by default).
  (cd "$work" && rm -rf build && env "${cross[@]}" JOBS=max npm_config_nodedir="$nodedir" \
    node node_modules/prebuildify/bin.js --napi --strip --tag-libc --arch "$arch" --target "node@$version" \
    --out "$root" --quiet)
  file "$root/prebuilds/linux-$arch/"*.node 2>/dev/null || ls -l "$root/prebuilds/linux-$arch/"
done
