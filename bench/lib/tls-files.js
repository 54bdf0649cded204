'use strict';
// A throwaway self-signed P-256 key and certificate (CN 127.0.0.1, one day)
// for the TLS benchmarks, in a temporary folder the caller removes.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function makeTlsFiles(prefix) {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const key = path.join(directory, 'key.pem');
  const cert = path.join(directory, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { directory, key, cert };
}

module.exports = { makeTlsFiles };
