'use strict';
// What making one socket object costs on the JS thread: epoll-reactor's Socket
// (as users construct it, `new Socket()` from the package, and as servers do,
// the class itself) against node:net's. Per-connection JS work is most of what
// a reactor server adds per new connection (churn, TLS handshakes), so a
// regression here shows in `npm run bench`'s churn row and in handshakes/s.
//
// usage: node bench/socket-construct.js [--count 50000] [--rounds 5]
// Prints nanoseconds per construction, the median of the rounds, each round
// after the first (warm-up, not counted) constructing --count sockets of each.
const net = require('node:net');
const { Socket } = require('../dist');
const { Socket: SocketClass } = require('../dist/socket');

function parseArgs(argv) {
  const options = { count: 50000, rounds: 5 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (!(name in options)) throw new Error(`unknown option ${argv[i]}`);
    options[name] = Number(argv[++i]);
    if (!Number.isInteger(options[name]) || options[name] < 1) throw new Error(`--${name} takes a positive whole number`);
  }
  return options;
}

function nanosecondsEach(make, count) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) make();
  return Number(process.hrtime.bigint() - started) / count;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const options = parseArgs(process.argv.slice(2));
const kinds = {
  'epoll-reactor `new Socket()`': () => new Socket(),
  'epoll-reactor Socket class (as servers make them)': () => new SocketClass(),
  'node:net `new net.Socket()`': () => new net.Socket(),
};
const samples = Object.fromEntries(Object.keys(kinds).map((name) => [name, []]));
for (let round = 0; round <= options.rounds; round++) {
  for (const [name, make] of Object.entries(kinds)) {
    const each = nanosecondsEach(make, options.count);
    if (round > 0) samples[name].push(each);
  }
}
console.log(`Node ${process.version}, ${options.rounds} rounds × ${options.count} constructions, load average ${require('node:os').loadavg()[0].toFixed(2)}`);
console.log('| constructor | ns each (median) | min–max |');
console.log('|---|---:|---:|');
for (const [name, values] of Object.entries(samples)) {
  console.log(`| ${name} | ${median(values).toFixed(0)} | ${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)} |`);
}
