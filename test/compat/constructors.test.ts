// Theme 4 of issue 14: node:net's Server and Socket may be called without
// `new`, and what they return is an instance of the class.
import { trackServer, trackSocket, useCompatHarness } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('Server() without new makes a server, with the connection listener', () => {
    const listener = (): void => {};
    const server = trackServer((implementation.Server as unknown as (l: () => void) => InstanceType<typeof implementation.Server>)(listener));
    expect(server).toBeInstanceOf(implementation.Server);
    expect(server.listeners('connection')).toContain(listener);
  });

  test('Socket() without new makes a socket', () => {
    const socket = trackSocket((implementation.Socket as unknown as (o: object) => InstanceType<typeof implementation.Socket>)({ allowHalfOpen: true }));
    expect(socket).toBeInstanceOf(implementation.Socket);
    expect(socket.allowHalfOpen).toBe(true);
  });

  test('a subclass of Server and of Socket constructs instances of itself', () => {
    class MyServer extends implementation.Server {}
    class MySocket extends implementation.Socket {}
    const server = trackServer(new MyServer());
    const socket = trackSocket(new MySocket());
    expect(server).toBeInstanceOf(MyServer);
    expect(server).toBeInstanceOf(implementation.Server);
    expect(socket).toBeInstanceOf(MySocket);
  });
});
