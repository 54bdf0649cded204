#!/bin/bash
# What resuming upstream TLS sessions saves a proxy: the proxy CLI
# (`epoll-reactor proxy --upstream-tls`) between plain clients and a TLS
# upstream (HAProxy 2.6, one thread, `ssl crt`, in front of the C echo
# server), with its default (each connection offers the upstream's newest
# session) and with --no-upstream-session-reuse (a full handshake each time),
# alternated. Load: bench/.build/loadgen --churn (a new connection per 64 B
# message, 50 slots), with HAProxy and the C echo server on CPU 0; the proxy
# on CPU 1. Proxy CPU is read from /proc/PID/task/*/stat over 4 s in the
# middle of each 8 s run, and divided by the connections made in that time.
#
# usage: bench/upstream-tls-reuse.sh [RUNS]
#   (build the load generator first: node bench/build-loadgen.js; needs haproxy)
set -u
cd "$(dirname "$0")/.."
RUNS=${1:-3}
D=$(mktemp -d /tmp/upstream-tls-reuse-XXXX); echo "work directory $D; load average $(cut -d' ' -f1 /proc/loadavg) at the start"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -days 1 \
  -addext subjectAltName=DNS:localhost -keyout "$D/key.pem" -out "$D/cert.pem" 2>/dev/null
cat "$D/cert.pem" "$D/key.pem" > "$D/server.pem"
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
taskset -c 0 bench/.build/c-echo-server 0 > "$D/echo.out" & ECHO=$!
sleep 0.5; UP=$(grep -o 'listening [0-9]*' "$D/echo.out" | cut -d' ' -f2)
HP=$(free_port)
printf 'global\n  nbthread 1\n  maxconn 8000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\nfrontend tls\n  bind 127.0.0.1:%s ssl crt %s\n  default_backend echo\nbackend echo\n  server echo 127.0.0.1:%s\n' \
  "$HP" "$D/server.pem" "$UP" > "$D/haproxy.cfg"
taskset -c 0 haproxy -db -f "$D/haproxy.cfg" > "$D/h.out" 2>&1 & H=$!
trap 'kill $ECHO $H 2>/dev/null' EXIT
sleep 1

ticks() { # pid: CPU ticks of all the process's threads
  local total=0 t
  for t in /proc/$1/task/*; do total=$((total + $(awk '{print $14+$15}' "$t/stat"))); done
  echo $total
}

measure() { # label port pid: prints "label connections/s µs-of-proxy-CPU-per-connection"
  taskset -c 0 bench/.build/loadgen --host 127.0.0.1 --port "$2" --duration 8 --warmup 1 \
    --connect-timeout 10 --churn --connections 50 --size 64 > "$D/$1.json" 2>/dev/null & local lg=$!
  sleep 3
  local a0 a1; a0=$(ticks "$3"); sleep 4; a1=$(ticks "$3")
  wait $lg
  local rate; rate=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$D/$1.json','utf8').trim().split('\n').pop()).msgs_per_s)")
  node -e "const [r,a]=[$rate,$((a1-a0))].map(Number); console.log('$1', r.toFixed(0), (a*1e4/4/r).toFixed(0))"
}

for run in $(seq "$RUNS"); do
  for variant in reuse full; do
    flags=(); [ "$variant" = full ] && flags=(--no-upstream-session-reuse)
    P=$(free_port)
    taskset -c 1 node bin/epoll-reactor.js proxy --listen "127.0.0.1:$P" --upstream "localhost:$HP" \
      --upstream-tls --upstream-ca "$D/cert.pem" "${flags[@]}" > "$D/p.out" 2>&1 & R=$!
    for _ in $(seq 50); do grep -q listening "$D/p.out" && break; sleep 0.1; done
    measure "$variant" "$P" $R | tee -a "$D/rows"
    kill $R; wait $R 2>/dev/null
  done
done
echo
echo "medians over $RUNS runs:"
node -e "
const rows = require('fs').readFileSync('$D/rows', 'utf8').trim().split('\n').map((l) => l.split(' '));
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const by = (name, i) => med(rows.filter((r) => r[0] === name).map((r) => Number(r[i])));
console.log('| upstream handshakes | connections/s | proxy CPU µs/connection |');
console.log('|---|---:|---:|');
console.log('| resumed (default) | ' + by('reuse', 1) + ' | ' + by('reuse', 2) + ' |');
console.log('| full (--no-upstream-session-reuse) | ' + by('full', 1) + ' | ' + by('full', 2) + ' |');
console.log('ratio of CPU per connection, resumed / full: ' + (by('reuse', 2) / by('full', 2)).toFixed(2));
"
