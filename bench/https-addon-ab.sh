#!/bin/bash
# Two builds of the addon, side by side, on HTTPS keep-alive through
# serveHttp (bench/servers/http-server.js reactor https): the server pinned
# on CPU 1, wrk (1 thread, 100 connections) on CPU 0, the builds alternated
# in build/Release for ROUNDS rounds. Each run prints wrk's req/s and, from a
# `perf record` of the server over 4 s of it, the share of the server's
# samples in the symbols matching PATTERN, so that a change too small to
# see in req/s on this noisy machine is still counted.
#
# usage: bench/https-addon-ab.sh A.node B.node [ROUNDS] [PATTERN]
#   (build each addon first and copy build/Release/epoll_reactor.node aside;
#   needs wrk, perf, openssl and dist/: npx tsc -p tsconfig.build.json).
#   The build found in build/Release at the start is put back at the end.
set -u
cd "$(dirname "$0")/.."
A=$1; B=$2; ROUNDS=${3:-3}; PATTERN=${4:-'ERR_(clear|peek)_error|ossl_err_get_state_int|err_clear'}
D=$(mktemp -d /tmp/https-addon-ab-XXXX)
echo "work directory $D; load average $(cut -d' ' -f1 /proc/loadavg) at the start"
cp build/Release/epoll_reactor.node "$D/kept.node"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -days 1 \
  -keyout "$D/key.pem" -out "$D/cert.pem" 2>/dev/null
export BENCH_TLS_KEY="$D/key.pem" BENCH_TLS_CERT="$D/cert.pem"
port=9470
for round in $(seq "$ROUNDS"); do
  for build in A B; do
    addon=$A; [ $build = B ] && addon=$B
    cp "$addon" build/Release/epoll_reactor.node
    port=$((port + 1))
    taskset -c 1 node bench/servers/http-server.js reactor https $port > "$D/server.out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$D/server.out" && break; sleep 0.1; done
    taskset -c 0 wrk -t1 -c100 -d2s "https://127.0.0.1:$port/" > /dev/null 2>&1  # warmup
    perf record -q -F 999 -p $pid -o "$D/perf.$build.$round" -- sleep 4 > /dev/null 2>&1 &
    recorder=$!
    taskset -c 0 wrk -t1 -c100 -d5s "https://127.0.0.1:$port/" > "$D/wrk.$build.$round" 2>&1
    wait $recorder
    kill $pid; wait $pid 2>/dev/null
    rps=$(awk '/Requests\/sec/ {print $2}' "$D/wrk.$build.$round")
    share=$(perf report -i "$D/perf.$build.$round" --no-children --sort sym --stdio 2>/dev/null |
      grep -E "$PATTERN" | awk '{ s += $1 } END { printf "%.2f", s }')
    echo "round $round  $build  $rps req/s  $share % of server samples in /$PATTERN/"
  done
done
cp "$D/kept.node" build/Release/epoll_reactor.node
