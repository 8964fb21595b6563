/**
 * Fault injection for tests: rules that answer a protocol route instead of its real handler, or
 * delay it, or drop the connection. Rules live in memory only (a restart clears them) and are
 * matched oldest first; each is used `times` times (-1 = until cleared).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import * as z from 'zod';

export const FAULT_ROUTES = ['claim', 'heartbeat', 'result', 'version', 'releases'] as const;
export type FaultRoute = (typeof FAULT_ROUTES)[number];

/** One rule of `POST admin/faults` (the body is a JSON array of these). Unknown fields are refused. */
export const FaultRuleSchema = z.strictObject({
  route: z.enum(FAULT_ROUTES),
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

  /** The first rule for `route`, used once (removed when its last use is taken). */
  take(route: FaultRoute): FaultRule | undefined {
    const rule = this.#rules.find((candidate) => candidate.route === route);
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
