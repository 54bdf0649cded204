// node's net.BoundSocket (Node 24.22 and 26), as the BoundSocket tests see
// it: undefined where net has none, and `maybe` runs a case only where it has.
import * as net from 'node:net';

export interface BoundSocket {
  address(): net.AddressInfo | string;
  fd(): number;
  close(): void;
}
type BoundSocketClass = new (options?: { host?: string; port?: number; path?: string }) => BoundSocket;

export const BoundSocket = (net as unknown as { BoundSocket?: BoundSocketClass }).BoundSocket;
export const maybe = BoundSocket !== undefined ? test : test.skip;
