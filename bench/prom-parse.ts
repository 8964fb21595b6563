/**
 * Benchmark of tasks/prom_pars/parse.ts against `parse-prometheus-text-format` on a ~20 MB
 * exposition written by prom-client (histograms, summaries, counters, gauges, labelled series).
 *
 *   npx node bench/prom-parse.ts [--mb 20] [--runs 7]
 *
 * Each parser runs in its own fresh child process (`--expose-gc`), so neither inherits the other's
 * JIT state or heap, with the V8 flags the worker gives every task process (TASK_V8_FLAGS), as
 * prom_pars runs in production. In a child, one cold parse is measured for memory: the peak heap (from a
 * GCProfiler: heap use before each collection, and at the end), the peak RSS (sampled every
 * millisecond by a worker thread), and the heap the result retains after a full GC. Then come
 * warm-up runs and the timed runs, each after a minor GC. Results go to the console and to
 * bench/prom-parse.results.json.
 *
 * Note that the reference returns much less than we do on this input (it folds each histogram
 * family into one entry and drops `_sum`/`_count` and labels), so its retained heap is small.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GCProfiler } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { TASK_V8_FLAGS } from '../src/task/command.ts';
import { parsePrometheusText } from '../tasks/prom_pars/parse.ts';
import { generateExposition } from './prom-parse-input.ts';
import { type ChildReport, report } from './prom-parse-report.ts';

const require = createRequire(import.meta.url);
/** The reference parser ships no types; it takes the text and returns an array of families. */
const parseReference = require('parse-prometheus-text-format') as (text: string) => unknown[];

const PARSERS: Record<'ours' | 'reference', (text: string) => unknown[]> = {
  ours: (text) => parsePrometheusText(text),
  reference: (text) => parseReference(text),
};
type ParserName = keyof typeof PARSERS;

function isParserName(name: string): name is ParserName {
  return Object.hasOwn(PARSERS, name);
}

const WARMUP_RUNS = 3;

async function runBenchmark(targetBytes: number, runs: number): Promise<void> {
  console.log(
    `generating a ~${(targetBytes / 2 ** 20).toFixed(0)} MB exposition with prom-client…`,
  );
  const text = await generateExposition(targetBytes);
  const bytes = Buffer.byteLength(text);
  const lines = countLines(text);
  const dir = mkdtempSync(join(tmpdir(), 'prom-parse-bench-'));
  const inputPath = join(dir, 'exposition.txt');
  writeFileSync(inputPath, text);
  try {
    const ours = runChild('ours', inputPath, runs);
    const reference = runChild('reference', inputPath, runs);
    report({ bytes, lines, warmupRuns: WARMUP_RUNS }, ours, reference, TASK_V8_FLAGS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runChild(parser: ParserName, inputPath: string, runs: number): ChildReport {
  console.log(`running ${parser} in a fresh process…`);
  const args = [
    '--expose-gc',
    ...TASK_V8_FLAGS,
    import.meta.filename,
    '--child',
    parser,
    '--input',
    inputPath,
    '--runs',
    String(runs),
  ];
  const child = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    shell: false,
  });
  if (child.status !== 0)
    throw new Error(`the ${parser} child exited with ${child.status}: ${child.stderr}`);
  return JSON.parse(child.stdout) as ChildReport;
}

async function measureInChild(
  parser: ParserName,
  inputPath: string,
  runs: number,
): Promise<ChildReport> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('run the child with --expose-gc');
  const parse = PARSERS[parser];
  const text = readFileSync(inputPath, 'utf8');
  gc();
  gc();
  const sampler = await startRssSampler();
  const profiler = new GCProfiler();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage.rss();
  profiler.start();
  // The result stays reachable until the heap is measured, as it would for a caller of the parser.
  let result = parse(text);
  const heapAfter = process.memoryUsage().heapUsed;
  const collections = profiler.stop().statistics;
  const peakRss = await sampler.stop();
  // The heap peaks just before a collection, or at the end.
  const peakHeap = Math.max(
    heapAfter,
    ...collections.map((collection) => collection.beforeGC.heapStatistics.usedHeapSize),
  );
  gc();
  const retainedHeapBytes = process.memoryUsage().heapUsed - heapBefore;
  const families = result.length;

  for (let run = 0; run < WARMUP_RUNS; run++) result = parse(text);
  const timesMs: number[] = [];
  for (let run = 0; run < runs; run++) {
    result = [];
    // A minor GC empties the young generation; a full one (plain gc()) would also throw away
    // optimized code and time a half-cold parser.
    gc({ type: 'minor' });
    const started = performance.now();
    result = parse(text);
    timesMs.push(performance.now() - started);
  }
  return {
    parser,
    families,
    timesMs,
    peakHeapDeltaBytes: peakHeap - heapBefore,
    peakRssDeltaBytes: peakRss - rssBefore,
    retainedHeapBytes,
  };
}

/** Samples the process RSS every millisecond on another thread while this one is busy parsing. */
async function startRssSampler(): Promise<{ stop(): Promise<number> }> {
  const shared = new SharedArrayBuffer(16);
  const state = new Int32Array(shared, 0, 2); // [0]: 1 while running; [1]: 1 once started
  const peak = new Float64Array(shared, 8, 1);
  state[0] = 1;
  const source = `
    const { workerData } = require('node:worker_threads');
    const state = new Int32Array(workerData, 0, 2);
    const peak = new Float64Array(workerData, 8, 1);
    while (Atomics.load(state, 0) === 1) {
      peak[0] = Math.max(peak[0], process.memoryUsage.rss());
      Atomics.store(state, 1, 1);
      Atomics.wait(state, 0, 1, 1);
    }`;
  const worker = new Worker(source, { eval: true, workerData: shared });
  while (Atomics.load(state, 1) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  return {
    async stop() {
      Atomics.store(state, 0, 0);
      Atomics.notify(state, 0);
      await worker.terminate();
      return peak[0] ?? 0;
    },
  };
}

function countLines(text: string): number {
  let lines = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
  return lines;
}

const { values: flags } = parseArgs({
  options: {
    child: { type: 'string' },
    input: { type: 'string' },
    mb: { type: 'string', default: '20' },
    runs: { type: 'string', default: '7' },
  },
});

const runs = Number(flags.runs);
if (!Number.isInteger(runs) || runs < 5)
  throw new Error(`--runs must be an integer ≥ 5, got ${flags.runs}`);
if (flags.child !== undefined) {
  const parser = flags.child;
  if (!isParserName(parser) || flags.input === undefined) {
    throw new Error(`--child must be one of ${Object.keys(PARSERS).join(', ')}, with --input`);
  }
  process.stdout.write(JSON.stringify(await measureInChild(parser, flags.input, runs)));
} else {
  await runBenchmark(Number(flags.mb) * 1024 * 1024, runs);
}
