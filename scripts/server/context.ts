/**
 * What every handler gets: the request exchange and the server's parts. Types only, so that
 * routes and the router can share them without importing each other.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Database } from './db.ts';
import type { FaultBook, FaultRoute } from './faults.ts';
import type { Handouts } from './handouts.ts';
import type { LongPolls } from './long-poll.ts';
import type { ServerMetrics } from './metrics.ts';
import type { TaskStore } from './store.ts';

/** The protocol version the server speaks (docs/protocol.md); '1' = as a version-1 server. */
export const PROTOCOL_VERSIONS = ['1', '1.1'] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

export interface ServerParts {
  readonly db: Database;
  readonly store: TaskStore;
  readonly handouts: Handouts;
  /** Switchable at run time (admin/protocol), so a test can roll the server back mid-run. */
  readonly protocol: { version: ProtocolVersion };
  readonly longPolls: LongPolls;
  readonly faults: FaultBook;
  readonly metrics: ServerMetrics;
  /** Folder of release files; undefined = no releases (version answers 404). */
  readonly releasesDir: string | undefined;
  /** Bearer token every request must carry; undefined = none. */
  readonly token: string | undefined;
  /** Claims from workers below this semver version get 426; undefined = any version. */
  readonly minVersion: string | undefined;
  /** Longest a claim is held for a long poll, in seconds, whatever `waitSec` asks. */
  readonly maxWaitSec: number;
}

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** Path parameters, percent-decoded. */
  readonly params: readonly string[];
  /** `X-Hive-Worker-Id`; always set on protocol routes (the router answers 400 otherwise). */
  readonly workerId: string;
  readonly server: ServerParts;
}

/** Protocol routes carry their fault-injection name; the others are admin or metrics. */
export type RouteKind = Exclude<FaultRoute, 'result-entry'> | 'admin' | 'metrics';

export interface Route {
  readonly methods: readonly string[];
  /** Matched against the path below `/api/`, e.g. `tasks/t-1/heartbeat`. */
  readonly pattern: RegExp;
  readonly kind: RouteKind;
  /** Set on 1.1 endpoints: a server speaking version 1 answers them 404, as if it had none. */
  readonly since?: '1.1';
  readonly handle: (exchange: Exchange) => Promise<void> | void;
}
