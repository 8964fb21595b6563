/**
 * Logging with pino: human lines on the console, JSON lines in the log file. Secrets are handled
 * here, not at call sites: known fields redacted by path, and every secret's text scrubbed from each
 * line as it leaves pino (child bindings too, which pino serializes once where no hook sees them).
 */
import pino, { type Logger } from 'pino';
import { type ConsoleStream, consoleStream } from './console.ts';
import { humanLines } from './console-lines.ts';
import { RotatingLogFile } from './log-file.ts';

export type { Logger };

/**
 * The strings no log line may hold, as a list that grows while the worker runs: a token read
 * again after a 401 (a rotated one) is added, so it is scrubbed from then on like the first.
 */
export class Secrets {
  #list: readonly string[];

  constructor(initial: readonly string[] = []) {
    this.#list = initial.filter((secret) => secret !== '');
  }

  add(secret: string): void {
    if (secret !== '' && !this.#list.includes(secret)) this.#list = [...this.#list, secret];
  }

  /** The secrets now: a new array after each add, so a scrubber knows when to rebuild. */
  get list(): readonly string[] {
    return this.#list;
  }
}

export type SecretSource = readonly string[] | Secrets;

/** A scrubber made from the secrets as they are now, made again when they change. */
function following<T>(source: SecretSource, make: (list: readonly string[]) => T): () => T {
  let madeFrom: readonly string[] | undefined;
  let made: T | undefined;
  return () => {
    const list = source instanceof Secrets ? source.list : source;
    if (made === undefined || list !== madeFrom) {
      made = make(list);
      madeFrom = list;
    }
    return made;
  };
}

export interface LogOptions {
  level: string;
  /** JSON lines go here when set, rotated by size. */
  filePath?: string | undefined;
  /** Size at which the log file is rotated. @default 10 MB */
  fileMaxBytes?: number;
  /** Log files kept, the current one included. @default 5 */
  fileCount?: number;
  /** Strings that must never reach a log (the bearer token, proxy passwords); a `Secrets` may grow. */
  secrets: SecretSource;
  /** Colours on the console: only for an interactive terminal. */
  colorize?: boolean;
  /** Where the human lines go; defaults to this process's stdout. */
  console?: ConsoleStream;
}

const REDACTED = '[redacted]';
const REDACT_PATHS = [
  'token',
  'authorization',
  'headers.authorization',
  'headers.Authorization',
  '*.token',
];

export function createLogger(options: LogOptions): Logger {
  const out = options.console ?? consoleStream('stdout');
  // Console lines are for people: the message says it all; the fields go to the log file.
  const prettify = humanLines({ colorize: options.colorize ?? false });
  let sayLost: ((reason: string) => void) | undefined;
  let isLossSaid = false;
  const streams: pino.StreamEntry[] = [
    {
      level: options.level as pino.Level,
      // Formatted and written here, synchronously, through the one console that may fail.
      stream: {
        write(line: string) {
          if ((out.lostReason === undefined && out.write(prettify(line))) || isLossSaid) return;
          // The console was found unusable (by this write, or by an error event since the last
          // one): said once, on the next tick — a logger must not log from inside its own write.
          isLossSaid = true;
          const reason = out.lostReason ?? 'unknown';
          process.nextTick(() => sayLost?.(reason));
        },
      },
    },
  ];
  if (options.filePath !== undefined) {
    streams.push({
      level: options.level as pino.Level,
      stream: new RotatingLogFile({
        path: options.filePath,
        maxBytes: options.fileMaxBytes ?? 10 * 1024 * 1024,
        files: options.fileCount ?? 5,
      }),
    });
  }
  const scrubLine = lineScrubber(options.secrets);
  const scrubbed = streams.map(({ level, stream }) => ({
    level,
    stream: {
      write: (line: string) => stream.write(scrubLine(line)),
      flushSync: () => (stream as { flushSync?: () => void }).flushSync?.(),
    },
  }));
  const logger = pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    pino.multistream(scrubbed),
  );
  sayLost = (reason: string) =>
    logger.warn(
      { console: reason },
      `the console is unusable (${reason}): the log goes to ${options.filePath ?? 'nowhere'} only`,
    );
  if (out.lostReason !== undefined && !isLossSaid) {
    isLossSaid = true;
    sayLost(out.lostReason);
  }
  return logger;
}

/**
 * Scrubs one serialized JSON line: untouched when no secret's text (raw or JSON-escaped) is in
 * it; else parsed, scrubbed in every string and key, serialized again — replacing text inside
 * the JSON itself could break it (a secret `3` in `"level":30`). A line that is not JSON is
 * scrubbed as text.
 */
function lineScrubber(source: SecretSource): (line: string) => string {
  const current = following(source, lineScrubberFor);
  return (line) => current()(line);
}

function lineScrubberFor(secrets: readonly string[]): (line: string) => string {
  const needles = secrets.filter((secret) => secret.length > 0);
  if (needles.length === 0) return (line) => line;
  const forms = needles.flatMap((needle) => [needle, JSON.stringify(needle).slice(1, -1)]);
  const scrub = secretScrubberFor(needles);
  const scrubText = (text: string) =>
    forms.reduce((acc, form) => acc.replaceAll(form, REDACTED), text);
  return (line) => {
    if (!forms.some((form) => line.includes(form))) return line;
    try {
      return `${JSON.stringify(scrub(JSON.parse(line)))}\n`;
    } catch {
      return scrubText(line);
    }
  };
}

/**
 * Replaces every secret's text, whatever its length, in strings, and in the strings and keys of
 * arrays, plain objects and errors at any depth. A cycle is cut (`[circular]`); an object met twice
 * is scrubbed once.
 */
export function secretScrubber(source: SecretSource): (value: unknown) => unknown {
  const current = following(source, secretScrubberFor);
  return (value) => current()(value);
}

function secretScrubberFor(secrets: readonly string[]): (value: unknown) => unknown {
  const needles = secrets.filter((secret) => secret.length > 0);
  if (needles.length === 0) return (value) => value;
  const scrubText = (text: string) =>
    needles.reduce((acc, needle) => acc.replaceAll(needle, REDACTED), text);
  return (root) => {
    const done = new Map<object, unknown>();
    const scrub = (value: unknown): unknown => {
      if (typeof value === 'string') return scrubText(value);
      if (typeof value !== 'object' || value === null) return value;
      if (done.has(value)) return done.get(value) ?? '[circular]';
      done.set(value, undefined); // in progress: met again below it, it is a cycle
      let copy: unknown;
      if (value instanceof Error) {
        const error = new Error(scrubText(value.message));
        error.name = value.name;
        error.stack = value.stack === undefined ? undefined : scrubText(value.stack);
        copy = Object.assign(error, scrub({ ...value }));
      } else if (Array.isArray(value)) {
        copy = value.map(scrub);
      } else {
        copy = Object.fromEntries(
          Object.entries(value).map(([key, item]) => [scrubText(key), scrub(item)]),
        );
      }
      done.set(value, copy);
      return copy;
    };
    return scrub(root);
  };
}
