/**
 * The bearer token: TOKEN, or TOKEN_FILE (a file holding it: off command lines and environments).
 * The one set in the higher-precedence place wins (flag > env > worker.config.json > config.ts);
 * both in one place is an error, as one would be silently unused. Chosen again after a 401/403.
 */
import { readFileSync } from 'node:fs';

export type TokenCandidate =
  | { kind: 'token'; value: string; source: string; rank: number }
  | { kind: 'file'; path: string; source: string; rank: number };

/** The token to use and where it came from; undefined (with a line in `problems`) when it cannot be had. */
export function chooseToken(
  candidates: readonly TokenCandidate[],
  problems: string[],
): { token: string; from: string } | undefined {
  const [first, second] = [...candidates].sort((a, b) => b.rank - a.rank);
  if (first === undefined) return { token: '', from: '' };
  if (second !== undefined && second.rank === first.rank) {
    problems.push(
      `TOKEN and TOKEN_FILE are both set (${first.source}, ${second.source}): keep one of them`,
    );
    return undefined;
  }
  if (first.kind === 'token') return { token: first.value, from: `TOKEN (from ${first.source})` };
  let text: string;
  try {
    text = readFileSync(first.path, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    problems.push(`Cannot read TOKEN_FILE ${first.path} (from ${first.source}): ${why}`);
    return undefined;
  }
  const token = text.trim();
  if (token === '') {
    problems.push(`TOKEN_FILE ${first.path} (from ${first.source}) is empty`);
    return undefined;
  }
  return { token, from: `TOKEN_FILE ${first.path}` };
}

/**
 * What to fix after a 401/403, naming where the token came from (`Settings.tokenFrom`): the file
 * for TOKEN_FILE, the place TOKEN was set in, or both settings when none was given.
 */
export function tokenAdvice(tokenFrom: string): string {
  if (tokenFrom === '') return 'the worker sent no token: set TOKEN or TOKEN_FILE';
  return `check ${tokenFrom} (it is read again before the next request)`;
}

/**
 * True when the token would cross the network in clear text: plain http: to a host that is not
 * this machine (loopback stays on the machine). The worker warns about it; it still sends it.
 */
export function sendsTokenInClearText(serverUrl: string, token: string): boolean {
  if (token === '') return false;
  const url = new URL(serverUrl);
  if (url.protocol !== 'http:') return false;
  const host = url.hostname;
  return !(
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  );
}

export const CLEAR_TEXT_WARNING =
  'the token travels in clear text (SERVER_URL is plain http: to another host): anyone on the path can read it; use https:';
