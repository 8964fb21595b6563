/**
 * The Hive API: one method per endpoint, no loop logic. How a request is sent is ./requests.ts;
 * what each answer means, validated against ./protocol.ts, is ./outcomes.ts. Callers never see
 * wire JSON.
 */
import {
  type BatchOutcome,
  batchBody,
  batchOutcome,
  type GiveBackOutcome,
  giveBackOutcome,
} from './batch.ts';
import {
  type ClaimOutcome,
  claimOutcome,
  type HeartbeatOutcome,
  heartbeatOutcome,
  type ReleaseOutcome,
  type ResultOutcome,
  releaseOutcome,
  resultOutcome,
} from './outcomes.ts';
import type {
  ClaimManyRequest,
  HeartbeatRequest,
  ReleaseReason,
  ReleaseRequest,
  StoredResult,
} from './protocol.ts';
import { HiveRequests } from './requests.ts';
import { bodyOf, resultDeadlineMs, uploadMs } from './result-bodies.ts';

export type { ClientOptions } from './requests.ts';

/** Protocol section 1: the lease when a task names none (a heartbeat's deadline is a third). */
const DEFAULT_LEASE_MS = 60_000;

export class HiveClient extends HiveRequests {
  /**
   * 1.1-d `POST tasks/results`: small results in memory in one request, with the `next` tasks
   * to ask for (none while draining).
   */
  async sendResults(
    results: readonly { taskId: string; json: string }[],
    next: number | undefined,
    signal?: AbortSignal,
  ): Promise<BatchOutcome> {
    const body = batchBody(this.options.workerId, results, next);
    return this.ask<BatchOutcome>(
      'POST',
      'tasks/results',
      body,
      {
        what: 'results',
        signal,
        deadlineMs: this.options.requestTimeoutMs + uploadMs(Buffer.byteLength(body)),
        carriesTasks: true,
      },
      (error) => ({ kind: 'retry', error }),
      (answer) => batchOutcome(answer, this.options.maxErrorSleepMs),
    );
  }

  /** 1.1-e `POST tasks/{id}/release`: a held task not started, given back on a drain. */
  async releaseTask(
    taskId: string,
    reason: ReleaseReason,
    signal?: AbortSignal,
  ): Promise<GiveBackOutcome> {
    const body: ReleaseRequest = { workerId: this.options.workerId, reason };
    return this.ask<GiveBackOutcome>(
      'POST',
      `tasks/${encodeURIComponent(taskId)}/release`,
      JSON.stringify(body),
      { what: 'release', signal, deadlineMs: this.options.requestTimeoutMs },
      () => 'lapses',
      (answer) => giveBackOutcome(answer.status),
    );
  }

  /** `POST tasks/claim`. A long poll (waitSec > 0) gets that much longer to answer. */
  async claimTask(body: ClaimManyRequest, signal?: AbortSignal): Promise<ClaimOutcome> {
    return this.ask<ClaimOutcome>(
      'POST',
      'tasks/claim',
      JSON.stringify(body),
      {
        what: 'claim',
        signal,
        extraWaitMs: body.waitSec * 1000,
        deadlineMs: this.options.requestTimeoutMs + body.waitSec * 1000,
        carriesTasks: true,
      },
      (error) => ({ kind: 'error', error }),
      (answer) => claimOutcome(answer, this.options.maxErrorSleepMs),
    );
  }

  /**
   * `POST tasks/{id}/heartbeat`. Its deadline is well inside the lease (`leaseMs`, the protocol's
   * default when not given): a beat the server holds fails in time for the next one to be sent.
   */
  async sendHeartbeat(
    taskId: string,
    body: HeartbeatRequest,
    signal?: AbortSignal,
    leaseMs = DEFAULT_LEASE_MS,
  ): Promise<HeartbeatOutcome> {
    return this.ask<HeartbeatOutcome>(
      'POST',
      `tasks/${encodeURIComponent(taskId)}/heartbeat`,
      JSON.stringify(body),
      {
        what: 'heartbeat',
        signal,
        deadlineMs: Math.min(this.options.requestTimeoutMs, leaseMs / 3),
      },
      (error) => ({ kind: 'error', error }),
      heartbeatOutcome,
    );
  }

  /**
   * `POST tasks/{id}/result` with `Idempotency-Key: <resultId>`; the body is sent exactly as given:
   * the text it was encoded to once (protocol.ts encodeResultBody) and kept as in the outbox.
   */
  async sendResult(
    taskId: string,
    body: StoredResult,
    signal?: AbortSignal,
    next?: number,
  ): Promise<ResultOutcome> {
    return this.ask<ResultOutcome>(
      'POST',
      `tasks/${encodeURIComponent(taskId)}/result`,
      bodyOf(body, next),
      {
        what: 'result',
        signal,
        headers: { 'idempotency-key': body.resultId },
        deadlineMs: resultDeadlineMs(this.options.requestTimeoutMs, body),
        carriesTasks: true,
      },
      (error) => ({ kind: 'retry', error }),
      (answer) => resultOutcome(answer, this.options.maxErrorSleepMs),
    );
  }

  /**
   * `GET version?platform=…`: the newest release for this platform, if any; `from` (protocol
   * 1.1-f) is this worker's version, so the server lists only the patch that fits.
   */
  async getRelease(platform: string, signal?: AbortSignal, from?: string): Promise<ReleaseOutcome> {
    const fromQuery = from === undefined ? '' : `&from=${encodeURIComponent(from)}`;
    return this.ask<ReleaseOutcome>(
      'GET',
      `version?platform=${encodeURIComponent(platform)}${fromQuery}`,
      undefined,
      { what: 'version', signal, deadlineMs: this.options.requestTimeoutMs },
      (error) => ({ kind: 'error', error }),
      releaseOutcome,
    );
  }
}
