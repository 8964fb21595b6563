/**
 * What the parser produces, its error, and the families seen so far, mapping a sample name to its
 * family as Prometheus does (`foo_bucket` to a histogram `foo`, `foo_sum` to a histogram or summary).
 */
import type { SampleValue } from './values.ts';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export const METRIC_TYPES: readonly MetricType[] = [
  'counter',
  'gauge',
  'histogram',
  'summary',
  'untyped',
];

export interface Sample {
  /** The name as written: `http_duration_seconds_bucket`, not the family's name. */
  name: string;
  /** Label names to values, unescaped, in the order written (`le` and `quantile` included). */
  labels: Record<string, string>;
  value: SampleValue;
  /** Milliseconds since the epoch, when the line carries a timestamp. */
  timestampMs?: number;
}

export interface MetricFamily {
  name: string;
  /** `untyped` when no TYPE line names the family. */
  type: MetricType;
  /** The HELP text, unescaped; empty when there is none. */
  help: string;
  /** In the order written; a histogram's or summary's `_bucket`/quantile/`_sum`/`_count` lines all land here. */
  samples: Sample[];
}

/** A malformed exposition: `message` is `line N: what was wrong`. */
export class PrometheusParseError extends Error {
  /** 1-based line number of the offending line. */
  readonly line: number;
  /** What was wrong, without the line prefix. */
  readonly reason: string;

  constructor(line: number, reason: string) {
    super(`line ${line}: ${reason}`);
    this.name = 'PrometheusParseError';
    this.line = line;
    this.reason = reason;
  }
}

/** A family with the bookkeeping the parser needs to reject what Prometheus rejects. */
export interface FamilyState {
  readonly family: MetricFamily;
  /** Whether the caller asked for this family; samples of others are validated, then dropped. */
  readonly isWanted: boolean;
  hasHelp: boolean;
  hasType: boolean;
  hasSamples: boolean;
  /** The sample name whose `numericLabel` must hold a float: `<name>_bucket` / `le` of a histogram, `<name>` / `quantile` of a summary. */
  numericLabelSample: string | undefined;
  numericLabel: 'le' | 'quantile' | undefined;
}

const SUFFIXES = ['_bucket', '_count', '_sum'] as const;

/**
 * Families by name, in order of first appearance. Entries are only ever added and a family's type
 * is set at most once, before its first sample, so resolving a given name gives the same family
 * for the rest of the input: the parser may cache the answer for the previous sample's name.
 */
export class FamilyTable {
  readonly #byName = new Map<string, FamilyState>();
  readonly #wanted: ReadonlySet<string> | undefined;

  constructor(wanted: Iterable<string> | undefined) {
    this.#wanted = wanted === undefined ? undefined : new Set(wanted);
  }

  /** The family a HELP/TYPE line or a sample called `name` belongs to, created when new. */
  resolve(name: string): FamilyState {
    const exact = this.#byName.get(name);
    if (exact !== undefined) return exact;
    for (const suffix of SUFFIXES) {
      if (name.length > suffix.length && name.endsWith(suffix)) {
        const base = this.#byName.get(name.slice(0, -suffix.length));
        const type = base?.family.type;
        if (
          base !== undefined &&
          (type === 'histogram' || (type === 'summary' && suffix !== '_bucket'))
        ) {
          return base;
        }
      }
    }
    return this.#create(name);
  }

  /** Records a TYPE line's type; the caller has checked it is the family's first and precedes its samples. */
  setType(state: FamilyState, type: MetricType): void {
    state.family.type = type;
    state.hasType = true;
    if (type === 'histogram') {
      state.numericLabelSample = `${state.family.name}_bucket`;
      state.numericLabel = 'le';
    } else if (type === 'summary') {
      state.numericLabelSample = state.family.name;
      state.numericLabel = 'quantile';
    }
  }

  /** The wanted families, in order of first appearance, including those with HELP/TYPE but no samples. */
  families(): MetricFamily[] {
    const result: MetricFamily[] = [];
    for (const state of this.#byName.values()) {
      if (state.isWanted) result.push(state.family);
    }
    return result;
  }

  #create(name: string): FamilyState {
    const state: FamilyState = {
      family: { name, type: 'untyped', help: '', samples: [] },
      isWanted: this.#wanted === undefined || this.#wanted.has(name),
      hasHelp: false,
      hasType: false,
      hasSamples: false,
      numericLabelSample: undefined,
      numericLabel: undefined,
    };
    this.#byName.set(name, state);
    return state;
  }
}
