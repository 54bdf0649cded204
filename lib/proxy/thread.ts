// One reactor thread of `epoll-reactor proxy --threads N`: a worker_thread
// running a whole Proxy on its own reactor, listening with SO_REUSEPORT on
// the port the first thread got. lib/proxy/threads.ts starts it and talks
// to it through these messages:
//   in:  {type: 'stats', seq} | {type: 'count', seq} | {type: 'stop', graceMs}
//   out: {type: 'listening', address, port} | {type: 'start-error', message, code}
//        {type: 'stats', seq, stats} | {type: 'count', seq, open} | {type: 'stopped', forced, stats}
import { linkToPrimary } from '../pool-workers';
import { Proxy } from './proxy';
import type { ProxyThreadConfig } from './threads';

async function main(): Promise<void> {
  const link = linkToPrimary();
  if (link === undefined) throw new Error('proxy/thread.js is started by `epoll-reactor proxy --threads`; it is not a program of its own');
  const options = link.config as unknown as ProxyThreadConfig;
  const proxy = new Proxy(options);
  let address: string;
  try {
    address = await proxy.start({
      reusePort: true, openClients: { counts: new Int32Array(options.openClients), index: options.threadIndex },
    });
  } catch (error) {
    const { message, code } = error as NodeJS.ErrnoException;
    link.send({ type: 'start-error', message, code });
    link.release();
    return;
  }
  let stopping = false;
  link.onMessage((message) => {
    switch (message.type) {
      case 'stats':
        link.send({ type: 'stats', seq: message.seq, stats: proxy.stats() });
        break;
      case 'count':
        link.send({ type: 'count', seq: message.seq, open: proxy.activeConnections });
        break;
      case 'stop': {
        // A second stop shortens the grace; the first one's promise reports.
        const stopped = proxy.stop(message.graceMs as number);
        if (stopping) break;
        stopping = true;
        void stopped.then((forced) => {
          link.send({ type: 'stopped', forced, stats: proxy.stats() });
          link.release();
        });
        break;
      }
    }
  });
  const listen = options.listen as { port: number };
  link.send({ type: 'listening', address, port: listen.port === 0 ? Number(address.slice(address.lastIndexOf(':') + 1)) : listen.port });
}

void main();
