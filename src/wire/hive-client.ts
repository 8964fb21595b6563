/**
 * The Hive API over undici: one method per endpoint, no loop logic. This file sends the requests
 * (the headers every request carries, the token and its reload, the answer size cap); what each
 * answer means, validated against src/wire/protocol.ts, is src/wire/outcomes.ts. Callers never see
 * wire JSON.
 */
import type { Readable } from 'node:stream';
import { type Dispatcher, request } from 'undici';
import { clampTimerMs } from '../platform/timers.ts';
import { type Answer, asNetworkError, readAnswer } from './answers.ts';
import {
  type BatchOutcome,
  batchBody,
  batchOutcome,
  type GiveBackOutcome,
  giveBackOutcome,
  speaks11,
} from './batch.ts';
import { withDeadline } from './deadline.ts';
import { createDispatcher } from './dispatcher.ts';
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
import type { ProxyConfig } from './proxy.ts';
import { bodyOf, resultDeadlineMs, uploadMs } from './result-bodies.ts';

export interface ClientOptions {
  serverUrl: string;
  /** Bearer token; '' = none. Sent only to SERVER_URL's origin (protocol "Every request"). */
  token: string;
  /**
   * Reads the token again (TOKEN / TOKEN_FILE, src/settings/load.ts) after a 401 or 403, so an operator
   * who fixes it needs no restart; returns the token to use from the next request on.
   */
  reloadToken?: () => string;
  workerId: string;
  userAgent: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  maxErrorSleepMs: number;
  tcpKeepAlive: boolean;
  /** The proxy every request goes through (settings.proxy). @default direct */
  proxy?: ProxyConfig;
  /** CA_FILE's certificates, trusted on top of the default roots. @default none */
  caCertificates?: readonly string[];
  /** Replaces the dispatcher made from the options above (a test's). */
  dispatcher?: Dispatcher;
}

/** Protocol section 1: the lease when a task names none (a heartbeat's deadline is a third). */
const DEFAULT_LEASE_MS = 60_000;

export class HiveClient {
  readonly #options: ClientOptions;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #serverOrigin: string;
  #token: string;
  #speaks11 = false;

  constructor(options: ClientOptions) {
    this.#options = options;
    this.#token = options.token;
    this.#serverOrigin = new URL(options.serverUrl).origin;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? createDispatcher(options);
  }

  /** What every request goes through, release downloads included: the proxy applies to all. */
  get dispatcher(): Dispatcher {
    return this.#dispatcher;
  }

  /** Whether the server's latest answer said it speaks protocol 1.1 (docs/protocol.md, 1.1-a). */
  get speaks11(): boolean {
    return this.#speaks11;
  }

  /**
   * 1.1-d `POST tasks/results`: results (bodies in memory, each ≤ 256 KiB) in one request, with
   * the `next` tasks to ask for (none while draining).
   */
  async sendResults(
    results: readonly { taskId: string; json: string }[],
    next: number | undefined,
    signal?: AbortSignal,
  ): Promise<BatchOutcome> {
    const body = batchBody(this.#options.workerId, results, next);
    let answer: Answer;
    try {
      answer = await this.#send('POST', 'tasks/results', body, {
        what: 'results',
        signal,
        deadlineMs: this.#options.requestTimeoutMs + uploadMs(Buffer.byteLength(body)),
        carriesTasks: true,
      });
    } catch (error) {
      return { kind: 'retry', error: asNetworkError(error, 'results', this.#options.serverUrl) };
    }
    return batchOutcome(answer, this.#options.maxErrorSleepMs);
  }

  /** 1.1-e `POST tasks/{id}/release`: a held task not started, given back on a drain. */
  async releaseTask(
    taskId: string,
    reason: ReleaseReason,
    signal?: AbortSignal,
  ): Promise<GiveBackOutcome> {
    const body: ReleaseRequest = { workerId: this.#options.workerId, reason };
    try {
      const answer = await this.#send(
        'POST',
        `tasks/${encodeURIComponent(taskId)}/release`,
        JSON.stringify(body),
        {
          what: 'release',
          signal,
          deadlineMs: this.#options.requestTimeoutMs,
        },
      );
      return giveBackOutcome(answer.status);
    } catch {
      return 'lapses';
    }
  }

  /** `POST tasks/claim`. A long poll (waitSec > 0) gets that much longer to answer. */
  async claimTask(body: ClaimManyRequest, signal?: AbortSignal): Promise<ClaimOutcome> {
    let answer: Answer;
    try {
      answer = await this.#send('POST', 'tasks/claim', JSON.stringify(body), {
        what: 'claim',
        signal,
        extraWaitMs: body.waitSec * 1000,
        deadlineMs: this.#options.requestTimeoutMs + body.waitSec * 1000,
        carriesTasks: true,
      });
    } catch (error) {
      return { kind: 'error', error: asNetworkError(error, 'claim', this.#options.serverUrl) };
    }
    return claimOutcome(answer, this.#options.maxErrorSleepMs);
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
    let answer: Answer;
    try {
      answer = await this.#send(
        'POST',
        `tasks/${encodeURIComponent(taskId)}/heartbeat`,
        JSON.stringify(body),
        {
          what: 'heartbeat',
          signal,
          deadlineMs: Math.min(this.#options.requestTimeoutMs, leaseMs / 3),
        },
      );
    } catch (error) {
      return { kind: 'error', error: asNetworkError(error, 'heartbeat', this.#options.serverUrl) };
    }
    return heartbeatOutcome(answer);
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
    let answer: Answer;
    try {
      answer = await this.#send(
        'POST',
        `tasks/${encodeURIComponent(taskId)}/result`,
        bodyOf(body, next),
        {
          what: 'result',
          signal,
          headers: { 'idempotency-key': body.resultId },
          deadlineMs: resultDeadlineMs(this.#options.requestTimeoutMs, body),
          carriesTasks: true,
        },
      );
    } catch (error) {
      return { kind: 'retry', error: asNetworkError(error, 'result', this.#options.serverUrl) };
    }
    return resultOutcome(answer, this.#options.maxErrorSleepMs);
  }

  /** `GET version?platform=…`: the newest release for this platform, if any. */
  /** `from` (protocol 1.1-f): this worker's version, so the server lists only the patch that fits. */
  async getRelease(platform: string, signal?: AbortSignal, from?: string): Promise<ReleaseOutcome> {
    let answer: Answer;
    const fromQuery = from === undefined ? '' : `&from=${encodeURIComponent(from)}`;
    try {
      answer = await this.#send(
        'GET',
        `version?platform=${encodeURIComponent(platform)}${fromQuery}`,
        undefined,
        { what: 'version', signal, deadlineMs: this.#options.requestTimeoutMs },
      );
    } catch (error) {
      return { kind: 'error', error: asNetworkError(error, 'version', this.#options.serverUrl) };
    }
    return releaseOutcome(answer);
  }

  /**
   * Headers every request to `url` carries (protocol "Every request"). The token goes only to
   * SERVER_URL's origin (scheme, host, port): a release on a CDN is fetched without it.
   */
  requestHeaders(url: URL): Record<string, string> {
    const headers: Record<string, string> = {
      'user-agent': this.#options.userAgent,
      'x-hive-worker-id': this.#options.workerId,
    };
    if (this.#token !== '' && url.origin === this.#serverOrigin) {
      headers.authorization = `Bearer ${this.#token}`;
    }
    return headers;
  }

  /** Resolves a path or URL against SERVER_URL (release URLs may be absolute or relative). */
  resolve(path: string): URL {
    return new URL(path, this.#options.serverUrl);
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  async #send(
    method: 'GET' | 'POST',
    path: string,
    /** The request's JSON, if it has a body: its text, or a stream of it with its length. */
    body: string | { stream: Readable; bytes: number } | undefined,
    extra: {
      /** The endpoint, as the log names it. */
      what: string;
      signal?: AbortSignal | undefined;
      /**
       * The whole request's time, from sending to the answer's last byte: the silence limits
       * (headersTimeout, bodyTimeout) alone let a server dribbling a byte now and then hold it forever.
       */
      deadlineMs: number;
      extraWaitMs?: number;
      headers?: Record<string, string>;
      /** A claim's or result's answer: read whole when 2xx/409, for its tasks (./claim-payload.ts). */
      carriesTasks?: boolean;
    },
  ): Promise<Answer> {
    const url = this.resolve(path);
    const headers = { ...this.requestHeaders(url), ...extra.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (typeof body === 'object') headers['content-length'] = String(body.bytes);
    const timeoutMs = this.#options.requestTimeoutMs + (extra.extraWaitMs ?? 0);
    return withDeadline(extra.what, extra.deadlineMs, extra.signal, async (signal) => {
      const response = await request(url, {
        method,
        headers,
        body: typeof body === 'object' ? body.stream : body,
        dispatcher: this.#dispatcher,
        signal,
        headersTimeout: clampTimerMs(timeoutMs),
        bodyTimeout: clampTimerMs(this.#options.requestTimeoutMs),
      });
      // A refused token may have been fixed in the config since we read it: the next request uses
      // what is there now (every endpoint's 401/403, claims and results alike).
      if (response.statusCode === 401 || response.statusCode === 403) this.#reloadToken();
      const answer = await readAnswer(response, extra.carriesTasks === true);
      // 1.1-a: the latest answer, from any endpoint, says which version the server speaks.
      this.#speaks11 = speaks11(answer);
      return answer;
    });
  }

  #reloadToken(): void {
    if (this.#options.reloadToken !== undefined) this.#token = this.#options.reloadToken();
  }
}
