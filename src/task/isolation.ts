/**
 * What a task leaves in a reused task process, undone before the next task runs there: ref'ed
 * timers (unref'ed ones are libraries' housekeeping), process listeners, globals added or replaced.
 * Other open handles cannot be undone: `leftovers` retires the process. Module state survives:
 * such a task says `fresh: true` (docs/reliability.md, "Reused task processes"). Child side only:
 * import nothing a task process does not use.
 */

type TimerHandle = NodeJS.Timeout | NodeJS.Immediate;
type TimerFunction = (callback: unknown, ...rest: unknown[]) => TimerHandle;

export interface TaskIsolation {
  /** Undoes what the task left; true when something that cannot be undone remains open. */
  restore(): { leftovers: boolean };
}

/** Called just before a task runs in a process that will run another one after it. */
export function isolateTask(): TaskIsolation {
  // Created on first use: a task's first console.log must not count as a handle it left open.
  void process.stdout;
  void process.stderr;
  const handlesBefore = openHandles();
  const globals = Object.getOwnPropertyDescriptors(globalThis);
  const listeners = new Map(
    process.eventNames().map((name) => [name, new Set(process.rawListeners(name))]),
  );
  const timers = new Set<TimerHandle>();
  wrapTimers(timers);
  return {
    restore() {
      for (const timer of timers) {
        if (timer.hasRef()) clearTimer(timer);
      }
      timers.clear();
      for (const name of process.eventNames()) {
        const before = listeners.get(name);
        for (const listener of process.rawListeners(name)) {
          if (before?.has(listener) !== true) process.removeListener(name, listener as never);
        }
      }
      restoreGlobals(globals);
      return { leftovers: openHandles() > handlesBefore };
    },
  };
}

/** Open handles other than timers (which are cleared): servers, sockets, pipes, child processes. */
function openHandles(): number {
  return process
    .getActiveResourcesInfo()
    .filter((kind) => kind !== 'Timeout' && kind !== 'Immediate').length;
}

function clearTimer(timer: TimerHandle): void {
  if ('refresh' in timer) clearTimeout(timer);
  else clearImmediate(timer);
}

/** The timer functions, wrapped for the task's run; restoreGlobals puts the originals back. */
function wrapTimers(timers: Set<TimerHandle>): void {
  const track = (original: TimerFunction, once: boolean): TimerFunction => {
    const wrapper = function (this: unknown, callback: unknown, ...rest: unknown[]) {
      // Not a function: the original throws its own error.
      if (typeof callback !== 'function') return Reflect.apply(original, this, [callback, ...rest]);
      // A timer that has fired is forgotten at once, so a task making many does not hoard them.
      const run = once
        ? function (this: unknown, ...args: unknown[]) {
            timers.delete(handle);
            return Reflect.apply(callback, this, args);
          }
        : callback;
      const handle: TimerHandle = Reflect.apply(original, this, [run, ...rest]);
      timers.add(handle);
      return handle;
    };
    // util.promisify(setTimeout) and the like read properties of the function itself.
    Object.defineProperties(wrapper, Object.getOwnPropertyDescriptors(original));
    return wrapper;
  };
  const timerGlobals = globalThis as unknown as Record<
    'setTimeout' | 'setInterval' | 'setImmediate',
    TimerFunction
  >;
  timerGlobals.setTimeout = track(timerGlobals.setTimeout, true);
  timerGlobals.setInterval = track(timerGlobals.setInterval, false);
  timerGlobals.setImmediate = track(timerGlobals.setImmediate, true);
}

/** globalThis as it was: added properties deleted, replaced ones put back. */
function restoreGlobals(before: PropertyDescriptorMap): void {
  const target = globalThis as unknown as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(globalThis)) {
    const old = before[key as string];
    if (old === undefined) {
      Reflect.deleteProperty(target, key);
      continue;
    }
    const now = Object.getOwnPropertyDescriptor(globalThis, key);
    if (
      now?.value !== old.value ||
      now?.get !== old.get ||
      now?.set !== old.set ||
      now?.writable !== old.writable
    ) {
      try {
        Object.defineProperty(globalThis, key, old);
      } catch {
        // Made non-configurable by the task: it cannot be put back.
      }
    }
  }
  for (const key of Reflect.ownKeys(before)) {
    if (!Object.hasOwn(globalThis, key)) {
      try {
        Object.defineProperty(globalThis, key, before[key as string] as PropertyDescriptor);
      } catch {
        // As above.
      }
    }
  }
}
