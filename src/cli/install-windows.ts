/**
 * Start at login on Windows: the per-user Run key (HKCU, no admin rights), value HiveWorker = the
 * quoted path of worker.exe, set with reg.exe (no shell). It starts in a console of its own (docs/windows.md).
 */
import { HiveError } from '../platform/errors.ts';
import { type CommandResult, describeFailure, type LoginStartContext } from './login-start.ts';

export const RUN_KEY = 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run';
export const RUN_VALUE = 'HiveWorker';

/** The Run value's data: the path quoted, so a path with spaces is one program. */
export function runCommandLine(executable: string): string {
  return `"${executable}"`;
}

export function installWindows(context: LoginStartContext): void {
  const wanted = runCommandLine(context.executable);
  const current = queryRunValue(context);
  if (current === wanted) {
    context.say(`already installed: ${RUN_KEY}\\${RUN_VALUE} = ${wanted}`);
    return;
  }
  const add = reg(context, ['add', RUN_KEY, '/v', RUN_VALUE, '/t', 'REG_SZ', '/d', wanted, '/f']);
  if (add.status !== 0) {
    throw new HiveError('INSTALL', `reg.exe add ${RUN_KEY} failed: ${describeFailure(add)}`);
  }
  context.say(
    `${current === undefined ? 'installed' : 'updated'}: ${RUN_KEY}\\${RUN_VALUE} = ${wanted} (starts at your next login)`,
  );
}

export function uninstallWindows(context: LoginStartContext): void {
  if (queryRunValue(context) === undefined) {
    context.say(`nothing to remove: ${RUN_KEY}\\${RUN_VALUE} is not set`);
    return;
  }
  const remove = reg(context, ['delete', RUN_KEY, '/v', RUN_VALUE, '/f']);
  if (remove.status !== 0) {
    throw new HiveError('INSTALL', `reg.exe delete ${RUN_KEY} failed: ${describeFailure(remove)}`);
  }
  context.say(`removed: ${RUN_KEY}\\${RUN_VALUE}`);
}

/**
 * The value's data, or undefined when it is not set (reg.exe query exits 1). A line of the output
 * looks like `    HiveWorker    REG_SZ    "C:\…\worker.exe"`.
 */
function queryRunValue(context: LoginStartContext): string | undefined {
  const query = reg(context, ['query', RUN_KEY, '/v', RUN_VALUE]);
  if (query.status === 1) return undefined;
  if (query.status !== 0) {
    throw new HiveError('INSTALL', `reg.exe query ${RUN_KEY} failed: ${describeFailure(query)}`);
  }
  const line = query.stdout
    .split(/\r?\n/)
    .map((text) => text.trim())
    .find((text) => text.toLowerCase().startsWith(RUN_VALUE.toLowerCase()));
  const match = line?.match(/^\S+\s+REG_\w+\s+(.*)$/);
  // Set, but the output cannot be read: treat it as different, so `add /f` writes ours.
  return match?.[1] ?? '';
}

function reg(context: LoginStartContext, args: string[]): CommandResult {
  return context.run('reg.exe', args);
}
