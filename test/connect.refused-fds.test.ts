// A refused outbound connect must give its fd back, as node:net does
// (issue 12 item 13): 500 refused connects once took a process from 20 to 523 fds.
import * as net from 'node:net';

import { connect, Socket } from '../lib';
import { Proxy } from '../lib/proxy/proxy';
import { openFdCount, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { closedPort } from './helpers/echo-client';

afterEach(releaseTracked);
jest.setTimeout(30000);

function refusedConnect(port: number): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    socket.once('connect', () => reject(new Error('connected to a closed port')));
    socket.once('error', resolve);
  });
}

test('200 refused connects (in batches of 20) leave the process with the fds it had, like node:net', async () => {
  const port = await closedPort();
  // The reactor itself (epoll fd, eventfd, spare fd) starts with the first connect.
  expect((await refusedConnect(port)).code).toBe('ECONNREFUSED');
  const before = openFdCount();
  for (let batch = 0; batch < 10; batch++) {
    const errors = await Promise.all(Array.from({ length: 20 }, () => refusedConnect(port)));
    for (const error of errors) expect(error).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
  }
  // Closes run on the reactor thread after the error reaches JS: wait for them, bounded.
  await waitFor(() => openFdCount() <= before + 2, 5000, `fds back near ${before} (now ${openFdCount()})`);
});

test('the proxy with its only upstream down: 60 clients are turned away and leave no fd behind', async () => {
  const downPort = await closedPort();
  const proxy = new Proxy({ listen: { host: '127.0.0.1', port: 0 }, upstreams: [{ host: '127.0.0.1', port: downPort }] });
  const address = await proxy.start();
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const turnAway = (): Promise<void> => new Promise((resolve) => {
    const client = track(net.connect(port, '127.0.0.1'));
    client.on('error', () => undefined);
    client.once('close', () => resolve());
    client.resume();
  });
  await turnAway();
  const before = openFdCount();
  for (let batch = 0; batch < 6; batch++) await Promise.all(Array.from({ length: 10 }, turnAway));
  await waitFor(() => openFdCount() <= before + 2, 5000, `fds back near ${before} (now ${openFdCount()})`);
  await proxy.stop();
});
