/**
 * A one-pass parser of the Prometheus text format 0.0.4, strict where Prometheus is: a malformed
 * line throws a `PrometheusParseError` naming it, never a partial result. Names and label strings
 * that repeat the previous sample's are shared (docs/performance.md, "The Prometheus parser").
 */
import {
  describeAt,
  findTokenEnd,
  HASH,
  isMetricNameChar,
  isMetricNameStart,
  LEFT_BRACE,
  LF,
  MINUS,
  NINE,
  quote,
  SPACE,
  skipBlanks,
  TAB,
  ZERO,
} from './chars.ts';
import { END_OF_EXPOSITION, fail, readCommentLine } from './comments.ts';
import { type FamilyState, FamilyTable, type MetricFamily } from './families.ts';
import { LabelSetReader } from './labels.ts';
import { parseFastFloat, parseTimestampMs, type SampleValue, whyNotFloat } from './values.ts';

export type { MetricFamily, MetricType, Sample } from './families.ts';
export { PrometheusParseError } from './families.ts';
export { type SampleValue, sampleValueToNumber } from './values.ts';

export interface ParseOptions {
  /**
   * Names of the families to return (a histogram's name brings its `_bucket`/`_sum`/`_count`
   * lines); all families when absent. Lines of other families are still validated.
   */
  readonly families?: Iterable<string> | undefined;
}

/** Parses a text exposition (format 0.0.4, or OpenMetrics-style up to `# EOF`) into its families. */
export function parsePrometheusText(text: string, options: ParseOptions = {}): MetricFamily[] {
  return new ExpositionParser(text, new FamilyTable(options.families)).parse();
}

/** Integers of up to 15 digits are exact in a float64, so they are summed up in place, no slice. */
const MAX_FAST_DIGITS = 15;

const UNEXPECTED_END = 'unexpected end of input: the last line must end with a newline';

/** A validated metric name with the family it resolved to (which never changes, see FamilyTable). */
interface NameEntry {
  readonly name: string;
  readonly state: FamilyState;
}

/** The scanner: native string methods on hot paths; a name is checked by character once only. */
class ExpositionParser {
  readonly #text: string;
  readonly #table: FamilyTable;
  #line = 1;
  /** Index of the newline ending the current line. */
  #lineEnd = 0;
  /**
   * Next `{`, space and tab at or after the scan position (text length when none): found with
   * one `indexOf` each and reused until passed, so no stretch of text is searched twice (a fresh
   * search per line would go quadratic on lines that lack the character).
   */
  #nextBrace = -1;
  #nextSpace = -1;
  #nextTab = -1;
  #lastName: NameEntry | undefined;
  /** Every valid metric name seen, so each is checked character by character only once. */
  readonly #names = new Map<string, NameEntry>();
  readonly #labels: LabelSetReader;
  /** What `#readValue` read; a field rather than a returned object keeps the hot path lean. */
  #value: SampleValue = 0;

  constructor(text: string, table: FamilyTable) {
    this.#text = text;
    this.#table = table;
    this.#labels = new LabelSetReader(text);
  }

  parse(): MetricFamily[] {
    const text = this.#text;
    const end = text.length;
    let pos = 0;
    while (pos < end) {
      const start = skipBlanks(text, pos);
      const c = text.charCodeAt(start);
      if (c === LF) {
        pos = start + 1;
      } else if (c === HASH) {
        pos = readCommentLine(text, start + 1, this.#line, this.#table);
        if (pos === END_OF_EXPOSITION) break;
      } else if (start < end) {
        pos = this.#readSample(start);
      } else {
        break; // blanks after the last newline, which Prometheus accepts too
      }
      this.#line++;
    }
    return this.#table.families();
  }

  /** Reads the sample line starting at `pos`; returns the index after its newline. */
  #readSample(pos: number): number {
    const text = this.#text;
    const lineEnd = text.indexOf('\n', pos);
    if (lineEnd === -1) this.#fail(UNEXPECTED_END);
    this.#lineEnd = lineEnd;
    const { name, state } = this.#readMetricName(pos);
    // Blanks may stand between the name and its labels, as Prometheus reads it.
    let i = skipBlanks(text, pos + name.length);
    let labels: Record<string, string>;
    if (text.charCodeAt(i) === LEFT_BRACE) {
      const numericLabel = name === state.numericLabelSample ? state.numericLabel : undefined;
      i = this.#labels.read(i + 1, lineEnd, this.#line, numericLabel);
      labels = this.#labels.labels;
    } else {
      labels = {};
      this.#labels.clear();
    }
    i = this.#readValue(skipBlanks(text, i), name);
    const value = this.#value;
    let timestampMs: number | undefined;
    if (i < lineEnd) {
      i = skipBlanks(text, i);
      if (i < lineEnd) {
        const tokenEnd = findTokenEnd(text, i);
        timestampMs = this.#readTimestamp(text.slice(i, tokenEnd));
        i = skipBlanks(text, tokenEnd);
        if (i < lineEnd) {
          this.#fail(`unexpected text after the timestamp: ${quote(text.slice(i, lineEnd))}`);
        }
      }
    }
    state.hasSamples = true;
    if (state.isWanted) {
      state.family.samples.push(
        timestampMs === undefined ? { name, labels, value } : { name, labels, value, timestampMs },
      );
    }
    return lineEnd + 1;
  }

  /**
   * The metric name at `pos`. It ends at the first `{`, space or tab (for a valid name); that
   * stretch is compared with the previous sample's name, then looked up among known names, and
   * only a new one is checked character by character.
   */
  #readMetricName(pos: number): NameEntry {
    const text = this.#text;
    const lineEnd = this.#lineEnd;
    if (this.#nextBrace < pos) this.#nextBrace = indexOrEnd(text, '{', pos);
    // A line with labels, under a name seen before (which holds no blanks): one slice settles it.
    if (this.#nextBrace < lineEnd) {
      const entry = this.#knownName(text.slice(pos, this.#nextBrace));
      if (entry !== undefined) return entry;
    }
    const end = Math.min(this.#nextBrace, this.#findBlank(pos), lineEnd);
    const candidate = text.slice(pos, end);
    return this.#knownName(candidate) ?? this.#newName(candidate, pos, end);
  }

  #knownName(candidate: string): NameEntry | undefined {
    const last = this.#lastName;
    if (last !== undefined && candidate === last.name) return last;
    const entry = this.#names.get(candidate);
    if (entry !== undefined) this.#lastName = entry;
    return entry;
  }

  /** Checks a name not seen before, character by character, and resolves its family. */
  #newName(name: string, pos: number, end: number): NameEntry {
    const text = this.#text;
    const nameEnd = findInvalid(text, pos, end, isMetricNameStart, isMetricNameChar);
    if (nameEnd === pos) this.#fail(`expected a metric name, found ${describeAt(text, pos)}`);
    if (nameEnd < end || end === this.#lineEnd) {
      const problem = nameEnd < end ? 'invalid character in' : 'no value after';
      const valid = quote(text.slice(pos, nameEnd));
      this.#fail(`${problem} metric name ${valid}: found ${describeAt(text, nameEnd)}`);
    }
    const entry = { name, state: this.#table.resolve(name) };
    this.#names.set(name, entry);
    this.#lastName = entry;
    return entry;
  }

  /** Reads the value token at `pos` into `#value`; returns the index after it. */
  #readValue(pos: number, name: string): number {
    const text = this.#text;
    let i = pos;
    let c = text.charCodeAt(i);
    const isNegative = c === MINUS;
    if (isNegative) c = text.charCodeAt(++i);
    const digitsStart = i;
    let integer = 0;
    while (c >= ZERO && c <= NINE) {
      integer = integer * 10 + (c - ZERO);
      c = text.charCodeAt(++i);
    }
    const digits = i - digitsStart;
    if (digits > 0 && digits <= MAX_FAST_DIGITS && (c === SPACE || c === LF || c === TAB)) {
      this.#value = isNegative ? -integer : integer;
      return i;
    }
    const end = Math.min(this.#findBlank(i), this.#lineEnd);
    const token = text.slice(pos, end);
    if (token === '') this.#fail(`no value after metric name ${quote(name)}`);
    const value = parseFastFloat(token);
    if (value === undefined)
      this.#fail(`sample value ${quote(token)} of ${quote(name)} ${whyNotFloat(token)}`);
    this.#value = value;
    return end;
  }

  /** The first space or tab at or after `pos`, or the text's length. */
  #findBlank(pos: number): number {
    const text = this.#text;
    if (this.#nextSpace < pos) this.#nextSpace = indexOrEnd(text, ' ', pos);
    if (this.#nextTab < pos) this.#nextTab = indexOrEnd(text, '\t', pos);
    return Math.min(this.#nextSpace, this.#nextTab);
  }

  #readTimestamp(token: string): number {
    const timestampMs = parseTimestampMs(token);
    if (timestampMs === 'syntax') {
      this.#fail(`expected an integer timestamp in milliseconds, got ${quote(token)}`);
    }
    if (timestampMs === 'range') {
      this.#fail(`timestamp ${token} is beyond ±2^53 ms, which this parser cannot hold exactly`);
    }
    return timestampMs;
  }

  #fail(reason: string): never {
    fail(this.#line, reason);
  }
}

/** `text.indexOf(search, from)`, with "not found" as the text's length so `Math.min` works. */
function indexOrEnd(text: string, search: string, from: number): number {
  const index = text.indexOf(search, from);
  return index === -1 ? text.length : index;
}

/** The index of the first character in [start, end) that breaks the name grammar, or `end`. */
function findInvalid(
  text: string,
  start: number,
  end: number,
  isStart: (c: number) => boolean,
  isRest: (c: number) => boolean,
): number {
  if (start >= end || !isStart(text.charCodeAt(start))) return start;
  let i = start + 1;
  while (i < end && isRest(text.charCodeAt(i))) i++;
  return i;
}
