/**
 * Fault injection for tests: rules that answer a protocol route instead of its real handler, or
 * delay it, or drop the connection (before the handler, or after it committed), or answer one
 * entry of a result batch with a status of its own (`result-entry`). Rules live in memory only
 * (a restart clears them) and are matched oldest first; each is used `times` times (-1 = until
 * cleared).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import * as z from 'zod';

/**
 * The routes a rule can match: each protocol endpoint (`results` = the batch `POST tasks/results`,
 * `release` = `POST tasks/{id}/release`), and `result-entry`: one entry of a batch.
 */
export const FAULT_ROUTES = [
  'claim',
  'heartbeat',
  'result',
  'version',
  'releases',
  'results',
  'release',
  'result-entry',
] as const;
export type FaultRoute = (typeof FAULT_ROUTES)[number];

/** Fields a `result-entry` rule may carry (it answers one entry, not a request). */
const ENTRY_RULE_FIELDS = new Set(['route', 'status', 'retryAfterSec', 'taskId', 'times']);

/** One rule of `POST admin/faults` (the body is a JSON array of these). Unknown fields are refused. */
const FaultRuleObject = z.strictObject({
  route: z.enum(FAULT_ROUTES),
  /** Only requests (or batch entries) for this task id; others pass. @default every task */
  taskId: z.string().min(1).optional(),
  /** Answer with this status (default 200 when `body` or `headers` is given). */
  status: z.number().int().min(200).max(599).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** Sent as is, with Content-Type application/json unless `headers` says otherwise. */
  body: z.string().optional(),
  /** Wait this long first; alone, the real handler then answers. */
  delayMs: z.number().int().min(0).max(600_000).optional(),
  /** How many requests the rule applies to; -1 = until cleared. @default 1 */
  times: z
    .number()
    .int()
    .refine((n) => n === -1 || n >= 1, 'a whole number ≥ 1, or -1 for until cleared')
    .default(1),
  /** Destroy the socket (after `delayMs`) without answering. */
  dropConnection: z.boolean().optional(),
  /** Let the real handler run and commit, then destroy the socket instead of answering. */
  dropAfterCommit: z.boolean().optional(),
  /** `false`: this answer lacks `X-Hive-Protocol` (e.g. a proxy's own error page). */
  protocolHeader: z.boolean().optional(),
  /** `result-entry` only: the entry's `retryAfterSec`. */
  retryAfterSec: z.number().min(0).optional(),
});
export const FaultRuleSchema = FaultRuleObject.superRefine((rule, ctx) => {
  if (rule.route === 'result-entry') {
    if (rule.status === undefined)
      ctx.addIssue({ code: 'custom', message: 'a result-entry rule needs a status' });
    for (const field of Object.keys(rule)) {
      if (!ENTRY_RULE_FIELDS.has(field))
        ctx.addIssue({ code: 'custom', message: `${field} does not apply to a result-entry rule` });
    }
  } else if (rule.retryAfterSec !== undefined) {
    ctx.addIssue({ code: 'custom', message: 'retryAfterSec applies to result-entry rules only' });
  }
  const answers = [rule.status, rule.body, rule.headers, rule.dropConnection];
  if (rule.dropAfterCommit === true && answers.some((field) => field !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: 'dropAfterCommit lets the real handler answer: no status, body, headers or drop',
    });
  }
});
export const FaultRulesSchema = z.array(FaultRuleSchema);
export type FaultRule = z.output<typeof FaultRuleSchema>;
export type FaultRuleInput = z.input<typeof FaultRuleSchema>;

/** A rule as `GET admin/faults` shows it: `times` counts down as requests use it. */
export interface ActiveFault extends FaultRule {
  id: number;
}

export class FaultBook {
  #rules: ActiveFault[] = [];
  #nextId = 1;
  /** Aborted on close so that a long `delayMs` never holds the server open. */
  readonly #closing = new AbortController();

  add(rules: readonly FaultRule[]): ActiveFault[] {
    for (const rule of rules) this.#rules.push({ ...rule, id: this.#nextId++ });
    return this.list();
  }

  list(): ActiveFault[] {
    return this.#rules.map((rule) => ({ ...rule }));
  }

  clear(): void {
    this.#rules = [];
  }

  close(): void {
    this.clear();
    this.#closing.abort();
  }

  /** The first rule for `route` (and `taskId`), used once (removed when its last use is taken). */
  take(route: FaultRoute, taskId?: string): FaultRule | undefined {
    const rule = this.#rules.find(
      (candidate) =>
        candidate.route === route &&
        (candidate.taskId === undefined || candidate.taskId === taskId),
    );
    if (rule === undefined) return undefined;
    if (rule.times !== -1) {
      rule.times -= 1;
      if (rule.times === 0) this.#rules = this.#rules.filter((candidate) => candidate !== rule);
    }
    return { ...rule };
  }

  /**
   * Plays a rule. Returns true when it answered (or dropped the connection), false when the real
   * handler should run (a delay-only rule). The request body is drained first so the keep-alive
   * connection stays usable.
   */
  async play(rule: FaultRule, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (rule.protocolHeader === false) res.removeHeader('x-hive-protocol');
    if (rule.dropAfterCommit === true) dropAnswerOnceWritten(req, res);
    const answers =
      rule.status !== undefined || rule.body !== undefined || rule.headers !== undefined;
    if (answers || rule.dropConnection === true) req.resume();
    if (rule.delayMs !== undefined && rule.delayMs > 0) {
      try {
        await delay(rule.delayMs, undefined, { signal: this.#closing.signal });
      } catch {
        // Server closing: fall through and answer at once.
      }
    }
    if (rule.dropConnection === true) {
      req.socket.destroy();
      return true;
    }
    if (!answers) return false;
    const body = rule.body ?? '';
    const headers: Record<string, string | number> =
      body === '' ? {} : { 'content-type': 'application/json' };
    for (const [name, value] of Object.entries(rule.headers ?? {}))
      headers[name.toLowerCase()] = value;
    const status = rule.status ?? 200;
    // 204 and 304 never carry a body (Node would drop it). A rule may set its own Content-Length,
    // e.g. a wrong one to fake a truncated answer.
    const hasBody = status !== 204 && status !== 304;
    if (hasBody && headers['content-length'] === undefined)
      headers['content-length'] = Buffer.byteLength(body);
    res.writeHead(status, headers);
    res.end(hasBody ? body : undefined);
    return true;
  }
}

/**
 * The handler commits, then starts its answer: the answer never leaves, as if lost on the way
 * back (the connection is cut at the first byte of it).
 */
function dropAnswerOnceWritten(req: IncomingMessage, res: ServerResponse): void {
  const cut = (): ServerResponse => {
    req.socket.destroy();
    return res;
  };
  res.writeHead = cut as typeof res.writeHead;
  res.end = cut as typeof res.end;
}
