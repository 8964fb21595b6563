/**
 * `startServer()`: the reference Hive server, in process. Wires the database, the task store, long
 * polls, faults and metrics to a `node:http` server (`node:https` when given a certificate)
 * listening on `host:port`.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import semver from 'semver';
import { PROTOCOL_VERSIONS, type ProtocolVersion, type ServerParts } from './context.ts';
import { Database } from './db.ts';
import { FaultBook } from './faults.ts';
import { Handouts } from './handouts.ts';
import { LongPolls } from './long-poll.ts';
import { ServerMetrics } from './metrics.ts';
import { createRequestListener } from './router.ts';
import { TaskStore } from './store.ts';

export interface ServerOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Folder of `server.db` (created if needed); undefined = in memory, lost on close. */
  dataDir?: string;
  /** Folder of release files (`worker-<version>-<platform>.json` and what they point to). */
  releasesDir?: string;
  /** Bearer token every request must carry (401 missing, 403 wrong); undefined = none. */
  token?: string;
  /** Claims from workers with a lower semver `version` get 426; undefined = any version. */
  minVersion?: string;
  /** How often lapsed leases are swept back to the queue (waking long polls), in ms. @default 200 */
  leaseCheckMs?: number;
  /** Longest a claim is held for a long poll, in seconds. @default 60 */
  maxWaitSec?: number;
  /**
   * The protocol version spoken (docs/protocol.md): '1' behaves as a version-1 server (no
   * X-Hive-Protocol header, 1.1 routes 404, `max` and `next` ignored). @default '1.1'
   */
  protocol?: ProtocolVersion;
  /** One line per request: true = to stdout, a function = to it. @default false */
  log?: boolean | ((line: string) => void);
  /**
   * Requests it returns false for are refused: 403 and the connection closed (tests use it to let
   * only proxied requests in, by the proxy's `Via` header). @default every request is served
   */
  onlyFrom?: (req: IncomingMessage) => boolean;
  /**
   * Serve HTTPS with this certificate chain and private key (PEM); the URL becomes `https://`.
   * @default plain HTTP
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export interface HiveServer {
  /** The API root, `http://127.0.0.1:PORT/api/` or `https://…` (what workers take as SERVER_URL). */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** Switches the protocol version at run time (also `PUT admin/protocol`). */
  setProtocol(version: ProtocolVersion): void;
  /** Stops listening, answers held long polls with 204, closes connections and the database. */
  close(): Promise<void>;
}

/** How long open requests get to finish on close before their connections are cut. */
const CLOSE_GRACE_MS = 500;

function checkOptions(options: ServerOptions): string[] {
  const problems: string[] = [];
  const { port = 0, leaseCheckMs = 200, maxWaitSec = 60, minVersion } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    problems.push(
      `Expected port to be a whole number from 0 to 65535, got ${JSON.stringify(port)}`,
    );
  }
  if (!(leaseCheckMs > 0))
    problems.push(`Expected leaseCheckMs to be a number > 0, got ${JSON.stringify(leaseCheckMs)}`);
  if (!(maxWaitSec >= 0))
    problems.push(`Expected maxWaitSec to be a number ≥ 0, got ${JSON.stringify(maxWaitSec)}`);
  if (minVersion !== undefined && semver.valid(minVersion) === null) {
    problems.push(
      `Expected minVersion to be a semver version like 1.2.0, got ${JSON.stringify(minVersion)}`,
    );
  }
  if (options.token === '')
    problems.push('Expected token to be a non-empty string (omit it for no token)');
  if (options.protocol !== undefined && !PROTOCOL_VERSIONS.includes(options.protocol)) {
    problems.push(
      `Expected protocol to be ${PROTOCOL_VERSIONS.join(' or ')}, got ${JSON.stringify(options.protocol)}`,
    );
  }
  return problems;
}

export async function startServer(options: ServerOptions = {}): Promise<HiveServer> {
  const problems = checkOptions(options);
  if (problems.length > 0)
    throw new Error(`hive-server: invalid options:\n  ${problems.join('\n  ')}`);
  const host = options.host ?? '127.0.0.1';
  const db = new Database(options.dataDir);
  const store = new TaskStore(db);
  const parts: ServerParts = {
    db,
    store,
    handouts: new Handouts(db, store),
    protocol: { version: options.protocol ?? '1.1' },
    longPolls: new LongPolls((workerId, types, max) =>
      store.claim(workerId, types, max, Date.now()),
    ),
    faults: new FaultBook(),
    metrics: new ServerMetrics(),
    releasesDir: options.releasesDir,
    token: options.token,
    minVersion: options.minVersion,
    maxWaitSec: options.maxWaitSec ?? 60,
  };
  const log = options.log === true ? (line: string) => console.log(line) : options.log || undefined;
  const listener = createRequestListener(parts, log);
  const { onlyFrom } = options;
  const handler: RequestListener =
    onlyFrom === undefined
      ? listener
      : (req, res) => {
          if (onlyFrom(req)) return listener(req, res);
          res.writeHead(403, { connection: 'close', 'content-type': 'text/plain' });
          res.end('refused: this server only answers requests that come through the proxy\n');
        };
  const http =
    options.tls === undefined
      ? createServer(handler)
      : createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler);

  const sweep = setInterval(function requeueLapsedLeases() {
    if (store.requeueLapsed(Date.now()) > 0) parts.longPolls.wake();
  }, options.leaseCheckMs ?? 200);

  try {
    http.listen(options.port ?? 0, host);
    await once(http, 'listening');
  } catch (error) {
    clearInterval(sweep);
    db.close();
    throw error;
  }
  const { port } = http.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  async function closeServer(): Promise<void> {
    clearInterval(sweep);
    parts.faults.close();
    parts.longPolls.closeAll();
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    // Keep-alive connections become idle as their last answers (e.g. the 204s above) go out:
    // close them as they do, and cut whatever is still busy after the grace period.
    const idle = setInterval(() => http.closeIdleConnections(), 10);
    const force = setTimeout(() => http.closeAllConnections(), CLOSE_GRACE_MS);
    await closed;
    clearInterval(idle);
    clearTimeout(force);
    db.close();
  }

  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://${urlHost}:${port}/api/`,
    port,
    host,
    setProtocol(version) {
      parts.protocol.version = version;
    },
    close() {
      closing ??= closeServer();
      return closing;
    },
  };
}
