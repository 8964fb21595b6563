/**
 * Reads a JSON answer for the fields the worker knows and nothing else: a server's answer can be
 * up to the 64 MiB cap, and a valid task plus `"junk":[{},{},…]` parsed whole would make millions
 * of objects (docs/reliability.md, "Hostile answers"). Here an unknown field is scanned past
 * (strings and brackets counted, nothing built), a `raw` field is kept as the bytes it arrived in
 * (views of the chunks, never joined), objects and lists are walked only as the shape says, and
 * every other known value is parsed by JSON.parse from its own bytes — all of those together at
 * most `maxParsedBytes`. A known field of the wrong kind (a string where the shape has an object)
 * is parsed as a value, within the same cap, so the schema behind says what is wrong with it.
 *
 * A skipped or raw value is checked for its extent only (closed strings, balanced brackets);
 * whatever is parsed, and the walked structure around it, is checked as JSON.parse would.
 */
import { HiveError } from '../platform/errors.ts';

/** How a field is read: parsed, kept as bytes, walked as an object, or walked as a list. */
export type Shape =
  | 'value'
  | 'raw'
  | { readonly fields: Readonly<Record<string, Shape>> }
  | { readonly items: Shape; readonly maxItems: number };

/** A JSON value kept as the bytes it arrived in (views of the answer's chunks). */
export class RawJson {
  readonly pieces: Buffer[];
  constructor(pieces: Buffer[]) {
    this.pieces = pieces;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
/** A key longer than this is no field we know: it is compared as unknown, never decoded. */
const MAX_KEY_BYTES = 256;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/**
 * The answer in `chunks` as the shape says: known fields only, `raw` ones as RawJson. Throws a
 * HiveError (BAD_ANSWER) for an answer that is not JSON, a list over its `maxItems`, or parsed
 * values over `maxParsedBytes` in all.
 */
export function pickJson(chunks: readonly Buffer[], shape: Shape, maxParsedBytes: number): unknown {
  const reader = new Reader(chunks, maxParsedBytes);
  reader.skipSpace();
  const value = reader.read(shape, '');
  reader.skipSpace();
  if (reader.peek() !== -1) reader.fail('text after the JSON value');
  return value;
}

/** A cursor over the chunks, read forward once. */
class Reader {
  readonly #chunks: readonly Buffer[];
  /** Where each chunk starts in the whole answer. */
  readonly #starts: number[] = [];
  #chunk = 0;
  #offset = 0;
  #parsedBudget: number;
  readonly #maxParsedBytes: number;

  constructor(chunks: readonly Buffer[], maxParsedBytes: number) {
    this.#chunks = chunks.filter((chunk) => chunk.length > 0);
    let at = 0;
    for (const chunk of this.#chunks) {
      this.#starts.push(at);
      at += chunk.length;
    }
    this.#starts.push(at); // where the end is
    this.#parsedBudget = maxParsedBytes;
    this.#maxParsedBytes = maxParsedBytes;
  }

  fail(what: string): never {
    throw new HiveError(
      'BAD_ANSWER',
      `answer is not the JSON expected: ${what} at byte ${this.#at()}`,
    );
  }

  #at(): number {
    return (this.#starts[this.#chunk] as number) + this.#offset;
  }

  /** The byte at the cursor, or -1 at the end. */
  peek(): number {
    const chunk = this.#chunks[this.#chunk];
    return chunk === undefined ? -1 : (chunk[this.#offset] as number);
  }

  #advance(): void {
    const chunk = this.#chunks[this.#chunk];
    if (chunk === undefined) return;
    this.#offset++;
    if (this.#offset >= chunk.length) {
      this.#chunk++;
      this.#offset = 0;
    }
  }

  skipSpace(): void {
    for (; this.#chunk < this.#chunks.length; this.#chunk++, this.#offset = 0) {
      const chunk = this.#chunks[this.#chunk] as Buffer;
      while (this.#offset < chunk.length && isSpace(chunk[this.#offset] as number)) this.#offset++;
      if (this.#offset < chunk.length) return;
    }
  }

  read(shape: Shape, path: string): unknown {
    if (shape === 'raw') {
      const start = this.#at();
      this.#skipValue();
      return new RawJson(this.#pieces(start, this.#at()));
    }
    if (shape !== 'value') {
      if ('fields' in shape && this.peek() === OPEN_BRACE)
        return this.#readObject(shape.fields, path);
      if ('items' in shape && this.peek() === OPEN_BRACKET) return this.#readList(shape, path);
    }
    return this.#parseValue(path);
  }

  #readObject(fields: Readonly<Record<string, Shape>>, path: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.#readEach(CLOSE_BRACE, () => {
      const key = this.#readKey();
      this.skipSpace();
      if (this.peek() !== COLON) this.fail('expected ":"');
      this.#advance();
      this.skipSpace();
      const shape = key !== undefined && Object.hasOwn(fields, key) ? fields[key] : undefined;
      if (shape === undefined) this.#skipValue();
      else out[key as string] = this.read(shape, path === '' ? (key as string) : `${path}.${key}`);
    });
    return out;
  }

  #readList(shape: { items: Shape; maxItems: number }, path: string): unknown[] {
    const out: unknown[] = [];
    this.#readEach(CLOSE_BRACKET, () => {
      if (out.length === shape.maxItems) {
        throw new HiveError(
          'BAD_ANSWER',
          `answer's ${path} has more than ${shape.maxItems} entries`,
        );
      }
      out.push(this.read(shape.items, `${path}.${out.length}`));
    });
    return out;
  }

  /** The members of the object or list at the cursor, each read by `readOne`, up to `close`. */
  #readEach(close: number, readOne: () => void): void {
    this.#advance();
    this.skipSpace();
    for (let isFirst = true; ; isFirst = false) {
      if (isFirst && this.peek() === close) {
        this.#advance();
        return;
      }
      readOne();
      this.skipSpace();
      const next = this.peek();
      this.#advance();
      if (next === close) return;
      if (next !== COMMA) this.fail(`expected "," or "${String.fromCharCode(close)}"`);
      this.skipSpace();
    }
  }

  /** A key: decoded when short enough to be one we know, else undefined. */
  #readKey(): string | undefined {
    if (this.peek() !== QUOTE) this.fail('expected a key');
    const start = this.#at();
    this.#skipString();
    const end = this.#at();
    if (end - start > MAX_KEY_BYTES + 2) return undefined;
    try {
      return JSON.parse(this.#text(start, end)) as string;
    } catch {
      return this.fail('a key that is not a JSON string');
    }
  }

  #parseValue(path: string): unknown {
    const start = this.#at();
    this.#skipValue();
    const end = this.#at();
    this.#parsedBudget -= end - start;
    if (this.#parsedBudget < 0) {
      throw new HiveError(
        'BAD_ANSWER',
        `answer's known fields (${path || 'the answer'}) are over the ${this.#maxParsedBytes}-byte limit`,
      );
    }
    try {
      return JSON.parse(this.#text(start, end));
    } catch {
      return this.fail(`${path || 'the answer'} is not JSON`);
    }
  }

  /** Moves past the value at the cursor (its extent only: nothing is built). */
  #skipValue(): void {
    const first = this.peek();
    if (first === QUOTE) this.#skipString();
    else if (first === OPEN_BRACE || first === OPEN_BRACKET) this.#skipContainer();
    else this.#skipScalar();
  }

  #skipScalar(): void {
    if (this.peek() === -1) this.fail('unexpected end');
    // A number, true, false or null: up to the next delimiter (JSON.parse checks it if parsed).
    const start = this.#at();
    for (let byte = this.peek(); byte !== -1; byte = this.peek()) {
      if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isSpace(byte)) break;
      if (byte === QUOTE || byte === OPEN_BRACE || byte === OPEN_BRACKET || byte === COLON) break;
      this.#advance();
    }
    if (this.#at() === start) this.fail('expected a value');
  }

  #skipString(): void {
    this.#advance(); // the opening quote
    let escaped = false;
    for (; this.#chunk < this.#chunks.length; this.#chunk++, this.#offset = 0) {
      const chunk = this.#chunks[this.#chunk] as Buffer;
      for (let i = this.#offset; i < chunk.length; i++) {
        const byte = chunk[i] as number;
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) escaped = true;
        else if (byte === QUOTE) {
          this.#offset = i;
          this.#advance();
          return;
        }
      }
    }
    this.fail('a string that does not end');
  }

  /** An object or a list, strings inside it included, in one loop over the bytes. */
  #skipContainer(): void {
    let depth = 0;
    let inString = false;
    let escaped = false;
    for (; this.#chunk < this.#chunks.length; this.#chunk++, this.#offset = 0) {
      const chunk = this.#chunks[this.#chunk] as Buffer;
      for (let i = this.#offset; i < chunk.length; i++) {
        const byte = chunk[i] as number;
        if (inString) {
          if (escaped) escaped = false;
          else if (byte === BACKSLASH) escaped = true;
          else if (byte === QUOTE) inString = false;
        } else if (byte === QUOTE) inString = true;
        else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
        else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
          depth--;
          if (depth === 0) {
            this.#offset = i;
            this.#advance();
            return;
          }
        }
      }
    }
    this.fail('an object or list that does not end');
  }

  /** Views of the bytes [start, end) of the answer. */
  #pieces(start: number, end: number): Buffer[] {
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

  #text(start: number, end: number): string {
    const pieces = this.#pieces(start, end);
    if (pieces.length === 1) return (pieces[0] as Buffer).toString('utf8');
    return Buffer.concat(pieces).toString('utf8');
  }
}
