/**
 * What self-update remembers, in `<data>/update/`:
 *   state.json          last check, versions that failed (skipped for UPDATE_RETRY_AFTER)
 *   pending.json        written just before the hand-off: the version the updater installs
 *   healthy             written by the new version after its first good exchange with the server
 *   failed-<version>    written by the updater when it rolled back (read and removed at start)
 *   staging/            downloads (.part files resume) and extracted releases
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { writeFileAtomic } from '../platform/fs-atomic.ts';

const StateSchema = z.object({
  lastCheckAt: z.string().optional(),
  lastError: z.string().optional(),
  failed: z.record(z.string(), z.object({ at: z.string(), why: z.string() })).default({}),
});
export type UpdateState = z.infer<typeof StateSchema>;

const PendingSchema = z.object({ from: z.string(), to: z.string(), at: z.string() });
export type PendingUpdate = z.infer<typeof PendingSchema>;

export class UpdateStore {
  readonly dir: string;
  readonly #stagingDir: string;

  /** Creates nothing: reading (worker --status) leaves the data folder as it is. */
  constructor(dataDir: string) {
    this.dir = join(dataDir, 'update');
    this.#stagingDir = join(this.dir, 'staging');
  }

  /** The staging folder, created when missing: where downloads and extracted releases go. */
  staging(): string {
    mkdirSync(this.#stagingDir, { recursive: true });
    return this.#stagingDir;
  }

  /** What staging holds (read-only; empty when there is no staging folder yet). */
  stagedFiles(): string[] {
    try {
      return readdirSync(this.#stagingDir).sort();
    } catch {
      return [];
    }
  }

  read(): UpdateState {
    try {
      return StateSchema.parse(JSON.parse(readFileSync(join(this.dir, 'state.json'), 'utf8')));
    } catch {
      return { failed: {} };
    }
  }

  write(state: UpdateState): void {
    this.staging();
    writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(state, null, 2));
  }

  recordFailure(version: string, why: string, now = new Date()): void {
    const state = this.read();
    state.failed[version] = { at: now.toISOString(), why };
    this.write(state);
  }

  /** When a failed version may be tried again, or undefined when it may be now. */
  retryAt(version: string, retryAfterMs: number): Date | undefined {
    const failed = this.read().failed[version];
    if (failed === undefined) return undefined;
    const at = new Date(Date.parse(failed.at) + retryAfterMs);
    return at.getTime() > Date.now() ? at : undefined;
  }

  /** Turns the updater's rollback markers into remembered failures; returns them. */
  collectRollbacks(): Array<{ version: string; why: string }> {
    const found: Array<{ version: string; why: string }> = [];
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return found; // no update folder yet: nothing was rolled back
    }
    for (const name of names) {
      const match = /^failed-(.+)$/.exec(name);
      if (match?.[1] === undefined) continue;
      const file = join(this.dir, name);
      const why = readFileSync(file, 'utf8').trim() || 'the new version did not come up';
      this.recordFailure(match[1], why);
      rmSync(file, { force: true });
      found.push({ version: match[1], why });
    }
    return found;
  }

  writePending(pending: PendingUpdate): void {
    this.staging();
    writeFileAtomic(join(this.dir, 'pending.json'), JSON.stringify(pending));
  }

  readPending(): PendingUpdate | undefined {
    try {
      return PendingSchema.parse(JSON.parse(readFileSync(join(this.dir, 'pending.json'), 'utf8')));
    } catch {
      return undefined;
    }
  }

  /** The new version says it is up: the updater is polling for this file. */
  markHealthy(version: string): void {
    this.staging();
    writeFileAtomic(join(this.dir, 'healthy'), `${version}\n`);
    rmSync(join(this.dir, 'pending.json'), { force: true });
  }

  /**
   * Removes extracted releases and finished downloads; keeps `.part` files to resume, and
   * `keep` (a folder name: the release whose updater may still be running).
   */
  pruneStaging(keep?: string): void {
    for (const name of this.stagedFiles()) {
      if (name !== keep && !name.endsWith('.part') && !name.endsWith('.part.json')) {
        removeStaged(join(this.#stagingDir, name));
      }
    }
  }
}

/**
 * Removes a file or folder tree. A folder that is a mount point (say a small filesystem an
 * administrator mounted there) cannot be removed, only emptied. Node 26 reports that refusal
 * (EBUSY) with an empty `code`, so the folder itself is asked whether it is one.
 */
export function removeStaged(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch (error) {
    if (!isMountPoint(path)) throw error;
    for (const name of readdirSync(path))
      rmSync(join(path, name), { recursive: true, force: true });
  }
}

function isMountPoint(path: string): boolean {
  const own = statSync(path, { throwIfNoEntry: false });
  return own?.isDirectory() === true && own.dev !== statSync(dirname(path)).dev;
}
