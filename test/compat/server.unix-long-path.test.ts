// Issue 14 (Node 24's tree, test-net-pipe-with-long-path): a Unix socket path
// longer than sun_path. Node 24's net fails listen and connect with EINVAL;
// Node 20 and 22 cut the path short and use that other name, which the
// package never does: there it fails with ENAMETOOLONG (docs/compatibility.md).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { trackServer, trackSocket, unixSocketPath, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

const netRefusesLongPaths = Number(process.versions.node.split('.')[0]) >= 24;

describe.each(netImplementations.filter(([name]) => netRefusesLongPaths || name === 'epoll-reactor'))('%s', (_name, implementation) => {
  const code = netRefusesLongPaths ? 'EINVAL' : 'ENAMETOOLONG';

  test(`listen() and connect() on a path longer than sun_path fail with ${code}, and no file is made`, async () => {
    const longPath = path.join(path.dirname(unixSocketPath()), `${'x'.repeat(200)}.sock`);
    const server = trackServer(implementation.createServer());
    server.listen(longPath);
    const listenError = await within(new Promise<NodeJS.ErrnoException>((resolve) => server.once('error', resolve)),
      2000, "the server's 'error'");
    expect(listenError.code).toBe(code);
    expect(listenError.syscall).toBe('listen');
    expect(fs.readdirSync(path.dirname(longPath))).toEqual([]);
    const socket = trackSocket(implementation.connect(longPath));
    const connectError = await within(new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve)),
      2000, "the socket's 'error'");
    expect(connectError.code).toBe(code);
    expect(connectError.syscall).toBe('connect');
  });
});
