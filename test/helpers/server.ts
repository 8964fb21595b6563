/**
 * Test helpers around the reference Hive server (scripts/server): start it in process or as a real
 * child process (to kill and restart it), a typed admin client, and a fake worker that speaks the
 * protocol (1 and 1.1) by hand. Test code only: it uses Node's global fetch.
 *
 * The server speaks protocol 1.1 unless started with `protocol: '1'`; `admin.setProtocol('1')`
 * (or `server.setProtocol`) rolls it back to version 1 mid-run, and `'1.1'` forward again.
 * Fault rules (`admin.faults([...])`, scripts/server/faults.ts) match a route — claim, heartbeat,
 * result, results (the batch), release, version, releases — optionally one `taskId`, `times`
 * times (-1 = until cleared), and do one of:
 * - answer `{ status, headers?, body? }` instead of the handler (e.g. `results` 404/405/501 for
 *   "no batches here", 503 with `Retry-After`), `protocolHeader: false` to leave out X-Hive-Protocol;
 * - `delayMs` before the handler (alone) or before the answer;
 * - `dropConnection: true`: cut the connection before the handler runs (nothing recorded);
 * - `dropAfterCommit: true`: the handler runs and commits (result stored, `next` tasks leased,
 *   claim leased, release done), then the connection is cut instead of the answer;
 * - route `result-entry`: one entry of a batch is answered `{ status, retryAfterSec? }` (e.g. 429
 *   or 503) without being recorded; the rest of the batch is handled as usual.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type AdminClient, createAdminClient } from '../../scripts/server/admin-client.ts';
import { type HiveServer, type ServerOptions, startServer } from '../../scripts/server/start.ts';
import type { StoredResult } from '../../scripts/server/views.ts';
import { ClaimManyAnswerSchema, type Task } from '../../src/wire/protocol.ts';

const SERVER_SCRIPT = fileURLToPath(new URL('../../scripts/server.ts', import.meta.url));
const LISTENING_LINE = /^hive-server listening on (https?:\/\/\S+\/api\/)$/;

export interface TestServer extends HiveServer {
  /** Also `setProtocol` (from HiveServer): switch the version spoken at run time. */
  readonly admin: AdminClient;
}

/** The server in this process, on a free port, sweeping leases every 20 ms (short test leases). */
export async function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  const server = await startServer({ leaseCheckMs: 20, ...options });
  const admin = createAdminClient(server.url, { token: options.adminToken ?? options.token });
  return {
    url: server.url,
    port: server.port,
    host: server.host,
    setProtocol: (version) => server.setProtocol(version),
    close: () => server.close(),
    admin,
  };
}

export interface SpawnServerOptions {
  /** @default 0 (a free port, then kept across restarts) */
  port?: number;
  /** @default a new temporary folder, removed by dispose() */
  dataDir?: string;
  releasesDir?: string;
  token?: string;
  minVersion?: string;
  /** @default 20 */
  leaseCheckMs?: number;
  /** --protocol: '1' behaves as a version-1 server. @default '1.1' */
  protocol?: '1' | '1.1';
  verbose?: boolean;
  /** PEM files for --tls-cert / --tls-key: the server speaks HTTPS. @default plain HTTP */
  tls?: { certFile: string; keyFile: string };
}

/** Children still running when the test process exits are killed, so none outlives a failed test. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/** The CLI (scripts/server.ts) as a real child process, on one port and data folder for its life. */
export class SpawnedServer {
  readonly dataDir: string;
  #port: number;
  #child: ChildProcess | undefined;
  #output = '';
  readonly #options: SpawnServerOptions;
  readonly #ownsDataDir: boolean;

  constructor(options: SpawnServerOptions, dataDir: string, ownsDataDir: boolean, port: number) {
    this.#options = options;
    this.dataDir = dataDir;
    this.#ownsDataDir = ownsDataDir;
    this.#port = port;
  }

  /** An admin client for the current port (known only once the first launch listened). */
  get admin(): AdminClient {
    return createAdminClient(this.url, { token: this.#options.token });
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    const scheme = this.#options.tls === undefined ? 'http' : 'https';
    return `${scheme}://127.0.0.1:${this.#port}/api/`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** stdout and stderr so far (the listening line, --verbose request lines, errors). */
  get output(): string {
    return this.#output;
  }

  /** Starts the process and resolves once it printed its listening line. */
  async launch(): Promise<void> {
    const { releasesDir, token, minVersion, leaseCheckMs = 20, protocol, verbose } = this.#options;
    const args = [SERVER_SCRIPT, '--port', String(this.#port), '--data', this.dataDir];
    args.push('--lease-check-ms', String(leaseCheckMs));
    if (protocol !== undefined) args.push('--protocol', protocol);
    if (releasesDir !== undefined) args.push('--releases', releasesDir);
    if (token !== undefined) args.push('--token', token);
    if (minVersion !== undefined) args.push('--min-version', minVersion);
    if (verbose === true) args.push('--verbose');
    if (this.#options.tls !== undefined) {
      args.push('--tls-cert', this.#options.tls.certFile, '--tls-key', this.#options.tls.keyFile);
    }
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    liveChildren.add(child);
    child.once('exit', () => liveChildren.delete(child));
    // Both pipes are read to the end, so a --verbose server never blocks on a full pipe.
    child.stderr.on('data', (chunk: Buffer) => {
      this.#output += chunk.toString('utf8');
    });
    const lines = createInterface({ input: child.stdout });
    const listening = new Promise<string>((resolve, reject) => {
      lines.on('line', (line) => {
        this.#output += `${line}\n`;
        const match = LISTENING_LINE.exec(line);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      child.once('exit', (code, signal) => {
        reject(
          new Error(`hive-server exited (${code ?? signal}) before listening:\n${this.#output}`),
        );
      });
      setTimeout(
        () => reject(new Error(`hive-server not listening after 10 s:\n${this.#output}`)),
        10_000,
      ).unref();
    });
    const url = await listening;
    this.#port = Number(new URL(url).port);
  }

  /** SIGTERM, then waits for the exit (SIGKILL after 5 s). Resolves with the exit code. */
  async stop(): Promise<number | null> {
    return this.#end('SIGTERM');
  }

  /** SIGKILL: the server gets no chance to tidy up, as in a crash or power cut. */
  async kill(): Promise<void> {
    await this.#end('SIGKILL');
  }

  /** Stops it if running, then starts it again on the same port and data folder. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops it and removes the data folder if this helper made it. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.#ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  async #end(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null)
      return child?.exitCode ?? null;
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    child.kill(signal);
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    const [code] = await exited;
    clearTimeout(force);
    return code;
  }
}

export async function spawnServer(options: SpawnServerOptions = {}): Promise<SpawnedServer> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'hive-server-')));
  const server = new SpawnedServer(options, dataDir, ownsDataDir, options.port ?? 0);
  await server.launch();
  return server;
}

// The fake worker lives in its own file; tests import it from here as they always have.
export {
  encoded,
  type FakeWorker,
  type FakeWorkerOptions,
  fakeWorker,
  type HiveAnswer,
  resultBody,
} from './fake-worker.ts';
export { type AdminClient, createAdminClient };

/** Waits until `count` results of tasks whose id starts with `prefix` are stored, and returns them. */
export function waitForResults(
  admin: AdminClient,
  prefix: string,
  count: number,
  timeoutMs: number,
): Promise<StoredResult[]> {
  return admin.waitFor(async () => {
    const ours = (await admin.results()).results.filter((result) =>
      result.taskId.startsWith(prefix),
    );
    return ours.length === count ? ours : undefined;
  }, timeoutMs);
}

/** `status/error code` by task id: one compact value to assert a whole run on. */
export function statusSummary(results: StoredResult[]): Record<string, string> {
  return Object.fromEntries(
    results.map(({ taskId, body }) => [taskId, `${body.status}/${body.error?.code ?? '-'}`]),
  );
}

/** Enqueues one task of `type` per id, its payload `payloadOf(id)` (`{ id }` unless told). */
export async function enqueueEach(
  admin: AdminClient,
  type: string,
  ids: string[],
  payloadOf: (id: string) => unknown = (id) => ({ id }),
): Promise<void> {
  for (const id of ids) await admin.enqueue({ id, type, payload: payloadOf(id) });
}

/** Enqueues `count` tasks `${prefix}0`, `${prefix}1`…; returns their ids. */
export async function enqueueNumbered(
  admin: AdminClient,
  prefix: string,
  count: number,
  task: { type: string; payload: unknown; leaseSec?: number },
): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  for (const id of ids) await admin.enqueue({ id, ...task });
  return ids;
}

/** The tasks of a 200 answer to a claim with `max` (protocol 1.1-b). */
export function tasksOf(answer: { status: number; json: unknown; text: string }): Task[] {
  assert.equal(answer.status, 200, answer.text);
  return ClaimManyAnswerSchema.parse(answer.json).tasks;
}
