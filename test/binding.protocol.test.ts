// lib and the addon agree on what crosses the bridge (src-native/reactor.h
// kBridgeProtocol): an addon built from other sources, such as a build/ left
// from before a pull, is refused with a message that says how to rebuild,
// instead of having its events misread.
import { BRIDGE_PROTOCOL, binding, checkProtocol } from '../lib/binding';

const onLinux = process.platform === 'linux' ? test : test.skip;

onLinux('the addon this checkout built speaks the protocol lib speaks', () => {
  expect(binding.available).toBe(true);
  expect(binding.protocol).toBe(BRIDGE_PROTOCOL);
});

test.each([
  ['an addon from before there was a protocol', undefined, 0],
  ['an addon of an older protocol', BRIDGE_PROTOCOL - 1, BRIDGE_PROTOCOL - 1],
  ['an addon of a newer protocol', BRIDGE_PROTOCOL + 1, BRIDGE_PROTOCOL + 1],
])('%s is refused, and the error says how to rebuild', (_what, protocol, shown) => {
  const stale = { available: true, protocol };
  expect(() => checkProtocol(stale, '/pkg/build/Release/epoll_reactor.node')).toThrow(
    `the native reactor at /pkg/build/Release/epoll_reactor.node speaks bridge protocol ${shown}, ` +
      `and this JavaScript speaks ${BRIDGE_PROTOCOL}`,
  );
  expect(() => checkProtocol(stale, 'x')).toThrow(/npm run build.*npm rebuild epoll-reactor/);
});

test('an addon of this protocol is taken', () => {
  expect(() => checkProtocol({ available: true, protocol: BRIDGE_PROTOCOL }, 'x')).not.toThrow();
});
