#!/bin/bash
# Where a full TLS handshake's CPU goes in a TLS-terminating proxy: epoll-reactor
# (bench/servers/proxy-server.js reactor-tls: createSecureServer + forward(),
# and reactor-tls-address: the same forwarding to the upstream's address),
# split by thread (the reactor thread, the JS thread), against HAProxy 2.6
# (one thread, `ssl crt`). Load: bench/.build/loadgen-tls --churn (a new
# connection and a full TLS 1.3 handshake per 64 B message, 50 slots), on
# CPU 0 with the C echo server; the proxy on CPU 1. CPU is read from
# /proc/PID/task/*/stat over 4 s in the middle of each 8 s run.
#
# usage: bench/tls-handshake-cpu.sh [RUNS] [--perf]
#   (build the load generators first: node bench/tls-proxy.js --quick, or
#   require('./bench/build-loadgen').buildTlsLoadgen(); needs haproxy, perf for --perf)
# --perf also records a profile of each proxy (perf record -g) into the work
# directory it prints, with JS frames named (node --perf-basic-prof).
set -u
cd "$(dirname "$0")/.."
RUNS=${1:-3}
PERF=0; [ "${2:-}" = "--perf" ] && PERF=1
D=$(mktemp -d /tmp/tls-handshake-cpu-XXXX); echo "work directory $D; load average $(cut -d' ' -f1 /proc/loadavg) at the start"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -days 1 \
  -keyout "$D/key.pem" -out "$D/cert.pem" 2>/dev/null
cat "$D/cert.pem" "$D/key.pem" > "$D/server.pem"
taskset -c 0 bench/.build/c-echo-server 0 > "$D/echo.out" & ECHO=$!
trap 'kill $ECHO 2>/dev/null' EXIT
sleep 0.5; UP=$(grep -o 'listening [0-9]*' "$D/echo.out" | cut -d' ' -f2)

ticks() { # pid [comm]: CPU ticks of the process's threads (all, or those named comm)
  local total=0 t
  for t in /proc/$1/task/*; do
    if [ -z "${2:-}" ] || [ "$(cat "$t/comm")" = "$2" ]; then total=$((total + $(awk '{print $14+$15}' "$t/stat"))); fi
  done
  echo $total
}

measure() { # label port pid: prints "label rate total_us js_us reactor_us" (µs of CPU per handshake)
  taskset -c 0 bench/.build/loadgen-tls --tls --host 127.0.0.1 --port "$2" --duration 8 --warmup 1 \
    --connect-timeout 10 --churn --connections 50 --size 64 > "$D/$1.json" 2>/dev/null & local lg=$!
  sleep 3
  local a0 j0 r0 a1 j1 r1
  a0=$(ticks "$3"); j0=$(ticks "$3" node); r0=$(ticks "$3" epoll-reactor)
  if [ $PERF = 1 ]; then perf record -F 999 -g -p "$3" -o "$D/$1.perf" -- sleep 4 >/dev/null 2>&1; else sleep 4; fi
  a1=$(ticks "$3"); j1=$(ticks "$3" node); r1=$(ticks "$3" epoll-reactor)
  wait $lg
  local rate; rate=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$D/$1.json','utf8').trim().split('\n').pop()).msgs_per_s)")
  node -e "const [r,a,j,e]=[$rate,$((a1-a0)),$((j1-j0)),$((r1-r0))].map(Number); const us=(t)=>(t*1e4/4/r).toFixed(0);
    console.log('$1', r.toFixed(0), us(a), us(j), us(e))"
}

for run in $(seq "$RUNS"); do
  # reactor-tls: forward() between the client and an upstream from connect();
  # reactor-tls-address: forward() to the upstream's address (no upstream socket in JS).
  for impl in reactor-tls reactor-tls-address; do
    label=epoll-reactor; [ $impl = reactor-tls-address ] && label=epoll-reactor-address
    TLS_KEY=$D/key.pem TLS_CERT=$D/cert.pem taskset -c 1 node $([ $PERF = 1 ] && echo --perf-basic-prof) \
      bench/servers/proxy-server.js $impl "$UP" auto > "$D/r.out" 2>&1 & R=$!
    for _ in $(seq 50); do grep -q listening "$D/r.out" && break; sleep 0.1; done
    measure $label "$(grep -o 'listening [0-9]*' "$D/r.out" | cut -d' ' -f2)" $R | tee -a "$D/rows"
    kill $R; wait $R 2>/dev/null
  done
  HP=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  printf 'global\n  nbthread 1\n  maxconn 8000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\nfrontend proxy\n  bind 127.0.0.1:%s ssl crt %s\n  default_backend upstream\nbackend upstream\n  server echo 127.0.0.1:%s\n' \
    "$HP" "$D/server.pem" "$UP" > "$D/haproxy.cfg"
  taskset -c 1 haproxy -db -f "$D/haproxy.cfg" > "$D/h.out" 2>&1 & H=$!
  sleep 1
  measure haproxy "$HP" $H | tee -a "$D/rows"
  kill $H; wait $H 2>/dev/null
done
echo
echo "medians over $RUNS runs (µs of proxy CPU per handshake; JS and reactor threads apply to epoll-reactor):"
node -e "
const rows = require('fs').readFileSync('$D/rows', 'utf8').trim().split('\n').map((l) => l.split(' '));
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const by = (name, i) => med(rows.filter((r) => r[0] === name).map((r) => Number(r[i])));
console.log('| proxy | handshakes/s | CPU µs/handshake | JS thread | reactor thread |');
console.log('|---|---:|---:|---:|---:|');
for (const name of ['epoll-reactor', 'epoll-reactor-address']) {
  console.log('| ' + name + ' | ' + by(name, 1) + ' | ' + by(name, 2) + ' | ' + by(name, 3) + ' | ' + by(name, 4) + ' |');
}
console.log('| HAProxy 2.6 | ' + by('haproxy', 1) + ' | ' + by('haproxy', 2) + ' | | |');
"
