/** A logger whose lines are kept as parsed JSON, for a test to assert what was said. */
import pino from 'pino';

export type LogLine = { level: number; msg: string } & Record<string, unknown>;

export function capturingLog(level: pino.Level = 'info'): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino(
    { level, base: undefined },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  );
  return { log, lines };
}
