#!/bin/bash
# TLS 1.2 full handshakes per second (openssl s_time -new -tls1_2) against a
# server that takes each connection and does nothing: node:tls, this
# checkout's createSecureServer, and, given BASE (a built checkout of another
# commit), that one's, alternated for ROUNDS rounds. The server is pinned on
# CPU 1, s_time on CPU 0. What a change to the server's handshake path costs
# (session 60: the Finished waits for a JS turn, the verdict).
#
# usage: bench/tls12-handshakes.sh [ROUNDS] [BASE]
#   (needs openssl and dist/: npx tsc -p tsconfig.build.json; the key is a
#   fresh EC P-256 one, as the test PKI's)
set -u
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; BASE=${2:-}
D=$(mktemp -d /tmp/tls12-handshakes-XXXX)
echo "work directory $D; load average $(cut -d' ' -f1 /proc/loadavg) at the start"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -days 1 \
  -keyout "$D/key.pem" -out "$D/cert.pem" 2>/dev/null
cat > "$D/server.js" <<'JS'
// node server.js node|<package dir> key cert: prints its port.
const fs = require('fs');
const [which, keyPath, certPath] = process.argv.slice(2);
const tls = which === 'node' ? require('tls') : require(which + '/dist');
const create = which === 'node' ? tls.createServer : tls.createSecureServer;
const server = create({ key: fs.readFileSync(keyPath), cert: fs.readFileSync(certPath) },
  (socket) => socket.on('error', () => undefined));
server.on('tlsClientError', () => undefined);
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
JS
impls="node $PWD"; [ -n "$BASE" ] && impls="$impls $BASE"
for round in $(seq "$ROUNDS"); do
  for impl in $impls; do
    : > "$D/port"
    taskset -c 1 node "$D/server.js" "$impl" "$D/key.pem" "$D/cert.pem" > "$D/port" & pid=$!
    for _ in $(seq 50); do [ -s "$D/port" ] && break; sleep 0.1; done
    line=$(taskset -c 0 timeout 30 openssl s_time -connect "127.0.0.1:$(cat "$D/port")" -new -tls1_2 -time 4 2>&1 |
      grep -o '[0-9]* connections in [0-9.]* real seconds')
    kill "$pid"; wait "$pid" 2>/dev/null
    echo "round $round $impl: $line"
  done
done
rm -rf "$D"
