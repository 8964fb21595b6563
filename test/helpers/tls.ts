/**
 * Certificates for HTTPS tests, made at run time with the openssl command line (never committed):
 * a private CA, and server certificates it signs — good, expired, or for another name. Keys are
 * P-256 (fast to make); everything lands in a temp folder removed when the test process exits.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import type { AdminFetch } from '../../scripts/server/admin-client.ts';
import { tempDir } from './worker.ts';

export interface Issued {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestCa extends Issued {
  /** A server certificate signed by this CA, for `names` (IP addresses or DNS names). */
  issue(options?: { names?: string[]; days?: number }): Issued;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
let serial = 0;

/** A new self-signed CA, `name` as its common name. */
export function createTestCa(name = 'Hive Test CA'): TestCa {
  const dir = tempDir('hive-tls-');
  openssl(
    [
      'req',
      '-x509',
      ...KEY_ARGS,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const ca = read(dir, 'ca');
  return {
    ...ca,
    issue({ names = ['127.0.0.1', 'localhost'], days = 2 } = {}) {
      serial += 1;
      const base = `server-${serial}`;
      const altNames = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`));
      writeFileSync(
        join(dir, `${base}.ext`),
        `subjectAltName=${altNames.join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
      );
      openssl(
        [
          'req',
          ...KEY_ARGS,
          '-keyout',
          `${base}.key`,
          '-out',
          `${base}.csr`,
          '-subj',
          `/CN=${names[0]}`,
        ],
        dir,
      );
      // -days 0: valid from now to now, so expired from the next second on.
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${base}.csr`,
          '-CA',
          ca.certFile,
          '-CAkey',
          ca.keyFile,
          '-set_serial',
          String(serial),
          '-days',
          String(days),
          '-extfile',
          `${base}.ext`,
          '-out',
          `${base}.pem`,
        ],
        dir,
      );
      return read(dir, base);
    },
  };
}

function read(dir: string, base: string): Issued {
  const certFile = join(dir, `${base}.pem`);
  const keyFile = join(dir, `${base}.key`);
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
  };
}

/**
 * The environment of a worker process that must trust ONLY what the test says: this machine sets
 * NODE_EXTRA_CA_CERTS, SSL_CERT_FILE and SSL_CERT_DIR for every process (to the Debian bundle);
 * they are pointed at `trust` (files, or an empty file), so nothing else is trusted by accident.
 */
export function trustEnv(trust: {
  extraCaFile?: string;
  systemCaFile?: string;
}): Record<string, string> {
  const none = join(tempDir('hive-tls-none-'), 'empty.pem');
  writeFileSync(none, '');
  return {
    NODE_EXTRA_CA_CERTS: trust.extraCaFile ?? '',
    SSL_CERT_FILE: trust.systemCaFile ?? none,
    // An empty folder: a missing one makes Node print "Cannot open directory" at every TLS start.
    SSL_CERT_DIR: tempDir('hive-tls-nodir-'),
  };
}

/**
 * A fetch that trusts `caPem` (only it) for the test's own admin calls, so the test process's
 * default trust stays as the machine has it and cannot make a worker case pass by accident.
 */
export function trustingFetch(caPem: string): AdminFetch {
  const dispatcher = new Agent({ connect: { ca: caPem } });
  return (url, init) => fetch(url, { ...init, dispatcher });
}
