/**
 * A claim answer's task payload, kept as the bytes it arrived in: the task process parses it, the
 * worker never does (a payload of several MiB would otherwise be parsed here and serialized again
 * for the task process). This finds where `task.payload` lies in the answer, so that the rest of
 * the answer — small — is parsed and checked as before, with `null` where the payload was.
 *
 * Only the payload's extent is found here (strings, brackets): whether it is JSON is the task
 * process's to tell (a payload that is not is answered rejected/BAD_PAYLOAD there). An answer
 * whose layout this does not follow is parsed whole, as before.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** The answer with `null` for its payload, and the payload's own bytes (a view, not a copy). */
export interface SplitClaim {
  text: string;
  payloadJson: Buffer;
}

export function splitClaimAnswer(answer: Buffer): SplitClaim | undefined {
  const task = memberRange(answer, 0, 'task');
  if (task === undefined) return undefined;
  const payload = memberRange(answer, task[0], 'payload');
  if (payload === undefined) return undefined;
  const [start, end] = payload;
  const text = `${answer.toString('utf8', 0, start)}null${answer.toString('utf8', end)}`;
  return { text, payloadJson: answer.subarray(start, end) };
}

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function skipSpace(bytes: Buffer, at: number): number {
  let i = at;
  while (isSpace(bytes[i])) i++;
  return i;
}

/** The index after the string that starts at `at`, or -1. */
function stringEnd(bytes: Buffer, at: number): number {
  for (let from = at + 1; ; ) {
    const quote = bytes.indexOf(QUOTE, from);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** The index after the value that starts at `at` (its extent only), or -1. */
function valueEnd(bytes: Buffer, at: number): number {
  const first = bytes[at];
  if (first === QUOTE) return stringEnd(bytes, at);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (let i = at; i < bytes.length; ) {
      const byte = bytes[i];
      if (byte === QUOTE) {
        i = stringEnd(bytes, i);
        if (i < 0) return -1;
        continue;
      }
      if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  let i = at;
  while (i < bytes.length) {
    const byte = bytes[i];
    if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isSpace(byte)) break;
    i++;
  }
  return i > at ? i : -1;
}

/**
 * [start, end) of the value of `key` in the object that starts at `at` (after spaces): the last
 * one, as JSON.parse takes the last of repeated keys.
 */
function memberRange(bytes: Buffer, at: number, key: string): [number, number] | undefined {
  let i = skipSpace(bytes, at);
  if (bytes[i] !== OPEN_BRACE) return undefined;
  i = skipSpace(bytes, i + 1);
  if (bytes[i] === CLOSE_BRACE) return undefined;
  let found: [number, number] | undefined;
  for (;;) {
    if (bytes[i] !== QUOTE) return undefined;
    const nameEnd = stringEnd(bytes, i);
    if (nameEnd < 0) return undefined;
    let name: unknown;
    try {
      name = JSON.parse(bytes.toString('utf8', i, nameEnd));
    } catch {
      return undefined;
    }
    i = skipSpace(bytes, nameEnd);
    if (bytes[i] !== COLON) return undefined;
    const start = skipSpace(bytes, i + 1);
    const end = valueEnd(bytes, start);
    if (end < 0) return undefined;
    if (name === key) found = [start, end];
    i = skipSpace(bytes, end);
    if (bytes[i] === CLOSE_BRACE) return found;
    if (bytes[i] !== COMMA) return undefined;
    i = skipSpace(bytes, i + 1);
  }
}
