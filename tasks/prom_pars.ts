import * as z from 'zod';
import { defineTask, type TaskContext } from '../src/task/define.ts';
import { describeUrl, type Exposition, fetchExposition } from './prom_pars/fetch.ts';
import { type MetricFamily, parsePrometheusText } from './prom_pars/parse.ts';

/** Whole-request deadline of a scrape, in milliseconds. @default 30000 */
const DEFAULT_TIMEOUT_MS = 30_000;

/** Largest exposition body read, in bytes. @default 52428800 (50 MiB) */
const DEFAULT_MAX_BYTES = 50 * 1024 * 1024;

const URL_ONLY_FIELDS = ['headers', 'timeoutMs', 'maxBytes'] as const;

export const promParsPayload = z
  .strictObject({
    /** An http(s) endpoint to scrape, e.g. `http://127.0.0.1:9100/metrics`. */
    url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
    /** Exposition text that was already fetched. */
    text: z.string().optional(),
    /** Extra request headers (e.g. Authorization); with `url` only. */
    headers: z.record(z.string(), z.string()).optional(),
    /** Scrape deadline in milliseconds; with `url` only. @default 30000 */
    timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
    /** Largest body read, in bytes (at most 1 GiB); with `url` only. @default 52428800 */
    maxBytes: z
      .number()
      .int()
      .min(1)
      .max(1024 ** 3)
      .optional(),
    /** Family names to return (a histogram's name brings its `_bucket`, `_sum`, `_count`). */
    families: z.array(z.string().min(1)).optional(),
  })
  .refine((payload) => (payload.url === undefined) !== (payload.text === undefined), {
    error:
      'give exactly one of `url` (an endpoint to scrape) or `text` (exposition already fetched)',
  })
  .refine(
    (payload) =>
      payload.url !== undefined || URL_ONLY_FIELDS.every((field) => payload[field] === undefined),
    {
      error: `${URL_ONLY_FIELDS.map((field) => `\`${field}\``).join(', ')} only apply with \`url\``,
    },
  );

export type PromParsPayload = z.output<typeof promParsPayload>;

export interface PromParsOutput {
  families: MetricFamily[];
  /** Samples across the returned families. */
  sampleCount: number;
  /** Size of the exposition in bytes (UTF-8). */
  bytes: number;
}

/**
 * Scrapes a Prometheus endpoint (or takes exposition text) and returns its metric families,
 * parsed strictly: a malformed exposition fails the task with the line and what was wrong.
 */
export const prom_pars = defineTask({
  name: 'prom_pars',
  payload: promParsPayload,
  async run(payload, ctx): Promise<PromParsOutput> {
    const { text, bytes } = await readExposition(payload, ctx);
    ctx.signal.throwIfAborted();
    const families = parsePrometheusText(text, { families: payload.families });
    const sampleCount = families.reduce((sum, family) => sum + family.samples.length, 0);
    warnAboutMissingFamilies(payload.families, families, ctx);
    ctx.log.info(
      `parsed ${sampleCount} samples in ${families.length} families from ${bytes} bytes`,
    );
    return { families, sampleCount, bytes };
  },
});

async function readExposition(payload: PromParsPayload, ctx: TaskContext): Promise<Exposition> {
  if (payload.url === undefined) {
    const text = payload.text ?? '';
    return { text, bytes: Buffer.byteLength(text) };
  }
  ctx.log.info(`scraping ${describeUrl(payload.url)}`);
  const exposition = await fetchExposition({
    url: payload.url,
    headers: payload.headers,
    timeoutMs: payload.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxBytes: payload.maxBytes ?? DEFAULT_MAX_BYTES,
    signal: ctx.signal,
    network: ctx.network,
  });
  ctx.progress(50, `fetched ${exposition.bytes} bytes`);
  return exposition;
}

function warnAboutMissingFamilies(
  wanted: readonly string[] | undefined,
  found: readonly MetricFamily[],
  ctx: TaskContext,
): void {
  if (wanted === undefined) return;
  const foundNames = new Set(found.map((family) => family.name));
  const missing = wanted.filter((name) => !foundNames.has(name));
  if (missing.length > 0)
    ctx.log.warn(`no family named ${missing.map((name) => JSON.stringify(name)).join(', ')}`);
}
