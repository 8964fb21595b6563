/**
 * Problems in the user's terms: "did you mean …?" for a setting name one slip away (a flag, a
 * HIVE_* variable, a config file key), and values shown without a URL's user:password.
 */
import { envName, SETTING_NAMES } from './table.ts';

/** Levenshtein distance with adjacent swaps counted as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The known name closest to `typed` (compared without case), or undefined when none is within
 * 2 edits and a third of the name's length: `NO_TASK_SLEP` → `NO_TASK_SLEEP`, `NOPE` → nothing.
 */
export function closestName(typed: string, known: readonly string[]): string | undefined {
  const wanted = typed.toUpperCase();
  const limit = Math.min(2, Math.floor(wanted.length / 3));
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(wanted, name.toUpperCase());
    if (distance <= limit && (best === undefined || distance < best.distance))
      best = { name, distance };
  }
  return best?.name;
}

/** A bad command line in one line: a mistyped setting flag gets "did you mean", else Node's message. */
export function flagProblem(
  argv: readonly string[],
  known: readonly string[],
  message: string,
): string {
  for (const arg of argv) {
    if (!arg.startsWith('--') || arg === '--') continue;
    const typed = arg.slice(2).split('=')[0] ?? '';
    if (known.includes(typed)) continue;
    const near = closestName(typed, known);
    if (near !== undefined) return `Unknown flag --${typed}; did you mean --${near.toLowerCase()}?`;
  }
  return `${message}; see --help`;
}

/** HIVE_* variables the worker reads that are not settings (set by people, the build or updater/). */
const OTHER_VARIABLES = ['HIVE_CONFIG', 'HIVE_SUPERVISOR', 'HIVE_RELEASE_PUBLIC_KEY'];

/**
 * A HIVE_* variable one slip away from a setting's (`HIVE_NO_TASK_SLEP`) would otherwise be
 * silently unused; other unknown HIVE_* names are left alone (other programs may use the prefix).
 */
export function mistypedVariables(env: Readonly<Record<string, string | undefined>>): string[] {
  const settingVariables = SETTING_NAMES.map(envName);
  return Object.keys(env).flatMap((name) => {
    if (!name.startsWith('HIVE_') || name.startsWith('HIVE_UPDATER_')) return [];
    if (settingVariables.includes(name) || OTHER_VARIABLES.includes(name)) return [];
    const near = closestName(name, settingVariables);
    return near === undefined ? [] : [`Unknown variable ${name}; did you mean ${near}?`];
  });
}

/** A value as shown in a problem: a URL's user:password replaced, so it never reaches a console or log. */
export function withoutPassword(raw: unknown): unknown {
  if (typeof raw !== 'string' || !URL.canParse(raw)) return raw;
  const url = new URL(raw);
  if (url.username === '' && url.password === '') return raw;
  // The user name too: a token pasted there is as secret as a password.
  url.username = '***';
  url.password = '';
  return url.href;
}
