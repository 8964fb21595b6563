/**
 * What a claim answer means for the loop (protocol section 1): how long to sleep before the next
 * claim, what to log (once per streak of 401s, once per ignored version), and the update hints an
 * answer carries. The loop starts a claimed task itself.
 */
import semver from 'semver';
import { ErrorBackoff, withJitter } from '../platform/backoff.ts';
import type { Logger } from '../platform/log.ts';
import type { Settings } from '../settings/table.ts';
import { tokenAdvice } from '../settings/token.ts';
import type { ClaimOutcome, UpdateHint } from '../wire/outcomes.ts';
import type { StatusRecorder } from './status-file.ts';

export interface ClaimAnswersDeps {
  settings: Settings;
  log: Logger;
  /** WORKER_VERSION: a newer one announced by the server is an update hint. */
  version: string;
  onUpdateHint: (hint: UpdateHint) => void;
  onServerReached?: (() => void) | undefined;
  status?: StatusRecorder | undefined;
}

export class ClaimAnswers {
  readonly #deps: ClaimAnswersDeps;
  readonly #backoff: ErrorBackoff;
  #authWarned = false;
  #reachedServer = false;
  /** The last non-semver X-Hive-Latest-Version logged: one line per value, not one per poll. */
  #ignoredVersionLogged = '';

  constructor(deps: ClaimAnswersDeps) {
    this.#deps = deps;
    this.#backoff = new ErrorBackoff(deps.settings.errorSleepMs, deps.settings.maxErrorSleepMs);
  }

  /** Acts on one claim answer and returns how long to sleep before the next claim. */
  sleepAfter(claim: ClaimOutcome, when: { tookMs: number; isStopping: boolean }): number {
    const { settings, log } = this.#deps;
    if (claim.kind !== 'unauthorized') this.#authWarned = false;
    switch (claim.kind) {
      case 'task':
        this.#backoff.reset();
        this.#onServerAnswer(claim);
        return 0;
      case 'empty':
        this.#backoff.reset();
        this.#onServerAnswer(claim);
        // A server that held a long poll has already made us wait; one that answered at once has not.
        return settings.waitSec > 0 && when.tookMs >= (settings.waitSec * 1000) / 2
          ? 0
          : withJitter(settings.noTaskSleepMs);
      case 'unauthorized':
        if (!this.#authWarned) {
          const message = `the server refused our token (HTTP ${claim.status}): ${tokenAdvice(settings.tokenFrom)}`;
          log.error(message);
          this.#deps.status?.claimFailed(message);
          this.#authWarned = true;
        }
        return settings.errorSleepMs;
      case 'upgrade-required':
        log.warn('the server refuses this version (HTTP 426): checking for an update');
        this.#deps.onUpdateHint({ reason: 'upgrade-required' });
        return this.#backoff.next();
      case 'throttled': {
        const waitMs = this.#backoff.next(claim.retryAfterMs);
        const message = `the server is busy (HTTP ${claim.status}): waiting ${Math.round(waitMs / 100) / 10} s`;
        log.warn(message);
        this.#deps.status?.claimFailed(message);
        return waitMs;
      }
      case 'error': {
        if (when.isStopping) return 0;
        const waitMs = this.#backoff.next();
        // The client's message says what failed ("claim failed: …"); the loop adds when it tries again.
        log.warn(
          { code: claim.error.code },
          `${claim.error.message} (retrying in ${Math.round(waitMs / 100) / 10} s)`,
        );
        this.#deps.status?.claimFailed(claim.error.message);
        return waitMs;
      }
    }
  }

  /** A good answer (a task or none): the first confirms a fresh update; a newer version is a hint. */
  #onServerAnswer(answer: { latestVersion: string | undefined; ignoredVersion?: string }): void {
    if (!this.#reachedServer) {
      this.#reachedServer = true;
      this.#deps.onServerReached?.();
    }
    const { latestVersion: latest, ignoredVersion } = answer;
    if (ignoredVersion !== undefined && ignoredVersion !== this.#ignoredVersionLogged) {
      this.#ignoredVersionLogged = ignoredVersion;
      this.#deps.log.warn(
        `ignoring X-Hive-Latest-Version ${JSON.stringify(ignoredVersion)}: not a strict semver version`,
      );
    }
    // The client let through only strict semver: gt cannot throw.
    if (latest !== undefined && semver.gt(latest, this.#deps.version)) {
      this.#deps.onUpdateHint({ reason: 'latest-version', version: latest });
    }
  }
}
