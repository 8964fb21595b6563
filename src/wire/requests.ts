/**
 * How every request to the Hive API is sent, whatever its endpoint: the headers it carries, the
 * token and its reload after a 401/403, the deadline, the answer read with its size cap, and
 * whether the server speaks 1.1. The endpoints themselves are ./hive-client.ts.
 */
import type { Readable } from 'node:stream';
import { type Dispatcher, request } from 'undici';
import type { HiveError } from '../platform/errors.ts';
import { clampTimerMs } from '../platform/timers.ts';
import { type Answer, asNetworkError, readAnswer } from './answers.ts';
import { speaks11 } from './batch.ts';
import { withDeadline } from './deadline.ts';
import { createDispatcher } from './dispatcher.ts';
import type { ProxyConfig } from './proxy.ts';

export interface ClientOptions {
  serverUrl: string;
  /** Bearer token; '' = none. Sent only to SERVER_URL's origin (protocol "Every request"). */
  token: string;
  /**
   * Reads the token again (TOKEN / TOKEN_FILE) after a 401 or 403, so an operator who fixes it
   * needs no restart; returns the token to use from the next request on.
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

/** The request's JSON, if it has a body: its text, or a stream of it with its length. */
export type RequestBody = string | { stream: Readable; bytes: number } | undefined;

export interface RequestExtra {
  /** The endpoint, as the log names it. */
  what: string;
  signal?: AbortSignal | undefined;
  /** The whole request's time, from sending to the answer's last byte (./deadline.ts). */
  deadlineMs: number;
  extraWaitMs?: number;
  headers?: Record<string, string>;
  /** A claim's, result's or batch's answer: read whole when 2xx/409, for its tasks. */
  carriesTasks?: boolean;
}

/** The requests the client's endpoints share; HiveClient adds one method per endpoint. */
export class HiveRequests {
  protected readonly options: ClientOptions;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #serverOrigin: string;
  #token: string;
  #speaks11 = false;

  constructor(options: ClientOptions) {
    this.options = options;
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
   * Headers every request to `url` carries (protocol "Every request"). The token goes only to
   * SERVER_URL's origin (scheme, host, port): a release on a CDN is fetched without it.
   */
  requestHeaders(url: URL): Record<string, string> {
    const headers: Record<string, string> = {
      'user-agent': this.options.userAgent,
      'x-hive-worker-id': this.options.workerId,
    };
    if (this.#token !== '' && url.origin === this.#serverOrigin) {
      headers.authorization = `Bearer ${this.#token}`;
    }
    return headers;
  }

  /** Resolves a path or URL against SERVER_URL (release URLs may be absolute or relative). */
  resolve(path: string): URL {
    return new URL(path, this.options.serverUrl);
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  /** One endpoint's call: its answer as `outcome` says, or a failure to get one as `failed` says. */
  protected async ask<T>(
    method: 'GET' | 'POST',
    path: string,
    body: RequestBody,
    extra: RequestExtra,
    failed: (error: HiveError) => T,
    outcome: (answer: Answer) => T,
  ): Promise<T> {
    let answer: Answer;
    try {
      answer = await this.#send(method, path, body, extra);
    } catch (error) {
      return failed(asNetworkError(error, extra.what, this.options.serverUrl));
    }
    return outcome(answer);
  }

  async #send(
    method: 'GET' | 'POST',
    path: string,
    body: RequestBody,
    extra: RequestExtra,
  ): Promise<Answer> {
    const url = this.resolve(path);
    const headers = { ...this.requestHeaders(url), ...extra.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (typeof body === 'object') headers['content-length'] = String(body.bytes);
    const timeoutMs = this.options.requestTimeoutMs + (extra.extraWaitMs ?? 0);
    return withDeadline(extra.what, extra.deadlineMs, extra.signal, async (signal) => {
      const response = await request(url, {
        method,
        headers,
        body: typeof body === 'object' ? body.stream : body,
        dispatcher: this.#dispatcher,
        signal,
        headersTimeout: clampTimerMs(timeoutMs),
        bodyTimeout: clampTimerMs(this.options.requestTimeoutMs),
      });
      // Any endpoint's 401/403: the token may have been fixed in the config since (reloadToken).
      if (response.statusCode === 401 || response.statusCode === 403) this.#reloadToken();
      const answer = await readAnswer(response, extra.carriesTasks === true);
      // 1.1-a: the latest answer, from any endpoint, says which version the server speaks.
      this.#speaks11 = speaks11(answer);
      return answer;
    });
  }

  #reloadToken(): void {
    if (this.options.reloadToken !== undefined) this.#token = this.options.reloadToken();
  }
}
