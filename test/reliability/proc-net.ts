// Finding the fd number of one of this process's TCP sockets, by its ports,
// through /proc/net/tcp (port -> inode) and /proc/self/fd (inode -> fd).
import * as fs from 'node:fs';

function inodeOf(localPort: number, remotePort: number): string | undefined {
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const local = parseInt(fields[1].split(':')[1], 16);
    const remote = parseInt(fields[2].split(':')[1], 16);
    if (local === localPort && remote === remotePort) return fields[9];
  }
  return undefined;
}

/** The fd number this process holds for the TCP socket localPort <-> remotePort, or -1. */
export function fdOfConnection(localPort: number, remotePort: number): number {
  const inode = inodeOf(localPort, remotePort);
  if (inode === undefined || inode === '0') return -1;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === `socket:[${inode}]`) return Number(fd);
    } catch {
      // Closed while we looked.
    }
  }
  return -1;
}
