/**
 * Self-update beside the loop: check → ready the release (./prepare.ts) → drain → hand off
 * (./handoff.ts). A failure leaves this version running with one log line; a bad release is
 * skipped for UPDATE_RETRY_AFTER.
 */
import type { KeyObject } from 'node:crypto';
import semver from 'semver';
import { coerceError, HiveError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import { clampTimerMs } from '../platform/timers.ts';
import type { Supervisor } from '../settings/load.ts';
import type { Settings } from '../settings/table.ts';
import type { HiveClient } from '../wire/hive-client.ts';
import type { UpdateHint } from '../wire/outcomes.ts';
import { inTerminal, startUpdater } from './handoff.ts';
import { isRetryable, type PreparedUpdate, prepareRelease, releaseFolder } from './prepare.ts';
import type { ProgressBar } from './progress-bar.ts';
import { releasePublicKey } from './signature.ts';
import type { UpdateStore } from './state.ts';

export interface SelfUpdateDeps {
  client: HiveClient;
  store: UpdateStore;
  settings: Settings;
  log: Logger;
  version: string;
  platform: string;
  /** base64url of the pinned key; '' disables updates (a build without a key). */
  publicKey: string;
  /** The installed executable, or undefined when running from source (no self-update). */
  executable: string | undefined;
  dataDir: string;
  /** Environment for the updater and the restarted worker. */
  env: NodeJS.ProcessEnv;
  /** Who restarts the worker after the swap: the updater itself, or systemd (src/settings/load.ts). */
  supervisor: Supervisor;
  /** Draws download progress on an interactive console (log lines say it everywhere else). */
  progressBar?: ProgressBar;
  /** Called once a release is ready: the worker drains, then calls `handOff`. */
  onReady: (prepared: PreparedUpdate) => void;
  /** A release was prepared, or failed to be: its buffers (a patch's windows, a zip) are garbage. */
  onPrepared?: () => void;
}

const HINT_MIN_INTERVAL_MS = 60_000;

export class SelfUpdate {
  readonly #deps: SelfUpdateDeps;
  readonly #publicKey: KeyObject | undefined;
  readonly #disabledBecause: string | undefined;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ready = false;
  #lastSkipLogged = '';
  #lastCheckMs = 0;
  #lastHint = '';

  constructor(deps: SelfUpdateDeps) {
    this.#deps = deps;
    let key: KeyObject | undefined;
    let disabled: string | undefined;
    if (!deps.settings.autoUpdate) disabled = 'AUTO_UPDATE is off';
    else if (deps.executable === undefined) disabled = 'running from source';
    else {
      try {
        key = releasePublicKey(deps.publicKey);
      } catch (error) {
        disabled = (error as Error).message;
      }
    }
    this.#publicKey = key;
    this.#disabledBecause = disabled;
  }

  /** At start: report rollbacks, tidy staging, then check now and every UPDATE_CHECK_INTERVAL. */
  start(): void {
    const { store, log } = this.#deps;
    for (const rollback of store.collectRollbacks()) {
      log.error(
        `the update to ${rollback.version} was rolled back (${rollback.why}); skipping it for a while`,
      );
    }
    this.#pruneStaging(store.readPending()?.to);
    if (this.#disabledBecause !== undefined) {
      log.info(`self-update is off: ${this.#disabledBecause}`);
      return;
    }
    void this.check('start');
    this.#timer = setInterval(
      () => void this.check('interval'),
      clampTimerMs(this.#deps.settings.updateCheckIntervalMs),
    );
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The first good exchange with the server after an update: tell the updater we are up. */
  confirmHealthy(): void {
    const pending = this.#deps.store.readPending();
    if (pending?.to === this.#deps.version) {
      this.#deps.store.markHealthy(this.#deps.version);
      this.#deps.log.info(`updated from ${pending.from} to ${pending.to}: healthy`);
    }
  }

  /**
   * A hint from a claim answer (426, or a newer X-Hive-Latest-Version): checks now, unless a check
   * ran in the last minute — a header on every poll must not become a request on every poll.
   */
  hint(hint: UpdateHint): void {
    const key = hint.reason === 'latest-version' ? hint.version : hint.reason;
    if (key === this.#lastHint && Date.now() - this.#lastCheckMs < HINT_MIN_INTERVAL_MS) return;
    this.#lastHint = key;
    const why =
      hint.reason === 'latest-version'
        ? `the server announces ${hint.version}`
        : 'the server refused this version (HTTP 426)';
    this.#deps.log.info(hint, `an update check was asked for (${why})`);
    void this.check(hint.reason);
  }

  /**
   * Starts a check unless one is running; never throws, never blocks the caller, never rejects:
   * it runs in the background (`void`), where a rejection would be unhandled and end the worker.
   */
  check(why: string): Promise<void> {
    if (this.#disabledBecause !== undefined || this.#ready) return Promise.resolve();
    this.#lastCheckMs = Date.now();
    this.#running ??= this.#checkOnce(why)
      .catch((error: unknown) => {
        this.#deps.log.error(
          `update check failed, staying on ${this.#deps.version}: ${coerceError(error).message}`,
        );
      })
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  /** Writes what the new version looks for, starts the updater detached; the caller then exits. */
  handOff(prepared: PreparedUpdate): void {
    const { store, version, dataDir, settings, env, executable, log, supervisor } = this.#deps;
    if (executable === undefined) throw new HiveError('UPDATE', 'no executable to replace');
    store.writePending({
      from: version,
      to: prepared.release.version,
      at: new Date().toISOString(),
    });
    const pid = startUpdater({
      updater: prepared.extracted.updater,
      pid: process.pid,
      targetExe: executable,
      newExe: prepared.extracted.executable,
      dataDir,
      version: prepared.release.version,
      healthTimeoutMs: settings.updateHealthTimeoutMs,
      supervisor,
      env: { ...env, HIVE_DATA_DIR: dataDir },
    });
    const restart =
      supervisor === 'systemd'
        ? ', which restarts the systemd unit'
        : inTerminal({ supervisor })
          ? ', in this terminal'
          : '';
    log.info(
      `handed off to the updater (pid ${pid}${restart}) to install ${prepared.release.version}; exiting`,
    );
  }

  async #checkOnce(why: string): Promise<void> {
    const { client, store, log, platform, version, settings, progressBar } = this.#deps;
    const answer = await client.getRelease(platform, undefined, version);
    const state = store.read();
    state.lastCheckAt = new Date().toISOString();
    store.write(state);
    if (answer.kind === 'error') {
      log.warn(`update check failed: ${answer.error.message}`);
      return;
    }
    // The version answer's schema let in only strict semver (protocol section 5): gt cannot throw.
    if (answer.kind === 'none' || !semver.gt(answer.release.version, version)) {
      log.debug({ why }, 'no newer release');
      return;
    }
    const { release } = answer;
    const retryAt = store.retryAt(release.version, settings.updateRetryAfterMs);
    if (retryAt !== undefined) {
      if (this.#lastSkipLogged !== release.version) {
        log.info(
          `release ${release.version} failed before; not trying it again until ${retryAt.toISOString()}`,
        );
        this.#lastSkipLogged = release.version;
      }
      return;
    }
    try {
      if (this.#publicKey === undefined) throw new HiveError('UPDATE', 'no release key');
      const prepared = await prepareRelease(release, {
        client,
        store,
        settings,
        log,
        platform,
        publicKey: this.#publicKey,
        version,
        executable: this.#deps.executable,
        progressBar,
      });
      this.#ready = true;
      this.#deps.onReady(prepared);
    } catch (error) {
      const message = (error as Error).message;
      log.error(`update to ${release.version} not installed, staying on ${version}: ${message}`);
      // A bad release stays bad; a download that broke off resumes at the next check.
      if (!isRetryable(error)) {
        store.recordFailure(release.version, message);
        // Its zip and extracted files are dead weight for the whole window, on a disk that may
        // just have filled up.
        this.#pruneStaging();
      }
    } finally {
      this.#deps.onPrepared?.();
    }
  }

  /**
   * Removes staged releases but `.part` files (they resume) and the folder of an update in flight:
   * its updater.bat runs from there, and cmd.exe reads it line by line. Never stops the worker.
   */
  #pruneStaging(inFlight?: string): void {
    try {
      this.#deps.store.pruneStaging(inFlight === undefined ? undefined : releaseFolder(inFlight));
    } catch (error) {
      this.#deps.log.warn(`could not tidy the update staging folder: ${(error as Error).message}`);
    }
  }
}
