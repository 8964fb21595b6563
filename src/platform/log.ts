/**
 * Logging with pino: human lines on the console, JSON lines in the data folder's log file.
 * Secrets are handled here, in the logger's configuration, so no call site has to remember:
 * known secret fields are redacted by path, and the token's text is scrubbed from every string.
 * A console that cannot be written (src/platform/console.ts) never stops the worker: its lines
 * are dropped, and the log file says once why.
 */
import pino, { type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { type ConsoleStream, consoleStream } from './console.ts';
import { RotatingLogFile } from './log-file.ts';

export type { Logger };

export interface LogOptions {
  level: string;
  /** JSON lines go here when set, rotated by size. */
  filePath?: string | undefined;
  /** Size at which the log file is rotated. @default 10 MB */
  fileMaxBytes?: number;
  /** Log files kept, the current one included. @default 5 */
  fileCount?: number;
  /** Strings that must never reach a log (the bearer token, proxy passwords). */
  secrets: readonly string[];
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
  const prettify = prettyFactory({
    colorize: options.colorize ?? false,
    // Console lines are for people: the message says it all; the fields go to the log file.
    hideObject: true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname',
  });
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
  const scrub = secretScrubber(options.secrets);
  const logger = pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map(scrub) as Parameters<typeof method>);
        },
      },
    },
    pino.multistream(streams),
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

/** Replaces every secret's text in strings, and in the string fields of plain objects and errors. */
export function secretScrubber(secrets: readonly string[]): (value: unknown) => unknown {
  const needles = secrets.filter((secret) => secret.length >= 4);
  if (needles.length === 0) return (value) => value;
  const scrubText = (text: string) =>
    needles.reduce((acc, needle) => acc.replaceAll(needle, REDACTED), text);
  const scrub = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return scrubText(value);
    if (depth > 4 || typeof value !== 'object' || value === null) return value;
    if (value instanceof Error) {
      const copy = new Error(scrubText(value.message));
      copy.name = value.name;
      copy.stack = value.stack === undefined ? undefined : scrubText(value.stack);
      return Object.assign(copy, scrub({ ...value }, depth + 1));
    }
    if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, scrub(item, depth + 1)]),
    );
  };
  return (value) => scrub(value, 0);
}
