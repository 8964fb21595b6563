/**
 * The scanner's character tests, on `charCodeAt` code units: past the end it is NaN, which every
 * test rejects, so a scan stops at the end without a bounds check.
 */

export const TAB = 9;
export const LF = 10;
export const SPACE = 32;
export const QUOTE = 34;
export const HASH = 35;
export const COMMA = 44;
export const MINUS = 45;
export const ZERO = 48;
export const NINE = 57;
export const COLON = 58;
export const EQUALS = 61;
export const BACKSLASH = 92;
export const UNDERSCORE = 95;
export const LOWER_N = 110;
export const LEFT_BRACE = 123;
export const RIGHT_BRACE = 125;

/** `[a-zA-Z_]`: the first character of a label name (`[a-zA-Z_][a-zA-Z0-9_]*`). */
export function isLabelNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === UNDERSCORE;
}

/** `[a-zA-Z0-9_]`: the rest of a label name. */
export function isLabelNameChar(c: number): boolean {
  return isLabelNameStart(c) || (c >= ZERO && c <= NINE);
}

/** `[a-zA-Z_:]`: the first character of a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`). */
export function isMetricNameStart(c: number): boolean {
  return isLabelNameStart(c) || c === COLON;
}

/** `[a-zA-Z0-9_:]`: the rest of a metric name. */
export function isMetricNameChar(c: number): boolean {
  return isLabelNameChar(c) || c === COLON;
}

/** The index of the first character at or after `i` that is neither a space nor a tab. */
export function skipBlanks(text: string, i: number): number {
  let c = text.charCodeAt(i);
  while (c === SPACE || c === TAB) c = text.charCodeAt(++i);
  return i;
}

/** The index of the first space, tab or newline at or after `i`, or the end of the text. */
export function findTokenEnd(text: string, i: number): number {
  const end = text.length;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === SPACE || c === TAB || c === LF) break;
    i++;
  }
  return i;
}

/** The index just past the metric name starting at `i` (equal to `i` when there is none). */
export function findMetricNameEnd(text: string, i: number): number {
  if (!isMetricNameStart(text.charCodeAt(i))) return i;
  let c: number;
  do c = text.charCodeAt(++i);
  while (isMetricNameChar(c));
  return i;
}

/** What stands at `i`, for error messages: `'x'`, `a tab`, `the end of the line`, … */
export function describeAt(text: string, i: number): string {
  const c = text.codePointAt(i);
  if (c === undefined) return 'the end of input';
  if (c === LF) return 'the end of the line';
  if (c === TAB) return 'a tab';
  if (c === SPACE) return 'a space';
  if (c < SPACE || c === 127)
    return `the control character ${JSON.stringify(String.fromCodePoint(c))}`;
  return `'${String.fromCodePoint(c)}'`;
}

/** A token or value quoted for an error message, with newlines and quotes escaped. */
export function quote(token: string): string {
  return JSON.stringify(token);
}
