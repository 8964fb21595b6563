/**
 * What runs first, in every process of the worker: it looks at argv and loads only what that mode
 * needs. A task process loads the task runtime and the registry, never the settings, the CLI or
 * the network stack; `worker --version` in the executable loads nothing at all. Keep this module's
 * imports to what is free to load: whatever it imports statically, every process initialises.
 */

import { guardStdio } from './platform/console.ts';
import type { LoadRegistry } from './task/define.ts';
import { TASK_CHILD_FLAG } from './task/flag.ts';

declare const __HIVE_BUILD__: { version: string } | undefined;

export function startEntry(loadRegistry: LoadRegistry): void {
  // Without a usable console (under Wine, a pipe), Node's process.stdout getter throws: made safe
  // before anything — Node's own modules included — reads it (src/platform/console.ts).
  guardStdio();
  const argv = process.argv.slice(2);
  if (argv[0] === TASK_CHILD_FLAG) {
    void import('./task/child.ts').then(({ runTaskProcess }) => runTaskProcess(loadRegistry));
    return;
  }
  // A build knows its version without reading anything (from source, the CLI reads config.ts).
  if (argv.length === 1 && argv[0] === '--version' && typeof __HIVE_BUILD__ !== 'undefined') {
    process.stdout.write(`${__HIVE_BUILD__.version}\n`);
    return;
  }
  void import('./cli/modes.ts').then(({ runMain }) => runMain(loadRegistry));
}
