// Sockets and servers made the same way share one V8 hidden class (map), as
// node:net's do. Before, the exported constructors were proxies that V8 saw
// as new.target, and it built a fresh map chain for every socket: about 50 µs
// a construction instead of well under one, and every inline cache the
// socket passed through afterwards went megamorphic (bench/socket-construct.js
// times it; docs/benchmarks.md, "Session 21").
import * as v8 from 'node:v8';

import { Server, Socket } from '../lib';
import { duplexOptionsOf } from '../lib/socket';

// Every socket and server a test makes is closed after it.
const opened: Array<{ destroy?: () => void; close?: () => void }> = [];
function tracked<T extends { destroy?: () => void; close?: () => void }>(value: T): T {
  opened.push(value);
  return value;
}
afterEach(() => {
  for (const value of opened.splice(0)) {
    if (value.destroy) value.destroy();
    else value.close?.();
  }
});

// V8's own test hook; the flag only lets code compiled after it use the syntax.
v8.setFlagsFromString('--allow-natives-syntax');
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

test('the check itself tells objects of different shapes apart', () => {
  expect(haveSameMap({ a: 1 }, { a: 2 })).toBe(true);
  expect(haveSameMap({ a: 1 }, { b: 1 })).toBe(false);
});

test('new Socket() twice gives sockets of one shape', () => {
  const first = tracked(new Socket());
  const second = tracked(new Socket());
  expect(haveSameMap(first, second)).toBe(true);
});

test('Socket() without new gives the shape new Socket() gives', () => {
  const made = tracked((Socket as unknown as () => Socket)());
  const constructed = tracked(new Socket());
  expect(haveSameMap(made, constructed)).toBe(true);
});

test('a subclass of Socket gives its own instances one shape', () => {
  class TaggedSocket extends Socket {
    tag = 'tagged';
  }
  const first = tracked(new TaggedSocket());
  const second = tracked(new TaggedSocket());
  expect(first).toBeInstanceOf(TaggedSocket);
  expect(first.tag).toBe('tagged');
  expect(haveSameMap(first, second)).toBe(true);
});

test('the options a socket makes its Duplex with keep one shape once optimized', () => {
  // A spread of one literal into another got a fresh map per call from V8's
  // optimized code, and the stream constructors that read it went megamorphic.
  const options: object[] = [];
  for (let i = 0; i < 20_000; i++) options.push(duplexOptionsOf({ highWaterMark: i }));
  expect(haveSameMap(options[options.length - 2], options[options.length - 1])).toBe(true);
  expect(haveSameMap(options[0], options[options.length - 1])).toBe(true);
});

test('new Server() twice gives servers of one shape', () => {
  const first = tracked(new Server());
  const second = tracked(new Server());
  expect(haveSameMap(first, second)).toBe(true);
});
