/**
 * Reads a JSON answer for the fields the worker knows only (docs/reliability.md, "Hostile
 * answers"): unknown fields scanned past, never built; `raw` fields kept as their bytes; other
 * known values parsed by JSON.parse, at most `maxParsedBytes` in all. Skipped and raw values are
 * checked for their extent, the rest as JSON.parse would.
 */
import { HiveError } from '../platform/errors.ts';
import {
  ChunkCursor,
  CLOSE_BRACE,
  CLOSE_BRACKET,
  COLON,
  COMMA,
  OPEN_BRACE,
  OPEN_BRACKET,
  QUOTE,
} from './chunk-cursor.ts';

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

/** A key longer than this is no field we know: it is compared as unknown, never decoded. */
const MAX_KEY_BYTES = 256;

const lengthsOf = new WeakMap<object, ReadonlySet<number>>();
/** The byte lengths of an object shape's field names (ASCII, as every protocol name is). */
function knownLengths(fields: Readonly<Record<string, Shape>>): ReadonlySet<number> {
  let lengths = lengthsOf.get(fields);
  if (lengths === undefined) {
    lengths = new Set(Object.keys(fields).map((name) => Buffer.byteLength(name)));
    lengthsOf.set(fields, lengths);
  }
  return lengths;
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

/** The shape's walk over a cursor of the chunks. */
class Reader extends ChunkCursor {
  #parsedBudget: number;
  readonly #maxParsedBytes: number;

  constructor(chunks: readonly Buffer[], maxParsedBytes: number) {
    super(chunks);
    this.#parsedBudget = maxParsedBytes;
    this.#maxParsedBytes = maxParsedBytes;
  }

  read(shape: Shape, path: string): unknown {
    if (shape === 'raw') {
      const start = this.at();
      this.skipValue();
      return new RawJson(this.pieces(start, this.at()));
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
      const key = this.#readKey(fields);
      this.skipSpace();
      if (this.peek() !== COLON) this.fail('expected ":"');
      this.advance();
      this.skipSpace();
      const shape = key === undefined ? undefined : fields[key];
      if (shape === undefined) this.skipValue();
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
    this.advance();
    this.skipSpace();
    for (let isFirst = true; ; isFirst = false) {
      if (isFirst && this.peek() === close) {
        this.advance();
        return;
      }
      readOne();
      this.skipSpace();
      const next = this.peek();
      this.advance();
      if (next === close) return;
      if (next !== COMMA) this.fail(`expected "," or "${String.fromCharCode(close)}"`);
      this.skipSpace();
    }
  }

  /**
   * The key at the cursor if it is one of `fields`, else undefined. An unescaped key is its own
   * bytes: one whose length no field has is unknown without being decoded (a flood of keys).
   */
  #readKey(fields: Readonly<Record<string, Shape>>): string | undefined {
    if (this.peek() !== QUOTE) this.fail('expected a key');
    const start = this.at();
    const hadEscape = this.skipString();
    const length = this.at() - start - 2;
    if (length > MAX_KEY_BYTES) return undefined;
    if (!hadEscape && !knownLengths(fields).has(length)) return undefined;
    let key: string;
    try {
      key = hadEscape
        ? (JSON.parse(this.text(start, start + length + 2)) as string)
        : this.text(start + 1, start + length + 1);
    } catch {
      return this.fail('a key that is not a JSON string');
    }
    return Object.hasOwn(fields, key) ? key : undefined;
  }

  #parseValue(path: string): unknown {
    const start = this.at();
    this.skipValue();
    const end = this.at();
    this.#parsedBudget -= end - start;
    if (this.#parsedBudget < 0) {
      throw new HiveError(
        'BAD_ANSWER',
        `answer's known fields (${path || 'the answer'}) are over the ${this.#maxParsedBytes}-byte limit`,
      );
    }
    try {
      return JSON.parse(this.text(start, end));
    } catch {
      return this.fail(`${path || 'the answer'} is not JSON`);
    }
  }
}
