/**
 * The workers this server has heard from since it started, recorded from each protocol request's
 * `X-Hive-Worker-Id` and `User-Agent` (`hive-worker/<version> (<platform>)`), for the dashboard.
 * Kept in memory and bounded: the least recently seen worker is forgotten first.
 */
import type { IncomingMessage } from 'node:http';

export interface SeenWorker {
  id: string;
  /** From the User-Agent; null when it is not a hive-worker one. */
  version: string | null;
  platform: string | null;
  lastSeenAt: string;
  /** The route of its last request, e.g. `claim`, `heartbeat`, `result`. */
  lastRoute: string;
  requests: number;
}

const MAX_WORKERS = 500;
/** Longest id, version or platform kept: anything longer is someone's junk, shortened. */
const MAX_FIELD_CHARS = 200;

export class WorkersSeen {
  /** In least-recently-seen order (a Map keeps insertion order; a request re-inserts). */
  readonly #workers = new Map<string, SeenWorker>();

  record(workerId: string, req: IncomingMessage, route: string, nowMs: number): void {
    const id = workerId.slice(0, MAX_FIELD_CHARS);
    const agent = /^hive-worker\/(\S+) \(([^)]+)\)/.exec(req.headers['user-agent'] ?? '');
    const known = this.#workers.get(id);
    this.#workers.delete(id);
    this.#workers.set(id, {
      id,
      version: agent?.[1]?.slice(0, MAX_FIELD_CHARS) ?? null,
      platform: agent?.[2]?.slice(0, MAX_FIELD_CHARS) ?? null,
      lastSeenAt: new Date(nowMs).toISOString(),
      lastRoute: route,
      requests: (known?.requests ?? 0) + 1,
    });
    if (this.#workers.size > MAX_WORKERS) {
      const oldest = this.#workers.keys().next().value;
      if (oldest !== undefined) this.#workers.delete(oldest);
    }
  }

  /** Most recently seen first. */
  list(): SeenWorker[] {
    return [...this.#workers.values()].reverse();
  }
}
