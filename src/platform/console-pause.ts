/**
 * A double-clicked worker's window closes as it exits, so a fatal error would vanish unread: then
 * only, it waits for Enter (`--no-pause`: never). Only with an interactive stdin, and a parent that
 * is explorer.exe on Windows (a positive test: a hidden console would hang forever) or not a shell
 * on Linux.
 */
import { readFileSync } from 'node:fs';
import { consoleStream } from './console.ts';

export const NO_PAUSE_FLAG = '--no-pause';

/** Parents that mean "typed at a prompt": the window stays after the worker exits. */
const SHELLS = new Set([
  ...['sh', 'bash', 'dash', 'zsh', 'fish', 'ksh', 'mksh', 'tcsh', 'csh', 'ash', 'busybox'],
  ...['nu', 'xonsh', 'elvish', 'pwsh', 'yash', 'ion', 'rc', 'es', 'osh'],
  ...['sudo', 'su', 'doas', 'env', 'nohup', 'timeout', 'time', 'nice', 'ionice', 'setsid'],
  ...['strace', 'ltrace', 'gdb', 'valgrind', 'watch', 'stdbuf', 'taskset', 'xargs', 'make'],
]);

export interface PauseFacts {
  platform: NodeJS.Platform;
  stdinIsInteractive: boolean;
  /** Name of the parent process (`explorer.exe`, `bash`), undefined when it cannot be told. */
  parentName: string | undefined;
  optedOut: boolean;
}

export function shouldPause(facts: PauseFacts): boolean {
  if (facts.optedOut || !facts.stdinIsInteractive || facts.parentName === undefined) return false;
  const name = facts.parentName.toLowerCase();
  if (facts.platform === 'win32') return name === 'explorer.exe';
  return !SHELLS.has(name.replace(/^-/, '')); // a login shell's name starts with "-"
}

/** The parent's process name: /proc on Linux, tasklist on Windows; undefined if unknown. */
export function parentProcessName(
  platform: NodeJS.Platform,
  parentPid: number,
): string | undefined {
  try {
    if (platform === 'linux') return readFileSync(`/proc/${parentPid}/comm`, 'utf8').trim();
    if (platform === 'win32') {
      // Loaded here, not at the top: every start (task processes too) would pay for it.
      const { execFileSync } = process.getBuiltinModule('node:child_process');
      const csv = execFileSync('tasklist', ['/FI', `PID eq ${parentPid}`, '/FO', 'CSV', '/NH'], {
        timeout: 5000,
        windowsHide: true,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      return tasklistImageName(csv);
    }
  } catch {
    // Not knowing means not pausing: never hang a process nobody watches.
  }
  return undefined;
}

/**
 * The first image name in `tasklist /FO CSV /NH` output, whose encoding is not fixed: Wine's
 * tasklist writes UTF-16LE into a pipe, Windows' writes its code page.
 */
export function tasklistImageName(output: Buffer): string | undefined {
  const text = output.includes(0) ? output.toString('utf16le') : output.toString('latin1');
  return /^"([^"]+)"/.exec(text.replace(/^\uFEFF/, '').trim())?.[1];
}

/** After a fatal error: waits for Enter when the window would otherwise close unread. */
export async function pauseIfDoubleClicked(argv: readonly string[]): Promise<void> {
  const stdin = process.stdin;
  const facts: PauseFacts = {
    platform: process.platform,
    stdinIsInteractive: stdin.isTTY === true,
    parentName: undefined,
    optedOut: argv.includes(NO_PAUSE_FLAG),
  };
  if (facts.optedOut || !facts.stdinIsInteractive) return;
  facts.parentName = parentProcessName(process.platform, process.ppid);
  if (!shouldPause(facts)) return;
  consoleStream('stderr').write(
    `\nThe worker stopped; the lines above say why. Press Enter to close this window ` +
      `(start it with ${NO_PAUSE_FLAG} to skip this).\n`,
  );
  await new Promise<void>((resolve) => {
    stdin.once('data', () => resolve());
    stdin.once('end', () => resolve());
    stdin.resume();
  });
  stdin.pause();
}
