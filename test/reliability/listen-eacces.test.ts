// RELIABILITY #40 (the part the other tests cannot reach as root): EACCES from
// listen() is an 'error' event with net's code and syscall, as is EADDRINUSE
// (test/server.listen-errors.test.ts). The child drops to the nobody user with
// setpriv, so that binding port 80 is refused.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SETPRIV = '/usr/bin/setpriv';

test("RELIABILITY #40: listen(80) without the privilege: an 'error' event EACCES from listen, the same as net's", () => {
  if (!fs.existsSync(SETPRIV)) throw new Error(`${SETPRIV} is needed to run a child as an unprivileged user (util-linux)`);
  const dist = path.resolve(__dirname, '..', '..', 'dist');
  const script = (implementation: string): string => `
    const { createServer } = ${implementation};
    const server = createServer();
    server.on('error', (error) => { console.log(JSON.stringify({ code: error.code, syscall: error.syscall, sync: false })); process.exit(0); });
    try { server.listen(80, '127.0.0.1', () => { console.log(JSON.stringify({ listening: true })); process.exit(1); }); }
    catch (error) { console.log(JSON.stringify({ code: error.code, sync: true })); }`;
  // A child that fails is reported by its output: execFileSync's own error
  // holds a circular reference that jest cannot pass back from its worker.
  // 30 s: under ASan on a busy machine, starting node alone takes seconds.
  const run = (implementation: string): unknown => {
    let output: string;
    try {
      output = execFileSync(SETPRIV,
        ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script(implementation)],
        { encoding: 'utf8', timeout: 30_000 });
    } catch (error) {
      const { message, stdout, stderr } = error as { message: string; stdout?: string; stderr?: string };
      throw new Error(`${message}\nstdout: ${stdout ?? ''}\nstderr: ${stderr ?? ''}`);
    }
    return JSON.parse(output.trim());
  };
  const reactor = run(`require(${JSON.stringify(dist)})`);
  expect(reactor).toEqual({ code: 'EACCES', syscall: 'listen', sync: false });
  expect(reactor).toEqual(run("require('node:net')"));
});
