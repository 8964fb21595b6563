/**
 * A claim answer's task payload, kept as the bytes it arrived in: the task process parses it, the
 * worker never does (a payload of several MiB would otherwise be parsed here and serialized again
 * for the task process). This finds where `task.payload` lies in the answer, so that the rest of
 * the answer — small — is parsed and checked as before, with `null` where the payload was.
 *
 * Only the payload's extent is found here (strings, brackets): whether it is JSON is the task
 * process's to tell (a payload that is not is answered rejected/BAD_PAYLOAD there). An answer
 * whose layout this does not follow is parsed whole, as before.
 *
 * It reads the answer as the chunks it arrived in, never joined: a big answer joined into one
 * buffer is one big allocation, which the C allocator keeps after it is freed (docs/performance.md,
 * "The worker's own memory").
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** The answer with `null` for its payload, and the payload's own bytes (views, not copies). */
export interface SplitClaim {
  text: string;
  payloadJson: Buffer[];
}

export function splitClaimAnswer(chunks: readonly Buffer[]): SplitClaim | undefined {
  const answer = new Chunks(chunks);
  const task = memberRange(answer, 0, 'task');
  if (task === undefined) return undefined;
  const payload = memberRange(answer, task[0], 'payload');
  if (payload === undefined) return undefined;
  const [start, end] = payload;
  const text = `${answer.text(0, start)}null${answer.text(end, answer.length)}`;
  return { text, payloadJson: answer.pieces(start, end) };
}

/** Chunks read as one run of bytes, mostly forward (the chunk last used is tried first). */
class Chunks {
  readonly length: number;
  readonly #chunks: readonly Buffer[];
  /** Where each chunk starts in the run. */
  readonly #starts: number[] = [];
  #current = 0;

  constructor(chunks: readonly Buffer[]) {
    this.#chunks = chunks.filter((chunk) => chunk.length > 0);
    let at = 0;
    for (const chunk of this.#chunks) {
      this.#starts.push(at);
      at += chunk.length;
    }
    this.length = at;
  }

  /** The chunk that holds byte `i` (0 ≤ i < length). */
  #chunkOf(i: number): number {
    const { length } = this.#chunks;
    const last = Math.min(length - 1, this.#current + 1);
    for (let c = this.#current; c <= last; c++) {
      const start = this.#starts[c] as number;
      if (i >= start && i < start + (this.#chunks[c] as Buffer).length) {
        this.#current = c;
        return c;
      }
    }
    let low = 0;
    let high = length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.#starts[middle] as number) <= i) low = middle;
      else high = middle - 1;
    }
    this.#current = low;
    return low;
  }

  byte(i: number): number | undefined {
    if (i < 0 || i >= this.length) return undefined;
    const c = this.#chunkOf(i);
    return (this.#chunks[c] as Buffer)[i - (this.#starts[c] as number)];
  }

  indexOf(byte: number, from: number): number {
    if (from >= this.length) return -1;
    for (let c = this.#chunkOf(from); c < this.#chunks.length; c++) {
      const start = this.#starts[c] as number;
      const found = (this.#chunks[c] as Buffer).indexOf(byte, Math.max(0, from - start));
      if (found >= 0) {
        this.#current = c;
        return start + found;
      }
    }
    return -1;
  }

  /** Views of the bytes [start, end). */
  pieces(start: number, end: number): Buffer[] {
    const out: Buffer[] = [];
    for (let c = 0; c < this.#chunks.length; c++) {
      const chunk = this.#chunks[c] as Buffer;
      const at = this.#starts[c] as number;
      const from = Math.max(start, at);
      const to = Math.min(end, at + chunk.length);
      if (from < to) out.push(chunk.subarray(from - at, to - at));
    }
    return out;
  }

  text(start: number, end: number): string {
    return Buffer.concat(this.pieces(start, end)).toString('utf8');
  }
}

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function skipSpace(bytes: Chunks, at: number): number {
  let i = at;
  while (isSpace(bytes.byte(i))) i++;
  return i;
}

/** The index after the string that starts at `at`, or -1. */
function stringEnd(bytes: Chunks, at: number): number {
  for (let from = at + 1; ; ) {
    const quote = bytes.indexOf(QUOTE, from);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (bytes.byte(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** The index after the value that starts at `at` (its extent only), or -1. */
function valueEnd(bytes: Chunks, at: number): number {
  const first = bytes.byte(at);
  if (first === QUOTE) return stringEnd(bytes, at);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (let i = at; i < bytes.length; ) {
      const byte = bytes.byte(i);
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
    const byte = bytes.byte(i);
    if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isSpace(byte)) break;
    i++;
  }
  return i > at ? i : -1;
}

/**
 * [start, end) of the value of `key` in the object that starts at `at` (after spaces): the last
 * one, as JSON.parse takes the last of repeated keys.
 */
function memberRange(bytes: Chunks, at: number, key: string): [number, number] | undefined {
  let i = skipSpace(bytes, at);
  if (bytes.byte(i) !== OPEN_BRACE) return undefined;
  i = skipSpace(bytes, i + 1);
  if (bytes.byte(i) === CLOSE_BRACE) return undefined;
  let found: [number, number] | undefined;
  for (;;) {
    if (bytes.byte(i) !== QUOTE) return undefined;
    const nameEnd = stringEnd(bytes, i);
    if (nameEnd < 0) return undefined;
    let name: unknown;
    try {
      name = JSON.parse(bytes.text(i, nameEnd));
    } catch {
      return undefined;
    }
    i = skipSpace(bytes, nameEnd);
    if (bytes.byte(i) !== COLON) return undefined;
    const start = skipSpace(bytes, i + 1);
    const end = valueEnd(bytes, start);
    if (end < 0) return undefined;
    if (name === key) found = [start, end];
    i = skipSpace(bytes, end);
    if (bytes.byte(i) === CLOSE_BRACE) return found;
    if (bytes.byte(i) !== COMMA) return undefined;
    i = skipSpace(bytes, i + 1);
  }
}
