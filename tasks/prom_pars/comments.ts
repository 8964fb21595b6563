/**
 * Lines starting with `#`: HELP, TYPE, `# EOF` and plain comments; rare, so clarity over speed.
 * As in Prometheus, `# HELP` or `# TYPE name` with nothing after it is not an error.
 */
import {
  BACKSLASH,
  describeAt,
  findMetricNameEnd,
  findTokenEnd,
  LF,
  LOWER_N,
  quote,
  SPACE,
  skipBlanks,
  TAB,
} from './chars.ts';
import {
  type FamilyState,
  type FamilyTable,
  METRIC_TYPES,
  type MetricType,
  PrometheusParseError,
} from './families.ts';

/** Returned instead of a position when `# EOF` ended the exposition. */
export const END_OF_EXPOSITION = -1;

/**
 * Reads the comment line whose `#` is just before `pos` (line number `line`) and returns the index
 * after its newline, or `END_OF_EXPOSITION`.
 */
export function readCommentLine(
  text: string,
  pos: number,
  line: number,
  table: FamilyTable,
): number {
  const keywordStart = skipBlanks(text, pos);
  const keywordEnd = findTokenEnd(text, keywordStart);
  const keyword = text.slice(keywordStart, keywordEnd);
  if (keyword === 'EOF' && isLineBlankFrom(text, keywordEnd))
    return readEndMarker(text, keywordEnd, line);
  if (keyword !== 'HELP' && keyword !== 'TYPE') return nextLineStart(text, keywordEnd, line);

  const nameStart = skipBlanks(text, keywordEnd);
  if (text.charCodeAt(nameStart) === LF) return nameStart + 1;
  const nameEnd = findMetricNameEnd(text, nameStart);
  const after = text.charCodeAt(nameEnd);
  if (nameEnd > nameStart && after === LF) return nameEnd + 1;
  if (nameEnd === nameStart || (after !== SPACE && after !== TAB)) {
    const problem =
      nameEnd === nameStart ? 'expected a metric name' : 'invalid character in the metric name';
    fail(line, `${problem} after "# ${keyword}", found ${describeAt(text, nameEnd)}`);
  }
  const name = text.slice(nameStart, nameEnd);
  const state = table.resolve(name);
  const textStart = skipBlanks(text, nameEnd);
  const lineEnd = nextLineStart(text, textStart, line) - 1;
  if (lineEnd === textStart) return lineEnd + 1;
  if (keyword === 'HELP') {
    if (state.hasHelp) fail(line, `second HELP line for ${describeFamily(name, state)}`);
    state.family.help = unescapeHelp(text, textStart, lineEnd, line);
    state.hasHelp = true;
  } else {
    if (state.hasType) fail(line, `second TYPE line for ${describeFamily(name, state)}`);
    if (state.hasSamples)
      fail(line, `TYPE line for ${describeFamily(name, state)} comes after its samples`);
    table.setType(state, readMetricType(text.slice(textStart, lineEnd), line));
  }
  return lineEnd + 1;
}

/** `metric "foo"`, or `metric "foo" (summary "foo" owns "foo_sum")` when the name resolved to another family. */
function describeFamily(name: string, state: FamilyState): string {
  const family = state.family;
  if (family.name === name) return `metric ${quote(name)}`;
  return `metric ${quote(name)} (${family.type} ${quote(family.name)} owns it)`;
}

/** The type of a TYPE line; case-insensitive and tolerant of trailing blanks. */
function readMetricType(raw: string, line: number): MetricType {
  const token = raw.trimEnd().toLowerCase();
  const type = METRIC_TYPES.find((candidate) => candidate === token);
  if (type === undefined) {
    fail(
      line,
      `unknown metric type ${quote(raw.trimEnd())}, expected one of ${METRIC_TYPES.join(', ')}`,
    );
  }
  return type;
}

/** HELP text between `start` and the newline at `end`, with `\\` and `\n` unescaped (the only escapes 0.0.4 allows there). */
function unescapeHelp(text: string, start: number, end: number, line: number): string {
  // Searched within the line's slice: a search in `text` could run far past the line.
  const raw = text.slice(start, end);
  let backslash = raw.indexOf('\\');
  if (backslash === -1) return raw;
  let help = '';
  let runStart = 0;
  while (backslash !== -1) {
    const next = raw.charCodeAt(backslash + 1);
    if (next !== BACKSLASH && next !== LOWER_N) {
      const sequence =
        backslash + 1 < raw.length
          ? `'\\${raw[backslash + 1]}'`
          : 'a lone \\ at the end of the line';
      fail(
        line,
        `invalid escape sequence ${sequence} in HELP text (only \\\\ and \\n are allowed)`,
      );
    }
    help += raw.slice(runStart, backslash) + (next === BACKSLASH ? '\\' : '\n');
    runStart = backslash + 2;
    backslash = raw.indexOf('\\', runStart);
  }
  return help + raw.slice(runStart);
}

/**
 * After `# EOF` only blank lines may follow: OpenMetrics ends the exposition there, so anything
 * else means two expositions were glued together or the producer is broken.
 */
function readEndMarker(text: string, pos: number, line: number): number {
  let i = pos;
  let currentLine = line;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === LF) currentLine++;
    else if (c !== SPACE && c !== TAB)
      fail(currentLine, `unexpected content after "# EOF" (line ${line})`);
  }
  return END_OF_EXPOSITION;
}

function isLineBlankFrom(text: string, pos: number): boolean {
  const i = skipBlanks(text, pos);
  return i >= text.length || text.charCodeAt(i) === LF;
}

/** The index after the newline that ends the line containing `pos`; the last line must have one. */
function nextLineStart(text: string, pos: number, line: number): number {
  const newline = text.indexOf('\n', pos);
  if (newline === -1) fail(line, 'unexpected end of input: the last line must end with a newline');
  return newline + 1;
}

export function fail(line: number, reason: string): never {
  throw new PrometheusParseError(line, reason);
}
