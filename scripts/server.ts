/**
 * The reference Hive server, from the command line:
 *   npm run server -- --port 8080 --data ./server-data --releases ./dist/releases
 * Prints exactly one line when listening (`hive-server listening on <url>`), then, with --verbose,
 * one line per request. The first SIGINT/SIGTERM closes it cleanly; a second one exits at once.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import semver from 'semver';
import { type HiveServer, type ServerOptions, startServer } from './server/start.ts';

const HELP = `Usage: npm run server -- [options]

The reference Hive server: protocol 1.1 and 1 (docs/protocol.md), admin API, faults, metrics.

Options:
  --port <n>             TCP port; 0 picks a free one (default 8080)
  --host <address>       interface to listen on (default 127.0.0.1)
  --data <folder>        keep state in <folder>/server.db (default: in memory, lost on exit)
  --releases <folder>    serve releases from <folder>: GET version?platform=P answers the newest
                         worker-<version>-<P>.json; GET releases/<file> serves files with Range
  --token <token>        require "Authorization: Bearer <token>" (401 missing, 403 wrong)
                         (default: HIVE_SERVER_TOKEN from the environment, else no token)
  --min-version <semver> answer 426 to claims from workers below this version
  --lease-check-ms <n>   how often lapsed leases are requeued, in ms (default 200)
  --max-wait-sec <n>     longest a long-poll claim is held, in seconds (default 60)
  --protocol <1|1.1>     protocol version spoken (default 1.1); 1 = as a version-1 server: no
                         X-Hive-Protocol header, tasks/results and tasks/{id}/release answer 404,
                         "max" and "next" ignored. Switch at run time: PUT admin/protocol
  --tls-cert <file>      serve HTTPS with this PEM certificate (chain), with --tls-key
  --tls-key <file>       the PEM private key of --tls-cert (default: plain HTTP)
  --verbose              log one line per request to stdout
  --help                 show this help

API root: http://<host>:<port>/api/ (https:// with --tls-cert)
  worker:  POST tasks/claim, POST tasks/{id}/heartbeat, POST tasks/{id}/result,
           GET version?platform=P, GET releases/<file>;
           1.1: POST tasks/results, POST tasks/{id}/release
  admin:   POST|GET admin/tasks, GET admin/tasks/{id}, POST admin/tasks/{id}/cancel,
           POST admin/tasks/{id}/redeliver, GET admin/results, POST|GET|DELETE admin/faults,
           GET|PUT admin/protocol ({"version":"1"|"1.1"})
  metrics: GET metrics (Prometheus text format 0.0.4)

Fault rules (POST admin/faults, a JSON array; used oldest first, each "times" times, -1 = until
DELETE admin/faults), for tests:
  {"route": R, "taskId"?: id, "times"?: n, ...one of:}
    "status", "headers", "body"   answer this instead of the handler
    "delayMs"                     wait first (alone: then the handler answers)
    "dropConnection": true        cut the connection before the handler (nothing recorded)
    "dropAfterCommit": true       the handler runs and commits, then the answer is cut
    "protocolHeader": false       this answer lacks X-Hive-Protocol
  R: claim, heartbeat, result, results (the batch), release, version, releases, or
     result-entry: one entry of a batch answered {"status", "retryAfterSec"?}, not recorded
`;

/** Parses argv into options; every problem is reported at once, one line each. */
function parseOptions(argv: string[]): { options: ServerOptions; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      data: { type: 'string' },
      releases: { type: 'string' },
      token: { type: 'string' },
      'min-version': { type: 'string' },
      'lease-check-ms': { type: 'string', default: '200' },
      'max-wait-sec': { type: 'string', default: '60' },
      protocol: { type: 'string', default: '1.1' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const problems: string[] = [];
  function numberFlag(
    name: string,
    raw: string,
    isValid: (n: number) => boolean,
    expected: string,
  ): number {
    const value = Number(raw);
    if (raw.trim() === '' || !isValid(value))
      problems.push(`Expected --${name} to be ${expected}, got "${raw}"`);
    return value;
  }
  const options: ServerOptions = {
    port: numberFlag(
      'port',
      values.port,
      (n) => Number.isInteger(n) && n >= 0 && n <= 65535,
      'a port 0-65535',
    ),
    host: values.host,
    dataDir: values.data,
    releasesDir: values.releases,
    token: values.token ?? (process.env.HIVE_SERVER_TOKEN || undefined),
    minVersion: values['min-version'],
    leaseCheckMs: numberFlag(
      'lease-check-ms',
      values['lease-check-ms'],
      (n) => n > 0,
      'a number of ms > 0',
    ),
    maxWaitSec: numberFlag(
      'max-wait-sec',
      values['max-wait-sec'],
      (n) => n >= 0,
      'a number of seconds ≥ 0',
    ),
    protocol: values.protocol === '1' ? '1' : '1.1',
    log: values.verbose,
    tls: readTlsFiles(values['tls-cert'], values['tls-key'], problems),
  };
  const minVersion = values['min-version'];
  if (minVersion !== undefined && semver.valid(minVersion) === null) {
    problems.push(`Expected --min-version to be a semver version like 1.2.0, got "${minVersion}"`);
  }
  if (values.protocol !== '1' && values.protocol !== '1.1')
    problems.push(`Expected --protocol to be 1 or 1.1, got "${values.protocol}"`);
  if (values.token === '')
    problems.push('Expected --token to be a non-empty token (omit it for none)');
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return { options, help: values.help };
}

/** --tls-cert and --tls-key: both or neither; each file read here so a bad path is one line. */
function readTlsFiles(
  certFile: string | undefined,
  keyFile: string | undefined,
  problems: string[],
): ServerOptions['tls'] {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    problems.push('Expected --tls-cert and --tls-key together (or neither, for plain HTTP)');
    return undefined;
  }
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      problems.push(`Cannot read --${flag} ${file}: ${(error as Error).message}`);
      return Buffer.alloc(0);
    }
  };
  return { cert: read('tls-cert', certFile), key: read('tls-key', keyFile) };
}

async function main(): Promise<void> {
  let parsed: { options: ServerOptions; help: boolean };
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(
      `hive-server: ${error instanceof Error ? error.message : String(error)}\n(see --help)`,
    );
    process.exitCode = 2;
    return;
  }
  if (parsed.help) {
    process.stdout.write(HELP);
    return;
  }
  let server: HiveServer;
  try {
    server = await startServer(parsed.options);
  } catch (error) {
    // e.g. EADDRINUSE: one line a person can act on, not a stack trace.
    console.error(
      `hive-server: cannot start: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exitCode = 1;
    return;
  }
  console.log(`hive-server listening on ${server.url}`);
  let signals = 0;
  function onSignal(): void {
    signals += 1;
    if (signals > 1) process.exit(1);
    server.close().catch((error: unknown) => {
      console.error('hive-server: error while closing:', error);
      process.exitCode = 1;
    });
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

await main();
