/**
 * The console table and bench/prom-parse.results.json of bench/prom-parse.ts.
 */
import { writeFileSync } from 'node:fs';

const RESULTS_PATH = new URL('./prom-parse.results.json', import.meta.url);

export interface ChildReport {
  parser: string;
  families: number;
  timesMs: number[];
  /** Highest heap use during the cold parse, over the heap use before it. */
  peakHeapDeltaBytes: number;
  /** Highest RSS during the cold parse, over the RSS before it (includes V8's young generation). */
  peakRssDeltaBytes: number;
  /** Heap still used after the cold parse and a full GC, result kept: what the result holds. */
  retainedHeapBytes: number;
}

interface Stats {
  medianMs: number;
  minMs: number;
  maxMs: number;
}

function stats(timesMs: readonly number[]): Stats {
  const sorted = [...timesMs].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] ?? 0)
      : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return { medianMs: median, minMs: sorted[0] ?? 0, maxMs: sorted.at(-1) ?? 0 };
}

export interface Input {
  bytes: number;
  lines: number;
  warmupRuns: number;
}

export function report(
  input: Input,
  ours: ChildReport,
  reference: ChildReport,
  v8Flags: readonly string[],
): void {
  const oursStats = stats(ours.timesMs);
  const referenceStats = stats(reference.timesMs);
  const speedup = referenceStats.medianMs / oursStats.medianMs;
  const times = `${ours.timesMs.length} timed runs after ${input.warmupRuns} warm-ups`;
  console.log(
    `\ninput: ${megabytes(input.bytes)} MB, ${input.lines} lines, ${ours.families} families; ` +
      `${times}; node ${process.version} ${v8Flags.join(' ')} (the task process's flags)\n`,
  );
  console.log(
    '| parser | median ms | min ms | max ms | peak heap Δ MB (× input) | peak RSS Δ MB (× input) ' +
      '| retained heap MB (× input) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  console.log(tableRow('ours (tasks/prom_pars)', oursStats, ours, input.bytes));
  console.log(tableRow('parse-prometheus-text-format', referenceStats, reference, input.bytes));
  const heapRatio = Math.max(ours.peakHeapDeltaBytes, ours.retainedHeapBytes) / input.bytes;
  const rssRatio = ours.peakRssDeltaBytes / input.bytes;
  const targets = {
    speedup: { target: '>= 2x', got: round(speedup), met: speedup >= 2 },
    extraHeap: { target: '<= 2x input', got: round(heapRatio), met: heapRatio <= 2 },
    extraRss: { target: '<= 2x input', got: round(rssRatio), met: rssRatio <= 2 },
  };
  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  console.log(
    `\nspeed-up (median): ${round(speedup)}x, target >= 2x ${verdict(targets.speedup.met)}`,
  );
  console.log(
    `extra heap (peak and retained): ${round(heapRatio)}x input, target <= 2x ` +
      verdict(targets.extraHeap.met),
  );
  console.log(
    `extra RSS (peak, includes V8's young generation): ${round(rssRatio)}x input, ` +
      `target <= 2x ${verdict(targets.extraRss.met)}`,
  );
  const results = {
    measuredAt: new Date().toISOString(),
    node: process.version,
    v8Flags,
    input: { ...input, families: ours.families },
    ours: { ...oursStats, ...ours },
    reference: { ...referenceStats, ...reference },
    speedup: round(speedup),
    targets,
  };
  writeFileSync(RESULTS_PATH, `${toJson(results)}\n`);
}

function tableRow(name: string, time: Stats, child: ChildReport, inputBytes: number): string {
  const memory = (bytes: number) => `${megabytes(bytes)} (${round(bytes / inputBytes)}×)`;
  return [
    '',
    name,
    time.medianMs.toFixed(0),
    time.minMs.toFixed(0),
    time.maxMs.toFixed(0),
    memory(child.peakHeapDeltaBytes),
    memory(child.peakRssDeltaBytes),
    memory(child.retainedHeapBytes),
    '',
  ]
    .join(' | ')
    .trim();
}

/** Pretty JSON with times to 0.1 ms and number arrays on one line, as the repository's formatter wants them. */
function toJson(results: object): string {
  const json = JSON.stringify(
    results,
    (key, value: unknown) => (key.endsWith('Ms') ? roundTimes(value) : value),
    2,
  );
  return json.replace(
    /\[\s+([-\d.,\s]+?)\s+\]/g,
    (_, numbers: string) => `[${numbers.split(/,\s+/).join(', ')}]`,
  );
}

function roundTimes(value: unknown): unknown {
  if (typeof value === 'number') return round(value, 1);
  return Array.isArray(value) ? value.map(roundTimes) : value;
}

function megabytes(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
