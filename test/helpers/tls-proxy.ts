// A TCP proxy that puts bytes in front of a TLS server's first answer: a
// warning alert before the ServerHello, as some servers send one
// (unrecognized_name). Both ways it passes everything else on as it comes.
import * as net from 'node:net';

/** An unrecognized_name warning alert record (TLS 1.2 record version). */
export const UNRECOGNIZED_NAME_WARNING = Buffer.from([21, 3, 3, 0, 2, 1, 112]);

/** A proxy to 127.0.0.1:`target` that writes `first` to the client just before the server's first bytes. */
export function serverBytesFirstProxy(target: number, first: Buffer): net.Server {
  return net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1');
    let sent = false;
    up.on('data', (chunk: Buffer) => {
      down.write(sent ? chunk : Buffer.concat([first, chunk]));
      sent = true;
    });
    down.on('data', (chunk: Buffer) => up.write(chunk));
    up.on('end', () => down.end());
    down.on('end', () => up.end());
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
    down.on('close', () => up.destroy());
  });
}
