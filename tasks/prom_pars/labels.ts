/**
 * Label sets `{name="value", …}`, the parser's hot path. A sample mostly repeats the previous one's
 * labels but perhaps the first (`le`, `quantile`): a repeated tail is taken over whole, else each
 * name and value is compared by position, and only new strings are checked by character.
 */
import {
  BACKSLASH,
  COMMA,
  describeAt,
  EQUALS,
  isLabelNameChar,
  isLabelNameStart,
  LF,
  LOWER_N,
  QUOTE,
  quote,
  RIGHT_BRACE,
  skipBlanks,
} from './chars.ts';
import { fail } from './comments.ts';
import { parseFastFloat } from './values.ts';

/** Label sets whose text after label 0 or label 1 repeats are taken over from the previous one. */
const TAIL_BOUNDARIES = 2;

/** Changed values are tracked in a bit mask; larger label sets are simply rebuilt. */
const MAX_TRACKED_LABELS = 30;

/** Bound of the intern table; a scrape of unique values that fills it just clears it. */
const MAX_INTERNED_VALUES = 4096;

export class LabelSetReader {
  readonly #text: string;
  /** The label set just read: a fresh object per sample, which callers may keep. */
  labels: Record<string, string> = {};
  /** The previous label set's names and values by position (overwritten while reading). */
  readonly #keys: string[] = [];
  readonly #values: string[] = [];
  /** The previous values that had no escapes, by position: only those may be matched in place. */
  readonly #plainValues: (string | undefined)[] = [];
  /** A value read through the escape path (then `#plainValues[k]` is undefined). */
  #escapedValue = '';
  #count = 0;
  #previous: Record<string, string> | undefined;
  /** Text of the previous label set from label 0 / label 1 up to and including its `}`. */
  readonly #tails: (string | undefined)[] = [];
  readonly #tailStarts: number[] = [];
  /** Escape-free values seen before, so values repeating out of order share one string. */
  readonly #interned = new Map<string, string>();
  /** Next backslash at or after the scan position (text length when none), found once. */
  #nextBackslash = -1;
  #line = 0;
  #lineEnd = 0;

  constructor(text: string) {
    this.#text = text;
  }

  /** A sample without `{…}`: what follows must not be compared with an older label set. */
  clear(): void {
    this.#count = 0;
    this.#previous = undefined;
    this.#tails.length = 0;
  }

  /**
   * Reads from just after the `{` to the `}` into `labels`; returns the index after the `}`. A
   * trailing comma and `{}` are allowed. `numericLabel` (`le`, `quantile`) must hold a float.
   */
  read(pos: number, lineEnd: number, line: number, numericLabel: string | undefined): number {
    const text = this.#text;
    const keys = this.#keys;
    const values = this.#values;
    const previousCount = this.#count;
    this.#line = line;
    this.#lineEnd = lineEnd;
    // While each name so far equals the previous set's at the same position, the names are
    // distinct (that set passed the duplicate check), and a repeated tail may be taken over.
    let isRepeatingKeys = true;
    let changed = 0;
    let k = 0;
    let i = skipBlanks(text, pos);
    let reusedFrom = TAIL_BOUNDARIES;
    while (text.charCodeAt(i) !== RIGHT_BRACE) {
      if (isRepeatingKeys && k < TAIL_BOUNDARIES) {
        const tail = this.#tails[k];
        if (tail !== undefined && text.slice(i, i + tail.length) === tail) {
          reusedFrom = k;
          i += tail.length - 1;
          k = previousCount;
          break;
        }
        this.#tailStarts[k] = i;
      }
      const key = this.#readName(i, k);
      i = skipBlanks(text, i + key.length);
      if (text.charCodeAt(i) !== EQUALS)
        this.#fail(`expected '=' after label name ${quote(key)}, found ${describeAt(text, i)}`);
      if (isRepeatingKeys && (key !== keys[k] || k >= previousCount)) isRepeatingKeys = false;
      if (!isRepeatingKeys) {
        this.#checkNewName(key, k);
        keys[k] = key;
      }
      i = skipBlanks(text, i + 1);
      if (text.charCodeAt(i) !== QUOTE) {
        this.#fail(
          `expected '"' to open the value of label ${quote(key)}, found ${describeAt(text, i)}`,
        );
      }
      i = this.#readValue(i + 1, k);
      const value = this.#plainValues[k] ?? this.#escapedValue;
      if (value !== values[k] || k >= previousCount) {
        values[k] = value;
        changed |= k < MAX_TRACKED_LABELS ? 1 << k : 0;
      }
      i = skipBlanks(text, i);
      const c = text.charCodeAt(i);
      if (c === COMMA) i = skipBlanks(text, i + 1);
      else if (c !== RIGHT_BRACE)
        this.#fail(
          `expected ',' or '}' after the value of label ${quote(key)}, found ${describeAt(text, i)}`,
        );
      k++;
    }
    // Keep the invariant: #tails[b] is this set's text from label b to its `}`, or undefined.
    for (let boundary = 0; boundary < reusedFrom; boundary++) {
      this.#tails[boundary] =
        boundary < k ? text.slice(this.#tailStarts[boundary], i + 1) : undefined;
    }
    if (numericLabel !== undefined) this.#checkNumeric(numericLabel, k);
    this.labels = this.#build(k, isRepeatingKeys && k === previousCount ? changed : -1);
    this.#count = k;
    return i + 1;
  }

  /** The label name at `i`: the previous set's name at position `k` when it repeats, else a checked slice. */
  #readName(i: number, k: number): string {
    const text = this.#text;
    const previous = this.#keys[k];
    if (previous !== undefined) {
      const end = i + previous.length;
      if (text.slice(i, end) === previous && !isLabelNameChar(text.charCodeAt(end)))
        return previous;
    }
    if (!isLabelNameStart(text.charCodeAt(i)))
      this.#fail(`expected a label name, found ${describeAt(text, i)}`);
    let end = i + 1;
    while (isLabelNameChar(text.charCodeAt(end))) end++;
    return text.slice(i, end);
  }

  /** Rejects `__name__` and a name already in this set (`#keys` below `k` holds this set's names). */
  #checkNewName(key: string, k: number): void {
    if (key === '__name__') this.#fail('label name "__name__" is reserved');
    for (let j = 0; j < k; j++) {
      if (this.#keys[j] === key) this.#fail(`duplicate label name ${quote(key)}`);
    }
  }

  #checkNumeric(numericLabel: string, count: number): void {
    for (let j = 0; j < count; j++) {
      const value = this.#values[j] ?? '';
      if (this.#keys[j] === numericLabel && parseFastFloat(value) === undefined) {
        this.#fail(
          `expected a float as the value of label ${quote(numericLabel)}, got ${quote(value)}`,
        );
      }
    }
  }

  /**
   * The labels object. With the same names as the previous set, it is a copy of that object
   * (same hidden class, no per-key transitions) with the `changed` positions overwritten.
   */
  #build(count: number, changed: number): Record<string, string> {
    const keys = this.#keys;
    const values = this.#values;
    const previous = this.#previous;
    let labels: Record<string, string>;
    if (previous !== undefined && changed !== -1 && count <= MAX_TRACKED_LABELS) {
      labels = { ...previous };
      for (let j = 0; changed !== 0; j++, changed >>>= 1) {
        if ((changed & 1) !== 0) setLabel(labels, keys[j] ?? '', values[j] ?? '');
      }
    } else {
      labels = {};
      for (let j = 0; j < count; j++) setLabel(labels, keys[j] ?? '', values[j] ?? '');
    }
    this.#previous = labels;
    return labels;
  }

  /**
   * Reads a value from just after its opening quote; returns the index after the closing quote.
   * Leaves the value in `#plainValues[k]` when it has no escapes, else in `#escapedValue`.
   */
  #readValue(pos: number, k: number): number {
    const text = this.#text;
    const plain = this.#plainValues[k];
    if (plain !== undefined) {
      const end = pos + plain.length;
      if (text.charCodeAt(end) === QUOTE && text.slice(pos, end) === plain) return end + 1;
    }
    const close = text.indexOf('"', pos);
    if (this.#nextBackslash < pos) {
      const backslash = text.indexOf('\\', pos);
      this.#nextBackslash = backslash === -1 ? text.length : backslash;
    }
    if (close === -1 || close > this.#lineEnd || this.#nextBackslash < close) {
      this.#plainValues[k] = undefined;
      return this.#readEscapedValue(pos);
    }
    const sliced = text.slice(pos, close);
    let value = this.#interned.get(sliced);
    if (value === undefined) {
      if (this.#interned.size >= MAX_INTERNED_VALUES) this.#interned.clear();
      this.#interned.set(sliced, sliced);
      value = sliced;
    }
    this.#plainValues[k] = value;
    return close + 1;
  }

  /** The slow path: unescapes `\\`, `\"` and `\n` into `#escapedValue`, rejects anything else. */
  #readEscapedValue(pos: number): number {
    const text = this.#text;
    let value = '';
    let runStart = pos;
    let i = pos;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) break;
      if (i >= text.length) this.#fail('unexpected end of input inside a label value');
      if (c === LF)
        this.#fail(
          `label value ${quote(value + text.slice(runStart, i))} contains an unescaped newline`,
        );
      if (c === BACKSLASH) {
        const next = text.charCodeAt(i + 1);
        if (next !== BACKSLASH && next !== QUOTE && next !== LOWER_N) {
          const atEnd = next === LF || i + 1 >= text.length;
          const sequence = atEnd ? 'a lone \\ at the end of the line' : `'\\${text[i + 1]}'`;
          this.#fail(
            `invalid escape sequence ${sequence} in a label value (only \\\\, \\" and \\n)`,
          );
        }
        value += text.slice(runStart, i) + (next === LOWER_N ? '\n' : text[i + 1]);
        i += 2;
        runStart = i;
      } else {
        i++;
      }
    }
    this.#escapedValue = value + text.slice(runStart, i);
    return i + 1;
  }

  #fail(reason: string): never {
    fail(this.#line, reason);
  }
}

/** Sets a label; `__proto__` is a valid label name and must become an own property. */
function setLabel(labels: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__') {
    Object.defineProperty(labels, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    labels[key] = value;
  }
}
