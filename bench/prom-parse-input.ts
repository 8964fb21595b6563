/**
 * The benchmark input of bench/prom-parse.ts: a deterministic exposition written by prom-client
 * itself, shaped like the scrape of a busy Node service.
 */
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const STATUSES = ['200', '201', '204', '301', '400', '404', '500', '503'];

/**
 * Builds an exposition the way a busy Node service would expose one: per round a histogram
 * family with 300 series (method × route × status), a counter and a gauge family, and every
 * fourth round a summary; label values include quotes, backslashes, newlines and unicode.
 */
export async function generateExposition(targetBytes: number): Promise<string> {
  const registry = new Registry();
  const random = seededRandom(0x5eed);
  let bytes = 0;
  for (let round = 0; bytes < targetBytes; round++) {
    const names = [
      addHistogram(registry, round, random),
      addCounter(registry, round, random),
      addGauge(registry, round, random),
    ];
    if (round % 4 === 0) names.push(addSummary(registry, round, random));
    for (const name of names) {
      bytes += Buffer.byteLength(await registry.getSingleMetricAsString(name)) + 2;
    }
  }
  return registry.metrics();
}

function addHistogram(registry: Registry, round: number, random: () => number): string {
  const name = `app_http_request_duration_seconds_${round}`;
  const histogram = new Histogram({
    name,
    help: `Duration of HTTP requests in seconds, part ${round} (with a \\ backslash)`,
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
  });
  for (let series = 0; series < 300; series++) {
    const labels = {
      method: pick(METHODS, series),
      route: `/api/v${round % 3}/items/${series}`,
      status_code: pick(STATUSES, series >> 2),
    };
    for (let n = 0; n < 3; n++) histogram.observe(labels, random() * 12);
  }
  return name;
}

function addCounter(registry: Registry, round: number, random: () => number): string {
  const name = `app_events_${round}_total`;
  const labelNames = ['kind', 'detail'];
  const counter = new Counter({
    name,
    help: 'Events seen\nby kind',
    labelNames,
    registers: [registry],
  });
  for (let series = 0; series < 120; series++) {
    const detail = `say "hi" \\ to ${series}\n ünïcødé ✓`;
    counter.inc({ kind: `kind_${series % 12}`, detail }, Math.floor(random() * 1e6));
  }
  return name;
}

function addGauge(registry: Registry, round: number, random: () => number): string {
  const name = `app_queue_depth_${round}`;
  const gauge = new Gauge({
    name,
    help: 'Queue depth',
    labelNames: ['queue'],
    registers: [registry],
  });
  for (let series = 0; series < 60; series++)
    gauge.set({ queue: `q${series}` }, random() * 1e4 - 5e3);
  return name;
}

function addSummary(registry: Registry, round: number, random: () => number): string {
  const name = `app_job_seconds_${round}`;
  const summary = new Summary({
    name,
    help: 'Job durations',
    labelNames: ['job'],
    registers: [registry],
  });
  for (let series = 0; series < 40; series++) {
    for (let n = 0; n < 20; n++) summary.observe({ job: `job-${series}` }, random() * 30);
  }
  return name;
}

function pick(values: readonly string[], index: number): string {
  return values[index % values.length] ?? '';
}

/** mulberry32: a tiny deterministic PRNG, so every run benchmarks the same text. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
