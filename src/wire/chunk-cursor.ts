/**
 * A forward cursor over an answer as the chunks it arrived in (never joined: a big answer joined is
 * one big allocation, which the C allocator keeps after it is freed; docs/performance.md, "The
 * worker's own memory"). It moves past a JSON value by its extent only — strings closed, brackets
 * balanced, nothing built — which is what makes a hostile answer cheap (./json-pick.ts).
 */
import { HiveError } from '../platform/errors.ts';

export const QUOTE = 0x22;
export const COLON = 0x3a;
export const COMMA = 0x2c;
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;
const BACKSLASH = 0x5c;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

export class ChunkCursor {
  readonly #chunks: readonly Buffer[];
  /** Where each chunk starts in the whole answer, and where it ends (last). */
  readonly #starts: number[] = [];
  #chunk = 0;
  #offset = 0;

  constructor(chunks: readonly Buffer[]) {
    this.#chunks = chunks.filter((chunk) => chunk.length > 0);
    let at = 0;
    for (const chunk of this.#chunks) {
      this.#starts.push(at);
      at += chunk.length;
    }
    this.#starts.push(at);
  }

  fail(what: string): never {
    throw new HiveError(
      'BAD_ANSWER',
      `answer is not the JSON expected: ${what} at byte ${this.at()}`,
    );
  }

  /** The cursor's place in the whole answer. */
  at(): number {
    return (this.#starts[this.#chunk] as number) + this.#offset;
  }

  /** The byte at the cursor, or -1 at the end. */
  peek(): number {
    const chunk = this.#chunks[this.#chunk];
    return chunk === undefined ? -1 : (chunk[this.#offset] as number);
  }

  advance(): void {
    const chunk = this.#chunks[this.#chunk];
    if (chunk === undefined) return;
    this.#offset++;
    if (this.#offset >= chunk.length) {
      this.#chunk++;
      this.#offset = 0;
    }
  }

  /** Leaves the cursor after byte `i` of the current chunk. */
  #stopAfter(i: number): void {
    this.#offset = i;
    this.advance();
  }

  skipSpace(): void {
    for (; this.#chunk < this.#chunks.length; this.#chunk++, this.#offset = 0) {
      const chunk = this.#chunks[this.#chunk] as Buffer;
      while (this.#offset < chunk.length && isSpace(chunk[this.#offset] as number)) this.#offset++;
      if (this.#offset < chunk.length) return;
    }
  }

  /** Moves past the value at the cursor (its extent only: nothing is built). */
  skipValue(): void {
    const first = this.peek();
    if (first === QUOTE) this.skipString();
    else if (first === OPEN_BRACE || first === OPEN_BRACKET) this.#skipContainer();
    else this.#skipScalar();
  }

  /** A number, true, false or null: up to the next delimiter (JSON.parse checks it if parsed). */
  #skipScalar(): void {
    if (this.peek() === -1) this.fail('unexpected end');
    const start = this.at();
    for (let byte = this.peek(); byte !== -1; byte = this.peek()) {
      if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isSpace(byte)) break;
      if (byte === QUOTE || byte === OPEN_BRACE || byte === OPEN_BRACKET || byte === COLON) break;
      this.advance();
    }
    if (this.at() === start) this.fail('expected a value');
  }

  /** Moves past the string at the cursor; whether it had an escape. */
  skipString(): boolean {
    this.advance(); // the opening quote
    let escaped = false;
    let hadEscape = false;
    for (; this.#chunk < this.#chunks.length; this.#chunk++, this.#offset = 0) {
      const chunk = this.#chunks[this.#chunk] as Buffer;
      for (let i = this.#offset; i < chunk.length; i++) {
        const byte = chunk[i] as number;
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) {
          escaped = true;
          hadEscape = true;
        } else if (byte === QUOTE) {
          this.#stopAfter(i);
          return hadEscape;
        }
      }
    }
    return this.fail('a string that does not end');
  }

  /** An object or a list, strings inside it included, in one tight loop over the bytes. */
  #skipContainer(): void {
    let depth = 0;
    let inString = false;
    let escaped = false;
    const chunks = this.#chunks;
    for (let c = this.#chunk, from = this.#offset; c < chunks.length; c++, from = 0) {
      const chunk = chunks[c] as Buffer;
      const length = chunk.length;
      for (let i = from; i < length; i++) {
        const byte = chunk[i] as number;
        if (inString) {
          if (escaped) escaped = false;
          else if (byte === BACKSLASH) escaped = true;
          else if (byte === QUOTE) inString = false;
        } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
        else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
          if (--depth === 0) {
            this.#chunk = c;
            this.#stopAfter(i);
            return;
          }
        } else if (byte === QUOTE) inString = true;
      }
    }
    this.#chunk = chunks.length;
    this.#offset = 0;
    this.fail('an object or list that does not end');
  }

  /** Views of the bytes [start, end) of the answer. */
  pieces(start: number, end: number): Buffer[] {
    const out: Buffer[] = [];
    for (let c = this.#chunkHolding(start); c < this.#chunks.length; c++) {
      const chunk = this.#chunks[c] as Buffer;
      const at = this.#starts[c] as number;
      if (at >= end) break;
      const from = Math.max(start, at);
      const to = Math.min(end, at + chunk.length);
      if (from < to) out.push(chunk.subarray(from - at, to - at));
    }
    return out;
  }

  text(start: number, end: number): string {
    const pieces = this.pieces(start, end);
    if (pieces.length === 1) return (pieces[0] as Buffer).toString('utf8');
    return Buffer.concat(pieces).toString('utf8');
  }

  /** The index of the chunk that holds byte `at` (a binary search: answers come in many chunks). */
  #chunkHolding(at: number): number {
    let low = 0;
    let high = this.#chunks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.#starts[middle] as number) <= at) low = middle;
      else high = middle - 1;
    }
    return low;
  }
}
