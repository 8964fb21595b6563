/**
 * Numbers of the text format, read as Prometheus reads them: values and `le`/`quantile` as Go
 * floats without hex or `_`, timestamps as base-10 int64.
 */

/**
 * A sample value as it appears in our JSON output. JSON has no NaN or infinities, so those travel
 * as the strings Prometheus itself writes; every other value is a plain number.
 */
export type SampleValue = number | 'NaN' | '+Inf' | '-Inf';

const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const UPPER_E = 69;
const LOWER_E = 101;
const LOWER_B = 98;
const LOWER_O = 111;
const LOWER_X = 120;

/** Turns a Go float into its JSON-safe form: non-finite values become their Prometheus spelling. */
export function toSampleValue(value: number): SampleValue {
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}

/** The number a `SampleValue` stands for (`'+Inf'` → `Infinity`, …), for callers doing arithmetic. */
export function sampleValueToNumber(value: SampleValue): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return Number.NaN;
  return value === '+Inf' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
}

/**
 * Parses `token` as Go's `ParseFloat(token, 64)` would, or returns `undefined` when Go would fail:
 * a syntax error, or a finite literal too large for a float64 (Go's ErrRange; underflow to 0 is not
 * an error in Go either). Accepted: `1`, `-0`, `1.`, `.5`, `1e3`, `1E-3`, `+2`, and,
 * case-insensitively, `NaN`, `Inf`, `+Inf`, `-Inf`, `Infinity` (Go takes no sign on NaN).
 */
export function parseGoFloat(token: string): number | undefined {
  // Decimals first: they are nearly every value, and this check allocates nothing.
  if (isDecimalFloat(token)) {
    const value = Number(token);
    return Number.isFinite(value) ? value : undefined;
  }
  return parseSpecialFloat(token);
}

/**
 * `parseGoFloat` for the hot path, JSON-safe. `Number()` agrees with Go when the token starts with a
 * digit, sign or dot, ends with a digit or dot, and has no radix prefix; anything else takes the exact path.
 */
export function parseFastFloat(token: string): SampleValue | undefined {
  const value = Number(token);
  if (Number.isFinite(value) && hasDecimalEdges(token)) return value;
  const exact = parseGoFloat(token);
  return exact === undefined ? undefined : toSampleValue(exact);
}

function hasDecimalEdges(token: string): boolean {
  const first = token.charCodeAt(0);
  const last = token.charCodeAt(token.length - 1);
  if (!((first >= ZERO && first <= NINE) || first === PLUS || first === MINUS || first === DOT)) {
    return false;
  }
  if (!((last >= ZERO && last <= NINE) || last === DOT)) return false;
  // A radix prefix is only accepted unsigned by Number(), so checking the second character is enough.
  const second = token.charCodeAt(1) | 0x20;
  return !(first === ZERO && (second === LOWER_X || second === LOWER_B || second === LOWER_O));
}

/** Why `token` is not a Go float, for an error message. */
export function whyNotFloat(token: string): string {
  return isDecimalFloat(token) ? 'is out of the float64 range' : 'is not a number';
}

function parseSpecialFloat(token: string): number | undefined {
  const length = token.length;
  if (length < 3 || length > 9) return undefined;
  const lower = token.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  const first = lower.charCodeAt(0);
  const unsigned = first === PLUS || first === MINUS ? lower.slice(1) : lower;
  if (unsigned !== 'inf' && unsigned !== 'infinity') return undefined;
  return first === MINUS ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

/**
 * Whether `token` is a decimal float literal in Go's grammar: `[+-]? mantissa ([eE] [+-]? digits)?`
 * where the mantissa has at least one digit and at most one dot. Checked by hand because
 * `Number()` also accepts `0x1f`, `0b1`, `Infinity`, surrounding whitespace and the empty string.
 */
export function isDecimalFloat(token: string): boolean {
  const length = token.length;
  let i = 0;
  let c = token.charCodeAt(0);
  if (c === PLUS || c === MINUS) c = token.charCodeAt(++i);
  let mantissaDigits = 0;
  while (c >= ZERO && c <= NINE) {
    mantissaDigits++;
    c = token.charCodeAt(++i);
  }
  if (c === DOT) {
    c = token.charCodeAt(++i);
    while (c >= ZERO && c <= NINE) {
      mantissaDigits++;
      c = token.charCodeAt(++i);
    }
  }
  if (mantissaDigits === 0) return false;
  if (c === LOWER_E || c === UPPER_E) {
    c = token.charCodeAt(++i);
    if (c === PLUS || c === MINUS) c = token.charCodeAt(++i);
    const exponentStart = i;
    while (c >= ZERO && c <= NINE) c = token.charCodeAt(++i);
    if (i === exponentStart) return false;
  }
  return i === length;
}

/**
 * `token` as a base-10 integer (optional sign, digits only) a JavaScript number holds exactly;
 * `'range'` past ±(2^53 − 1), which no real clock makes, refused rather than rounded.
 */
export function parseTimestampMs(token: string): number | 'syntax' | 'range' {
  let i = 0;
  const first = token.charCodeAt(0);
  if (first === PLUS || first === MINUS) i = 1;
  if (i === token.length) return 'syntax';
  for (let j = i; j < token.length; j++) {
    const c = token.charCodeAt(j);
    if (c < ZERO || c > NINE) return 'syntax';
  }
  const value = Number(token);
  return Number.isSafeInteger(value) ? value : 'range';
}
