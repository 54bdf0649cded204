// getFinished() and getPeerFinished() give the handshake's Finished
// messages as TLSSocket's do (what tls-unique channel bindings are made
// of): what one end sent is what the other received, checked against a
// node:tls peer on each side, for TLS 1.3 and 1.2; undefined before the
// handshake, null once destroyed.
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket } from '../lib';
import { checkMustCalls, listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

type Finished = { finished: Buffer | undefined | null; peerFinished: Buffer | undefined | null };
const finishedOf = (socket: { getFinished(): Buffer | undefined; getPeerFinished(): Buffer | undefined }): Finished =>
  ({ finished: socket.getFinished(), peerFinished: socket.getPeerFinished() });

test.each(['TLSv1.3', 'TLSv1.2'] as const)('a reactor TLS server and a node client agree on the Finished messages (%s)', async (version) => {
  let serverSide: (finished: Finished) => void;
  const oursSeen = new Promise<Finished>((resolve) => { serverSide = resolve; });
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, maxVersion: version }, (socket) => {
    serverSide(finishedOf(socket));
    socket.end();
  }));
  const port = await listenLocal(server);
  const theirs = await new Promise<Finished>((resolve, reject) => {
    const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }, () => resolve(finishedOf(client))));
    client.on('error', reject);
  });
  // A TLS 1.3 Finished is an HMAC of the suite's hash (48 bytes for SHA-384); TLS 1.2's is 12.
  const ours = await oursSeen;
  expect(theirs.finished?.length).toBe(version === 'TLSv1.3' ? 48 : 12);
  expect(ours.peerFinished).toEqual(theirs.finished);
  expect(ours.finished).toEqual(theirs.peerFinished);
  expect(ours.finished).not.toEqual(ours.peerFinished);
});

test.each(['TLSv1.3', 'TLSv1.2'] as const)('a reactor TLS client and a node server agree on the Finished messages (%s)', async (version) => {
  let theirs: Finished | undefined;
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, maxVersion: version }, (socket) => {
    theirs = finishedOf(socket);
    socket.end();
  }));
  const port = await listenLocal(server);
  const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
  expect(finishedOf(socket)).toEqual({ finished: undefined, peerFinished: undefined });
  const ended = new Promise((resolve) => socket.once('end', resolve));
  socket.resume();
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  const ours = finishedOf(socket);
  await ended;
  expect(ours.finished?.length).toBe(version === 'TLSv1.3' ? 48 : 12);
  expect(ours.finished).toEqual(theirs!.peerFinished);
  expect(ours.peerFinished).toEqual(theirs!.finished);
  // A fresh Buffer each call.
  socket.getFinished()!.fill(0);
  expect(socket.getFinished()).toEqual(ours.finished);
  socket.destroy();
  // null, as TLSSocket's without its handle (Node 20 to 26).
  expect(finishedOf(socket)).toEqual({ finished: null, peerFinished: null });
});
