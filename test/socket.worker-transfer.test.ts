// A reactor socket listed in postMessage's transferList (Node 26 moves a
// net.Socket's libuv handle to another thread that way): not supported, and
// refused cleanly: DataCloneError before anything changes, the socket still
// open and carrying bytes here (docs/compatibility.md). Node 26 says
// DataCloneError; Node 20 a TypeError (a Duplex is not a transferable).
import { once } from 'node:events';
import * as net from 'node:net';
import { MessageChannel } from 'node:worker_threads';

import { createServer, Socket } from '../lib';
import { checkMustCalls, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

test('postMessage with a reactor socket in the transfer list throws and leaves it working', async () => {
  let accepted: Socket | undefined;
  const server = track(createServer((socket: Socket) => { accepted = socket; }));
  const port = await listenLocal(server);
  const client = track(net.connect(port, '127.0.0.1'));
  await once(client, 'connect');
  await waitFor(() => accepted !== undefined, 5000, 'the connection');
  const { port1, port2 } = new MessageChannel();
  let name: string | undefined;
  try {
    port1.postMessage({ socket: accepted }, [accepted as never]);
  } catch (error) {
    name = (error as Error).name;
  } finally {
    port1.close();
    port2.close();
  }
  expect(['DataCloneError', 'TypeError']).toContain(name);
  expect(accepted!.destroyed).toBe(false);
  const echoed = once(client, 'data');
  accepted!.write('still here');
  expect(String((await echoed)[0])).toBe('still here');
  client.destroy();
});
